package fhir_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/fhir"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

var secret = []byte("fhir-test-secret-0123456789-abcdefghijkl")

// world is a served FHIR API over a seeded database.
type world struct {
	db  *postgres.DB
	f   *postgrestest.Fixture
	v   *auth.Verifier
	srv *httptest.Server
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	v, err := auth.NewVerifier(auth.Config{Issuer: "rapport-dev", Audience: "rapport", HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/fhir/R4/", fhir.New(fhir.Config{DB: db, Verifier: v, Base: "/fhir/R4"}))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &world{db: db, f: f, v: v, srv: srv}
}

// token mints a token for a person (practitioner id) or an integration.
func (w *world) token(t *testing.T, role care.Role, subject uuid.UUID, org uuid.UUID, scopes ...string) string {
	t.Helper()
	sub := subject.String()
	if role == care.RoleIntegration {
		sub = "analytics-co"
	}
	tok, err := w.v.MintHMAC(auth.MintRequest{Subject: sub, OrganizationID: org, Role: role, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type reply struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func (w *world) get(t *testing.T, token, path string) reply {
	t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = w.srv.URL + "/fhir/R4/" + path
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: not JSON (%d): %s", path, res.StatusCode, b)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	return reply{res.StatusCode, res.Header, m, string(b)}
}

// ids returns the ids of the match entries of a searchset of typ.
func (r reply) ids(t *testing.T) []string {
	t.Helper()
	if r.status != http.StatusOK || r.body["resourceType"] != "Bundle" {
		t.Fatalf("not a searchset: %d %s", r.status, r.raw)
	}
	var out []string
	entries, _ := r.body["entry"].([]any)
	for _, e := range entries {
		m := e.(map[string]any)
		if m["search"].(map[string]any)["mode"] == "match" {
			out = append(out, m["resource"].(map[string]any)["id"].(string))
		}
	}
	return out
}

func (r reply) issueCode(t *testing.T) string {
	t.Helper()
	if r.body["resourceType"] != "OperationOutcome" {
		t.Fatalf("not an OperationOutcome: %d %s", r.status, r.raw)
	}
	return r.body["issue"].([]any)[0].(map[string]any)["code"].(string)
}

func has(ids []string, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id.String() {
			return true
		}
	}
	return false
}

func TestCapabilityStatement(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	r := w.get(t, "", "metadata")
	if r.status != 200 || r.body["resourceType"] != "CapabilityStatement" || r.body["fhirVersion"] != "4.0.1" {
		t.Fatalf("metadata: %d %s", r.status, r.raw)
	}
	for _, typ := range []string{"Organization", "Practitioner", "PractitionerRole", "Group", "Patient", "CareTeam", "EpisodeOfCare",
		"Encounter", "Provenance", "Questionnaire", "QuestionnaireResponse"} {
		if !strings.Contains(r.raw, `"type":"`+typ+`"`) {
			t.Errorf("CapabilityStatement does not list %s", typ)
		}
	}
}

// TestAccessProbes asks every patient-data endpoint, as each person, for
// what is theirs and what is not: a record outside the caseload answers
// exactly like one that does not exist.
func TestAccessProbes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	nurse1 := w.token(t, care.RoleNurse, f.Nurse1, f.Nursing)
	nurse2 := w.token(t, care.RoleNurse, f.Nurse2, f.Nursing)
	gpB := w.token(t, care.RoleGP, f.GPB, f.PracticeB)
	gpA := w.token(t, care.RoleGP, f.GPA, f.PracticeA)

	type probe struct {
		name          string
		token         string
		path          string
		visible       bool
		searchPath    string
		searchVisible []uuid.UUID
		searchHidden  []uuid.UUID
	}
	missing := uuid.New()
	probes := []probe{
		{name: "nurse reads her caseload patient", token: nurse1, path: "Patient/" + f.PatientA1.String(), visible: true,
			searchPath: "Patient", searchVisible: []uuid.UUID{f.PatientA1, f.PatientA2}, searchHidden: []uuid.UUID{f.PatientB1}},
		{name: "nurse cannot read another practice's patient", token: nurse1, path: "Patient/" + f.PatientB1.String()},
		{name: "nurse outside the team sees no one", token: nurse2, path: "Patient/" + f.PatientA1.String(),
			searchPath: "Patient", searchHidden: []uuid.UUID{f.PatientA1, f.PatientA2, f.PatientB1}},
		{name: "GP B reads her practice's patient", token: gpB, path: "Patient/" + f.PatientB1.String(), visible: true,
			searchPath: "Patient", searchVisible: []uuid.UUID{f.PatientB1}, searchHidden: []uuid.UUID{f.PatientA1, f.PatientA2}},
		{name: "nurse reads her encounter", token: nurse1, path: "Encounter/" + f.InteractionA1Signed.String(), visible: true,
			searchPath: "Encounter", searchVisible: []uuid.UUID{f.InteractionA1Signed, f.InteractionA1Draft, f.InteractionA2}, searchHidden: []uuid.UUID{f.InteractionB1}},
		{name: "GP A cannot read practice B's encounter", token: gpA, path: "Encounter/" + f.InteractionB1.String(),
			searchPath: "Encounter?patient=Patient/" + f.PatientB1.String(), searchHidden: []uuid.UUID{f.InteractionB1}},
		{name: "nurse reads her patient's episode of care", token: nurse1, path: "EpisodeOfCare/" + f.PatientA1NamedNurse.String(), visible: true,
			searchPath: "EpisodeOfCare", searchVisible: []uuid.UUID{f.PatientA1NamedNurse, f.PatientA1UsualGP, f.PatientA2Team}},
		{name: "GP B cannot read practice A's episode", token: gpB, path: "EpisodeOfCare/" + f.PatientA1UsualGP.String(),
			searchPath: "EpisodeOfCare", searchHidden: []uuid.UUID{f.PatientA1UsualGP, f.PatientA1NamedNurse, f.PatientA2Team}},
		{name: "nurse reads her patient's care team", token: nurse1, path: "CareTeam/" + f.PatientA1.String(), visible: true,
			searchPath: "CareTeam", searchVisible: []uuid.UUID{f.PatientA1, f.PatientA2}, searchHidden: []uuid.UUID{f.PatientB1}},
		{name: "GP B cannot read practice A's care team", token: gpB, path: "CareTeam/" + f.PatientA1.String(),
			searchPath: "CareTeam?patient=" + f.PatientA1.String(), searchHidden: []uuid.UUID{f.PatientA1}},
		{name: "GP B cannot list provenance of practice A's encounter", token: gpB, path: "Encounter/" + f.InteractionA1Signed.String(),
			searchPath: "Provenance?target=Encounter/" + f.InteractionA1Signed.String()},
	}
	for _, p := range probes {
		t.Run(p.name, func(t *testing.T) {
			r := w.get(t, p.token, p.path)
			if p.visible {
				if r.status != 200 {
					t.Fatalf("GET %s: %d %s", p.path, r.status, r.raw)
				}
			} else {
				typ, _, _ := strings.Cut(p.path, "/")
				gone := w.get(t, p.token, typ+"/"+missing.String())
				if r.status != 404 || gone.status != 404 || r.issueCode(t) != gone.issueCode(t) ||
					r.body["issue"].([]any)[0].(map[string]any)["diagnostics"] != gone.body["issue"].([]any)[0].(map[string]any)["diagnostics"] {
					t.Fatalf("hidden and missing differ: %d %s / %d %s", r.status, r.raw, gone.status, gone.raw)
				}
			}
			if p.searchPath == "" {
				return
			}
			got := w.get(t, p.token, p.searchPath).ids(t)
			for _, id := range p.searchVisible {
				if !has(got, id) {
					t.Errorf("search %s misses %s", p.searchPath, id)
				}
			}
			for _, id := range p.searchHidden {
				if has(got, id) {
					t.Errorf("search %s shows %s, outside the caller's access", p.searchPath, id)
				}
			}
		})
	}
}

func TestReadsAreAudited(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	tok := w.token(t, care.RoleNurse, f.Nurse1, f.Nursing)
	if r := w.get(t, tok, "Patient/"+f.PatientA1.String()); r.status != 200 {
		t.Fatalf("read: %d %s", r.status, r.raw)
	}
	if r := w.get(t, tok, "Encounter?patient="+f.PatientA1.String()); r.status != 200 {
		t.Fatalf("search: %d %s", r.status, r.raw)
	}
	ctx := postgrestest.As(context.Background(), care.SystemActor())
	entries, err := w.db.AuditEntries(ctx, f.PatientA1)
	if err != nil {
		t.Fatal(err)
	}
	var read, searched bool
	for _, e := range entries {
		if e.ActorID == f.Nurse1 && e.Action == care.AuditRead {
			read = read || (e.Operation == "FHIR read Patient" && e.EntityID == f.PatientA1)
			searched = searched || (e.Operation == "FHIR search Encounter" && e.Entity == "Interaction")
		}
	}
	if !read || !searched {
		t.Fatalf("FHIR read audited %v, search audited %v", read, searched)
	}
}

func TestPagingFollowsNextLinks(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	tok := w.token(t, care.RoleNurse, f.Nurse1, f.Nursing)
	seen := map[string]bool{}
	next := w.srv.URL + "/fhir/R4/Encounter?_count=1"
	pages := 0
	for next != "" {
		r := w.get(t, tok, next)
		ids := r.ids(t)
		if len(ids) != 1 {
			t.Fatalf("page %d has %d entries", pages, len(ids))
		}
		if total := r.body["total"].(float64); total != 3 {
			t.Fatalf("total %v, want 3", total)
		}
		seen[ids[0]] = true
		next = ""
		for _, l := range r.body["link"].([]any) {
			if l.(map[string]any)["relation"] == "next" {
				next = l.(map[string]any)["url"].(string)
			}
		}
		pages++
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 3 || pages != 3 {
		t.Fatalf("paged %d pages, %d distinct encounters; want 3 and 3", pages, len(seen))
	}
}

func TestSearchParameters(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	gpA := w.token(t, care.RoleGP, f.GPA, f.PracticeA)
	nurse1 := w.token(t, care.RoleNurse, f.Nurse1, f.Nursing)
	ctx := postgrestest.As(context.Background(), care.SystemActor())
	pa, err := w.db.Patient(ctx, f.PatientA1)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, token, path string
		want              []uuid.UUID
	}{
		{"identifier with the NHS system", gpA, "Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|" + pa.NHSNumber, []uuid.UUID{f.PatientA1}},
		{"identifier bare", gpA, "Patient?identifier=" + pa.NHSNumber, []uuid.UUID{f.PatientA1}},
		{"_id", gpA, "Patient?_id=" + f.PatientA2.String(), []uuid.UUID{f.PatientA2}},
		{"general-practitioner", gpA, "Patient?general-practitioner=Practitioner/" + f.GPA.String(), []uuid.UUID{f.PatientA1}},
		{"_lastUpdated in the past finds none", gpA, "Patient?_lastUpdated=lt2000-01-01", nil},
		{"_lastUpdated since 2000", gpA, "Patient?_lastUpdated=ge2000&_count=100", []uuid.UUID{f.PatientA1, f.PatientA2}},
		{"encounter date ge", nurse1, "Encounter?date=ge2000-01-01&patient=" + f.PatientA2.String(), []uuid.UUID{f.InteractionA2}},
		{"encounter date lt", nurse1, "Encounter?date=lt2000-01-01", nil},
		{"encounter by practitioner", nurse1, "Encounter?practitioner=" + f.Nurse1.String() + "&patient=" + f.PatientA2.String(), []uuid.UUID{f.InteractionA2}},
		{"episode by type", gpA, "EpisodeOfCare?type=usual_gp", []uuid.UUID{f.PatientA1UsualGP}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := w.get(t, c.token, c.path).ids(t)
			if len(got) != len(c.want) {
				t.Fatalf("%s: got %v, want %v", c.path, got, c.want)
			}
			for _, id := range c.want {
				if !has(got, id) {
					t.Fatalf("%s: got %v, want %v", c.path, got, c.want)
				}
			}
		})
	}
	t.Run("_include brings the patient", func(t *testing.T) {
		r := w.get(t, nurse1, "Encounter?patient="+f.PatientA2.String()+"&_include=Encounter:patient")
		if !strings.Contains(r.raw, `"mode":"include"`) || !strings.Contains(r.raw, `"resourceType":"Patient"`) {
			t.Fatalf("no included patient: %s", r.raw)
		}
	})
}

func TestErrorsAreOperationOutcomes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	tok := w.token(t, care.RoleGP, f.GPA, f.PracticeA)
	cases := []struct {
		name, token, path string
		status            int
		code              string
	}{
		{"no token", "", "Patient", 401, "login"},
		{"bad token", "not-a-token", "Patient", 401, "login"},
		{"unknown type", tok, "Medication", 404, "not-found"},
		{"unknown parameter", tok, "Patient?gender=female", 400, "invalid"},
		{"bad date", tok, "Encounter?date=yesterday", 400, "invalid"},
		{"unsupported prefix", tok, "Encounter?date=ne2025-01-01", 400, "invalid"},
		{"_count too large", tok, "Patient?_count=1000", 400, "invalid"},
		{"bad cursor", tok, "Patient?_cursor=zzz", 400, "invalid"},
		{"bad NHS number", tok, "Patient?identifier=1234567890", 400, "invalid"},
		{"reference to the wrong type", tok, "Encounter?patient=Practitioner/" + f.GPA.String(), 400, "invalid"},
		{"unsupported _include", tok, "Encounter?_include=Encounter:location", 400, "invalid"},
		{"not a uuid", tok, "Patient/abc", 404, "not-found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.get(t, c.token, c.path)
			if r.status != c.status || r.issueCode(t) != c.code {
				t.Fatalf("%s: %d %s, want %d %s", c.path, r.status, r.raw, c.status, c.code)
			}
		})
	}
}

