package graph_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestNoExistenceLeaks: a caller cannot tell a record that exists but is not
// theirs from one that is theirs (creates with a taken id) or from one that
// does not exist (revokeDevice); registering a patient registered at another
// practice files a transfer request and never says which practice.
func TestNoExistenceLeaks(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	w := newWorld(t, db)
	pA := w.patient(t, w.practiceA, w.gpA, w.nurse, "Atkins") // not visible to gpB
	pB := w.patient(t, w.practiceB, w.gpB, uuid.Nil, "Brook")
	iA := w.interaction(t, w.gpAActor(), pA.ID, time.Now().Add(-time.Hour))
	iB := w.interaction(t, w.gpBActor(), pB.ID, time.Now().Add(-time.Hour))
	gpA := newClient(t, db, w.gpAActor(), graph.Limits{})
	gpB := newClient(t, db, w.gpBActor(), graph.Limits{})
	colleague := newClient(t, db, w.actor(care.RoleNurse, w.colleague, w.orgN), graph.Limits{})

	// same asserts that two answers carry the same code and message.
	same := func(t *testing.T, a, b result) {
		t.Helper()
		if len(a.Errors) == 0 || len(b.Errors) == 0 {
			t.Fatalf("expected two refusals, got %+v and %+v", a, b)
		}
		if a.Errors[0].code() != b.Errors[0].code() || a.Errors[0].Message != b.Errors[0].Message {
			t.Fatalf("answers differ: %q %q / %q %q", a.Errors[0].code(), a.Errors[0].Message, b.Errors[0].code(), b.Errors[0].Message)
		}
	}
	nurse := newClient(t, db, w.nurseActor(), graph.Limits{})
	const createInteraction = `mutation($in: CreateInteractionInput!) { createInteraction(input: $in) { id } }`
	interaction := func(id, patient uuid.UUID) map[string]any {
		return map[string]any{"in": map[string]any{"id": id.String(), "patientId": gid("Patient", patient), "mode": "PHONE",
			"occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), "purpose": "p", "notes": "n"}}
	}
	t.Run("createInteraction with another practice's interaction id answers as for one's own", func(t *testing.T) {
		notMine := gpB.fails(createInteraction, interaction(iA.ID, pB.ID), graph.CodeConflict)
		mineDifferent := gpB.fails(createInteraction, interaction(iB.ID, pB.ID), graph.CodeConflict)
		same(t, notMine, mineDifferent)
	})
	t.Run("sync CREATE with an invisible id answers as for one's own", func(t *testing.T) {
		mine := w.interaction(t, w.nurseActor(), pA.ID, time.Now().Add(-3*time.Hour))
		dev := uuid.New()
		create := func(seq int, id uuid.UUID) map[string]any {
			return map[string]any{"mutationSeq": seq, "entity": "INTERACTION", "id": id.String(), "op": "CREATE", "hlc": hlc(time.Now(), "dev"),
				"fields": map[string]any{"patientId": pA.ID.String(), "mode": "PHONE", "occurredAt": time.Now().Add(-time.Minute).UTC().Format(time.RFC3339),
					"purpose": "p", "notes": "n"}}
		}
		var notMine, mineDifferent pushResult
		nurse.ok(pushMutation, push(dev, 1, create(1, iB.ID)), &notMine)
		nurse.ok(pushMutation, push(dev, 1, create(2, mine.ID)), &mineDifferent)
		a, b := notMine.SyncPush.Results[0], mineDifferent.SyncPush.Results[0]
		if a.Status != b.Status || a.Code == nil || b.Code == nil || *a.Code != *b.Code || *a.Message != *b.Message || a.Record != nil {
			t.Fatalf("answers differ: %s %s %s / %s %s %s", a.Status, strOf(a.Code), strOf(a.Message), b.Status, strOf(b.Code), strOf(b.Message))
		}
	})
	const startRel = `mutation($in: StartRelationshipInput!) { startRelationship(input: $in) { id } }`
	rel := func(id, patient uuid.UUID) map[string]any {
		return map[string]any{"in": map[string]any{"id": id.String(), "kind": "KEY_WORKER", "patientId": gid("Patient", patient), "teamId": gid("Team", w.team)}}
	}
	t.Run("startRelationship with an invisible relationship's id answers as for one's own", func(t *testing.T) {
		relsA := must(db.CareRelationships(sysCtx, care.RelationshipFilter{PatientID: &pA.ID}, care.PageArgs{})).get(t)
		relsB := must(db.CareRelationships(sysCtx, care.RelationshipFilter{PatientID: &pB.ID}, care.PageArgs{})).get(t)
		notMine := gpB.fails(startRel, rel(relsA.Edges[0].Node.ID, pB.ID), graph.CodeConflict)
		mineDifferent := gpB.fails(startRel, rel(relsB.Edges[0].Node.ID, pB.ID), graph.CodeConflict)
		same(t, notMine, mineDifferent)
	})
	const createPatient = `mutation($in: CreatePatientInput!) { createPatient(input: $in) { id } }`
	patient := func(id uuid.UUID, nhs string, practice uuid.UUID) map[string]any {
		return map[string]any{"in": map[string]any{"id": id.String(), "nhsNumber": nhs, "givenName": "X", "familyName": "Y",
			"birthDate": "1960-01-01", "registeredPracticeId": gid("Organization", practice)}}
	}
	t.Run("createPatient with an invisible patient's id answers as for one's own", func(t *testing.T) {
		notMine := gpB.fails(createPatient, patient(pA.ID, nhsNumber(), w.practiceB), graph.CodeConflict)
		mineDifferent := gpB.fails(createPatient, patient(pB.ID, nhsNumber(), w.practiceB), graph.CodeConflict)
		same(t, notMine, mineDifferent)
	})
	t.Run("revokeDevice answers the same for a colleague's device and none", func(t *testing.T) {
		dev := uuid.New()
		colleague.ok(pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 1, "deviceId": dev.String()}}, nil)
		const revoke = `mutation($id: ID!) { revokeDevice(input: {id: $id}) { id } }`
		theirs := nurse.fails(revoke, map[string]any{"id": dev.String()}, graph.CodeNotFound)
		none := nurse.fails(revoke, map[string]any{"id": uuid.NewString()}, graph.CodeNotFound)
		same(t, theirs, none)
	})
	t.Run("a patient registered elsewhere: a transfer request, never where", func(t *testing.T) {
		res := gpB.fails(createPatient, patient(uuid.Must(uuid.NewV7()), pA.NHSNumber, w.practiceB), graph.CodeConflict)
		msg := res.Errors[0].Message
		for _, leak := range []string{"Riverside", w.practiceA.String(), gid("Organization", w.practiceA), pA.ID.String(), "Atkins"} {
			if strings.Contains(msg, leak) || strings.Contains(string(res.Data), leak) {
				t.Fatalf("the answer names %q: %s", leak, msg)
			}
		}
		if !strings.Contains(msg, "transfer request") {
			t.Fatalf("the answer does not say what happens next: %s", msg)
		}
		// The requesting practice sees no request (it is not theirs to see).
		var mine struct{ RegistrationTransfers []struct{ ID string } }
		gpB.ok(`{ registrationTransfers { id } }`, nil, &mine)
		if len(mine.RegistrationTransfers) != 0 {
			t.Fatalf("the requesting practice sees %v", mine.RegistrationTransfers)
		}
		// The registered practice sees it, with its patient and requester.
		var theirs struct {
			RegistrationTransfers []struct {
				ID                 string
				Status             string
				Patient            struct{ ID string }
				RequestingPractice struct{ ID string }
			}
		}
		gpA.ok(`{ registrationTransfers { id status patient { id } requestingPractice { id } } }`, nil, &theirs)
		if len(theirs.RegistrationTransfers) != 1 {
			t.Fatalf("registered practice sees %+v", theirs.RegistrationTransfers)
		}
		tr := theirs.RegistrationTransfers[0]
		if tr.Status != "PENDING" || tr.Patient.ID != gid("Patient", pA.ID) || tr.RequestingPractice.ID != gid("Organization", w.practiceB) {
			t.Fatalf("transfer %+v", tr)
		}
		// Asking twice files one request.
		gpB.fails(createPatient, patient(uuid.Must(uuid.NewV7()), pA.NHSNumber, w.practiceB), graph.CodeConflict)
		gpA.ok(`{ registrationTransfers { id } }`, nil, &theirs)
		if len(theirs.RegistrationTransfers) != 1 {
			t.Fatalf("%d requests after asking twice", len(theirs.RegistrationTransfers))
		}
		// Only the registered practice may decide.
		gpB.fails(`mutation($id: ID!) { decideRegistrationTransfer(input: {id: $id, accept: true}) { status } }`, map[string]any{"id": tr.ID}, graph.CodeNotFound)
		var decided struct{ DecideRegistrationTransfer struct{ Status string } }
		gpA.ok(`mutation($id: ID!) { decideRegistrationTransfer(input: {id: $id, accept: true}) { status } }`, map[string]any{"id": tr.ID}, &decided)
		if decided.DecideRegistrationTransfer.Status != "ACCEPTED" {
			t.Fatalf("decision %+v", decided)
		}
		moved := must(db.Patient(sysCtx, pA.ID)).get(t)
		if moved.RegisteredPracticeID != w.practiceB {
			t.Fatalf("registration not moved: %v", moved.RegisteredPracticeID)
		}
		// Every attempt is recorded: both requests and the decision, in
		// order, and both reads of the registered practice. The reads are
		// stamped with the server's clock when queued, the writes with
		// the database's when their transaction began, so where the reads
		// fall among the writes is only as good as the two clocks (a CI
		// run once placed the second read before the second request).
		var writes []string
		reads := 0
		for _, e := range must(db.AuditEntries(sysCtx, pA.ID)).get(t) {
			switch {
			case e.Entity != "RegistrationTransfer":
			case e.Action == care.AuditRead && e.ActorRole == care.RoleGP:
				reads++
			default:
				writes = append(writes, string(e.Action)+"/"+string(e.ActorRole))
			}
		}
		want := "transfer_request/gp transfer_request/gp transfer_accept/gp"
		if strings.Join(writes, " ") != want || reads != 2 {
			t.Fatalf("audited writes %v and %d reads, want %s and 2 reads", writes, reads, want)
		}
	})
}

