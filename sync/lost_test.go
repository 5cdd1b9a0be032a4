package sync_test

import (
	"context"
	gosync "sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// The tests in this file each reproduce one way a written value was lost
// before protocol version 2 (issue "nothing a nurse records is ever lost").
// Each failed against the version 1 engine; the comment says how.

func pushV(t testing.TB, eng *offline.Engine, ctx context.Context, version int, dev uuid.UUID, changes ...offline.ChangeInput) *offline.PushPayload {
	t.Helper()
	p, err := eng.Push(ctx, offline.PushInput{ProtocolVersion: version, DeviceID: dev, Changes: changes})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if len(p.Results) != len(changes) {
		t.Fatalf("%d results for %d changes", len(p.Results), len(changes))
	}
	return p
}

func op(seq int64, id uuid.UUID, o offline.Op, base int64, fields map[string]any) offline.ChangeInput {
	return offline.ChangeInput{MutationSeq: seq, Entity: offline.EntityInteraction, ID: id, Op: o, BaseVersion: &base, Hlc: now(), Fields: fields}
}

// ledgerFor returns every ledger entry about record id.
func ledgerFor(t testing.TB, w *world, ctx context.Context, id uuid.UUID) []*offline.Conflict {
	t.Helper()
	page, err := w.eng.Conflicts(ctx, offline.ConflictFilter{}, care.PageArgs{First: ptr(100)})
	if err != nil {
		t.Fatal(err)
	}
	var out []*offline.Conflict
	for _, e := range page.Edges {
		if e.Node.RecordID == id {
			out = append(out, e.Node)
		}
	}
	return out
}

// Case 1. Before: the DELETE was APPLIED and the ledger stayed empty.
func TestDeleteOfAChangedRecordIsAnOpenConflict(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	phone, tablet := newID(t), newID(t)
	id := newID(t)
	wantStatus(t, mustPush(t, w.eng, nurse, phone, createVisit(1, id, w.f.PatientA1, "first")).Results[0], offline.StatusApplied)
	wantStatus(t, mustPush(t, w.eng, nurse, phone, op(2, id, offline.OpUpdate, 1, map[string]any{"notes": "phone notes the tablet never saw"})).Results[0], offline.StatusApplied)

	r := mustPush(t, w.eng, nurse, tablet, op(1, id, offline.OpDelete, 1, nil)).Results[0]
	wantStatus(t, r, offline.StatusConflict)
	got, err := w.db.Interaction(nurse, id)
	if err != nil {
		t.Fatalf("the record is gone: %v", err)
	}
	if got.Notes != "phone notes the tablet never saw" {
		t.Fatalf("notes %q", got.Notes)
	}
	if len(r.Conflicts) != 1 || r.Conflicts[0].Field != offline.FieldDeleted || r.Conflicts[0].Outcome != offline.OutcomeOpen ||
		r.Conflicts[0].Policy != offline.PolicyKeepBoth || r.Conflicts[0].DeviceValue != true {
		t.Fatalf("conflicts %+v", r.Conflicts)
	}
	if l := ledgerFor(t, w, nurse, id); len(l) != 1 || l[0].DeviceID != tablet {
		t.Fatalf("ledger %+v", l)
	}

	t.Run("a delete from a device that saw the change is applied", func(t *testing.T) {
		id := newID(t)
		mustPush(t, w.eng, nurse, phone, createVisit(10, id, w.f.PatientA1, "x"))
		mustPush(t, w.eng, nurse, phone, op(11, id, offline.OpUpdate, 1, map[string]any{"notes": "y"}))
		wantStatus(t, mustPush(t, w.eng, nurse, tablet, op(10, id, offline.OpDelete, 2, nil)).Results[0], offline.StatusApplied)
		if _, err := w.db.Interaction(nurse, id); care.ErrorCode(err) != care.ENOTFOUND {
			t.Fatalf("still there: %v", err)
		}
	})
	t.Run("resolving the conflict by deleting deletes; by keeping keeps", func(t *testing.T) {
		c := r.Conflicts[0]
		if _, err := w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: c.ID, Value: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.db.Interaction(nurse, id); care.ErrorCode(err) != care.ENOTFOUND {
			t.Fatalf("still there after resolving for deletion: %v", err)
		}
	})
	t.Run("a delete needs a base version", func(t *testing.T) {
		id := newID(t)
		mustPush(t, w.eng, nurse, phone, createVisit(20, id, w.f.PatientA1, "x"))
		ch := op(21, id, offline.OpDelete, 0, nil)
		ch.BaseVersion = nil
		wantCode(t, mustPush(t, w.eng, nurse, phone, ch).Results[0], offline.CodeBadUserInput)
	})
}

// Case 2. Before: seq 5, sent with the base its earlier change produced as
// version 1 of the protocol said, was APPLIED and the tablet's 40 was gone.
func TestChangeQueuedBehindAnotherKeepsWhatItsAuthorNeverSaw(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		version int
		base5   func(seq4Version int64) int64
	}{
		{"version 2: the base is what the device last pulled", 2, func(int64) int64 { return 1 }},
		{"version 1: the base is the earlier change's result, as version 1 documented", 1, func(v int64) int64 { return v }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, offline.Config{})
			nurse := as(w.f.Nurse1Actor)
			phone, tablet := newID(t), newID(t)
			id := newID(t)
			wantStatus(t, pushV(t, w.eng, nurse, tc.version, phone, createVisit(1, id, w.f.PatientA1, "first")).Results[0], offline.StatusApplied)
			t0 := time.Now().Add(-time.Minute)
			// The tablet sets the duration (v2) while the phone is offline since v1.
			wantStatus(t, pushV(t, w.eng, nurse, tc.version, tablet, update(1, id, 1, hlcAt(t0, 0, "tablet"), map[string]any{"durationMinutes": 40})).Results[0], offline.StatusApplied)
			// The phone queued notes (4) then the duration (5), both made before it saw the tablet's 40.
			r4 := pushV(t, w.eng, nurse, tc.version, phone, update(4, id, 1, hlcAt(t0.Add(time.Second), 0, "phone"), map[string]any{"notes": "phone notes"})).Results[0]
			wantStatus(t, r4, offline.StatusMerged)
			r5 := pushV(t, w.eng, nurse, tc.version, phone, update(5, id, tc.base5(*r4.Version), hlcAt(t0.Add(2*time.Second), 0, "phone"), map[string]any{"durationMinutes": 55})).Results[0]
			wantStatus(t, r5, offline.StatusConflict)
			if len(r5.Conflicts) != 1 || r5.Conflicts[0].Field != "durationMinutes" || r5.Conflicts[0].ServerValue != float64(40) {
				t.Fatalf("the tablet's 40 is not in the ledger: %+v", r5.Conflicts)
			}
		})
	}
	t.Run("version 2: a device's own earlier change counts as seen", func(t *testing.T) {
		t.Parallel()
		w := newWorld(t, offline.Config{})
		nurse := as(w.f.Nurse1Actor)
		phone := newID(t)
		id := newID(t)
		pushV(t, w.eng, nurse, 2, phone, createVisit(1, id, w.f.PatientA1, "first"))
		pushV(t, w.eng, nurse, 2, phone, op(2, id, offline.OpUpdate, 1, map[string]any{"notes": "second"}))
		r := pushV(t, w.eng, nurse, 2, phone, op(3, id, offline.OpUpdate, 1, map[string]any{"notes": "third"})).Results[0]
		wantStatus(t, r, offline.StatusApplied)
		if r.Record["notes"] != "third" {
			t.Fatalf("notes %v", r.Record["notes"])
		}
	})
}

