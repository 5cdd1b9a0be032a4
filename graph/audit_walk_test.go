package graph_test

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// patientDataTypes are the GraphQL types whose values are (part of) a
// patient's record: reading one is reading the record.
var patientDataTypes = map[string]bool{
	"Patient": true, "Interaction": true, "InteractionAmendment": true, "CareRelationship": true,
	"SyncConflict": true, "SyncRecord": true, "PatientContinuity": true, "ContinuityAtRiskPatient": true,
}

// patientDataFields walks the schema and returns every field ("Type.field")
// through which patient data is reached: fields of the root types, of Node
// types and of the patient-data types whose type is a patient-data type, the
// Node interface (node, nodes), or a wrapper (connection, edge, payload) that
// holds one. Fields of the wrappers themselves are reached through these.
func patientDataFields(s *ast.Schema) []string {
	carrier := map[string]bool{"Node": true}
	for k := range patientDataTypes {
		carrier[k] = true
	}
	isRoot := func(n string) bool { return n == "Query" || n == "Mutation" || n == "Subscription" }
	isNode := func(d *ast.Definition) bool {
		for _, i := range d.Interfaces {
			if i == "Node" {
				return true
			}
		}
		return false
	}
	for changed := true; changed; {
		changed = false
		for name, d := range s.Types {
			if d.Kind != ast.Object || carrier[name] || isRoot(name) || isNode(d) || strings.HasPrefix(name, "__") {
				continue
			}
			for _, f := range d.Fields {
				if carrier[f.Type.Name()] {
					carrier[name], changed = true, true
					break
				}
			}
		}
	}
	var out []string
	for name, d := range s.Types {
		if d.Kind != ast.Object || strings.HasPrefix(name, "__") || !(isRoot(name) || isNode(d) || patientDataTypes[name]) {
			continue
		}
		for _, f := range d.Fields {
			if carrier[f.Type.Name()] && !strings.HasPrefix(f.Name, "__") {
				out = append(out, name+"."+f.Name)
			}
		}
	}
	sort.Strings(out)
	return out
}

// auditCase exercises one patient-data field; the request must leave an
// audit row about patient, of entity (any entity when "").
type auditCase struct {
	field   string
	as      *care.Actor
	query   string
	vars    map[string]any
	patient func() uuid.UUID
	entity  string
}

