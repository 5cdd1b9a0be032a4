package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// feedbackEnv is the real handler over a seeded database, served over HTTP.
type feedbackEnv struct {
	*env
	db  *postgres.DB
	f   *postgrestest.Fixture
	srv *httptest.Server
}

func newFeedbackEnv(t *testing.T) *feedbackEnv {
	t.Helper()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	e := newEnv(t, db, Config{JWT: auth.Config{HMACSecret: testSecret}})
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	return &feedbackEnv{env: e, db: db, f: f, srv: srv}
}

// link asks for a feedback link through GraphQL as the fixture's nurse.
func (e *feedbackEnv) link(t *testing.T, kind, subject, instrument string) string {
	t.Helper()
	q := `mutation L($s: ID!) { createFeedbackLink(input: {subjectKind: ` + kind + `, subjectId: $s, instrument: ` + instrument + `}) { path token expiresAt } }`
	body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"s": subject}})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.token(t, care.RoleNurse, e.f.Nurse1, e.f.Nursing))
	res := overHTTP(t, e.srv.URL, req)
	var out struct {
		Data struct {
			CreateFeedbackLink struct{ Path, Token string } `json:"createFeedbackLink"`
		} `json:"data"`
		Errors []any `json:"errors"`
	}
	if err := json.Unmarshal([]byte(res.body), &out); err != nil || len(out.Errors) > 0 || out.Data.CreateFeedbackLink.Path == "" {
		t.Fatalf("createFeedbackLink: %s", res.body)
	}
	return out.Data.CreateFeedbackLink.Path
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

func (e *feedbackEnv) get(t *testing.T, path string) response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	return overHTTP(t, e.srv.URL, req)
}

