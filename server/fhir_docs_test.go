package server

import (
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// docExamples returns the blocks of a Markdown file fenced as "```sh example".
func docExamples(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var cur []string
	in := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case !in && strings.TrimSpace(line) == "```sh example":
			in, cur = true, nil
		case in && strings.TrimSpace(line) == "```":
			in = false
			out = append(out, strings.Join(cur, "\n"))
		case in:
			cur = append(cur, line)
		}
	}
	if in {
		t.Fatalf("%s: an example block is not closed", path)
	}
	return out
}

// TestFHIRDocExamples runs every example of docs/fhir.md, in order, with
// bash and curl against a real server; each must exit 0.
func TestFHIRDocExamples(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("docs/fhir.md examples need %s: %v", tool, err)
		}
	}
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	e := newEnv(t, db, Config{})
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	importToken, err := e.verifier.MintHMAC(auth.MintRequest{Subject: f.AdminA.String(), OrganizationID: f.PracticeA,
		Role: care.RolePracticeAdmin, Scopes: []string{care.ScopeContactsImport}})
	if err != nil {
		t.Fatal(err)
	}
	bulkToken, err := e.verifier.MintHMAC(auth.MintRequest{Subject: "analytics-platform", OrganizationID: f.PracticeA,
		Role: care.RoleIntegration, Scopes: []string{care.ScopeBulkExport, care.ScopePatientsRead}})
	if err != nil {
		t.Fatal(err)
	}
	examples := docExamples(t, "../docs/fhir.md")
	if len(examples) < 4 {
		t.Fatalf("docs/fhir.md has %d examples", len(examples))
	}
	env := append(os.Environ(), "BASE="+srv.URL+FHIRBase, "TOKEN="+e.token(t, care.RoleNurse, f.Nurse1, f.Nursing), "IMPORT_TOKEN="+importToken, "BULK_TOKEN="+bulkToken)
	for i, ex := range examples {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-euo", "pipefail", "-c", ex)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("example %d failed: %v\n%s\n--- output:\n%s", i+1, err, ex, out)
		}
	}
	sys := postgrestest.As(context.Background(), care.SystemActor())
	n, err := db.ImportRowCounts(sys)
	if err != nil {
		t.Fatal(err)
	}
	if n["imported_records"] != 2 {
		t.Fatalf("the import example recorded %d sources, want 2 (a clinician and a consultation)", n["imported_records"])
	}
}
