package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// contact is one past consultation as a practice's clinical system holds it.
type contact struct {
	source  string // the source system's id of the consultation
	patient int    // index into the patients
	gp      int    // index into the clinicians
	mode    care.InteractionMode
	at      time.Time
	minutes int
}

// history is a practice's contact history: patients, clinicians (the last
// one has left) and contacts, all deterministic.
type history struct {
	patients []care.CreatePatientInput
	gps      []care.CreatePractitionerInput
	left     int // index of the departed clinician
	contacts []contact
}

const sourceSystem = "https://clinical-system.example/consultation"
const sourceStaff = "https://clinical-system.example/staff"

func makeHistory(nPatients, nContacts int) *history {
	h := &history{left: 2}
	for i := range nPatients {
		h.patients = append(h.patients, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(100 + i), GivenName: "Given" + fmt.Sprint(i),
			FamilyName: "Family" + fmt.Sprint(i), BirthDate: time.Date(1930+i%80, time.Month(1+i%12), 1+i%28, 0, 0, 0, 0, time.UTC)})
	}
	for i, name := range []string{"Okafor", "Byrne", "Lindqvist"} {
		h.gps = append(h.gps, care.CreatePractitionerInput{GivenName: "Dr" + fmt.Sprint(i), FamilyName: name, Profession: care.ProfessionGP})
	}
	modes := []care.InteractionMode{care.ModeClinic, care.ModeClinic, care.ModePhone, care.ModeHomeVisit, care.ModeVideo}
	start := time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range nContacts {
		p := (i * 7919) % nPatients
		// Each patient mostly sees "their" GP; the departed GP saw patients
		// only in the first year.
		gp := p % 2
		if i%5 == 0 {
			gp = (gp + 1) % 2
		}
		at := start.Add(time.Duration(i) * (2 * 365 * 24 * time.Hour / time.Duration(nContacts))) // over 2 years
		if i%7 == 0 && at.Year() == 2024 {
			gp = h.left
		}
		h.contacts = append(h.contacts, contact{source: fmt.Sprintf("C%06d", i), patient: p, gp: gp, mode: modes[i%len(modes)], at: at, minutes: 5 + i%25})
	}
	return h
}

// bundle returns the transaction Bundle of the history: every patient and
// clinician as an entry, and every contact as an Encounter referring to them.
func (h *history) bundle() []byte {
	var entries []any
	for i, p := range h.patients {
		entries = append(entries, map[string]any{
			"fullUrl": fmt.Sprintf("urn:uuid:%s", uuid.NewSHA1(uuid.NameSpaceURL, []byte("patient"+fmt.Sprint(i)))),
			"resource": map[string]any{"resourceType": "Patient",
				"identifier": []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": p.NHSNumber}},
				"name":       []any{map[string]any{"use": "official", "family": p.FamilyName, "given": []string{p.GivenName}}},
				"birthDate":  p.BirthDate.Format("2006-01-02")},
			"request": map[string]any{"method": "POST", "url": "Patient"}})
	}
	for i, g := range h.gps {
		entries = append(entries, map[string]any{
			"fullUrl": fmt.Sprintf("urn:uuid:%s", uuid.NewSHA1(uuid.NameSpaceURL, []byte("gp"+fmt.Sprint(i)))),
			"resource": map[string]any{"resourceType": "Practitioner", "active": i != h.left,
				"identifier":    []any{map[string]any{"system": sourceStaff, "value": fmt.Sprintf("S%d", i)}},
				"name":          []any{map[string]any{"use": "official", "family": g.FamilyName, "given": []string{g.GivenName}}},
				"qualification": []any{map[string]any{"code": map[string]any{"coding": []any{map[string]any{"system": "https://rapport.care/fhir/CodeSystem/profession", "code": "gp"}}}}}},
			"request": map[string]any{"method": "POST", "url": "Practitioner"}})
	}
	for _, c := range h.contacts {
		entries = append(entries, map[string]any{
			"resource": map[string]any{"resourceType": "Encounter", "status": "finished",
				"identifier": []any{map[string]any{"system": sourceSystem, "value": c.source}},
				"class":      map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
				"type":       []any{map[string]any{"coding": []any{map[string]any{"system": "https://rapport.care/fhir/CodeSystem/interaction-mode", "code": string(c.mode)}}}},
				"subject":    map[string]any{"reference": fmt.Sprintf("urn:uuid:%s", uuid.NewSHA1(uuid.NameSpaceURL, []byte("patient"+fmt.Sprint(c.patient))))},
				"participant": []any{map[string]any{"individual": map[string]any{
					"reference": fmt.Sprintf("Practitioner?identifier=%s|S%d", sourceStaff, c.gp)}}},
				"period":     map[string]any{"start": c.at.Format(time.RFC3339), "end": c.at.Add(time.Duration(c.minutes) * time.Minute).Format(time.RFC3339)},
				"reasonCode": []any{map[string]any{"text": "review"}}},
			"request": map[string]any{"method": "POST", "url": "Encounter?identifier=" + sourceSystem + "|" + c.source}})
	}
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": entries})
	return b
}

