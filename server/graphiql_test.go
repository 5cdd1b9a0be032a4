package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestGraphiQLInBrowser runs test/browser/graphiql.mjs: a real headless
// Chromium opens GraphiQL on a live server, sends no placeholder token,
// loads the schema once given a token, and runs the syncChanges
// subscription over the WebSocket until an event arrives.
func TestGraphiQLInBrowser(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "browser", "playwright-core")
	_, srv, f, token := newLiveGP(t)
	write, err := json.Marshal(map[string]any{
		"query":     `mutation W($p: ID!) { createInteraction(input: {patientId: $p, mode: CLINIC, occurredAt: "2025-02-03T09:00:00Z", purpose: "Review", notes: "Seen."}) { id } }`,
		"variables": map[string]any{"p": f.patient.ID.String()},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "graphiql.mjs"), srv.URL, token, string(write))
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("browser check:\n%s", out)
	if err != nil {
		t.Fatalf("GraphiQL browser check failed: %v", err)
	}
}

// newLiveGP serves the real handler over a fresh database holding a
// fixture, and returns the env (its logs), the server, the fixture and a
// token of its GP.
func newLiveGP(t *testing.T) (*env, *httptest.Server, fixture, string) {
	t.Helper()
	db := postgrestest.New(t)
	f := newFixture(t, db)
	// As in development: GraphiQL's schema docs and the graphql-http audit's
	// variable checks use introspection, which production turns off.
	on := true
	e := newEnv(t, db, Config{Introspection: &on})
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	return e, srv, f, e.token(t, care.RoleGP, f.gp, f.org)
}
