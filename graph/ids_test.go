package graph_test

import (
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
)

// TestIDRule checks the one id rule (docs/design.md, "Ids") at every kind of
// GraphQL entry point: id fields answer global ids; every ID input takes the
// global id or the bare UUID; a global id of the wrong type is
// BAD_USER_INPUT; nodes(ids:) answers null, without errors, for ids not
// found or not visible.
func TestIDRule(t *testing.T) {
	t.Parallel()
	w := newAccessWorld(t)
	// Each subtest has its own client, so a failure is reported where it happens.
	client := func(t *testing.T) *gql { return newClient(t, w.db, w.nurseActor(), graph.Limits{}) }

	type nodeOut struct {
		Node *struct{ ID, Typename string } `json:"node"`
	}
	const nodeQ = `query N($id: ID!) { node(id: $id) { id typename: __typename } }`

	t.Run("node takes a bare UUID and answers the global id", func(t *testing.T) {
		t.Parallel()
		nurse := client(t)
		for typ, id := range map[string]uuid.UUID{"Patient": w.mine.ID, "Organization": w.practiceA, "Practitioner": w.nurse, "Team": w.team} {
			var out nodeOut
			nurse.ok(nodeQ, map[string]any{"id": id.String()}, &out)
			if out.Node == nil || out.Node.Typename != typ || out.Node.ID != gid(typ, id) {
				t.Errorf("node(%s bare UUID) = %+v; want the %s with its global id", typ, out.Node, typ)
			}
		}
	})
	t.Run("node with a bare UUID of a patient not visible is NOT_FOUND like a missing one", func(t *testing.T) {
		t.Parallel()
		nurse := client(t)
		nurse.fails(nodeQ, map[string]any{"id": w.inB.ID.String()}, graph.CodeNotFound)
		nurse.fails(nodeQ, map[string]any{"id": uuid.NewString()}, graph.CodeNotFound)
	})
	t.Run("nodes answers null for missing and hidden ids, with no errors", func(t *testing.T) {
		t.Parallel()
		nurse := client(t)
		ids := []string{gid("Patient", w.mine.ID), gid("Patient", w.inB.ID), uuid.NewString(), w.mine.ID.String(), gid("Patient", uuid.New())}
		res := nurse.do(`query N($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": ids})
		if len(res.Errors) > 0 {
			t.Fatalf("nodes answered errors: %+v", res.Errors)
		}
		var out struct{ Nodes []*struct{ ID string } }
		if err := json.Unmarshal(res.Data, &out); err != nil {
			t.Fatal(err)
		}
		want := []string{gid("Patient", w.mine.ID), "", "", gid("Patient", w.mine.ID), ""}
		if len(out.Nodes) != len(want) {
			t.Fatalf("nodes = %s; want %d entries", res.Data, len(want))
		}
		for i, n := range out.Nodes {
			got := ""
			if n != nil {
				got = n.ID
			}
			if got != want[i] {
				t.Errorf("nodes[%d] = %q; want %q (data %s)", i, got, want[i], res.Data)
			}
		}
	})
	t.Run("nodes with a malformed id is BAD_USER_INPUT", func(t *testing.T) {
		t.Parallel()
		nurse := client(t)
		nurse.fails(`query N($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{gid("Patient", w.mine.ID), "patient-1"}}, graph.CodeBadUserInput)
	})
	t.Run("mutation inputs take either spelling", func(t *testing.T) {
		t.Parallel()
		nurse := client(t)
		for _, p := range []string{w.mine.ID.String(), gid("Patient", w.mine.ID)} {
			nurse.ok(`mutation C($p: ID!) { createInteraction(input: {patientId: $p, mode: PHONE, occurredAt: "2025-01-02T10:00:00Z", purpose: "x", notes: "y"}) { id } }`,
				map[string]any{"p": p}, nil)
		}
	})
	t.Run("a global id of the wrong type is BAD_USER_INPUT and writes nothing", func(t *testing.T) {
		t.Parallel()
		nurse := client(t)
		nurse.fails(`mutation C($p: ID!) { createInteraction(input: {patientId: $p, mode: PHONE, occurredAt: "2025-01-03T10:00:00Z", purpose: "wrong type", notes: "y"}) { id } }`,
			map[string]any{"p": gid("Team", w.mine.ID)}, graph.CodeBadUserInput)
		nurse.fails(`mutation S($id: ID!) { signInteraction(input: {id: $id}) { id } }`,
			map[string]any{"id": gid("Patient", w.mine.ID)}, graph.CodeBadUserInput)
		nurse.fails(`mutation C($p: ID!, $x: [ID!]) { createInteraction(input: {patientId: $p, participantIds: $x, mode: PHONE, occurredAt: "2025-01-03T10:00:00Z", purpose: "wrong type", notes: "y"}) { id } }`,
			map[string]any{"p": w.mine.ID.String(), "x": []string{gid("Patient", w.nurse)}}, graph.CodeBadUserInput)
		first := 100
		page := must(w.db.Interactions(sysCtx, care.InteractionFilter{PatientID: &w.mine.ID}, care.PageArgs{First: &first})).get(t)
		for _, e := range page.Edges {
			if e.Node.Purpose == "wrong type" {
				t.Errorf("a refused write left interaction %s", e.Node.ID)
			}
		}
	})
}
