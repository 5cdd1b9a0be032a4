package fhir_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// do sends a request with a token and optional Prefer header.
func (w *world) do(t *testing.T, method, url, token string, async bool) *http.Response {
	t.Helper()
	if !strings.HasPrefix(url, "http") {
		url = w.srv.URL + "/fhir/R4/" + url
	}
	req, _ := http.NewRequest(method, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/fhir+json")
	if async {
		req.Header.Set("Prefer", "respond-async")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// exportIDs kicks off an export, reads its manifest and returns, per type,
// the ids in its NDJSON file.
func (w *world) exportIDs(t *testing.T, token, kickoff string) (string, map[string][]string) {
	t.Helper()
	res := w.do(t, http.MethodGet, kickoff, token, true)
	if res.StatusCode != http.StatusAccepted || res.Header.Get("Content-Location") == "" {
		t.Fatalf("kick-off %s: %d", kickoff, res.StatusCode)
	}
	status := res.Header.Get("Content-Location")
	res = w.do(t, http.MethodGet, status, token, false)
	var m struct {
		TransactionTime     string `json:"transactionTime"`
		RequiresAccessToken bool   `json:"requiresAccessToken"`
		Output              []struct{ Type, URL string }
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&m) != nil || !m.RequiresAccessToken || m.TransactionTime == "" {
		t.Fatalf("status: %d %+v", res.StatusCode, m)
	}
	if !strings.HasPrefix(res.Header.Get("X-Progress"), "complete") {
		t.Errorf("X-Progress %q", res.Header.Get("X-Progress"))
	}
	out := map[string][]string{}
	for _, f := range m.Output {
		res := w.do(t, http.MethodGet, f.URL, token, false)
		if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "application/fhir+ndjson" {
			t.Fatalf("file %s: %d %s", f.Type, res.StatusCode, res.Header.Get("Content-Type"))
		}
		out[f.Type] = []string{}
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var r struct{ ResourceType, ID string }
			if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.ResourceType != f.Type {
				t.Fatalf("file %s: line %q", f.Type, sc.Text())
			}
			out[f.Type] = append(out[f.Type], r.ID)
		}
	}
	return status, out
}

func TestBulkExport(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	f := w.f
	bulk := w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeA, "bulk:export", "patients:read")

	status, got := w.exportIDs(t, bulk, "$export")
	if len(got["Patient"]) != 2 || !has(got["Patient"], f.PatientA1) || !has(got["Patient"], f.PatientA2) {
		t.Fatalf("Patient file %v: want practice A's two patients", got["Patient"])
	}
	if len(got["Encounter"]) != 3 || has(got["Encounter"], f.InteractionB1) {
		t.Fatalf("Encounter file %v: want practice A's three", got["Encounter"])
	}
	if len(got["EpisodeOfCare"]) != 3 || len(got["Organization"]) == 0 || len(got["Practitioner"]) == 0 {
		t.Fatalf("files %v", got)
	}

	t.Run("one audit entry per exported patient", func(t *testing.T) {
		sys := postgrestest.As(context.Background(), care.SystemActor())
		for _, p := range []uuid.UUID{f.PatientA1, f.PatientA2, f.PatientB1} {
			entries, err := w.db.AuditEntries(sys, p)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range entries {
				if e.Entity == "BulkExport" {
					n++
				}
			}
			want := 1
			if p == f.PatientB1 {
				want = 0
			}
			if n != want {
				t.Errorf("patient %s: %d export audit entries, want %d", p, n, want)
			}
		}
	})

	t.Run("a team's caseload", func(t *testing.T) {
		_, got := w.exportIDs(t, bulk, "Group/"+f.Team.String()+"/$export?_type=Patient,Encounter")
		if len(got["Patient"]) != 1 || !has(got["Patient"], f.PatientA2) || len(got["Encounter"]) != 1 || got["EpisodeOfCare"] != nil {
			t.Fatalf("team export %v: want only patient A2 and her encounter", got)
		}
	})

	t.Run("_since after every change exports nothing", func(t *testing.T) {
		_, got := w.exportIDs(t, bulk, "Patient/$export?_since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
		if len(got["Patient"]) != 0 || len(got["Encounter"]) != 0 {
			t.Fatalf("%v", got)
		}
	})

	t.Run("another integration cannot see the job", func(t *testing.T) {
		other, _ := w.v.MintHMAC(mintIntegration(f.PracticeA, "someone-else", "bulk:export", "patients:read"))
		if res := w.do(t, http.MethodGet, status, other, false); res.StatusCode != http.StatusNotFound {
			t.Fatalf("status for another client: %d", res.StatusCode)
		}
	})

	t.Run("delete cancels", func(t *testing.T) {
		if res := w.do(t, http.MethodDelete, status, bulk, false); res.StatusCode != http.StatusAccepted {
			t.Fatalf("delete: %d", res.StatusCode)
		}
		if res := w.do(t, http.MethodGet, status, bulk, false); res.StatusCode != http.StatusNotFound {
			t.Fatalf("status after delete: %d", res.StatusCode)
		}
		file := strings.Replace(status, "$export-status/", "$export-file/", 1) + "/Patient.ndjson"
		if res := w.do(t, http.MethodGet, file, bulk, false); res.StatusCode != http.StatusNotFound {
			t.Fatalf("file after delete: %d", res.StatusCode)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		cases := []struct {
			name, token, path string
			async             bool
			status            int
		}{
			{"without Prefer: respond-async", bulk, "$export", false, 400},
			{"without the bulk scope", w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeA, "patients:read"), "$export", true, 403},
			{"bulk scope without patient access", w.token(t, care.RoleIntegration, uuid.Nil, f.PracticeA, "bulk:export"), "$export", true, 403},
			{"a GP", w.token(t, care.RoleGP, f.GPA, f.PracticeA, "bulk:export"), "$export", true, 403},
			{"an unknown type", bulk, "$export?_type=Medication", true, 400},
			{"a bad _since", bulk, "$export?_since=yesterday", true, 400},
			{"another organisation's group", bulk, "Group/" + f.PracticeB.String() + "/$export", true, 404},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if res := w.do(t, http.MethodGet, c.path, c.token, c.async); res.StatusCode != c.status {
					t.Fatalf("%s: %d, want %d", c.path, res.StatusCode, c.status)
				}
			})
		}
	})
}
