package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph/wstransport"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestMetricsListener: /metrics is served only on its own listener, never on
// the API's.
func TestMetricsListener(t *testing.T) {
	t.Parallel()
	m := newMetrics()
	stop, addr, err := serveMetrics(context.Background(), "127.0.0.1:0", m, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	res, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") && !strings.Contains(string(body), "rapport_") {
		t.Fatalf("metrics listener: %d %.200s", res.StatusCode, body)
	}
	e := newEnv(t, nil, Config{})
	if res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/metrics", nil)); res.status != http.StatusNotFound {
		t.Fatalf("/metrics on the API listener: %d", res.status)
	}
	if _, _, err := serveMetrics(context.Background(), "", m, zerolog.Nop()); err != nil {
		t.Fatalf("no metrics address: %v", err)
	}
}

// TestIntrospectionIsConfigurable: on in development (an HMAC secret), off
// in production (public keys) unless set, and as set otherwise.
func TestIntrospectionIsConfigurable(t *testing.T) {
	t.Parallel()
	on, off := true, false
	const q = `{ __schema { queryType { name } } }`
	for _, tc := range []struct {
		name string
		cfg  Config
		want bool
	}{
		{"development default", Config{JWT: testJWT(nil)}, true},
		{"production default", Config{JWT: testJWT([]string{"keys.pem"})}, false},
		{"turned off in development", Config{JWT: testJWT(nil), Introspection: &off}, false},
		{"turned on in production", Config{JWT: testJWT([]string{"keys.pem"}), Introspection: &on}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, nil, tc.cfg)
			tok := e.token(t, care.RoleIntegration, uuid.Nil, uuid.New())
			res := serve(e.handler, gqlRequest(q, tok))
			got := strings.Contains(res.body, `"queryType":{"name":"Query"}`)
			if got != tc.want {
				t.Fatalf("introspection served = %v, want %v: %s", got, tc.want, res.body)
			}
			if !tc.want && !strings.Contains(res.body, "BAD_USER_INPUT") && !strings.Contains(res.body, "GRAPHQL_VALIDATION_FAILED") {
				t.Fatalf("refusal without a code: %s", res.body)
			}
		})
	}
}

// testJWT is a JWT configuration with the test secret and the given public
// key files (whose presence alone marks production).
func testJWT(keyFiles []string) auth.Config {
	return auth.Config{HMACSecret: testSecret, PublicKeyFiles: keyFiles}
}

func TestConfigFromEnvHostileSettings(t *testing.T) {
	t.Parallel()
	env := func(kv ...string) func(string) string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	cfg, err := ConfigFromEnv(env())
	if err != nil || cfg.MetricsAddr != DefaultMetricsAddr || cfg.Introspection != nil || cfg.SyncRecordCache != DefaultSyncRecordCache {
		t.Fatalf("defaults: %+v %v", cfg, err)
	}
	for v, want := range map[string]int{"off": -1, "OFF": -1, "500": 500} {
		if cfg, err := ConfigFromEnv(env("RAPPORT_SYNC_RECORD_CACHE", v)); err != nil || cfg.SyncRecordCache != want {
			t.Errorf("RAPPORT_SYNC_RECORD_CACHE=%s: %d, %v; want %d", v, cfg.SyncRecordCache, err, want)
		}
	}
	cfg, err = ConfigFromEnv(env("RAPPORT_METRICS_ADDR", "off", "RAPPORT_INTROSPECTION", "false",
		"RAPPORT_MAX_TOKENS", "500", "RAPPORT_MAX_FIELDS", "50", "RAPPORT_MAX_ALIASES", "5",
		"RAPPORT_MAX_FRAGMENT_SPREADS", "7", "RAPPORT_MAX_REPEATED_FIELDS", "3"))
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.graphLimits()
	if cfg.MetricsAddr != "" || cfg.Introspection == nil || *cfg.Introspection ||
		l.MaxTokens != 500 || l.MaxFields != 50 || l.MaxAliases != 5 || l.MaxFragmentSpreads != 7 || l.MaxRepeatedFields != 3 {
		t.Fatalf("parsed: %+v limits %+v", cfg, l)
	}
	for _, bad := range [][]string{
		{"RAPPORT_METRICS_ADDR", "9464"}, {"RAPPORT_INTROSPECTION", "sometimes"}, {"RAPPORT_MAX_FIELDS", "-1"},
		{"RAPPORT_SYNC_RECORD_CACHE", "0"}, {"RAPPORT_SYNC_RECORD_CACHE", "many"},
	} {
		if _, err := ConfigFromEnv(env(bad...)); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s=%s: err = %v", bad[0], bad[1], err)
		}
	}
}

