package sync_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
)

// pushAcked pushes changes as the syncPush resolver does: acknowledging the
// answers below the batch's first mutation number, then pushing.
func pushAcked(t testing.TB, eng *offline.Engine, ctx context.Context, dev uuid.UUID, changes ...offline.ChangeInput) *offline.PushPayload {
	t.Helper()
	if err := eng.Acknowledge(ctx, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Changes: changes}); err != nil {
		t.Fatalf("acknowledge: %v", err)
	}
	return mustPush(t, eng, ctx, dev, changes...)
}

// TestCompactMutations: acknowledged push results are compacted in the
// purge, and exactly-once still holds across the compaction: an
// unacknowledged retry replays its first answer byte for byte, an
// acknowledged one is refused ALREADY_APPLIED and changes nothing.
func TestCompactMutations(t *testing.T) {
	t.Parallel()
	// Compact keeps a device's latest result per record for the retention
	// window; this engine's clock is past it.
	w := newWorld(t, offline.Config{Retention: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	nurse := as(w.f.Nurse1Actor)
	phone := newID(t)
	id := newID(t)
	var changes []offline.ChangeInput
	changes = append(changes, createVisit(1, id, w.f.PatientA1, "first"), op(2, id, offline.OpSign, 1, nil))
	for i := range 8 {
		changes = append(changes, createVisit(int64(3+i), newID(t), w.f.PatientA1, "more"))
	}
	pushAcked(t, w.eng, nurse, phone, changes...)
	amend := op(11, id, offline.OpAmend, 2, map[string]any{"reason": "typo", "notes": "amended"})
	first := pushAcked(t, w.eng, nurse, phone, amend) // acknowledges 1..10, not 11
	before := w.counts(t)

	st, err := w.eng.Compact(sys())
	if err != nil {
		t.Fatal(err)
	}
	after := w.counts(t)
	if st.Mutations != 10 || after["sync_mutations"] != before["sync_mutations"]-10 {
		t.Fatalf("compacted %d; sync_mutations %d -> %d, want 10 fewer", st.Mutations, before["sync_mutations"], after["sync_mutations"])
	}

	t.Run("an unacknowledged retry replays its first answer byte for byte", func(t *testing.T) {
		again := mustPush(t, w.eng, nurse, phone, amend) // a retry: the batch starts at 11 again
		a, _ := json.Marshal(first.Results)
		b, _ := json.Marshal(again.Results)
		if string(a) != string(b) {
			t.Fatalf("replay differs:\n%s\n%s", a, b)
		}
	})
	t.Run("a compacted retry is refused ALREADY_APPLIED and applies nothing", func(t *testing.T) {
		c0 := w.counts(t)
		for _, ch := range []offline.ChangeInput{changes[0], changes[1], op(1, id, offline.OpAmend, 2, map[string]any{"reason": "again", "notes": "twice?"})} {
			r := mustPush(t, w.eng, nurse, phone, ch).Results[0]
			wantCode(t, r, offline.CodeAlreadyApplied)
		}
		c1 := w.counts(t)
		for _, table := range []string{"interactions", "interaction_amendments", "sync_changes", "sync_mutations", "sync_conflicts"} {
			if c1[table] != c0[table] {
				t.Errorf("%s: %d rows, was %d", table, c1[table], c0[table])
			}
		}
	})
	t.Run("a device cannot acknowledge past what it pushed", func(t *testing.T) {
		other := newID(t)
		pushAcked(t, w.eng, nurse, other, createVisit(1, newID(t), w.f.PatientA1, "x"))
		// A batch starting at 1,000 acknowledges through 1, the highest number pushed.
		r := pushAcked(t, w.eng, nurse, other, createVisit(1000, newID(t), w.f.PatientA1, "y")).Results[0]
		wantStatus(t, r, offline.StatusApplied)
		r = mustPush(t, w.eng, nurse, other, createVisit(2, newID(t), w.f.PatientA1, "z")).Results[0]
		wantStatus(t, r, offline.StatusApplied)
	})
	t.Run("another practitioner cannot acknowledge a device's answers", func(t *testing.T) {
		err := w.eng.Acknowledge(as(w.f.GPAActor), offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: phone,
			Changes: []offline.ChangeInput{createVisit(50, newID(t), w.f.PatientA1, "x")}})
		if err != nil {
			t.Fatal(err)
		}
		// The nurse's own acknowledgement stands at 10: 11 still replays.
		again := mustPush(t, w.eng, nurse, phone, amend)
		wantStatus(t, again.Results[0], first.Results[0].Status)
	})
}

// TestCompactKeepsLatestResultPerRecord: within the retention window the
// device's latest result for each record survives compaction (a version 1
// device's queued change may chain its base to it).
func TestCompactKeepsLatestResultPerRecord(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	phone, id := newID(t), newID(t)
	pushAcked(t, w.eng, nurse, phone, createVisit(1, id, w.f.PatientA1, "first"), op(2, id, offline.OpUpdate, 1, map[string]any{"notes": "edited"}))
	pushAcked(t, w.eng, nurse, phone, createVisit(3, newID(t), w.f.PatientA1, "next"))
	st, err := w.eng.Compact(sys())
	if err != nil {
		t.Fatal(err)
	}
	if st.Mutations != 1 {
		t.Fatalf("compacted %d, want 1 (the create, superseded by the update of the same record)", st.Mutations)
	}
	wantStatus(t, mustPush(t, w.eng, nurse, phone, op(2, id, offline.OpUpdate, 1, map[string]any{"notes": "edited"})).Results[0], offline.StatusApplied)
}

// TestCompactScopes: scope generations no checkpoint of the device can still
// name are compacted once it has pulled with a later one; a checkpoint that
// names one resets (CHECKPOINT_EXPIRED) instead of missing revocations; and
// a patient who left is still known to have been on the device.
func TestCompactScopes(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse1 := as(w.f.Nurse1Actor)
	dev := newID(t)
	pl := &puller{eng: w.eng, ctx: nurse1, dev: dev}
	pl.all(t)
	rel, err := w.db.StartRelationship(sys(), care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &w.f.PatientB1, PractitionerID: &w.f.Nurse1})
	if err != nil {
		t.Fatal(err)
	}
	pl.all(t) // generation 2: B1 entered, backfilled
	id := newID(t)
	wantStatus(t, mustPush(t, w.eng, nurse1, dev, createVisit(1, id, w.f.PatientB1, "in scope")).Results[0], offline.StatusApplied)
	if _, err := w.db.EndRelationship(sys(), care.EndRelationshipInput{ID: rel.ID}); err != nil {
		t.Fatal(err)
	}
	old := *pl.cp
	pl.all(t) // generation 3: B1 left
	pl.all(t) // pulled with a generation 3 checkpoint: 2 is no longer needed

	scopes := func() int64 {
		c, err := w.db.SyncRowCounts(sys(), "device_scopes")
		if err != nil {
			t.Fatal(err)
		}
		return c["device_scopes"]
	}
	b := scopes()
	st, err := w.eng.Compact(sys())
	if err != nil {
		t.Fatal(err)
	}
	a := scopes()
	if st.Scopes == 0 || a != b-st.Scopes {
		t.Fatalf("compacted %d scope rows; device_scopes %d -> %d", st.Scopes, b, a)
	}

	t.Run("the current checkpoint still pulls", func(t *testing.T) {
		if pg := pl.page(t); pg.ResetRequired {
			t.Fatalf("reset: %v", *pg.ResetReason)
		}
	})
	t.Run("a checkpoint naming a compacted generation resets", func(t *testing.T) {
		retry := &puller{eng: w.eng, ctx: nurse1, dev: dev, cp: &old}
		pg := retry.page(t)
		if !pg.ResetRequired || *pg.ResetReason != offline.ResetCheckpointExpired {
			t.Fatalf("pull with a compacted generation: %+v", pg)
		}
	})
	t.Run("a patient who left is still known to have been on the device", func(t *testing.T) {
		r := mustPush(t, w.eng, nurse1, dev, update(2, id, 1, now(), map[string]any{"notes": "written offline"})).Results[0]
		wantCode(t, r, offline.CodeOutOfScope)
	})
	t.Run("a fresh pull starts over and is not reset", func(t *testing.T) {
		fresh := &puller{eng: w.eng, ctx: nurse1, dev: dev}
		fresh.all(t)
		if pg := fresh.page(t); pg.ResetRequired {
			t.Fatalf("reset after a fresh pull: %v", *pg.ResetReason)
		}
	})
}