// TestEveryPatientDataFieldIsAudited enumerates the fields returning patient
// data by walking the schema, runs a request through each, and asserts that
// the request left an audit row (who, what, when, request id) about the
// patient. A new field returning patient data fails this test until it has a
// case here, and so until its read is shown to be audited.
func TestEveryPatientDataFieldIsAudited(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	w := newWorld(t, db)
	p := w.patient(t, w.practiceA, w.gpA, w.nurse, "Audited")
	nurse, gp := w.nurseActor(), w.gpAActor()
	nurseCtx := care.NewContextWithActor(context.Background(), nurse)

	signed := w.interaction(t, nurse, p.ID, time.Now().Add(-2*time.Hour))
	must(db.SignInteraction(nurseCtx, care.SignInteractionInput{ID: signed.ID})).get(t)
	must(db.AmendInteraction(nurseCtx, care.AmendInteractionInput{ID: signed.ID, Reason: "typo", Notes: ptr("healing")})).get(t)
	// Two signed GP contacts put the patient on the at-risk list below.
	gpCtx := care.NewContextWithActor(context.Background(), gp)
	for i := range 2 {
		c := w.interaction(t, gp, p.ID, time.Now().AddDate(0, 0, -2-i)) // on different days: a day counts once
		must(db.SignInteraction(gpCtx, care.SignInteractionInput{ID: c.ID})).get(t)
	}
	rels := must(db.CareRelationships(sysCtx, care.RelationshipFilter{PatientID: &p.ID}, care.PageArgs{})).get(t)
	relID := rels.Edges[0].Node.ID

	// A conflict: two devices edit the notes of one draft concurrently.
	phone, tablet := uuid.New(), uuid.New()
	visit := uuid.Must(uuid.NewV7())
	t0 := time.Now().Add(-time.Minute)
	nc := auditClient(t, db, nurse, "setup")
	nc.ok(pushMutation, push(phone, 1, map[string]any{"mutationSeq": 1, "entity": "INTERACTION", "id": visit.String(), "op": "CREATE", "hlc": hlc(t0, "phone"),
		"fields": map[string]any{"patientId": p.ID.String(), "mode": "HOME_VISIT", "occurredAt": t0.Add(-time.Hour).UTC().Format(time.RFC3339),
			"purpose": "wound care", "notes": "dressing changed"}}), nil)
	edit := func(dev uuid.UUID, seq int, at time.Time, notes string) pushResult {
		var r pushResult
		nc.ok(pushMutation, push(dev, 1, map[string]any{"mutationSeq": seq, "entity": "INTERACTION", "id": visit.String(),
			"op": "UPDATE", "baseVersion": 1, "hlc": hlc(at, dev.String()[:8]), "fields": map[string]any{"notes": notes}}), &r)
		return r
	}
	edit(phone, 2, t0.Add(time.Second), "healing well")
	r := edit(tablet, 1, t0.Add(2*time.Second), "slough present")
	if len(r.SyncPush.Results) != 1 || len(r.SyncPush.Results[0].Conflicts) != 1 {
		t.Fatalf("no conflict to read: %+v", r.SyncPush)
	}
	conflict := r.SyncPush.Results[0].Conflicts[0].ID

	// A transfer request: practice B tries to register the patient.
	gpB := auditClient(t, db, w.gpBActor(), "setup")
	gpB.fails(`mutation($in: CreatePatientInput!) { createPatient(input: $in) { id } }`, map[string]any{"in": map[string]any{
		"nhsNumber": p.NHSNumber, "givenName": "A", "familyName": "B", "birthDate": "1950-01-01", "registeredPracticeId": gid("Organization", w.practiceB)}}, graph.CodeConflict)
	transfers := must(db.RegistrationTransfers(care.NewContextWithActor(context.Background(), gp))).get(t)
	if len(transfers) != 1 {
		t.Fatalf("transfers %+v", transfers)
	}

	newPatient := uuid.Must(uuid.NewV7())
	draft := uuid.Must(uuid.NewV7())
	keyWorker := uuid.Must(uuid.NewV7())
	of := func(id uuid.UUID) func() uuid.UUID { return func() uuid.UUID { return id } }
	pid := of(p.ID)
	since := time.Now().AddDate(-1, 0, 0).UTC().Format(time.RFC3339)
	until := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	cases := []auditCase{
		{"Query.node", gp, `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": gid("Patient", p.ID)}, pid, "Patient"},
		{"Query.node", nurse, `query($id: ID!) { node(id: $id) { ... on SyncConflict { serverValue deviceValue } } }`, map[string]any{"id": conflict}, pid, "SyncConflict"},
		{"Query.nodes", gp, `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{gid("Interaction", signed.ID)}}, pid, "Interaction"},
		{"Query.patients", gp, `{ patients { edges { node { id } } } }`, nil, pid, "Patient"},
		{"Query.interactions", gp, `{ interactions { edges { node { id } } } }`, nil, pid, "Interaction"},
		{"Query.careRelationships", gp, `{ careRelationships { edges { node { id } } } }`, nil, pid, "CareRelationship"},
		{"Query.conflicts", nurse, `{ conflicts { edges { node { id serverValue deviceValue } } } }`, nil, pid, "SyncConflict"},
		{"Query.syncPull", nurse, pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 1, "deviceId": uuid.NewString()}}, pid, ""},
		{"Query.continuityAtRisk", gp, `query($pr: ID!, $from: DateTime!, $to: DateTime!) { continuityAtRisk(practiceId: $pr, minContacts: 2, upcBelow: 1.01, window: {from: $from, to: $to}) { patients { patient { id } } } }`,
			map[string]any{"pr": gid("Organization", w.practiceA), "from": since, "to": until}, pid, "Patient"},
		{"Patient.interactions", gp, `query($id: ID!) { node(id: $id) { ... on Patient { interactions { edges { node { id } } } } } }`, map[string]any{"id": gid("Patient", p.ID)}, pid, "Interaction"},
		{"Patient.relationships", gp, `query($id: ID!) { node(id: $id) { ... on Patient { relationships { edges { node { id } } } } } }`, map[string]any{"id": gid("Patient", p.ID)}, pid, "CareRelationship"},
		{"Patient.continuity", gp, `query($id: ID!) { node(id: $id) { ... on Patient { continuity { contacts } } } }`, map[string]any{"id": gid("Patient", p.ID)}, pid, ""},
		{"Practitioner.caseload", nurse, `{ viewer { practitioner { caseload { edges { node { id } } } } } }`, nil, pid, "Patient"},
		{"Practitioner.interactions", nurse, `{ viewer { practitioner { interactions { edges { node { id } } } } } }`, nil, pid, "Interaction"},
		{"Interaction.patient", gp, `query($id: ID!) { node(id: $id) { ... on Interaction { patient { id } } } }`, map[string]any{"id": gid("Interaction", signed.ID)}, pid, "Patient"},
		{"Interaction.amendments", gp, `query($id: ID!) { node(id: $id) { ... on Interaction { amendments { reason before { notes } } } } }`, map[string]any{"id": gid("Interaction", signed.ID)}, pid, "InteractionAmendment"},
		{"CareRelationship.patient", gp, `query($id: ID!) { node(id: $id) { ... on CareRelationship { patient { id } } } }`, map[string]any{"id": gid("CareRelationship", relID)}, pid, "Patient"},
		{"SyncConflict.patient", nurse, `query($id: ID!) { node(id: $id) { ... on SyncConflict { patient { id } } } }`, map[string]any{"id": conflict}, pid, "Patient"},
		{"ContinuityAtRiskPatient.patient", gp, `query($pr: ID!, $from: DateTime!, $to: DateTime!) { continuityAtRisk(practiceId: $pr, minContacts: 2, upcBelow: 1.01, window: {from: $from, to: $to}) { patients { patient { familyName } } } }`,
			map[string]any{"pr": gid("Organization", w.practiceA), "from": since, "to": until}, pid, "Patient"},
		{"Mutation.createPatient", gp, `mutation($in: CreatePatientInput!) { createPatient(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"id": newPatient.String(), "nhsNumber": nhsNumber(), "givenName": "New", "familyName": "Patient", "birthDate": "1950-01-01", "registeredPracticeId": gid("Organization", w.practiceA)}}, of(newPatient), "Patient"},
		{"Mutation.updatePatient", gp, `mutation($id: ID!) { updatePatient(input: {id: $id, givenName: "Patricia"}) { id } }`, map[string]any{"id": gid("Patient", p.ID)}, pid, "Patient"},
		{"Mutation.startRelationship", gp, `mutation($in: StartRelationshipInput!) { startRelationship(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"id": keyWorker.String(), "kind": "KEY_WORKER", "patientId": gid("Patient", p.ID), "teamId": gid("Team", w.team)}}, pid, "CareRelationship"},
		{"Mutation.updateRelationship", gp, `mutation($id: ID!) { updateRelationship(input: {id: $id, consent: GIVEN}) { id } }`, map[string]any{"id": gid("CareRelationship", keyWorker)}, pid, "CareRelationship"},
		{"Mutation.endRelationship", gp, `mutation($id: ID!) { endRelationship(input: {id: $id}) { id } }`, map[string]any{"id": gid("CareRelationship", keyWorker)}, pid, "CareRelationship"},
		{"Mutation.createInteraction", gp, `mutation($in: CreateInteractionInput!) { createInteraction(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"id": draft.String(), "patientId": gid("Patient", p.ID), "mode": "PHONE", "occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "purpose": "review", "notes": "ok"}}, pid, "Interaction"},
		{"Mutation.updateInteraction", gp, `mutation($id: ID!) { updateInteraction(input: {id: $id, notes: "better"}) { id } }`, map[string]any{"id": gid("Interaction", draft)}, pid, "Interaction"},
		{"Mutation.signInteraction", gp, `mutation($id: ID!) { signInteraction(input: {id: $id}) { id } }`, map[string]any{"id": gid("Interaction", draft)}, pid, "Interaction"},
		{"Mutation.amendInteraction", gp, `mutation($id: ID!) { amendInteraction(input: {id: $id, reason: "detail", notes: "much better"}) { id } }`, map[string]any{"id": gid("Interaction", draft)}, pid, "Interaction"},
		{"Mutation.resolveConflict", nurse, `mutation($id: ID!) { resolveConflict(input: {id: $id, value: "both"}) { id } }`, map[string]any{"id": conflict}, pid, "SyncConflict"},
		{"Query.registrationTransfers", gp, `{ registrationTransfers { id patient { id } } }`, nil, pid, "RegistrationTransfer"},
		{"Mutation.decideRegistrationTransfer", gp, `mutation($id: ID!) { decideRegistrationTransfer(input: {id: $id, accept: false}) { status } }`,
			map[string]any{"id": transfers[0].ID.String()}, pid, "RegistrationTransfer"},
		{"Team.continuity", nurse, `query($id: ID!, $from: Date!, $to: Date!) { node(id: $id) { ... on Team { continuity(from: $from, to: $to) { patients { patient { id } } } } } }`,
			map[string]any{"id": gid("Team", w.team), "from": time.Now().AddDate(0, -2, 0).Format("2006-01-02"), "to": time.Now().AddDate(0, 1, 0).Format("2006-01-02")}, pid, ""},
		{"Mutation.syncPush", nurse, pushMutation, push(phone, 1, map[string]any{"mutationSeq": 3, "entity": "INTERACTION", "id": uuid.Must(uuid.NewV7()).String(), "op": "CREATE", "hlc": hlc(time.Now(), "phone"),
			"fields": map[string]any{"patientId": p.ID.String(), "mode": "PHONE", "occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "purpose": "call", "notes": "fine"}}), pid, "Interaction"},
	}

	walked := patientDataFields(graph.NewExecutableSchema(graph.Config{}).Schema())
	covered := map[string]bool{}
	for _, c := range cases {
		covered[c.field] = true
	}
	for _, f := range walked {
		if !covered[f] {
			t.Errorf("%s returns patient data but has no audit case", f)
		}
		delete(covered, f)
	}
	for f := range covered {
		t.Errorf("audit case %s names no patient-data field of the schema", f)
	}
	t.Logf("%d patient-data fields: %s", len(walked), strings.Join(walked, ", "))

	for i, c := range cases {
		reqID := "audit-walk-" + strings.ReplaceAll(c.field, ".", "-")
		res := auditClient(t, db, c.as, reqID).do(c.query, c.vars)
		if len(res.Errors) > 0 {
			t.Errorf("case %d %s: %+v", i, c.field, res.Errors)
			continue
		}
		entries := must(db.AuditEntries(sysCtx, c.patient())).get(t)
		var found bool
		for _, e := range entries {
			if e.RequestID == reqID && (c.entity == "" || e.Entity == c.entity) && e.ActorRole == c.as.Role && !e.At.IsZero() {
				found = true
			}
		}
		if !found {
			t.Errorf("case %d %s: no audit row of %q for request %s (answer %s)", i, c.field, c.entity, reqID, res.Data)
		}
	}
}

// auditClient is newClient with the request id reqID on every request.
func auditClient(t testing.TB, db *postgres.DB, actor *care.Actor, reqID string) *gql {
	h := graph.NewServer(db, graph.Limits{})
	mw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := care.NewContextWithRequestID(r.Context(), reqID)
		h.ServeHTTP(w, r.WithContext(care.NewContextWithActor(ctx, actor)))
	})
	return &gql{t: t, c: client.New(mw)}
}
