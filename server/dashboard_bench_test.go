package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// BenchmarkDashboardPracticeLarge measures the first render of the practice
// view for the largest practice in demo.Large (20,000 patients, about
// 900,000 interactions), as its practice admin opens it for a meeting:
//
//   - view-ms/op: server time of GET /dashboard/view/practice (its three
//     GraphQL queries — viewer, the 24-month practiceContinuity series,
//     patients at risk — plus the SPC analysis and the HTML);
//   - graphql-ms/op: the underlying practiceContinuity query alone, POSTed
//     to /graphql in the same run, the baseline;
//   - view/graphql: their ratio;
//   - browser-ms: headless Chromium's time from navigation to the charts
//     drawn (median of 3 page loads, test/dashboard/dashboard.mjs bench),
//     when the harness is installed.
//
// The dataset is seeded once, before the loop (b.Loop runs the function once).
//
//	go test ./server/ -run '^$' -bench DashboardPracticeLarge -benchtime 3x
func BenchmarkDashboardPracticeLarge(b *testing.B) {
	db := postgrestest.New(b)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	o := demo.Large
	o.Now = demo.ReferenceNow
	sum, err := demo.Seed(ctx, db, o)
	if err != nil {
		b.Fatalf("seed demo.Large: %v", err)
	}
	b.Logf("seeded demo.Large: %d patients, %d interactions", sum.Patients, sum.Interactions)
	v, err := auth.NewVerifier(auth.Config{Issuer: DefaultIssuer, Audience: DefaultAudience, HMACSecret: testSecret})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(Handler(Config{JWT: auth.Config{HMACSecret: testSecret}}, Deps{DB: db, Verifier: v, Log: zerolog.Nop()}))
	defer srv.Close()
	token, err := v.MintHMAC(auth.MintRequest{Subject: demo.PracticeAdminID.String(), OrganizationID: demo.PracticeID, Role: care.RolePracticeAdmin})
	if err != nil {
		b.Fatal(err)
	}
	to := demo.ReferenceNow.Format("2006-01")
	// The practice view's own series query (web/dashboard), for the same 24 months.
	body, _ := json.Marshal(map[string]any{"query": `query DashboardPractice($practice: ID!, $from: Date!, $to: Date!) {
  practiceContinuity(practiceId: $practice, from: $from, to: $to) {
    indexMonths practice { name }
    months { month slicc { value numerator denominator } opr { value numerator denominator }
      meanUPC { value eligible excluded } meanCOC { value eligible excluded }
      lists { practitioner { id givenName familyName } slicc { value numerator denominator } opr { value numerator denominator } } }
  }
}`, "variables": map[string]any{"practice": demo.PracticeID.String(), "from": "2023-01-01", "to": "2025-01-01"}})
	call := func(req *http.Request) string {
		req.Header.Set("Authorization", "Bearer "+token)
		res, err := srv.Client().Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		out, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			b.Fatalf("%s %s: %d %s", req.Method, req.URL.Path, res.StatusCode, out)
		}
		return string(out)
	}
	gql := func() string {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return call(req)
	}
	view := func() string {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/dashboard/view/practice?to="+to, nil)
		return call(req)
	}
	if out := gql(); strings.Contains(out, `"errors"`) || !strings.Contains(out, `"months"`) {
		b.Fatalf("practiceContinuity: %.300s", out)
	}
	if out := view(); !strings.Contains(out, `id="practice-slicc-table"`) || !strings.Contains(out, `id="atrisk-table"`) {
		b.Fatalf("practice view: %.300s", out)
	}

	var viewTime, gqlTime time.Duration
	n := 0
	for b.Loop() {
		start := time.Now()
		view()
		mid := time.Now()
		gql()
		viewTime += mid.Sub(start)
		gqlTime += time.Since(mid)
		n++
	}
	b.ReportMetric(float64(viewTime.Milliseconds())/float64(n), "view-ms/op")
	b.ReportMetric(float64(gqlTime.Milliseconds())/float64(n), "graphql-ms/op")
	b.ReportMetric(float64(viewTime)/float64(gqlTime), "view/graphql")

	if ms, ok := browserDrawTime(b, srv.URL, token, to); ok {
		b.ReportMetric(ms, "browser-ms")
	}
}

// browserDrawTime opens the practice view in headless Chromium three times
// and returns the median milliseconds from navigation to the charts drawn.
// Without the harness or the browser it reports why and returns false
// (failing under CI=true, like every browser test).
func browserDrawTime(b *testing.B, base, token, to string) (float64, bool) {
	dir, _ := filepath.Abs(filepath.Join("..", "test", "dashboard"))
	chromium, err := findChromium()
	node := "node"
	if err == nil {
		node, err = exec.LookPath("node")
	}
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "playwright-core"))
	}
	if err != nil {
		msg := "browser time not measured: needs node, `npm ci --prefix test/dashboard` and chromium (" + err.Error() + ")"
		if os.Getenv("CI") == "true" {
			b.Fatal(msg)
		}
		b.Log(msg)
		return 0, false
	}
	tokens, _ := json.Marshal(map[string]string{"admin": token})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "dashboard.mjs"), "bench", base, "3")
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium, "DASHBOARD_TOKENS="+string(tokens), "DASHBOARD_TO="+to)
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("browser timing: %v\n%s", err, out)
	}
	var times []float64
	for line := range strings.Lines(string(out)) {
		if rest, ok := strings.CutPrefix(line, "BROWSER_MS "); ok {
			if err := json.Unmarshal([]byte(rest), &times); err != nil {
				b.Fatal(err)
			}
		}
	}
	if len(times) == 0 {
		b.Fatalf("browser timing printed nothing:\n%s", out)
	}
	slices.Sort(times)
	b.Logf("browser: navigation to charts drawn, ms: %v", times)
	return times[len(times)/2], true
}