// practiceWorld is a practice with an admin, served over HTTP.
type practiceWorld struct {
	db       *postgres.DB
	e        *env
	srv      *httptest.Server
	practice uuid.UUID
	admin    uuid.UUID
}

func newPracticeWorld(t testing.TB) *practiceWorld {
	t.Helper()
	db := postgrestest.New(t)
	sys := postgrestest.As(context.Background(), care.SystemActor())
	org, err := db.CreateOrganization(sys, care.CreateOrganizationInput{Name: "Riverside Surgery", Kind: care.OrgGPPractice})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := db.CreatePractitioner(sys, care.CreatePractitionerInput{OrganizationID: org.ID, GivenName: "Tom", FamilyName: "Reeve", Profession: care.ProfessionOther})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db, Config{})
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	return &practiceWorld{db: db, e: e, srv: srv, practice: org.ID, admin: admin.ID}
}

func (w *practiceWorld) adminToken(t testing.TB, scopes ...string) string {
	t.Helper()
	tok, err := w.e.verifier.MintHMAC(auth.MintRequest{Subject: w.admin.String(), OrganizationID: w.practice, Role: care.RolePracticeAdmin, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (w *practiceWorld) post(t *testing.T, token, path string, body []byte) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, w.srv.URL+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/fhir+json")
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(res.Body).Decode(&m); err != nil {
		t.Fatalf("POST %s: %d, body not JSON: %v", path, res.StatusCode, err)
	}
	return res.StatusCode, m
}

// rowCounts counts what an import writes.
func rowCounts(t *testing.T, db *postgres.DB) map[string]int64 {
	t.Helper()
	n, err := db.ImportRowCounts(postgrestest.As(context.Background(), care.SystemActor()))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// statuses counts the transaction-response entries by status.
func statuses(t *testing.T, body map[string]any) map[string]int {
	t.Helper()
	out := map[string]int{}
	entries, _ := body["entry"].([]any)
	for _, e := range entries {
		out[e.(map[string]any)["response"].(map[string]any)["status"].(string)]++
	}
	return out
}

// continuityFigures reads a practice's monthly continuity through GraphQL
// and returns it without the practitioner ids (which differ between worlds).
func continuityFigures(t *testing.T, w *practiceWorld, token string) string {
	t.Helper()
	q := fmt.Sprintf(`query C { practiceContinuity(practiceId: %q, from: "2024-01-01", to: "2026-01-01", indexMonths: 12) {
		months { month slicc { numerator denominator value } opr { numerator denominator value } unassignedContacts
		  meanUPC { value eligible excluded } meanCOC { value eligible excluded }
		  lists { slicc { numerator denominator } } } } }`, w.practice)
	res := overHTTP(t, w.srv.URL, gqlRequest(q, token))
	if res.status != http.StatusOK || strings.Contains(res.body, `"errors"`) {
		t.Fatalf("practiceContinuity: %d %s", res.status, res.body)
	}
	return res.body
}

// TestFHIRImportContinuity imports 10,000 encounters for 3 clinicians (one
// departed) as a transaction Bundle, imports it again (nothing changes), and
// compares the practice's continuity with the same contacts recorded
// through GraphQL by each clinician.
func TestFHIRImportContinuity(t *testing.T) {
	t.Parallel()
	h := makeHistory(150, 10_000)
	body := h.bundle()

	imp := newPracticeWorld(t)
	token := imp.adminToken(t, care.ScopeContactsImport)
	began := time.Now()
	status, res := imp.post(t, token, FHIRBase, body)
	t.Logf("imported 10,000 encounters in %s", time.Since(began))
	if status != http.StatusOK || res["type"] != "transaction-response" {
		t.Fatalf("import: %d %v", status, res["issue"])
	}
	if got := statuses(t, res); got["201 Created"] != 150+3+10_000 {
		t.Fatalf("first import: %v", got)
	}
	before := rowCounts(t, imp.db)
	if before["interactions"] != 10_000 || before["imported_records"] != 10_003 {
		t.Fatalf("rows after import: %v", before)
	}
	sys := postgrestest.As(context.Background(), care.SystemActor())
	logged, err := imp.db.SyncRowCounts(sys, "sync_changes")
	if err != nil {
		t.Fatal(err)
	}
	// The organisation and admin, then the import's 150 patients, 3 clinicians
	// and 10,000 contacts: in the change log, so devices in scope pull them.
	if logged["sync_changes"] != 2+150+3+10_000 {
		t.Fatalf("change log holds %d records", logged["sync_changes"])
	}

	t.Run("importing the same Bundle again changes nothing", func(t *testing.T) {
		status, res := imp.post(t, token, FHIRBase, body)
		if status != http.StatusOK {
			t.Fatalf("second import: %d %v", status, res["issue"])
		}
		if got := statuses(t, res); got["200 OK"] != 150+3+10_000 || got["201 Created"] != 0 {
			t.Fatalf("second import: %v", got)
		}
		after := rowCounts(t, imp.db)
		for _, table := range []string{"patients", "practitioners", "interactions", "imported_records"} {
			if after[table] != before[table] {
				t.Errorf("%s: %d rows, was %d", table, after[table], before[table])
			}
		}
	})

	// The same practice, patients and clinicians, recorded through GraphQL.
	gql := newPracticeWorld(t)
	gpIDs := make([]uuid.UUID, len(h.gps))
	for i, g := range h.gps {
		g.OrganizationID = gql.practice
		p, err := gql.db.CreatePractitioner(sys, g)
		if err != nil {
			t.Fatal(err)
		}
		gpIDs[i] = p.ID
	}
	patientIDs := make([]uuid.UUID, len(h.patients))
	for i, p := range h.patients {
		p.RegisteredPracticeID = gql.practice
		pt, err := gql.db.CreatePatient(sys, p)
		if err != nil {
			t.Fatal(err)
		}
		patientIDs[i] = pt.ID
	}
	// Each clinician records her own contacts (100 mutations a request).
	began = time.Now()
	var wg sync.WaitGroup
	errs := make([]error, len(h.gps))
	for g := range h.gps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok := gql.e.token(t, care.RoleGP, gpIDs[g], gql.practice)
			var doc strings.Builder
			n := 0
			flush := func() {
				if n == 0 || errs[g] != nil {
					return
				}
				res := overHTTP(t, gql.srv.URL, gqlRequest("mutation Record {"+doc.String()+"}", tok))
				if res.status != http.StatusOK || strings.Contains(res.body, `"errors"`) {
					errs[g] = fmt.Errorf("record contacts: %d %.500s", res.status, res.body)
				}
				doc.Reset()
				n = 0
			}
			for i, c := range h.contacts {
				if c.gp != g {
					continue
				}
				fmt.Fprintf(&doc, ` c%d: createInteraction(input: {patientId: %q, mode: %s, occurredAt: %q, durationMinutes: %d, purpose: "review", notes: ""}) { id }`,
					i, patientIDs[c.patient], strings.ToUpper(string(c.mode)), c.at.Format(time.RFC3339), c.minutes)
				if n++; n == 100 {
					flush()
				}
			}
			flush()
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("recorded 10,000 contacts through GraphQL in %s", time.Since(began))
	// The third clinician has since left.
	left := false
	if _, err := gql.db.UpdatePractitioner(sys, care.UpdatePractitionerInput{ID: gpIDs[h.left], Active: &left}); err != nil {
		t.Fatal(err)
	}

	// Both practices name the same usual GPs (the first two clinicians).
	usual := func(w *practiceWorld, gps func(i int) uuid.UUID, patients func(i int) uuid.UUID) {
		start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range h.patients {
			gp, p := gps(i%2), patients(i)
			if _, err := w.db.StartRelationship(sys, care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &p, PractitionerID: &gp, PeriodStart: &start}); err != nil {
				t.Fatal(err)
			}
		}
	}
	importedGP := func(i int) uuid.UUID {
		return uuid.MustParse(strings.TrimPrefix(res["entry"].([]any)[150+i].(map[string]any)["response"].(map[string]any)["location"].(string), "Practitioner/"))
	}
	importedPatient := func(i int) uuid.UUID {
		return uuid.MustParse(strings.TrimPrefix(res["entry"].([]any)[i].(map[string]any)["response"].(map[string]any)["location"].(string), "Patient/"))
	}
	usual(imp, importedGP, importedPatient)
	usual(gql, func(i int) uuid.UUID { return gpIDs[i] }, func(i int) uuid.UUID { return patientIDs[i] })

	if n := rowCounts(t, gql.db)["interactions"]; n != 10_000 {
		t.Fatalf("GraphQL recorded %d contacts", n)
	}
	a, b := continuityFigures(t, imp, imp.adminToken(t)), continuityFigures(t, gql, gql.adminToken(t))
	var ma, mb any
	_ = json.Unmarshal([]byte(a), &ma)
	_ = json.Unmarshal([]byte(b), &mb)
	if !reflect.DeepEqual(ma, mb) {
		t.Fatalf("continuity differs:\nimported: %.2000s\nGraphQL:  %.2000s", a, b)
	}
	if !strings.Contains(a, `"meanUPC":{"value":0.`) {
		t.Fatalf("continuity figures look empty: %.1000s", a)
	}

	t.Run("imported encounters read back attributed, marked and departed", func(t *testing.T) {
		tok := imp.adminToken(t)
		req := httptest.NewRequest(http.MethodGet, FHIRBase+"/Encounter?practitioner="+importedGP(h.left).String()+"&_count=1&_include=Encounter:practitioner", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r := overHTTP(t, imp.srv.URL, req)
		for _, want := range []string{`"system":"` + sourceSystem + `"`, `"code":"imported"`, `"resourceType":"Practitioner"`, `"active":false`, `"family":"Lindqvist"`} {
			if !strings.Contains(r.body, want) {
				t.Errorf("the departed clinician's imported encounter lacks %s: %.1500s", want, r.body)
			}
		}
	})
}

func TestFHIRImportRefusals(t *testing.T) {
	t.Parallel()
	w := newPracticeWorld(t)
	good := makeHistory(3, 10)
	token := w.adminToken(t, care.ScopeContactsImport)
	before := rowCounts(t, w.db)

	mutate := func(f func(entries []any)) []byte {
		var b map[string]any
		_ = json.Unmarshal(good.bundle(), &b)
		f(b["entry"].([]any))
		out, _ := json.Marshal(b)
		return out
	}
	res := func(entries []any, i int) map[string]any {
		return entries[i].(map[string]any)["resource"].(map[string]any)
	}
	cases := []struct {
		name   string
		token  string
		body   []byte
		status int
		expr   string
	}{
		{"without the import scope", w.adminToken(t), good.bundle(), 403, ""},
		{"a GP's token cannot carry the scope", w.e.token(t, care.RoleGP, w.admin, w.practice), good.bundle(), 403, ""},
		{"not a transaction", token, []byte(`{"resourceType":"Bundle","type":"batch","entry":[]}`), 400, ""},
		{"not JSON", token, []byte(`{"resourceType":`), 400, ""},
		{"invalid NHS number", token, mutate(func(e []any) {
			res(e, 1)["identifier"] = []any{map[string]any{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "1234567890"}}
		}), 400, "Bundle.entry[1]"},
		{"encounter without a period", token, mutate(func(e []any) { delete(res(e, 3+3+4), "period") }), 400, "Bundle.entry[10]"},
		{"encounter in the future", token, mutate(func(e []any) {
			res(e, 3+3+2)["period"] = map[string]any{"start": time.Now().AddDate(1, 0, 0).Format(time.RFC3339)}
		}), 400, "Bundle.entry[8]"},
		{"unknown clinician", token, mutate(func(e []any) {
			res(e, 3+3+5)["participant"] = []any{map[string]any{"individual": map[string]any{"reference": "Practitioner?identifier=" + sourceStaff + "|nobody"}}}
		}), 400, "Bundle.entry[11]"},
		{"duplicate source identifier", token, mutate(func(e []any) { res(e, 3+3+1)["identifier"] = res(e, 3+3+0)["identifier"] }), 400, "Bundle.entry[7]"},
		{"a Rapport practitioner that does not exist (found after the patients were written)", token, mutate(func(e []any) {
			res(e, 3+3+6)["participant"] = []any{map[string]any{"individual": map[string]any{"reference": "Practitioner/" + uuid.NewString()}}}
		}), 404, "Bundle.entry[12]"},
		{"a planned encounter", token, mutate(func(e []any) { res(e, 3+3+9)["status"] = "planned" }), 400, "Bundle.entry[15]"},
		{"another resource type", token, mutate(func(e []any) { res(e, 0)["resourceType"] = "Observation" }), 400, "Bundle.entry[0]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			status, body := w.post(t, c.token, FHIRBase, c.body)
			if status != c.status || body["resourceType"] != "OperationOutcome" {
				t.Fatalf("%d %v, want %d OperationOutcome", status, body, c.status)
			}
			if c.expr != "" {
				issue := body["issue"].([]any)[0].(map[string]any)
				if expr, _ := issue["expression"].([]any); len(expr) != 1 || expr[0] != c.expr {
					t.Fatalf("issue names %v, want %s: %v", issue["expression"], c.expr, issue)
				}
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("refused after %s", d)
			}
		})
	}
	t.Run("nothing was written", func(t *testing.T) {
		after := rowCounts(t, w.db)
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("rows changed: %v → %v", before, after)
		}
	})
	t.Run("a patient of another practice fails the whole Bundle", func(t *testing.T) {
		sys := postgrestest.As(context.Background(), care.SystemActor())
		other, err := w.db.CreateOrganization(sys, care.CreateOrganizationInput{Name: "Hilltop", Kind: care.OrgGPPractice})
		if err != nil {
			t.Fatal(err)
		}
		p := good.patients[2]
		p.RegisteredPracticeID = other.ID
		if _, err := w.db.CreatePatient(sys, p); err != nil {
			t.Fatal(err)
		}
		mid := rowCounts(t, w.db)
		status, body := w.post(t, token, FHIRBase, good.bundle())
		issue := body["issue"].([]any)[0].(map[string]any)
		if status != http.StatusConflict || issue["expression"].([]any)[0] != "Bundle.entry[2]" {
			t.Fatalf("%d %v", status, body)
		}
		if after := rowCounts(t, w.db); !reflect.DeepEqual(mid, after) {
			t.Fatalf("a failed import wrote rows: %v → %v", mid, after)
		}
	})
}