func (e *feedbackEnv) post(t *testing.T, path string, form url.Values) response {
	t.Helper()
	c := &http.Client{CheckRedirect: noRedirect, Timeout: 10 * time.Second}
	res, err := c.PostForm(e.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := res.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return response{status: res.StatusCode, header: res.Header, body: b.String()}
}

func careForm(subject string) url.Values {
	v := url.Values{"subject": {subject}, "respondent": {"patient"}, "comment": {"very kind"}}
	for i := 1; i <= 10; i++ {
		v.Set(fmt.Sprintf("care%d", i), "4")
	}
	return v
}

func TestFeedbackPage(t *testing.T) {
	t.Parallel()
	e := newFeedbackEnv(t)
	subject := "interaction:" + e.f.InteractionA1Signed.String()

	t.Run("the page is accessible HTML with a strict policy", func(t *testing.T) {
		t.Parallel()
		r := e.get(t, e.link(t, "INTERACTION", e.f.InteractionA1Signed.String(), "CARE_MEASURE"))
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		for _, want := range []string{`<html lang="en">`, `name="viewport"`, `<legend><span class="step">1 of 10 · </span>Making you feel at ease`, `<label for="care1-5">Excellent</label>`,
			`<label for="care10-0">Does not apply</label>`, `Mary Jones`, `<label class="block" for="comment">`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("page lacks %q", want)
			}
		}
		if strings.Contains(r.body, "<script") || strings.Contains(r.body, "http://") || strings.Contains(r.body, "https://") {
			t.Error("page loads scripts or external assets")
		}
		csp := r.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'none'") || r.header.Get("Referrer-Policy") != "no-referrer" || r.header.Get("Cache-Control") != "no-store" {
			t.Errorf("headers %v", r.header)
		}
	})
	t.Run("submit once, then the link is refused", func(t *testing.T) {
		t.Parallel()
		path := e.link(t, "INTERACTION", e.f.InteractionA1Signed.String(), "CARE_MEASURE")
		r := e.post(t, path, careForm(subject))
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/feedback/thanks" {
			t.Fatalf("status %d location %q: %s", r.status, r.header.Get("Location"), r.body)
		}
		if r := e.post(t, path, careForm(subject)); r.status != http.StatusConflict || !strings.Contains(r.body, "already been used") {
			t.Fatalf("second submit: %d %s", r.status, r.body)
		}
		if r := e.get(t, path); r.status != http.StatusConflict {
			t.Fatalf("reopening a used link: %d", r.status)
		}
	})
	t.Run("a tampered link is refused", func(t *testing.T) {
		t.Parallel()
		path := e.link(t, "INTERACTION", e.f.InteractionA1Signed.String(), "CARE_MEASURE")
		bad := path[:len(path)-3] + "AAA"
		if r := e.get(t, bad); r.status != http.StatusBadRequest || !strings.Contains(r.body, "not valid") {
			t.Fatalf("tampered: %d %s", r.status, r.body)
		}
		if r := e.post(t, bad, careForm(subject)); r.status != http.StatusBadRequest {
			t.Fatalf("tampered post: %d", r.status)
		}
	})
	t.Run("an expired link is refused", func(t *testing.T) {
		t.Parallel()
		s := feedbackSigner(e.cfg)
		s.Now = func() time.Time { return time.Now().Add(-2 * time.Hour) }
		tok, err := s.Sign(feedback.LinkClaims{ID: uuid.New(), OrganizationID: e.f.Nursing, SubjectKind: feedback.SubjectTeam, SubjectID: e.f.Team,
			Instrument: feedback.InstrumentFFT, Expires: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if r := e.get(t, "/feedback/"+tok); r.status != http.StatusGone || !strings.Contains(r.body, "expired") {
			t.Fatalf("expired: %d %s", r.status, r.body)
		}
	})
	t.Run("answers for another subject are refused and do not use the link", func(t *testing.T) {
		t.Parallel()
		path := e.link(t, "INTERACTION", e.f.InteractionA2.String(), "CARE_MEASURE")
		if r := e.post(t, path, careForm(subject)); r.status != http.StatusForbidden || !strings.Contains(r.body, "different") {
			t.Fatalf("other subject: %d %s", r.status, r.body)
		}
		if r := e.post(t, path, careForm("interaction:"+e.f.InteractionA2.String())); r.status != http.StatusSeeOther {
			t.Fatalf("own subject after refusal: %d %s", r.status, r.body)
		}
	})
	t.Run("an unanswered FFT shows the form again with the problem", func(t *testing.T) {
		t.Parallel()
		path := e.link(t, "TEAM", e.f.Team.String(), "FFT")
		r := e.post(t, path, url.Values{"subject": {"team:" + e.f.Team.String()}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, `role="alert"`) || !strings.Contains(r.body, feedback.FFTQuestion) {
			t.Fatalf("unanswered: %d %s", r.status, r.body)
		}
		if r := e.post(t, path, url.Values{"subject": {"team:" + e.f.Team.String()}, "respondent": {"carer"}, "fft": {"dont_know"}}); r.status != http.StatusSeeOther {
			t.Fatalf("answered: %d %s", r.status, r.body)
		}
	})
	t.Run("no respondent is chosen for the patient", func(t *testing.T) {
		t.Parallel()
		r := e.get(t, e.link(t, "TEAM", e.f.Team.String(), "FFT"))
		if strings.Contains(r.body, `value="patient" checked`) || strings.Contains(r.body, `value="carer" checked`) {
			t.Fatalf("a respondent is pre-selected: %s", r.body)
		}
		path := e.link(t, "TEAM", e.f.Team.String(), "FFT")
		r = e.post(t, path, url.Values{"subject": {"team:" + e.f.Team.String()}, "fft": {"good"}})
		if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "who is answering") {
			t.Fatalf("without a respondent: %d %s", r.status, r.body)
		}
	})
	t.Run("a CARE form that cannot be scored is sent back and the link still works", func(t *testing.T) {
		t.Parallel()
		path := e.link(t, "INTERACTION", e.f.InteractionA1Signed.String(), "CARE_MEASURE")
		blank := url.Values{"subject": {subject}, "respondent": {"patient"}}
		threeNA := careForm(subject)
		for _, i := range []string{"care2", "care5", "care9"} {
			threeNA.Set(i, "0")
		}
		for name, form := range map[string]url.Values{"blank": blank, "three does-not-apply": threeNA} {
			r := e.post(t, path, form)
			if r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "at least 8 of the 10 statements") ||
				!strings.Contains(r.body, "<title>Error: ") || !strings.Contains(r.body, `id="error" tabindex="-1" autofocus`) {
				t.Fatalf("%s form: %d %s", name, r.status, r.body)
			}
		}
		twoNA := careForm(subject)
		twoNA.Set("care2", "0")
		twoNA.Del("care5")
		if r := e.post(t, path, twoNA); r.status != http.StatusSeeOther {
			t.Fatalf("a scorable form after two refusals: %d %s", r.status, r.body)
		}
		rs, err := e.db.FeedbackResponses(postgrestest.As(context.Background(), e.f.Nurse1Actor),
			postgres.FeedbackFilter{SubjectID: &e.f.InteractionA1Signed}, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range rs {
			if x.CARE != nil && !x.CARE.Scorable {
				t.Errorf("an unscorable CARE response was stored: %+v", x.CARE)
			}
		}
	})
}

// TestFeedbackLinkAlsoAsksFFT checks that one link may carry the CARE
// Measure and the Friends and Family Test: the page asks both, one submit
// stores both responses, and the link is then used.
func TestFeedbackLinkAlsoAsksFFT(t *testing.T) {
	t.Parallel()
	e := newFeedbackEnv(t)
	q := `mutation L($s: ID!) { createFeedbackLink(input: {subjectKind: TEAM, subjectId: $s, instrument: CARE_MEASURE, alsoAskFFT: true}) { path } }`
	body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"s": e.f.Team.String()}})
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+e.token(t, care.RoleNurse, e.f.Nurse1, e.f.Nursing))
	var out struct {
		Data struct {
			CreateFeedbackLink struct{ Path string } `json:"createFeedbackLink"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(overHTTP(t, e.srv.URL, req).body), &out); err != nil || out.Data.CreateFeedbackLink.Path == "" {
		t.Fatalf("createFeedbackLink with alsoAskFFT: %v %+v", err, out)
	}
	path := out.Data.CreateFeedbackLink.Path
	if r := e.get(t, path); !strings.Contains(r.body, feedback.FFTQuestion) || !strings.Contains(r.body, "1 of 10") {
		t.Fatalf("the page does not ask both: %s", r.body)
	}
	subject := "team:" + e.f.Team.String()
	if r := e.post(t, path, careForm(subject)); r.status != http.StatusUnprocessableEntity || !strings.Contains(r.body, "last question") {
		t.Fatalf("CARE without the FFT answer: %d %s", r.status, r.body)
	}
	form := careForm(subject)
	form.Set("fft", "very_good")
	if r := e.post(t, path, form); r.status != http.StatusSeeOther {
		t.Fatalf("both answered: %d %s", r.status, r.body)
	}
	rs, err := e.db.FeedbackResponses(postgrestest.As(context.Background(), care.SystemActor()), postgres.FeedbackFilter{SubjectID: &e.f.Team}, 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[feedback.Instrument]int{}
	for _, x := range rs {
		got[x.Instrument]++
	}
	if got[feedback.InstrumentCARE] != 1 || got[feedback.InstrumentFFT] != 1 || len(rs) != 2 {
		t.Fatalf("stored %v; want one CARE and one FFT response", got)
	}
	if r := e.post(t, path, form); r.status != http.StatusConflict {
		t.Fatalf("the link works twice: %d", r.status)
	}

	t.Run("only a CARE link can also ask the FFT", func(t *testing.T) {
		q := `mutation L($s: ID!) { createFeedbackLink(input: {subjectKind: TEAM, subjectId: $s, instrument: FFT, alsoAskFFT: true}) { path } }`
		body, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"s": e.f.Team.String()}})
		req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/graphql", strings.NewReader(string(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+e.token(t, care.RoleNurse, e.f.Nurse1, e.f.Nursing))
		if code := overHTTP(t, e.srv.URL, req).errorCode(t); code != "BAD_USER_INPUT" {
			t.Fatalf("code %s", code)
		}
	})
}

// TestFeedbackPageInBrowser runs test/browser/feedback.mjs: a real headless
// Chromium (Debian's chromium package) opens a link on a phone-sized screen
// with JavaScript disabled, answers the CARE Measure by tapping, submits and
// sees the thank-you page; then the response must be stored and scored.
func TestFeedbackPageInBrowser(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "browser", "playwright-core")
	chromium := os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		msg := "the feedback page test needs Debian's chromium: run `apt-get update && apt-get install -y chromium` (" + err.Error() + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	e := newFeedbackEnv(t)
	path := e.link(t, "INTERACTION", e.f.InteractionA1Signed.String(), "CARE_MEASURE")
	shots := os.Getenv("FEEDBACK_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "feedback.mjs"), e.srv.URL+path, shots)
	cmd.Env = append(os.Environ(), "CHROMIUM="+chromium)
	out, err := cmd.CombinedOutput()
	t.Logf("browser check:\n%s", out)
	if err != nil || !strings.Contains(string(out), "feedback page: all checks passed") {
		t.Fatalf("browser check failed: %v", err)
	}

	rs, err := e.db.FeedbackResponses(postgrestest.As(context.Background(), e.f.Nurse1Actor), postgres.FeedbackFilter{}, 10, nil)
	if err != nil || len(rs) != 1 {
		t.Fatalf("stored responses %d (%v), want 1", len(rs), err)
	}
	r := rs[0]
	// 8 × Very good (4) + Excellent (5) = 37 over 9 answered; one does not apply → 37 + 37/9
	want := 37 + 37.0/9
	if r.Instrument != feedback.InstrumentCARE || r.CARE == nil || !r.CARE.Scorable || r.CARE.Missing != 1 ||
		r.CARE.Score < want-1e-9 || r.CARE.Score > want+1e-9 {
		t.Fatalf("stored %+v score %+v, want %.4f", r, r.CARE, want)
	}
	if r.Respondent != feedback.RespondentCarer || r.FreeText != "Kind and unhurried." || r.SubjectID != e.f.InteractionA1Signed {
		t.Fatalf("stored %+v", r)
	}
}

func TestFeedbackSecretConfig(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	t.Run("a short secret is refused", func(t *testing.T) {
		if _, err := ConfigFromEnv(env(map[string]string{"RAPPORT_FEEDBACK_SECRET": "short"})); err == nil || !strings.Contains(err.Error(), "RAPPORT_FEEDBACK_SECRET") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the configured secret signs; without it one is derived from the JWT secret; with neither links are off", func(t *testing.T) {
		secret := strings.Repeat("f", 40)
		cfg, err := ConfigFromEnv(env(map[string]string{"RAPPORT_FEEDBACK_SECRET": secret}))
		if err != nil || string(cfg.FeedbackSecret) != secret || feedbackSigner(cfg) == nil {
			t.Fatalf("cfg %v err %v", cfg.FeedbackSecret, err)
		}
		c := feedback.LinkClaims{ID: uuid.New(), OrganizationID: uuid.New(), SubjectKind: feedback.SubjectTeam, SubjectID: uuid.New(),
			Instrument: feedback.InstrumentFFT, Expires: time.Now().Add(time.Hour)}
		tok, err := feedbackSigner(cfg).Sign(c)
		if err != nil {
			t.Fatal(err)
		}
		dev := Config{JWT: auth.Config{HMACSecret: testSecret}}
		if _, err := feedbackSigner(dev).Verify(tok); err == nil {
			t.Fatal("a derived dev secret verified a token signed with the configured one")
		}
		if feedbackSigner(Config{}) != nil {
			t.Fatal("links enabled without any secret")
		}
	})
}