// TestRecordNeverBelowTheAcknowledgedMark: an attempt of a push still
// running when the device's retry was answered, acknowledged and compacted
// finds no row to conflict with; recording must still fail (and the attempt
// roll back), or its changes would be applied a second time. Before the
// check, RecordMutations recorded the compacted number again.
func TestRecordNeverBelowTheAcknowledgedMark(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{Retention: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	nurse := as(w.f.Nurse1Actor)
	phone := newID(t)
	pushAcked(t, w.eng, nurse, phone, createVisit(1, newID(t), w.f.PatientA1, "first"))
	pushAcked(t, w.eng, nurse, phone, createVisit(2, newID(t), w.f.PatientA1, "second")) // acknowledges 1
	if st, err := w.eng.Compact(sys()); err != nil || st.Mutations != 1 {
		t.Fatalf("compacted %+v, %v; want 1", st, err)
	}
	err := w.db.InTx(nurse, func(tx *postgres.DB) error {
		return tx.RecordMutations(nurse, phone, []postgres.MutationRecord{{Seq: 1, Result: []byte(`{"status":"applied"}`)}})
	})
	if !errors.Is(err, postgres.ErrRecordedConcurrently) {
		t.Fatalf("recording an acknowledged, compacted number: %v, want ErrRecordedConcurrently", err)
	}
	if err := w.db.InTx(nurse, func(tx *postgres.DB) error {
		return tx.RecordMutations(nurse, phone, []postgres.MutationRecord{{Seq: 3, Result: []byte(`{"status":"applied"}`)}})
	}); err != nil {
		t.Fatalf("recording a fresh number: %v", err)
	}
}
