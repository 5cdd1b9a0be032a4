package graph_test

import (
	"os"
	"testing"
	"time"

	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestQueriesFromReplica proves that GraphQL queries are served by a real
// streaming replica, that a mutation's own response and the writer's next
// queries see its write (read-your-writes), and that other callers see it
// once the replica replays it.
func TestQueriesFromReplica(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" { // never skipped in CI
		t.Skip("starts two PostgreSQL clusters")
	}
	t.Parallel()
	r := postgrestest.NewReplicated(t)
	db, f := r.DB, r.Fixture
	nurse := newClient(t, db, f.Nurse1Actor, graph.Limits{})
	gp := newClient(t, db, f.GPAActor, graph.Limits{})
	const read = `query($id: ID!) { node(id: $id) { ... on Interaction { id purpose } } }`
	type node struct {
		Node *struct{ ID, Purpose string }
	}
	r.Pause(t)

	var created struct {
		CreateInteraction struct{ ID, Purpose string }
	}
	nurse.ok(`mutation($in: CreateInteractionInput!) { createInteraction(input: $in) { id purpose } }`,
		map[string]any{"in": map[string]any{"patientId": gid("Patient", f.PatientA1), "mode": "PHONE",
			"occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "purpose": "Replica check", "notes": ""}}, &created)
	if created.CreateInteraction.Purpose != "Replica check" {
		t.Fatalf("the mutation's own response: %+v", created)
	}
	vars := map[string]any{"id": created.CreateInteraction.ID}

	t.Run("another caller's query is served by the replica", func(t *testing.T) {
		// NOT_FOUND: the paused replica has not replayed the write.
		gp.fails(read, vars, graph.CodeNotFound)
	})
	t.Run("the writer's query sees its write at once", func(t *testing.T) {
		var out node
		nurse.ok(read, vars, &out)
		if out.Node == nil || out.Node.Purpose != "Replica check" {
			t.Fatalf("the nurse's query after her mutation: %+v", out.Node)
		}
	})
	t.Run("once replayed, the other caller sees it", func(t *testing.T) {
		r.Resume(t)
		postgrestest.Eventually(t, "the replica replays the write", func() bool {
			return len(gp.do(read, vars).Errors) == 0
		})
	})
}