// Case 3. Before: the second AMEND was answered CONFLICT with no amendment
// row: its reason was kept nowhere.
func TestAmendIsAlwaysRecorded(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	phone, tablet := newID(t), newID(t)
	id := newID(t)
	mustPush(t, w.eng, nurse, phone, createVisit(1, id, w.f.PatientA1, "first"))
	wantStatus(t, mustPush(t, w.eng, nurse, phone, op(2, id, offline.OpSign, 1, nil)).Results[0], offline.StatusApplied)
	wantStatus(t, mustPush(t, w.eng, nurse, phone, op(3, id, offline.OpAmend, 2, map[string]any{"reason": "typo", "notes": "amended on phone"})).Results[0], offline.StatusApplied)
	r := mustPush(t, w.eng, nurse, tablet, op(1, id, offline.OpAmend, 2, map[string]any{"reason": "allergy noted after signing", "notes": "penicillin allergy"})).Results[0]
	wantStatus(t, r, offline.StatusConflict)
	ams, err := w.db.AmendmentsOf(nurse, []uuid.UUID{id})
	if err != nil {
		t.Fatal(err)
	}
	if len(ams[id]) != 2 || ams[id][1].Reason != "allergy noted after signing" || ams[id][1].AmendedByID != w.f.Nurse1 {
		t.Fatalf("amendments %+v", ams[id])
	}
	if got, _ := w.db.Interaction(nurse, id); got.Notes != "amended on phone" {
		t.Fatalf("notes overwritten: %q", got.Notes)
	}
	if len(r.Conflicts) != 1 || r.Conflicts[0].Outcome != offline.OutcomeOpen || r.Conflicts[0].DeviceValue != "penicillin allergy" {
		t.Fatalf("conflicts %+v", r.Conflicts)
	}
}