func TestSMARTScopes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	cases := []struct {
		name   string
		token  string
		path   string
		status int
		want   []uuid.UUID
	}{
		{"integration without a patient scope is refused patients", w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeA, "analytics:read"), "Patient", 403, nil},
		{"integration with system/*.rs reads its practice", w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeA, "system/*.rs"), "Patient", 200, []uuid.UUID{f.PatientA1, f.PatientA2}},
		{"integration with system/Patient.rs reads patients", w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeA, "system/Patient.rs"), "Patient", 200, []uuid.UUID{f.PatientA1, f.PatientA2}},
		{"system/Patient.rs does not grant Encounter", w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeA, "system/Patient.rs"), "Encounter", 403, nil},
		{"integration with patients:read reads its practice", w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeB, "patients:read"), "Patient", 200, []uuid.UUID{f.PatientB1}},
		{"user/Patient.rs narrows a GP to patients", w.token(t, care.RoleGP, f.GPA, f.PracticeA, "user/Patient.rs"), "Encounter", 403, nil},
		{"user/Patient.rs still reads patients", w.token(t, care.RoleGP, f.GPA, f.PracticeA, "user/Patient.rs"), "Patient", 200, []uuid.UUID{f.PatientA1, f.PatientA2}},
		{"user/*.rs never widens a nurse", w.token(t, care.RoleNurse, f.Nurse2, f.Nursing, "user/*.rs", "patients:read"), "Patient", 200, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.get(t, c.token, c.path)
			if r.status != c.status {
				t.Fatalf("%s: %d %s", c.path, r.status, r.raw)
			}
			if c.status != 200 {
				if r.issueCode(t) != "forbidden" {
					t.Fatalf("issue %s", r.raw)
				}
				return
			}
			got := r.ids(t)
			if len(got) != len(c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
			for _, id := range c.want {
				if !has(got, id) {
					t.Fatalf("got %v, want %v", got, c.want)
				}
			}
		})
	}
}

