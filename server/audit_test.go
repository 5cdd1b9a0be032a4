package server

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGraphQLOverHTTPAudit runs the graphql-http package's server audits
// (test/graphql-http/audit.mjs) against the real handler, database and
// authentication. Every MUST and SHOULD audit must pass.
func TestGraphQLOverHTTPAudit(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "graphql-http", "graphql-http")

	e, srv, _, token := newLiveGP(t)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "audit.mjs"), srv.URL+"/graphql", token)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("graphql-http audit:\n%s", out)
	if err != nil {
		t.Fatalf("audit failed: %v", err)
	}
	if !strings.Contains(string(out), "0 MUST/SHOULD failed") {
		t.Fatalf("audit summary missing")
	}
	if strings.Contains(e.logs.String(), token) {
		t.Errorf("the token was logged")
	}
}
