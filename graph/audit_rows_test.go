package graph_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestOneAuditRowPerRequest sends random shapes of one nested query —
// patients with, or without, their usual GP, relationships and
// interactions, read by separate statements and loaders — and checks the
// trail from the outside, patient by patient (postgres.DB.AuditEntries):
// every record in the answer is in the trail under the request and its
// patient, and all of one request's entries, about every patient, are one
// access_audit row (the response gathers them and queues them together).
func TestOneAuditRowPerRequest(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	w := newWorld(t, db)
	nurse := w.nurseActor()
	for i := range 4 {
		p := w.patient(t, w.practiceA, w.gpA, w.nurse, fmt.Sprintf("Merged%d", i))
		for j := range 1 + i {
			w.interaction(t, nurse, p.ID, time.Now().Add(-time.Duration(j+1)*time.Hour))
		}
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 7))

	type ids struct {
		Edges []struct{ Node struct{ ID string } }
	}
	for round := range 12 {
		sel := ""
		if rnd.IntN(2) == 0 {
			sel += " usualGP { id }"
		}
		if rnd.IntN(2) == 0 {
			sel += fmt.Sprintf(" relationships(first: %d) { edges { node { id } } }", 1+rnd.IntN(3))
		}
		if rnd.IntN(2) == 0 {
			sel += fmt.Sprintf(" interactions(first: %d) { edges { node { id } } }", 1+rnd.IntN(4))
		}
		reqID := fmt.Sprintf("rows-%d", round)
		var out struct {
			Patients struct {
				Edges []struct {
					Node struct {
						ID            string
						Relationships ids
						Interactions  ids
					}
				}
			}
		}
		query := `{ patients(first: 10) { edges { node { id` + sel + ` } } } }`
		auditClient(t, db, nurse, reqID).ok(query, nil, &out)
		if len(out.Patients.Edges) != 4 {
			t.Fatalf("%s: %d patients, want 4", query, len(out.Patients.Edges))
		}
		rows := map[int64]bool{}
		for _, e := range out.Patients.Edges {
			patient := fromGID(t, e.Node.ID)
			served := map[string]bool{"Patient " + patient.String(): true}
			for _, r := range e.Node.Relationships.Edges {
				served["CareRelationship "+fromGID(t, r.Node.ID).String()] = true
			}
			for _, r := range e.Node.Interactions.Edges {
				served["Interaction "+fromGID(t, r.Node.ID).String()] = true
			}
			listed := map[string]bool{}
			for _, a := range must(db.AuditEntries(sysCtx, patient)).get(t) {
				if a.PatientID != patient {
					t.Errorf("%s: patient %s's trail lists an entry about patient %s", query, patient, a.PatientID)
				}
				if a.RequestID == reqID {
					rows[a.ID] = true
					listed[a.Entity+" "+a.EntityID.String()] = true
				}
			}
			for s := range served {
				if !listed[s] {
					t.Errorf("%s: %s was served but is not in the trail (listed %v)", query, s, listed)
				}
			}
			// The usual GP is served as a practitioner but audited as the
			// relationship that names it; nothing else may be listed.
			for s := range listed {
				if !served[s] && !strings.HasPrefix(s, "CareRelationship ") {
					t.Errorf("%s: patient %s's trail lists %s, which was not served", query, patient, s)
				}
			}
		}
		if len(rows) != 1 {
			t.Errorf("%s: the request's entries are in %d audit rows, want one", query, len(rows))
		}
	}
}

// fromGID returns the UUID of a global id.
func fromGID(t *testing.T, gid string) uuid.UUID {
	t.Helper()
	_, id, err := scalar.ParseGlobalID(gid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
