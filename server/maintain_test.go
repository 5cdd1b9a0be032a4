package server

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	offline "github.com/rapportcare/rapport/sync"
)

// The maintenance loop removes tombstones once they are older than the
// retention, activates relationships whose start has come, and stops when its
// context ends.
func TestMaintainLoop(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	nurse := postgrestest.As(context.Background(), f.Nurse1Actor)
	sys := care.NewContextWithActor(context.Background(), care.SystemActor())

	draft, err := db.CreateInteraction(nurse, care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModeHomeVisit,
		OccurredAt: time.Now().Add(-time.Hour), Purpose: "Dressing", Notes: "Recorded by mistake"})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.DeleteInteraction(nurse, draft.ID); err != nil {
		t.Fatal(err)
	}
	count := func() int64 {
		n, err := db.SyncRowCounts(sys, "sync_changes")
		if err != nil {
			t.Fatal(err)
		}
		return n["sync_changes"]
	}
	// A named-nurse handover planned half a second ahead.
	admin := postgrestest.As(context.Background(), f.AdminAActor)
	start := time.Now().Add(500 * time.Millisecond)
	handover, err := db.StartRelationship(admin, care.StartRelationshipInput{Kind: care.KindNamedNurse,
		PatientID: &f.PatientA1, PractitionerID: &f.Nurse2, PeriodStart: &start})
	if err != nil {
		t.Fatal(err)
	}
	if handover.Status != care.RelationshipProposed {
		t.Fatalf("a future start is %s, want PROPOSED", handover.Status)
	}
	before := count()

	// An engine whose clock is 31 days ahead sees the tombstone as expired
	// under 30 days' retention; the live rows are untouched.
	later := func() time.Time { return time.Now().Add(31 * 24 * time.Hour) }
	engine := offline.New(db, offline.Config{Retention: 30 * 24 * time.Hour, Now: later})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { maintain(ctx, db, engine, 10*time.Millisecond, zerolog.Nop()); close(done) }()

	deadline := time.Now().Add(10 * time.Second)
	for count() != before-1 {
		if time.Now().After(deadline) {
			t.Fatalf("sync_changes rows: %d, want %d after the tombstone's purge", count(), before-1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for {
		r, err := db.CareRelationship(sys, handover.ID)
		if err != nil {
			t.Fatal(err)
		}
		if r.Status == care.RelationshipActive {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the due handover is still %s", r.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("purge loop did not stop when its context ended")
	}
	if got := count(); got != before-1 {
		t.Fatalf("purge removed more than the tombstone: %d rows, want %d", got, before-1)
	}
}