// Case 4. Before: when every field collided, a colleague's edit was answered
// CONFLICT and her text entered the ledger on someone else's record.
func TestColleagueEditIsRefusedBeforeAnyMerge(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse, gp := as(w.f.Nurse1Actor), as(w.f.GPAActor)
	phone, gpDevice := newID(t), newID(t)
	id := newID(t)
	mustPush(t, w.eng, nurse, phone, createVisit(1, id, w.f.PatientA1, "first"))
	mustPush(t, w.eng, nurse, phone, op(2, id, offline.OpUpdate, 1, map[string]any{"notes": "nurse notes"}))
	before := w.counts(t)
	for i, ch := range []offline.ChangeInput{
		op(1, id, offline.OpUpdate, 1, map[string]any{"notes": "gp notes"}), // every field collides
		op(2, id, offline.OpUpdate, 2, map[string]any{"notes": "gp notes"}), // nothing collides
		op(3, id, offline.OpDelete, 1, nil),
		op(4, id, offline.OpSign, 2, nil),
	} {
		wantCode(t, mustPush(t, w.eng, gp, gpDevice, ch).Results[0], offline.CodeForbidden)
		_ = i
	}
	after := w.counts(t)
	for _, table := range []string{"sync_conflicts", "interactions", "interaction_amendments", "sync_changes"} {
		if after[table] != before[table] {
			t.Errorf("%s: %d rows, was %d", table, after[table], before[table])
		}
	}
}

// Case 5. Before: resolving with "A and B combined" replaced C, written
// after the conflict, which then existed nowhere.
func TestResolutionNeverOverwritesANewerValue(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	phone, tablet := newID(t), newID(t)
	id := newID(t)
	mustPush(t, w.eng, nurse, phone, createVisit(1, id, w.f.PatientA1, "first"))
	mustPush(t, w.eng, nurse, phone, op(2, id, offline.OpUpdate, 1, map[string]any{"notes": "A"}))
	r := mustPush(t, w.eng, nurse, tablet, op(1, id, offline.OpUpdate, 1, map[string]any{"notes": "B"})).Results[0]
	wantStatus(t, r, offline.StatusConflict)
	c := r.Conflicts[0]
	// C is written by a device that saw A (v2).
	wantStatus(t, mustPush(t, w.eng, nurse, phone, op(3, id, offline.OpUpdate, 2, map[string]any{"notes": "C"})).Results[0], offline.StatusApplied)

	_, err := w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: c.ID, Value: "A and B combined", BaseVersion: ptr(int64(2))})
	if care.ErrorCode(err) != care.ECONFLICT {
		t.Fatalf("resolution against v2 after C (v3): %v, want ECONFLICT", err)
	}
	_, err = w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: c.ID, Value: "A and B combined"})
	if care.ErrorCode(err) != care.ECONFLICT {
		t.Fatalf("resolution without a base version (so against the conflict's own) after C: %v, want ECONFLICT", err)
	}
	if got, _ := w.db.Interaction(nurse, id); got.Notes != "C" {
		t.Fatalf("notes %q: C was overwritten", got.Notes)
	}
	if _, err := w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: c.ID, Value: "A, B and C combined", BaseVersion: ptr(int64(3))}); err != nil {
		t.Fatalf("resolution against the current version: %v", err)
	}
	if got, _ := w.db.Interaction(nurse, id); got.Notes != "A, B and C combined" {
		t.Fatalf("notes %q", got.Notes)
	}
}

// Case 6. Before: concurrent pushes touching the same records in different
// orders sometimes failed with "deadlock detected (40P01)" → INTERNAL.
func TestConcurrentPushesNeverFailForContention(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{TxChunk: 50})
	nurse := as(w.f.Nurse1Actor)
	const records, devices, rounds = 12, 4, 8
	ids := make([]uuid.UUID, records)
	seed := newID(t)
	for i := range ids {
		ids[i] = newID(t)
		mustPush(t, w.eng, nurse, seed, createVisit(int64(i+1), ids[i], w.f.PatientA1, "x"))
	}
	var wg gosync.WaitGroup
	errs := make(chan error, devices*rounds)
	for d := 0; d < devices; d++ {
		dev := newID(t)
		wg.Add(1)
		go func(d int) {
			defer wg.Done()
			seq := int64(0)
			for r := 0; r < rounds; r++ {
				var chs []offline.ChangeInput
				for i := range ids {
					k := i
					if d%2 == 1 {
						k = records - 1 - i // the opposite order
					}
					seq++
					chs = append(chs, update(seq, ids[k], 1, now(), map[string]any{"durationMinutes": 10 + d*10 + r}))
				}
				if _, err := w.eng.Push(nurse, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Changes: chs}); err != nil {
					errs <- err
				}
			}
		}(d)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("push failed under contention: %v", err)
	}
}

