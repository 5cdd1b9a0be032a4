package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

var testSecret = []byte("server-test-secret-0123456789-abcdefghij")

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newVerifier(t testing.TB, audience string, now func() time.Time) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Issuer: DefaultIssuer, Audience: audience, HMACSecret: testSecret, Now: now})
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

type env struct {
	cfg      Config
	deps     Deps
	logs     *syncBuffer
	verifier *auth.Verifier
	handler  http.Handler
	metrics  *metrics
}

// newEnv builds the real handler over db (nil for none) with an HMAC
// verifier and the logs captured.
func newEnv(t testing.TB, db *postgres.DB, cfg Config) *env {
	t.Helper()
	logs := &syncBuffer{}
	v := newVerifier(t, DefaultAudience, nil)
	deps := Deps{DB: db, Verifier: v, Log: zerolog.New(logs).With().Timestamp().Logger()}
	h, m := newHandler(cfg, deps)
	return &env{cfg: cfg, deps: deps, logs: logs, verifier: v, handler: h, metrics: m}
}

func (e *env) token(t testing.TB, role care.Role, practitioner, org uuid.UUID) string {
	t.Helper()
	tok, err := e.verifier.MintHMAC(auth.MintRequest{Subject: practitioner.String(), OrganizationID: org, Role: role})
	if err != nil {
		t.Fatalf("MintHMAC: %v", err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   string
}

func (r response) json(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON: %v: %q", err, r.body)
	}
	return m
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	var body struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || len(body.Errors) == 0 {
		t.Fatalf("no GraphQL errors in %q", r.body)
	}
	code, _ := body.Errors[0].Extensions["code"].(string)
	return code
}

func serve(h http.Handler, req *http.Request) response {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// overHTTP sends req to a real server at baseURL instead of a recorder.
func overHTTP(t *testing.T, baseURL string, req *http.Request) response {
	t.Helper()
	u, err := url.Parse(baseURL + req.URL.RequestURI())
	if err != nil {
		t.Fatal(err)
	}
	req.URL, req.Host, req.RequestURI = u, u.Host, ""
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, u, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

func gqlRequest(query, token string) *http.Request {
	b, _ := json.Marshal(map[string]any{"query": query})
	req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return req
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, nil, Config{})
	res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if res.status != http.StatusOK || strings.TrimSpace(res.body) != `{"status":"ok"}` {
		t.Fatalf("healthz = %d %q", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

func TestReadyz(t *testing.T) {
	t.Parallel()
	t.Run("200 when the database answers", func(t *testing.T) {
		e := newEnv(t, postgrestest.New(t), Config{})
		res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if res.status != http.StatusOK || strings.TrimSpace(res.body) != `{"status":"ok"}` {
			t.Fatalf("readyz = %d %q", res.status, res.body)
		}
	})
	t.Run("503 when the database is gone", func(t *testing.T) {
		db := postgrestest.New(t)
		db.Close()
		e := newEnv(t, db, Config{})
		res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if res.status != http.StatusServiceUnavailable {
			t.Fatalf("readyz = %d %q, want 503", res.status, res.body)
		}
	})
	t.Run("503 without a database", func(t *testing.T) {
		e := newEnv(t, nil, Config{})
		res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if res.status != http.StatusServiceUnavailable {
			t.Fatalf("readyz = %d, want 503", res.status)
		}
	})
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	e := newEnv(t, db, Config{})
	f := newFixture(t, db)
	tok := e.token(t, care.RoleGP, f.gp, f.org)
	for _, q := range []string{"query Ping { __typename }", "{ __typename }", "query Broken { nope }"} {
		if res := serve(e.handler, gqlRequest(q, tok)); res.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", q, res.status, res.body)
		}
	}
	serve(e.handler, gqlRequest("{ __typename }", "")) // 401

	if res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/metrics", nil)); res.status != http.StatusNotFound {
		t.Fatalf("/metrics on the API listener: status %d, want 404", res.status)
	}
	res := serve(e.metrics.handler(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if res.status != http.StatusOK {
		t.Fatalf("metrics status %d", res.status)
	}
	for _, want := range []string{
		`rapport_http_requests_total{code="200",route="/graphql"} 3`,
		`rapport_http_requests_total{code="401",route="/graphql"} 1`,
		`rapport_graphql_operations_total{operation="Ping",outcome="ok"} 1`,
		`rapport_graphql_operations_total{operation="anonymous",outcome="ok"} 1`,
		`rapport_graphql_operations_total{operation="Broken",outcome="rejected"} 1`,
		`rapport_graphql_operation_duration_seconds_count{operation="Ping"} 1`,
		"rapport_sync_record_cache_hits_total 0", "rapport_sync_record_cache_misses_total 0",
	} {
		if !strings.Contains(res.body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestOperationLabelIsBounded(t *testing.T) {
	m := newMetrics()
	for i := range maxOperationNames {
		if got := m.operationLabel(fmt.Sprintf("Op%d", i)); got != fmt.Sprintf("Op%d", i) {
			t.Fatalf("label %d = %q", i, got)
		}
	}
	if got := m.operationLabel("OneTooMany"); got != "other" {
		t.Errorf("past the cap: %q, want other", got)
	}
	if got := m.operationLabel("Op0"); got != "Op0" {
		t.Errorf("known name: %q", got)
	}
	if got := m.operationLabel(""); got != "anonymous" {
		t.Errorf("unnamed: %q", got)
	}
}

// b64 is unpadded base64url, as in a JWT.
func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestUnauthenticated(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	e := newEnv(t, db, Config{})
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	f := newFixture(t, db) // a real, active practitioner: tokens of others are refused
	org, who := f.org, f.gp

	expiredTok, err := newVerifier(t, DefaultAudience, func() time.Time { return time.Now().Add(-3 * time.Hour) }).
		MintHMAC(auth.MintRequest{Subject: who.String(), OrganizationID: org, Role: care.RoleNurse})
	if err != nil {
		t.Fatal(err)
	}
	otherAudTok, err := newVerifier(t, "someone-else", nil).
		MintHMAC(auth.MintRequest{Subject: who.String(), OrganizationID: org, Role: care.RoleNurse})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	noneTok := b64(`{"alg":"none","typ":"JWT"}`) + "." +
		b64(fmt.Sprintf(`{"iss":%q,"aud":%q,"sub":%q,"org":%q,"role":"nurse","iat":%d,"nbf":%d,"exp":%d}`,
			DefaultIssuer, DefaultAudience, who, org, now, now, now+3600)) + "."
	valid := e.token(t, care.RoleNurse, who, org)
	parts := strings.Split(valid, ".")
	tampered := parts[0] + "." + parts[1] + "." + b64("not the signature")

	for _, tc := range []struct {
		name, header, token string
	}{
		{"missing header", "", ""},
		{"not a bearer scheme", "Basic dXNlcjpwYXNz", ""},
		{"empty bearer", "Bearer ", ""},
		{"garbage", "Bearer not-a-jwt", "not-a-jwt"},
		{"expired", "Bearer " + expiredTok, expiredTok},
		{"wrong audience", "Bearer " + otherAudTok, otherAudTok},
		{"alg none", "Bearer " + noneTok, noneTok},
		{"bad signature", "Bearer " + tampered, tampered},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := gqlRequest("{ __typename }", "")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			res := overHTTP(t, srv.URL, req)
			if res.status != http.StatusUnauthorized {
				t.Fatalf("status = %d, want 401: %s", res.status, res.body)
			}
			if got := res.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
				t.Errorf("WWW-Authenticate = %q", got)
			}
			if code := res.errorCode(t); code != "UNAUTHENTICATED" {
				t.Errorf("code = %q", code)
			}
			if _, ok := res.json(t)["data"]; ok {
				t.Errorf("401 carries data")
			}
			if tc.token != "" && strings.Contains(e.logs.String(), tc.token) {
				t.Errorf("the token was logged")
			}
		})
	}
	t.Run("a valid token passes", func(t *testing.T) {
		res := overHTTP(t, srv.URL, gqlRequest("{ __typename }", valid))
		if res.status != http.StatusOK || !strings.Contains(res.body, `"__typename":"Query"`) {
			t.Fatalf("status %d %s", res.status, res.body)
		}
	})
	t.Run("reasons are logged", func(t *testing.T) {
		logs := e.logs.String()
		for _, want := range []string{`"reason":"missing bearer token"`, `"message":"unauthenticated"`} {
			if !strings.Contains(logs, want) {
				t.Errorf("logs lack %s", want)
			}
		}
		if strings.Contains(logs, valid) || strings.Contains(logs, parts[2]) {
			t.Errorf("a token was logged")
		}
	})
	t.Run("GraphiQL and health need no token", func(t *testing.T) {
		for _, path := range []string{"/graphiql", "/healthz", "/graphiql/graphiql.min.js"} {
			if res := overHTTP(t, srv.URL, httptest.NewRequest(http.MethodGet, path, nil)); res.status != http.StatusOK {
				t.Errorf("%s: %d", path, res.status)
			}
		}
	})
}

// fixture is a practice, a GP there and one patient registered there,
// written through the store as the system actor.
type fixture struct {
	org, gp uuid.UUID
	patient care.Patient
}

func newFixture(t *testing.T, db *postgres.DB) fixture {
	t.Helper()
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	org, err := db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: "Riverside Surgery", Kind: care.OrgGPPractice})
	if err != nil {
		t.Fatalf("create organization: %v", err)
	}
	gp, err := db.CreatePractitioner(ctx, care.CreatePractitionerInput{OrganizationID: org.ID, GivenName: "Ada", FamilyName: "Okafor", Profession: care.ProfessionGP})
	if err != nil {
		t.Fatalf("create practitioner: %v", err)
	}
	p, err := db.CreatePatient(ctx, care.CreatePatientInput{
		NHSNumber: "9434765919", GivenName: "Winifred", FamilyName: "Quennell",
		BirthDate: time.Date(1941, 3, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: org.ID,
	})
	if err != nil {
		t.Fatalf("create patient: %v", err)
	}
	return fixture{org: org.ID, gp: gp.ID, patient: *p}
}

func countPatients(t *testing.T, db *postgres.DB) int {
	t.Helper()
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	first := 100
	page, err := db.Patients(ctx, care.PatientFilter{}, care.PageArgs{First: &first})
	if err != nil {
		t.Fatalf("list patients: %v", err)
	}
	return page.TotalCount
}

func TestLogsCarryNoPatientDataOrToken(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := newFixture(t, db)
	e := newEnv(t, db, Config{})
	tok := e.token(t, care.RoleGP, f.gp, f.org)

	res := serve(e.handler, gqlRequest(`query ReadPatients { patients { edges { node { nhsNumber givenName familyName } } } }`, tok))
	if res.status != http.StatusOK || !strings.Contains(res.body, f.patient.NHSNumber) {
		t.Fatalf("the request did not read the patient: %d %s", res.status, res.body)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"operation":"ReadPatients"`) || !strings.Contains(logs, `"message":"request"`) {
		t.Fatalf("no access log line for the request: %s", logs)
	}
	for name, secret := range map[string]string{
		"NHS number":  f.patient.NHSNumber,
		"given name":  f.patient.GivenName,
		"family name": f.patient.FamilyName,
		"token":       tok,
	} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	const limit = 512
	mutation := `mutation { createPatient(input: {nhsNumber: "4010232137", givenName: "Harold", familyName: "Pettigrew", birthDate: "1950-01-01", registeredPracticeId: "%s"}) { id } } # ` +
		strings.Repeat("x", limit)
	for _, tc := range []struct {
		name    string
		chunked bool
	}{
		{"declared Content-Length", false},
		{"chunked body", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			db := postgrestest.New(t)
			f := newFixture(t, db)
			e := newEnv(t, db, Config{MaxBodyBytes: limit})
			before := countPatients(t, db)
			req := gqlRequest(fmt.Sprintf(mutation, f.org), e.token(t, care.RoleGP, f.gp, f.org))
			if tc.chunked {
				req.Body = io.NopCloser(io.MultiReader(req.Body)) // hide the length
				req.ContentLength = -1
			}
			res := serve(e.handler, req)
			if res.status != http.StatusRequestEntityTooLarge {
				t.Fatalf("status = %d, want 413: %s", res.status, res.body)
			}
			if code := res.errorCode(t); code != "BAD_USER_INPUT" {
				t.Errorf("code = %q", code)
			}
			if !strings.Contains(res.body, fmt.Sprintf("request body exceeds %d bytes", limit)) {
				t.Errorf("body = %s", res.body)
			}
			if after := countPatients(t, db); after != before {
				t.Errorf("patients %d -> %d: the mutation ran", before, after)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	e := newEnv(t, nil, Config{})
	t.Run("a sane incoming id is echoed", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Header.Set(RequestIDHeader, "abc-123_XYZ")
		res := serve(e.handler, req)
		if got := res.header.Get(RequestIDHeader); got != "abc-123_XYZ" {
			t.Fatalf("X-Request-ID = %q", got)
		}
		if !strings.Contains(e.logs.String(), `"request_id":"abc-123_XYZ"`) {
			t.Errorf("the access log lacks the request id")
		}
	})
	for _, bad := range []string{"", "has space", strings.Repeat("a", 65), "semi;colon", "<script>"} {
		t.Run(fmt.Sprintf("%q is replaced", bad), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
			req.Header.Set(RequestIDHeader, bad)
			got := serve(e.handler, req).header.Get(RequestIDHeader)
			if got == bad || !requestIDRE.MatchString(got) {
				t.Fatalf("X-Request-ID = %q", got)
			}
		})
	}
	t.Run("request id and logger reach the handler", func(t *testing.T) {
		logs := &syncBuffer{}
		var seenID string
		h := chain(DefaultConfig(), zerolog.New(logs), newMetrics(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			seenID = care.RequestIDFromContext(r.Context())
			zerolog.Ctx(r.Context()).Info().Msg("inside")
		}))
		req := httptest.NewRequest(http.MethodGet, "/x", nil)
		req.Header.Set(RequestIDHeader, "req-42")
		serve(h, req)
		if seenID != "req-42" {
			t.Errorf("request id in context = %q", seenID)
		}
		if !strings.Contains(logs.String(), `{"level":"info","request_id":"req-42","message":"inside"}`) {
			t.Errorf("the context logger lacks the request id: %s", logs)
		}
	})
}

func TestPanicIs500Internal(t *testing.T) {
	logs := &syncBuffer{}
	h := chain(DefaultConfig(), zerolog.New(logs), newMetrics(), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("secret detail 9434765919")
	}))
	res := serve(h, httptest.NewRequest(http.MethodGet, "/graphql", nil))
	if res.status != http.StatusInternalServerError {
		t.Fatalf("status = %d", res.status)
	}
	if code := res.errorCode(t); code != "INTERNAL" {
		t.Errorf("code = %q", code)
	}
	if strings.Contains(res.body, "secret detail") {
		t.Errorf("the panic leaked to the client: %s", res.body)
	}
	if !strings.Contains(logs.String(), "recovered from panic") || !strings.Contains(logs.String(), `"status":500`) {
		t.Errorf("the panic was not logged: %s", logs)
	}
}

func TestRoutes(t *testing.T) {
	e := newEnv(t, nil, Config{})
	t.Run("a browser opening /graphql gets GraphiQL", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/graphql", nil)
		req.Header.Set("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
		res := serve(e.handler, req)
		if res.status != http.StatusOK || !strings.Contains(res.body, "/graphiql/graphiql.min.js") {
			t.Fatalf("status %d", res.status)
		}
		if res.header.Get("Content-Security-Policy") == "" {
			t.Errorf("no CSP on the page")
		}
	})
	t.Run("a GET with a query needs a token", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodGet, "/graphql?query=%7B__typename%7D", nil)
		req.Header.Set("Accept", "text/html,*/*")
		if res := serve(e.handler, req); res.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", res.status)
		}
	})
	t.Run("the vendored assets are served", func(t *testing.T) {
		for _, f := range []string{"graphiql.min.js", "graphiql.min.css", "react.production.min.js", "react-dom.production.min.js", "init.js"} {
			res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/graphiql/"+f, nil))
			if res.status != http.StatusOK || len(res.body) < 100 {
				t.Errorf("%s: %d, %d bytes", f, res.status, len(res.body))
			}
		}
	})
	t.Run("other methods on /graphql are 405", func(t *testing.T) {
		res := serve(e.handler, httptest.NewRequest(http.MethodDelete, "/graphql", nil))
		if res.status != http.StatusMethodNotAllowed || res.header.Get("Allow") != "GET, POST" {
			t.Fatalf("status %d Allow %q", res.status, res.header.Get("Allow"))
		}
	})
	t.Run("unknown paths are 404", func(t *testing.T) {
		if res := serve(e.handler, httptest.NewRequest(http.MethodGet, "/nope", nil)); res.status != http.StatusNotFound {
			t.Fatalf("status %d", res.status)
		}
	})
}

func TestRequestTimeout(t *testing.T) {
	var deadline time.Time
	var ok bool
	cfg := DefaultConfig()
	cfg.RequestTimeout = 3 * time.Second
	h := chain(cfg, zerolog.Nop(), newMetrics(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deadline, ok = r.Context().Deadline()
	}))
	serve(h, httptest.NewRequest(http.MethodGet, "/x", nil))
	if !ok || time.Until(deadline) > 3*time.Second || time.Until(deadline) < 2*time.Second {
		t.Fatalf("deadline %v (set %v), want about 3s from now", deadline, ok)
	}
}