// TestDepartedPractitioner: once a practitioner is marked inactive, every
// token they hold is refused on every path: GraphQL over HTTP (queries,
// mutations, sync pull and push, which are GraphQL fields behind the same
// check), a new WebSocket, and a WebSocket already open (closed with 4403).
// Tokens for a practitioner who does not exist, or of another organisation
// than the token names, are refused the same way.
func TestDepartedPractitioner(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := newFixture(t, db)
	e := newEnv(t, db, Config{StandingCheckInterval: 50 * time.Millisecond})
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	tok := e.token(t, care.RoleGP, f.gp, f.org)
	device := uuid.New().String()
	pull := fmt.Sprintf(`{ syncPull(input: {protocolVersion: 1, deviceId: %q}) { checkpoint } }`, device)
	push := fmt.Sprintf(`mutation { syncPush(input: {protocolVersion: 1, deviceId: %q, changes: []}) { results { status } } }`, device)
	paths := map[string]string{
		"query":     `{ patients { totalCount } }`,
		"sync pull": pull,
		"sync push": push,
		"mutation":  fmt.Sprintf(`mutation { updatePatient(input: {id: %q, familyName: "Q"}) { id } }`, f.patient.ID),
	}
	for name, q := range paths {
		if res := serve(e.handler, gqlRequest(q, tok)); res.status != http.StatusOK || strings.Contains(res.body, "UNAUTHENTICATED") {
			t.Fatalf("%s while active: %d %s", name, res.status, res.body)
		}
	}
	// A WebSocket opened while the practitioner is active.
	ws := wsDial(t, srv)
	wsSend(t, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"token": tok}})
	if m, err := wsRead(ws); err != nil || m["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", m, err)
	}

	sys := care.NewContextWithActor(context.Background(), care.SystemActor())
	inactive := false
	if _, err := db.UpdatePractitioner(sys, care.UpdatePractitionerInput{ID: f.gp, Active: &inactive}); err != nil {
		t.Fatal(err)
	}

	t.Run("every HTTP path refuses the token", func(t *testing.T) {
		for name, q := range paths {
			res := serve(e.handler, gqlRequest(q, tok))
			if res.status != http.StatusUnauthorized || !strings.Contains(res.body, `"UNAUTHENTICATED"`) {
				t.Errorf("%s after departure: %d %s", name, res.status, res.body)
			}
		}
		// FHIR verifies its own bearer tokens: the same rule applies.
		req := httptest.NewRequest(http.MethodGet, FHIRBase+"/Patient", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if res := serve(e.handler, req); res.status != http.StatusUnauthorized {
			t.Errorf("FHIR after departure: %d %s", res.status, res.body)
		}
	})
	t.Run("the open WebSocket is closed with 4403", func(t *testing.T) {
		var ce websocket.CloseError
		for {
			_, err := wsRead(ws)
			if err == nil {
				continue // pings, or answers sent before the check
			}
			if !errors.As(err, &ce) || ce.Code != wstransport.CloseForbidden {
				t.Fatalf("got %v, want close 4403", err)
			}
			break
		}
	})
	t.Run("a new WebSocket is refused with 4403", func(t *testing.T) {
		ws := wsDial(t, srv)
		wsSend(t, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"token": tok}})
		var ce websocket.CloseError
		if _, err := wsRead(ws); !errors.As(err, &ce) || ce.Code != wstransport.CloseForbidden {
			t.Fatalf("got %v, want close 4403", err)
		}
	})
	t.Run("unknown practitioners and wrong organisations are refused", func(t *testing.T) {
		for name, tok := range map[string]string{
			"unknown practitioner": e.token(t, care.RoleNurse, uuid.New(), f.org),
			"another organisation": e.token(t, care.RoleGP, f.gp, uuid.New()),
		} {
			if res := serve(e.handler, gqlRequest(`{ viewer { role } }`, tok)); res.status != http.StatusUnauthorized {
				t.Errorf("%s: %d %s", name, res.status, res.body)
			}
		}
	})
	t.Run("the refusal is logged without the token", func(t *testing.T) {
		logs := e.logs.String()
		if !strings.Contains(logs, "practitioner inactive, unknown or of another organisation") {
			t.Errorf("no reason logged")
		}
		if strings.Contains(logs, tok) {
			t.Errorf("token logged")
		}
	})
}

