package graph_test

import (
	"testing"
	"time"

	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// BenchmarkPatientWithInteractions fetches one patient with their last 50
// interactions and the practitioner of each.
func BenchmarkPatientWithInteractions(b *testing.B) {
	db := postgrestest.New(b)
	w := newWorld(b, db)
	p := w.patient(b, w.practiceA, w.gpA, w.nurse, "Bench")
	nurse, gp := w.nurseActor(), w.gpAActor()
	for i := range 60 {
		by := nurse
		if i%3 == 0 {
			by = gp
		}
		w.interaction(b, by, p.ID, time.Now().Add(-time.Duration(i+1)*time.Hour))
	}
	c := newClient(b, db, nurse, graph.Limits{})
	const q = `query PatientWithInteractions($id: ID!) { node(id: $id) { ... on Patient {
		familyName nhsNumber
		interactions(first: 50) { totalCount edges { node { id mode occurredAt purpose status practitioner { givenName familyName } } } }
	} } }`
	vars := map[string]any{"id": gid("Patient", p.ID)}
	var out struct {
		Node struct {
			Interactions struct {
				Edges []struct{ Node struct{ ID string } }
			}
		}
	}
	c.ok(q, vars, &out)
	if n := len(out.Node.Interactions.Edges); n != 50 {
		b.Fatalf("%d interactions, want 50", n)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.ok(q, vars, nil)
	}
}

// BenchmarkCaseloadPage fetches a page of 100 caseload patients with each
// one's usual GP.
func BenchmarkCaseloadPage(b *testing.B) {
	db := postgrestest.New(b)
	w := newWorld(b, db)
	for range 120 {
		w.patient(b, w.practiceA, w.gpA, w.nurse, "Case")
	}
	c := newClient(b, db, w.nurseActor(), graph.Limits{})
	const q = `query CaseloadPage { viewer { practitioner { caseload(first: 100) {
		totalCount pageInfo { hasNextPage endCursor }
		edges { node { id familyName givenName birthDate usualGP { id familyName } } }
	} } } }`
	var out struct {
		Viewer struct {
			Practitioner struct {
				Caseload struct {
					Edges []struct {
						Node struct{ UsualGP struct{ ID string } }
					}
				}
			}
		}
	}
	c.ok(q, nil, &out)
	edges := out.Viewer.Practitioner.Caseload.Edges
	if len(edges) != 100 || edges[0].Node.UsualGP.ID != gid("Practitioner", w.gpA) {
		b.Fatalf("caseload page: %d patients, first usual GP %q", len(edges), edges[0].Node.UsualGP.ID)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		c.ok(q, nil, nil)
	}
}
