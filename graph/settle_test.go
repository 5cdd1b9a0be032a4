package graph_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestSettledListsLoadInOneBatch holds the settled lists (graph/settle.go)
// to their promise: a page whose elements ask only for loads that can be
// made for the whole page is marshalled on one goroutine, answers as
// before, and still loads in one batch, so the statements a query sends do
// not grow with its page. The batch window is widened to 100 ms: an element
// that waited for its loader alone would be a batch, and a statement, of its
// own. An element that waited alone without a statement (its loader
// answering from what the page read, but only after a window) would make
// a settled page of 24 take 24 windows: a page of 24 must take under 12. A
// page that asks for anything else (a patient's relationships) stays
// concurrent.
//
// Random data: each patient has a usual GP of their own (so an element
// waiting alone is a window per patient), in random order, and as named
// nurse one of two nurses or none; each visit is recorded by one of the GPs
// or by the nurse.
func TestSettledListsLoadInOneBatch(t *testing.T) {
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	seed := rng.Uint64()
	t.Logf("seed %d", seed)
	rng = rand.New(rand.NewPCG(seed, 7))

	const patients = `{ patients(first: 30) { edges { node { id familyName usualGP { id familyName } namedNurse { id familyName } } } } }`
	const caseload = `{ viewer { practitioner { caseload(first: 100) { edges { node { id usualGP { id familyName } } } } } } }`
	const visits = `query($id: ID!) { node(id: $id) { ... on Patient { interactions(first: 100) { edges { node { id practitioner { id familyName } } } } } } }`
	const relationships = `{ patients(first: 30) { edges { node { id usualGP { id } relationships(first: 5) { edges { node { kind } } } } } } }`

	const window = 100 * time.Millisecond
	statements := map[string][]int64{}
	for _, n := range []int{4, 24} {
		db := postgrestest.New(t)
		w := newWorld(t, db)
		srv := graph.NewServerWithBatchWait(db, graph.Limits{}, window)
		gp := clientFor(t, srv, w.gpAActor())
		nurse := clientFor(t, srv, w.nurseActor())
		gps := []uuid.UUID{w.gpA, w.gpB}
		for len(gps) < n {
			gps = append(gps, must(db.CreatePractitioner(sysCtx, care.CreatePractitionerInput{OrganizationID: w.practiceA,
				GivenName: "GP", FamilyName: fmt.Sprint("Locum", len(gps)), Profession: care.ProfessionGP})).get(t).ID)
		}
		rng.Shuffle(len(gps), func(i, j int) { gps[i], gps[j] = gps[j], gps[i] })
		nurses := []uuid.UUID{w.nurse, w.colleague, uuid.Nil}
		want := map[string][2]string{} // patient id -> usual GP id, named nurse id ("" for none)
		author := map[string]string{}  // interaction id -> practitioner id
		var first uuid.UUID
		for i := range n {
			g, nu := gps[i], nurses[rng.IntN(3)]
			if i == 0 {
				nu = w.nurse // the nurse's caseload is never empty
			}
			p := w.patient(t, w.practiceA, g, nu, "Family"+string(rune('A'+i%26)))
			nurseID := ""
			if nu != uuid.Nil {
				nurseID = gid("Practitioner", nu)
			}
			want[gid("Patient", p.ID)] = [2]string{gid("Practitioner", g), nurseID}
			if i == 0 {
				first = p.ID
			}
		}
		for i := range n {
			by, who := w.actor(care.RoleGP, gps[i], w.practiceA), gps[i]
			if rng.IntN(2) == 0 {
				by, who = w.nurseActor(), w.nurse
			}
			v := w.interaction(t, by, first, time.Now().Add(-time.Duration(i+1)*time.Hour))
			author[gid("Interaction", v.ID)] = gid("Practitioner", who)
		}

		for _, s := range []struct {
			name, query string
			c           *gql
			vars        map[string]any
			settled     int64
		}{
			{"patients with usual GP and named nurse", patients, gp, nil, 1},
			{"caseload with usual GP", caseload, nurse, nil, 1},
			{"visits with practitioner", visits, gp, map[string]any{"id": gid("Patient", first)}, 1},
			{"patients with relationships", relationships, gp, nil, 0},
		} {
			before, settledBefore := db.QueryCount(), graph.SettledLists()
			var out map[string]any
			start := time.Now()
			s.c.ok(s.query, s.vars, &out)
			took := time.Since(start)
			t.Logf("%s, %d patients: %v", s.name, n, took)
			statements[s.name] = append(statements[s.name], db.QueryCount()-before)
			if s.settled > 0 && took > time.Duration(n/2)*window && n > 4 {
				t.Errorf("%s, %d patients: took %v, more than %d batch windows: elements waited one by one", s.name, n, took, n/2)
			}
			if got := graph.SettledLists() - settledBefore; got != s.settled {
				t.Errorf("%s, %d patients: %d lists marshalled serially, want %d", s.name, n, got, s.settled)
			}
			edges := findEdges(out)
			if len(edges) == 0 {
				t.Fatalf("%s: no edges in %v", s.name, out)
			}
			for _, e := range edges {
				node := e.(map[string]any)["node"].(map[string]any)
				id := node["id"].(string)
				if s.name == "visits with practitioner" {
					if got := node["practitioner"].(map[string]any)["id"]; got != author[id] {
						t.Errorf("visit %s: practitioner %v, want %s", id, got, author[id])
					}
					continue
				}
				if got := node["usualGP"].(map[string]any)["id"]; got != want[id][0] {
					t.Errorf("%s: patient %s has usual GP %v, want %s", s.name, id, got, want[id][0])
				}
				if nn, asked := node["namedNurse"]; asked {
					got := ""
					if nn != nil {
						got = nn.(map[string]any)["id"].(string)
					}
					if got != want[id][1] {
						t.Errorf("%s: patient %s has named nurse %q, want %q", s.name, id, got, want[id][1])
					}
				}
			}
		}
	}
	t.Logf("statements for 4 and for 24 patients: %v", statements)
	for name, c := range statements {
		if c[1] != c[0] {
			t.Errorf("%s: %d statements for 4 patients, %d for 24: a load per element", name, c[0], c[1])
		}
	}
}

// findEdges returns the first "edges" list in a decoded response.
func findEdges(v any) []any {
	switch v := v.(type) {
	case map[string]any:
		if e, ok := v["edges"].([]any); ok {
			return e
		}
		for _, x := range v {
			if e := findEdges(x); e != nil {
				return e
			}
		}
	}
	return nil
}
