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

// TestFHIRLogsCarryNoPatientData reads and searches a patient by NHS number
// through FHIR and checks the logs hold the route but no identifier, name
// or token.
func TestFHIRLogsCarryNoPatientData(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := newFixture(t, db)
	e := newEnv(t, db, Config{})
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	tok := e.token(t, care.RoleGP, f.gp, f.org)
	for _, path := range []string{"/Patient?identifier=" + f.patient.NHSNumber, "/Patient/" + f.patient.ID.String(), "/Patient?name=" + f.patient.FamilyName} {
		req := httptest.NewRequest("GET", FHIRBase+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		if res := overHTTP(t, srv.URL, req); res.status != 200 || !strings.Contains(res.body, f.patient.NHSNumber) {
			t.Fatalf("GET %s: %d %s", path, res.status, res.body)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"/fhir/R4"`) {
		t.Fatalf("no access log line for FHIR: %s", logs)
	}
	for name, secret := range map[string]string{"NHS number": f.patient.NHSNumber, "patient id": f.patient.ID.String(),
		"family name": f.patient.FamilyName, "token": tok} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain the %s", name)
		}
	}
}
