package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// findChromium returns Debian's chromium (or $CHROMIUM), and an error when
// it is not there.
func findChromium() (string, error) {
	p := os.Getenv("CHROMIUM")
	if p == "" {
		p = "/usr/bin/chromium"
	}
	_, err := os.Stat(p)
	return p, err
}

// chromiumPath returns the browser; like nodeHarness it fails the test under
// CI=true when the browser is missing and skips it otherwise.
func chromiumPath(t *testing.T) string {
	t.Helper()
	p, err := findChromium()
	if err != nil {
		msg := "the dashboard browser test needs Debian's chromium (apt-get install chromium): " + err.Error()
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// dashboardWorld is the demo dataset (demo.Small at its reference time)
// behind the real handler over HTTP, with tokens for each role the dashboard
// serves and for one that may not see patients.
type dashboardWorld struct {
	db     *postgres.DB
	srv    *httptest.Server
	tokens map[string]string
	// to is the month after the last one the views show (the dataset's end).
	to string
}

func newDashboardWorld(t *testing.T, o demo.Options) *dashboardWorld {
	t.Helper()
	db := postgrestest.New(t)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	o.Now = demo.ReferenceNow
	if _, err := demo.Seed(ctx, db, o); err != nil {
		t.Fatalf("seed demo: %v", err)
	}
	e := newEnv(t, db, Config{JWT: auth.Config{HMACSecret: testSecret}})
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	analytics, err := e.verifier.MintHMAC(auth.MintRequest{Subject: "commissioner-dashboard", OrganizationID: demo.PracticeID,
		Role: care.RoleIntegration, Scopes: []string{care.ScopeAnalyticsRead}, ClientID: "commissioner"})
	if err != nil {
		t.Fatal(err)
	}
	return &dashboardWorld{db: db, srv: srv, to: demo.ReferenceNow.Format("2006-01"), tokens: map[string]string{
		"admin":     e.token(t, care.RolePracticeAdmin, demo.PracticeAdminID, demo.PracticeID),
		"gp":        e.token(t, care.RoleGP, demo.GPID, demo.PracticeID),
		"nurse":     e.token(t, care.RoleNurse, demo.NurseID, demo.NursingOrgID),
		"analytics": analytics,
	}}
}

// seedFeedback records today's reflections by the demo GP on her own work:
// six CARE Measures (shown) and three FFT answers (fewer than 5: withheld).
func seedFeedback(t *testing.T, db *postgres.DB) {
	t.Helper()
	gp := &care.Actor{PractitionerID: demo.GPID, OrganizationID: demo.PracticeID, Role: care.RoleGP, Subject: demo.GPID.String()}
	gp.Access = auth.AccessFor(gp)
	ctx := care.NewContextWithActor(context.Background(), gp)
	good := feedback.FFTVeryGood
	for i := range 9 {
		s := feedback.Submission{SubjectKind: feedback.SubjectPractitioner, SubjectID: demo.GPID,
			Respondent: feedback.RespondentSelf, Instrument: feedback.InstrumentCARE,
			CARERatings: []int{5, 4, 4, 5, 3 + i%3, 4, 5, 4, 4, 5}}
		if i >= 6 {
			s.Instrument, s.CARERatings, s.FFT = feedback.InstrumentFFT, nil, &good
		}
		if _, err := db.SubmitFeedback(ctx, s); err != nil {
			t.Fatalf("seed feedback %d: %v", i, err)
		}
	}
}

// TestDashboardInBrowser opens /dashboard in headless Chromium for each role
// (test/dashboard/dashboard.mjs): each view renders for its role, the numbers
// shown equal GraphQL's for the same query, an analytics-only integration
// gets no patient at risk in its page or its network responses, the token
// never sits in a URL and is forgotten on sign-out, axe-core finds no WCAG
// 2.2 AA violation, and screenshots are kept in .tmp/dashboard-screenshots.
// The at-risk list the admin saw is in the audit trail, through the dashboard.
func TestDashboardInBrowser(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "dashboard", "playwright-core")
	chromium := chromiumPath(t)
	w := newDashboardWorld(t, demo.Small)
	seedFeedback(t, w.db)

	shots, err := filepath.Abs(filepath.Join("..", ".tmp", "dashboard-screenshots"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	tokens, _ := json.Marshal(w.tokens)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "dashboard.mjs"), "check", w.srv.URL, shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "DASHBOARD_TOKENS="+string(tokens), "DASHBOARD_TO="+w.to,
		"DASHBOARD_FEEDBACK_TO="+time.Now().UTC().AddDate(0, 1, 0).Format("2006-01"))
	out, err := cmd.CombinedOutput()
	t.Logf("dashboard in Chromium:\n%s", out)
	if err != nil {
		t.Fatalf("dashboard browser checks failed: %v", err)
	}
	if !strings.Contains(string(out), "dashboard: all checks passed") {
		t.Fatal("dashboard browser checks did not finish")
	}

	// The patients at risk the admin saw were read through the API, so they
	// are audited like any read, under the dashboard's operation name.
	var ids []string
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "ATRISK_IDS "); ok {
			if err := json.Unmarshal([]byte(rest), &ids); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(ids) == 0 {
		t.Fatal("the browser check reported no patient at risk")
	}
	admin := &care.Actor{PractitionerID: demo.PracticeAdminID, OrganizationID: demo.PracticeID, Role: care.RolePracticeAdmin, Subject: demo.PracticeAdminID.String()}
	admin.Access = auth.AccessFor(admin)
	for _, gid := range ids {
		typ, id, err := scalar.ParseGlobalID(gid)
		if err != nil || typ != "Patient" {
			t.Fatalf("at-risk id %q: %s %v", gid, typ, err)
		}
		entries, err := w.db.AuditEntries(care.NewContextWithActor(context.Background(), admin), id)
		if err != nil {
			t.Fatal(err)
		}
		if !auditedThrough(entries, "DashboardAtRisk", demo.PracticeAdminID) {
			t.Errorf("patient %s shown at risk on the dashboard, but no DashboardAtRisk read by the admin is audited", id)
		}
	}
}

func auditedThrough(entries []*care.AuditEntry, op string, actor uuid.UUID) bool {
	for _, e := range entries {
		if e.Operation == op && e.ActorID == actor && e.Action == care.AuditRead {
			return true
		}
	}
	return false
}

// TestDashboardDocExamples runs every GraphQL example in docs/dashboard.md
// against the demo data as the demo nurse, with the demo team and the
// dataset's last year; each must answer without errors and with data.
func TestDashboardDocExamples(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile(filepath.Join("..", "docs", "dashboard.md"))
	if err != nil {
		t.Fatal(err)
	}
	var examples []string
	for rest := string(doc); ; {
		_, after, ok := strings.Cut(rest, "```graphql\n")
		if !ok {
			break
		}
		var block string
		block, rest, _ = strings.Cut(after, "```")
		examples = append(examples, block)
	}
	if len(examples) == 0 {
		t.Fatal("docs/dashboard.md has no GraphQL example")
	}
	w := newDashboardWorld(t, demo.Small)
	vars := map[string]any{"team": scalar.GlobalID("Team", demo.NursingTeamID), "from": "2024-01-01", "to": "2025-01-01"}
	for i, q := range examples {
		body, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
		req := httptest.NewRequest("POST", w.srv.URL+"/graphql", strings.NewReader(string(body)))
		req.RequestURI = ""
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+w.tokens["nurse"])
		res := overHTTP(t, w.srv.URL, req)
		if res.status != 200 || strings.Contains(res.body, `"errors"`) || !strings.Contains(res.body, `"namedNurseShare"`) {
			t.Fatalf("example %d: %d %.500s", i+1, res.status, res.body)
		}
	}
}