func strOf(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// TestEndedRelationshipLeavesSyncScope: when a relationship's period runs
// out, with no one ending it and before any maintenance loop, the nurse's
// next pull tells her device to purge the patient.
func TestEndedRelationshipLeavesSyncScope(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	w := newWorld(t, db)
	p := w.patient(t, w.practiceA, w.gpA, uuid.Nil, "Brief")
	start, end := time.Now().Add(-time.Hour), time.Now().Add(1500*time.Millisecond)
	must(db.StartRelationship(sysCtx, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &p.ID,
		PractitionerID: &w.nurse, PeriodStart: &start, PeriodEnd: &end})).get(t)
	nurse := newClient(t, db, w.nurseActor(), graph.Limits{})
	dev := uuid.NewString()
	var first pullResult
	nurse.ok(pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 1, "deviceId": dev, "limit": 1000}}, &first)
	var had bool
	for _, u := range first.SyncPull.Upserts {
		had = had || u.Entity == "PATIENT" && u.ID == p.ID.String()
	}
	if !had {
		t.Fatalf("the patient was never in scope: %+v", first.SyncPull.Upserts)
	}
	time.Sleep(time.Until(end) + 100*time.Millisecond)
	cp := first.SyncPull.Checkpoint
	for range 10 { // page on until the stream is drained
		var next pullResult
		nurse.ok(pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 1, "deviceId": dev, "checkpoint": cp, "limit": 1000}}, &next)
		for _, id := range next.SyncPull.RevokedPatientIds {
			if id == p.ID.String() {
				return
			}
		}
		if !next.SyncPull.HasMore {
			break
		}
		cp = next.SyncPull.Checkpoint
	}
	t.Fatal("the device was not told to purge the patient whose relationship ran out")
}
