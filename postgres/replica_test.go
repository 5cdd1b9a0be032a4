package postgres_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestReadReplica proves that marked reads are served by a real streaming
// replica, and that the caller who just wrote reads its write all the same.
func TestReadReplica(t *testing.T) {
	if testing.Short() && os.Getenv("CI") != "true" { // never skipped in CI
		t.Skip("starts two PostgreSQL clusters")
	}
	t.Parallel()
	r := postgrestest.NewReplicated(t)
	db, f := r.DB, r.Fixture
	if !db.HasReplica() {
		t.Fatal("no replica")
	}
	reader := func(a *care.Actor) context.Context { return postgres.ReadFromReplica(as(a)) }
	r.Pause(t)

	// The nurse writes while the replica is paused.
	in, err := db.CreateInteraction(as(f.Nurse1Actor), care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModePhone,
		OccurredAt: time.Now().Add(-time.Hour), Purpose: "Replica check"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("another caller's marked reads come from the replica", func(t *testing.T) {
		_, err := db.Interaction(reader(f.GPAActor), in.ID)
		wantCode(t, err, care.ENOTFOUND) // not replayed yet: the replica answered
		if _, err := db.Interaction(as(f.GPAActor), in.ID); err != nil {
			t.Fatalf("unmarked read (the primary): %v", err)
		}
	})
	t.Run("the writer reads its own write at once", func(t *testing.T) {
		got, err := db.Interaction(reader(f.Nurse1Actor), in.ID)
		if err != nil || got.Purpose != "Replica check" {
			t.Fatalf("writer's read after its write: %v, %v", got, err)
		}
	})
	t.Run("once replayed, everyone reads it from the replica", func(t *testing.T) {
		r.Resume(t)
		postgrestest.Eventually(t, "the replica replays the write", func() bool {
			_, err := db.Interaction(reader(f.GPAActor), in.ID)
			return err == nil
		})
		if _, err := db.Interaction(reader(f.Nurse1Actor), in.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reads from the replica are audited on the primary", func(t *testing.T) {
		n := 0
		for _, e := range must[[]*care.AuditEntry](t)(db.AuditEntries(as(care.SystemActor()), f.PatientA1)) {
			if e.EntityID == in.ID && e.Action == care.AuditRead && e.ActorID == f.GPA {
				n++
			}
		}
		if n == 0 {
			t.Fatal("the GP's reads from the replica are not in the audit trail")
		}
	})
}