// TestAnonymousFeedbackNeverLeaves checks that a patient's anonymous response
// is never a QuestionnaireResponse, while the practitioner's identified
// reflection is.
func TestAnonymousFeedbackNeverLeaves(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	nurse := postgrestest.As(context.Background(), f.Nurse1Actor)
	c, err := w.db.PrepareFeedbackLink(nurse, postgres.CreateFeedbackLinkInput{SubjectKind: feedback.SubjectInteraction,
		SubjectID: f.InteractionA1Signed, Instrument: feedback.InstrumentCARE})
	if err != nil {
		t.Fatal(err)
	}
	ratings := []int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}
	anon, err := w.db.SubmitLinkedFeedback(context.Background(), c, feedback.Submission{SubjectKind: feedback.SubjectInteraction,
		SubjectID: f.InteractionA1Signed, Respondent: feedback.RespondentPatient, Instrument: feedback.InstrumentCARE, CARERatings: ratings})
	if err != nil {
		t.Fatal(err)
	}
	mine, err := w.db.SubmitFeedback(nurse, feedback.Submission{SubjectKind: feedback.SubjectInteraction, SubjectID: f.InteractionA1Signed,
		Respondent: feedback.RespondentSelf, Instrument: feedback.InstrumentCARE, CARERatings: ratings})
	if err != nil {
		t.Fatal(err)
	}
	tok := w.token(t, care.RoleNurse, f.Nurse1, f.Nursing)
	got := w.get(t, tok, "QuestionnaireResponse").ids(t)
	if len(got) != 1 || !has(got, mine.ID) {
		t.Fatalf("QuestionnaireResponse search: %v, want only the reflection %s", got, mine.ID)
	}
	if r := w.get(t, tok, "QuestionnaireResponse/"+anon.ID.String()); r.status != 404 {
		t.Fatalf("the anonymous response was read: %d %s", r.status, r.raw)
	}
	gpB := w.token(t, care.RoleGP, f.GPB, f.PracticeB)
	if r := w.get(t, gpB, "QuestionnaireResponse/"+mine.ID.String()); r.status != 404 {
		t.Fatalf("GP B read nurse 1's reflection: %d %s", r.status, r.raw)
	}
	if got := w.get(t, gpB, "QuestionnaireResponse").ids(t); len(got) != 0 {
		t.Fatalf("GP B found %v", got)
	}
}

func mintIntegration(org uuid.UUID, subject string, scopes ...string) auth.MintRequest {
	return auth.MintRequest{Subject: subject, OrganizationID: org, Role: care.RoleIntegration, Scopes: scopes}
}
