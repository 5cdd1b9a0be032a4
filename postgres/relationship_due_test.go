package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// A named-nurse handover planned for later takes effect when its start comes:
// the new nurse gains the patient, the old relationship ends at that instant.
func TestActivateDueRelationships(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	sys := care.NewContextWithActor(context.Background(), care.SystemActor())
	admin := postgrestest.As(context.Background(), f.AdminAActor)
	nurse2 := &care.Actor{PractitionerID: f.Nurse2, OrganizationID: f.Nursing, Role: care.RoleNurse, Subject: "nurse-2"}
	nurse2.Access = auth.AccessFor(nurse2)
	asNurse2 := postgrestest.As(context.Background(), nurse2)

	start := time.Now().Add(time.Hour)
	handover, err := db.StartRelationship(admin, care.StartRelationshipInput{Kind: care.KindNamedNurse,
		PatientID: &f.PatientA1, PractitionerID: &f.Nurse2, PeriodStart: &start})
	if err != nil {
		t.Fatal(err)
	}
	if handover.Status != care.RelationshipProposed {
		t.Fatalf("a future start is %s, want PROPOSED", handover.Status)
	}

	t.Run("nothing happens before the start", func(t *testing.T) {
		if n, err := db.ActivateDueRelationships(sys); err != nil || n != 0 {
			t.Fatalf("activated %d, %v; want 0", n, err)
		}
		if _, err := db.Patient(asNurse2, f.PatientA1); care.ErrorCode(err) != care.ENOTFOUND {
			t.Fatalf("nurse 2 reads the patient before the handover: %v", err)
		}
	})

	// The start arrives (moved into the past rather than waiting an hour).
	if err := db.ExecRaw(context.Background(), `UPDATE care_relationships SET period_start = now() - interval '1 minute' WHERE id = $1`, handover.ID); err != nil {
		t.Fatal(err)
	}

	t.Run("only the system may run it", func(t *testing.T) {
		if _, err := db.ActivateDueRelationships(admin); care.ErrorCode(err) != care.EFORBIDDEN {
			t.Fatalf("practice admin: %v, want forbidden", err)
		}
	})
	t.Run("activates the handover and ends the old named nurse at its start", func(t *testing.T) {
		n, err := db.ActivateDueRelationships(sys)
		if err != nil || n != 1 {
			t.Fatalf("activated %d, %v; want 1", n, err)
		}
		got, err := db.CareRelationship(sys, handover.ID)
		if err != nil || got.Status != care.RelationshipActive {
			t.Fatalf("handover %+v, %v; want ACTIVE", got, err)
		}
		old, err := db.CareRelationship(sys, f.PatientA1NamedNurse)
		if err != nil || old.Status != care.RelationshipEnded || old.PeriodEnd == nil || !old.PeriodEnd.Equal(got.PeriodStart) {
			t.Fatalf("old named nurse %+v, %v; want ENDED at %v", old, err, got.PeriodStart)
		}
		cur, err := db.CurrentPractitioners(sys, care.KindNamedNurse, []uuid.UUID{f.PatientA1})
		if err != nil || cur[f.PatientA1] != f.Nurse2 {
			t.Fatalf("current named nurse %v, %v; want nurse 2", cur, err)
		}
		if _, err := db.Patient(asNurse2, f.PatientA1); err != nil {
			t.Fatalf("nurse 2 cannot read her new patient: %v", err)
		}
	})
	t.Run("is audited", func(t *testing.T) {
		entries, err := db.AuditEntries(sys, f.PatientA1)
		if err != nil {
			t.Fatal(err)
		}
		var ended, activated bool
		for _, e := range entries {
			ended = ended || (e.EntityID == f.PatientA1NamedNurse && e.Action == care.AuditEnd && e.ActorRole == care.RoleSystem)
			activated = activated || (e.EntityID == handover.ID && e.Action == care.AuditUpdate && e.ActorRole == care.RoleSystem)
		}
		if !ended || !activated {
			t.Fatalf("audit: ended %v, activated %v", ended, activated)
		}
	})
	t.Run("running again changes nothing", func(t *testing.T) {
		if n, err := db.ActivateDueRelationships(sys); err != nil || n != 0 {
			t.Fatalf("activated %d, %v; want 0", n, err)
		}
	})
}