// Case 7. Before: a CREATE with a deleted record's id was APPLIED at version 1.
func TestDeletedIDIsNeverReused(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	phone := newID(t)
	id := newID(t)
	mustPush(t, w.eng, nurse, phone, createVisit(1, id, w.f.PatientA1, "first"))
	wantStatus(t, mustPush(t, w.eng, nurse, phone, op(2, id, offline.OpDelete, 1, nil)).Results[0], offline.StatusApplied)
	r := mustPush(t, w.eng, nurse, phone, createVisit(3, id, w.f.PatientA1, "first")).Results[0]
	wantCode(t, r, offline.CodeIDRetired)
	if _, err := w.db.Interaction(nurse, id); care.ErrorCode(err) != care.ENOTFOUND {
		t.Fatalf("resurrected: %v", err)
	}
	// Online too.
	_, err := w.db.CreateInteraction(nurse, care.CreateInteractionInput{ID: &id, PatientID: w.f.PatientA1, Mode: care.ModeHomeVisit, OccurredAt: time.Now().Add(-time.Hour)})
	if care.ErrorCode(err) != care.ECONFLICT {
		t.Fatalf("online create of a deleted id: %v", err)
	}
}

// Case 8 (found by the randomized test at full size, seed
// 1796460423428449186). Before: the phone's CREATE reached the server but its
// answer was lost; the tablet (same nurse) changed the draft; the phone
// pulled that version and, showing its queue on top, still showed the nurse
// her own creation. Her DELETE, sent with the pulled copy's version as its
// base behind the resent CREATE, was APPLIED and the tablet's notes were gone;
// her UPDATE of the notes overwrote the tablet's without a conflict.
func TestChangeBehindAnUnansweredCreateKeepsWhatOthersWrote(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	phone, tablet := newID(t), newID(t)
	var seq int64
	// lostCreate creates a draft from the phone whose answer never arrives,
	// and has the tablet change its notes (version 2).
	lostCreate := func() (uuid.UUID, offline.ChangeInput) {
		id := newID(t)
		seq++
		c := createVisit(seq, id, w.f.PatientA1, "phone's first notes")
		wantStatus(t, mustPush(t, w.eng, nurse, phone, c).Results[0], offline.StatusApplied)
		wantStatus(t, mustPush(t, w.eng, nurse, tablet, op(seq, id, offline.OpUpdate, 1, map[string]any{"notes": "tablet notes"})).Results[0], offline.StatusApplied)
		return id, c
	}

	t.Run("delete", func(t *testing.T) {
		id, c := lostCreate()
		seq++
		r := pushV(t, w.eng, nurse, offline.ProtocolVersion, phone, c, op(seq, id, offline.OpDelete, 2, nil)).Results[1]
		wantStatus(t, r, offline.StatusConflict)
		got, err := w.db.Interaction(nurse, id)
		if err != nil {
			t.Fatalf("the record is gone: %v", err)
		}
		if got.Notes != "tablet notes" {
			t.Fatalf("notes %q", got.Notes)
		}
		if len(r.Conflicts) != 1 || r.Conflicts[0].Field != offline.FieldDeleted || r.Conflicts[0].Outcome != offline.OutcomeOpen {
			t.Fatalf("conflicts %+v", r.Conflicts)
		}
	})
	t.Run("update", func(t *testing.T) {
		id, c := lostCreate()
		seq++
		r := pushV(t, w.eng, nurse, offline.ProtocolVersion, phone, c, op(seq, id, offline.OpUpdate, 2, map[string]any{"notes": "phone notes"})).Results[1]
		wantStatus(t, r, offline.StatusConflict)
		got, err := w.db.Interaction(nurse, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.Notes != "tablet notes" {
			t.Fatalf("the tablet's notes were overwritten: %q", got.Notes)
		}
		if len(r.Conflicts) != 1 || r.Conflicts[0].Field != "notes" || r.Conflicts[0].DeviceValue != "phone notes" || r.Conflicts[0].Outcome != offline.OutcomeOpen {
			t.Fatalf("conflicts %+v", r.Conflicts)
		}
	})
	t.Run("a change after an answered create keeps its base", func(t *testing.T) {
		id, _ := lostCreate()
		seq++
		r := pushV(t, w.eng, nurse, offline.ProtocolVersion, phone, op(seq, id, offline.OpDelete, 2, nil)).Results[0]
		wantStatus(t, r, offline.StatusApplied)
	})
}