// TestShutdownDrainsHostileRequests: with abusive queries just handled (the
// 30-level fragment ladder, which used to keep a core busy for minutes and
// stop SIGTERM from draining), the server still shuts down cleanly within
// its shutdown timeout, and every abusive request was answered. Shutdown
// starts once the server has logged every request: refused in microseconds,
// they cannot be caught in flight on purpose, and a fixed pause before the
// shutdown (50 ms, as here before) let a loaded machine start it before some
// had reached the server, whose connections were then closed unanswered.
func TestShutdownDrainsHostileRequests(t *testing.T) {
	t.Parallel()
	var ladder strings.Builder
	ladder.WriteString("query Ladder { viewer { ...F30 } }\nfragment F0 on Viewer { role }\n")
	for i := 1; i <= 30; i++ {
		fmt.Fprintf(&ladder, "fragment F%d on Viewer { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := newVerifier(t, DefaultAudience, nil)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	handled := &requestLines{}
	const shutdownTimeout = 8 * time.Second // slack for a loaded CI machine; the old ladder held a core for minutes
	go func() {
		done <- Run(ctx, Config{Addr: "127.0.0.1:0", RequestTimeout: time.Second, ShutdownTimeout: shutdownTimeout},
			Deps{Verifier: v, Log: zerolog.New(handled), Ready: func(a string) { ready <- a }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	tok, err := v.MintHMAC(auth.MintRequest{Subject: "probe", OrganizationID: uuid.New(), Role: care.RoleIntegration})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	answers := make(chan string, n)
	for range n {
		go func() {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/graphql", gqlRequest(ladder.String(), tok).Body)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				answers <- err.Error()
				return
			}
			b, _ := io.ReadAll(res.Body)
			_ = res.Body.Close()
			answers <- string(b)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); handled.count() < n; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the server logged %d of %d requests in 10 s", handled.count(), n)
		}
	}
	start := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("shutdown with abusive requests in flight: %v", err)
		}
	case <-time.After(shutdownTimeout + 2*time.Second):
		t.Fatal("Run did not return")
	}
	if d := time.Since(start); d > shutdownTimeout {
		t.Fatalf("shutdown took %s, over its timeout %s", d, shutdownTimeout)
	}
	for range n {
		select {
		case body := <-answers:
			if !strings.Contains(body, "BAD_USER_INPUT") {
				t.Errorf("abusive request answered %s", body)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("an abusive request got no answer")
		}
	}
}

// requestLines is a log writer counting the server's access-log lines.
type requestLines struct {
	mu sync.Mutex
	n  int
}

func (w *requestLines) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.n += bytes.Count(p, []byte(`"message":"request"`))
	return len(p), nil
}

func (w *requestLines) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}
