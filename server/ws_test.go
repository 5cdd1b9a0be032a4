package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph/wstransport"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// wsDial opens a graphql-transport-ws socket to srv's /graphql with no
// Authorization header, as a browser would.
func wsDial(t *testing.T, srv *httptest.Server) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, res, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http")+"/graphql",
		&websocket.DialOptions{Subprotocols: []string{wstransport.Protocol}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade status %d", res.StatusCode)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

func wsSend(t *testing.T, ws *websocket.Conn, m map[string]any) {
	t.Helper()
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

func wsRead(ws *websocket.Conn) (map[string]any, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, b, err := ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	err = json.Unmarshal(b, &m)
	return m, err
}

func TestWebSocketAuthentication(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := newFixture(t, db)
	e := newEnv(t, db, Config{})
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	token := e.token(t, care.RoleGP, f.gp, f.org)

	t.Run("an upgrade without a bearer header reaches connection_init", func(t *testing.T) {
		ws := wsDial(t, srv)
		wsSend(t, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + token}})
		m, err := wsRead(ws)
		if err != nil || m["type"] != "connection_ack" {
			t.Fatalf("got %v, %v", m, err)
		}
		if _, has := m["payload"]; has {
			t.Fatalf("ack has a payload: %v", m)
		}
		wsSend(t, ws, map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": "{ viewer { role } }"}})
		m, err = wsRead(ws)
		if err != nil || m["type"] != "next" || !strings.Contains(mustJSON(m["payload"]), `"GP"`) {
			t.Fatalf("got %v, %v", m, err)
		}
	})
	t.Run("a bad token in connection_init closes 4403 and is logged without the token", func(t *testing.T) {
		ws := wsDial(t, srv)
		bad := token[:len(token)-4] + "AAAA"
		wsSend(t, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"token": bad}})
		_, err := wsRead(ws)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != wstransport.CloseForbidden {
			t.Fatalf("got %v, want close 4403", err)
		}
		if !strings.Contains(e.logs.String(), "connection_init refused") {
			t.Fatalf("refusal not logged")
		}
		if strings.Contains(e.logs.String(), bad) || strings.Contains(e.logs.String(), token) {
			t.Fatal("a token was logged")
		}
	})
	t.Run("an Upgrade header does not let a plain request past authentication", func(t *testing.T) {
		for _, method := range []string{http.MethodGet, http.MethodPost} {
			req := gqlRequest(`{ patients { totalCount } }`, "")
			req.Method = method
			if method == http.MethodGet {
				req = httptest.NewRequest(http.MethodGet, "/graphql?query=%7B%20patients%20%7B%20totalCount%20%7D%20%7D", nil)
			}
			req.Header.Set("Upgrade", "websocket")
			req.Header.Set("Connection", "Upgrade")
			res := overHTTP(t, srv.URL, req)
			if res.status < 400 || strings.Contains(res.body, "totalCount") {
				t.Fatalf("%s: status %d body %q", method, res.status, res.body)
			}
		}
	})
	t.Run("plain requests still need a bearer token", func(t *testing.T) {
		res := serve(e.handler, gqlRequest(`{ viewer { role } }`, ""))
		if res.status != http.StatusUnauthorized {
			t.Fatalf("status %d", res.status)
		}
	})
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestGraphQLWSClient runs test/graphql-ws/check.mjs, the reference npm
// graphql-ws client, against the real handler, database and authentication:
// a subscriber hears of a write, the ack echoes nothing, an unsupported
// protocol version is BAD_USER_INPUT, a bad token closes 4403 without a
// reconnect storm.
func TestGraphQLWSClient(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "graphql-ws", "graphql-ws")

	db := postgrestest.New(t)
	f := newFixture(t, db)
	e := newEnv(t, db, Config{})
	var upgrades atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wstransport.IsUpgrade(r) {
			upgrades.Add(1)
		}
		e.handler.ServeHTTP(w, r)
	}))
	defer srv.Close()
	token := e.token(t, care.RoleGP, f.gp, f.org)
	// Before the database is dropped: with every socket gone, the LISTEN
	// connection must go too.
	t.Cleanup(func() {
		srv.CloseClientConnections()
		deadline := time.Now().Add(10 * time.Second)
		for db.SyncListening() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if db.SyncListening() {
			t.Error("the LISTEN connection outlived every subscriber")
		}
	})

	write, err := json.Marshal(map[string]any{
		"query": `mutation Visit($p: ID!, $at: DateTime!) { createInteraction(input: {patientId: $p, mode: PHONE, occurredAt: $at, purpose: "medication review", notes: ""}) { id } }`,
		"variables": map[string]any{
			"p":  f.patient.ID.String(),
			"at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	writeFile := filepath.Join(t.TempDir(), "write.json")
	if err := os.WriteFile(writeFile, write, 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "check.mjs"), wsURL, srv.URL+"/graphql", token, writeFile)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("graphql-ws check:\n%s", out)
	if err != nil {
		t.Fatalf("check failed: %v", err)
	}
	if !strings.Contains(string(out), "graphql-ws: all checks passed") {
		t.Fatal("check summary missing")
	}
	// One socket per check, at most two for the back-off check: no storm.
	if n := upgrades.Load(); n < 4 || n > 5 {
		t.Fatalf("%d WebSocket upgrades, want 4 or 5", n)
	}
	if strings.Contains(e.logs.String(), token) {
		t.Error("the token was logged")
	}
}

func TestRunClosesWebSocketsOnShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Addr: "127.0.0.1:0", ShutdownTimeout: 5 * time.Second}, Deps{
			Verifier: e.verifier, Log: e.deps.Log, Ready: func(addr string) { ready <- addr },
		})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run never became ready")
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer dcancel()
	ws, _, err := websocket.Dial(dctx, "ws://"+addr+"/graphql", &websocket.DialOptions{Subprotocols: []string{wstransport.Protocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	wsSend(t, ws, map[string]any{"type": "connection_init", "payload": map[string]any{"token": e.token(t, care.RoleGP, uuid.New(), uuid.New())}})
	if m, err := wsRead(ws); err != nil || m["type"] != "connection_ack" {
		t.Fatalf("got %v, %v", m, err)
	}

	t.Run("an open socket is closed with 1001 and Run returns", func(t *testing.T) {
		cancel()
		_, err := wsRead(ws)
		if websocket.CloseStatus(err) != websocket.StatusGoingAway {
			t.Fatalf("got %v, want close 1001", err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not stop")
		}
	})
}
