package sync_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// CREATEs of interactions are applied set-based, a run of them at a time
// (sync/push.go pushCreates): each still gets the result a push of it alone
// would get, in order, whatever its neighbours do.
func TestPushCreateRunSettlesEachChange(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	dev := newID(t)
	same, other, retired := newID(t), newID(t), newID(t)
	sameVisit := createVisit(1, same, w.f.PatientA1, "earlier")
	mustPush(t, w.eng, nurse, dev, sameVisit, createVisit(2, other, w.f.PatientA1, "earlier"), createVisit(3, retired, w.f.PatientA1, "deleted"))
	mustPush(t, w.eng, nurse, dev, offline.ChangeInput{MutationSeq: 4, Entity: offline.EntityInteraction, ID: retired, Op: offline.OpDelete, BaseVersion: ptr(int64(1)), Hlc: now()})

	a, d, e := newID(t), newID(t), newID(t)
	badMode := createVisit(11, newID(t), w.f.PatientA1, "x")
	badMode.Fields["mode"] = "TELEPATHY"
	again := sameVisit
	again.MutationSeq = 15
	otherAgain := createVisit(16, other, w.f.PatientA2, "different patient, same id")
	changes := []offline.ChangeInput{
		createVisit(10, a, w.f.PatientA1, "fresh"),
		badMode,
		createVisit(12, newID(t), w.f.PatientB1, "not my patient"),
		createVisit(13, retired, w.f.PatientA1, "resurrected"),
		createVisit(14, newID(t), w.f.PatientA1, "no clock"),
		again,
		otherAgain,
		createVisit(17, d, w.f.PatientA1, "fresh too"),
		createVisit(10, e, w.f.PatientA1, "a repeated mutation number"),
		{MutationSeq: 18, Entity: offline.EntityInteraction, ID: a, Op: offline.OpCreate, Hlc: now(), Fields: changesFields(createVisit(0, a, w.f.PatientA1, "fresh"))},
	}
	changes[4].Hlc = "not a clock"
	before := w.counts(t)
	p := mustPush(t, w.eng, nurse, dev, changes...)
	wantStatus(t, p.Results[0], offline.StatusApplied)
	wantCode(t, p.Results[1], offline.CodeBadUserInput)
	wantCode(t, p.Results[2], offline.CodeNotFound)
	wantCode(t, p.Results[3], offline.CodeIDRetired)
	wantCode(t, p.Results[4], offline.CodeBadUserInput)
	wantStatus(t, p.Results[5], offline.StatusApplied) // the same record created again
	wantCode(t, p.Results[6], offline.CodeConflict)    // another record has the id
	wantStatus(t, p.Results[7], offline.StatusApplied)
	if !reflect.DeepEqual(jsonOf(t, p.Results[8]), jsonOf(t, p.Results[0])) { // replays number 10
		t.Fatalf("repeated number: %s, want %s", jsonOf(t, p.Results[8]), jsonOf(t, p.Results[0]))
	}
	wantStatus(t, p.Results[9], offline.StatusApplied)
	if p.Results[0].Record["notes"] != "fresh" || *p.Results[0].Version != 1 || p.Results[9].Record["id"] != a.String() {
		t.Fatalf("records: %v / %v", p.Results[0].Record, p.Results[9].Record)
	}
	if p.Results[5].Record["notes"] != "earlier" {
		t.Fatalf("created again: %v", p.Results[5].Record)
	}
	after := w.counts(t)
	if n := after["interactions"] - before["interactions"]; n != 2 {
		t.Fatalf("%d interactions written, want 2 (a and d)", n)
	}
	if n := after["sync_mutations"] - before["sync_mutations"]; n != 9 {
		t.Fatalf("%d results recorded, want 9 (one per mutation number)", n)
	}
	if _, err := w.db.Interaction(nurse, e); care.ErrorCode(err) != care.ENOTFOUND {
		t.Fatalf("the replayed number created its change: %v", err)
	}
	// A replay of the whole push answers the same and writes nothing.
	before = w.counts(t)
	again2 := mustPush(t, w.eng, nurse, dev, changes...)
	if jsonOf(t, again2.Results) != jsonOf(t, p.Results) {
		t.Fatalf("replay differs:\n%s\n%s", jsonOf(t, again2.Results), jsonOf(t, p.Results))
	}
	if after := w.counts(t); !reflect.DeepEqual(before, after) {
		t.Fatalf("replay wrote: %v -> %v", before, after)
	}
}

func changesFields(ch offline.ChangeInput) map[string]any { return ch.Fields }

// A device that retries a push while the first attempt is still running
// (its answer was lost) gets each change applied once: whichever attempt
// records a mutation number second starts again and replays it.
func TestSamePushTwiceAtOnceAppliesEachChangeOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{TxChunk: 5})
	nurse := as(w.f.Nurse1Actor)
	existing := newID(t)
	mustPush(t, w.eng, nurse, newID(t), createVisit(1, existing, w.f.PatientA1, "x"))
	for round := range 5 {
		dev := newID(t)
		var changes []offline.ChangeInput
		for i := range 12 {
			changes = append(changes, createVisit(int64(2*i+1), newID(t), w.f.PatientA1, "visit"))
			changes = append(changes, update(int64(2*i+2), existing, 1, now(), map[string]any{"durationMinutes": 10 + round + i}))
		}
		before := w.counts(t)
		out := make([]*offline.PushPayload, 2)
		errs := make([]error, 2)
		done := make(chan int)
		for k := range out {
			go func() {
				out[k], errs[k] = w.eng.Push(nurse, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Changes: changes})
				done <- k
			}()
		}
		<-done
		<-done
		for k := range out {
			if errs[k] != nil {
				t.Fatalf("round %d, attempt %d: %v", round, k, errs[k])
			}
		}
		if a, b := jsonOf(t, out[0].Results), jsonOf(t, out[1].Results); a != b {
			t.Fatalf("round %d: the two attempts answered differently:\n%s\n%s", round, a, b)
		}
		after := w.counts(t)
		if n := after["interactions"] - before["interactions"]; n != 12 {
			t.Fatalf("round %d: %d interactions created, want 12", round, n)
		}
		if n := after["sync_mutations"] - before["sync_mutations"]; n != 24 {
			t.Fatalf("round %d: %d results recorded, want 24", round, n)
		}
	}
}

// A push of 500 changes, mostly CREATEs, is applied in one transaction with
// the default configuration (a run of CREATEs takes one savepoint): each
// change still gets its own result, refusals sprinkled through the run
// reject only themselves, an edit in the middle is judged alone, and the
// same push sent again, also twice at once, is answered from the recorded
// results and writes nothing.
func TestPushOfFiveHundredInOneTransaction(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	dev := newID(t)
	existing := newID(t)
	mustPush(t, w.eng, nurse, dev, createVisit(1, existing, w.f.PatientA1, "before"))
	var changes []offline.ChangeInput
	want := map[int]string{} // index -> code; absent: APPLIED
	created := 0
	for k := range 500 {
		seq := int64(k + 2)
		ch := createVisit(seq, newID(t), w.f.PatientA1, "visit")
		switch {
		case k%37 == 5:
			ch.Fields["patientId"] = w.f.PatientB1.String() // not in her caseload
			want[k] = offline.CodeNotFound
		case k%53 == 7:
			ch.Fields["mode"] = "TELEPATHY"
			want[k] = offline.CodeBadUserInput
		case k%61 == 11:
			ch.ID = existing
			ch.Fields["patientId"] = w.f.PatientA2.String() // another record has the id
			want[k] = offline.CodeConflict
		case k == 250:
			ch = update(seq, existing, 1, now(), map[string]any{"notes": "edited mid-push"})
		default:
			created++
		}
		changes = append(changes, ch)
	}
	before := w.counts(t)
	p := mustPush(t, w.eng, nurse, dev, changes...)
	for k, r := range p.Results {
		if r.MutationSeq != changes[k].MutationSeq {
			t.Fatalf("result %d answers number %d, want %d", k, r.MutationSeq, changes[k].MutationSeq)
		}
		if code, ok := want[k]; ok {
			wantCode(t, r, code)
		} else {
			wantStatus(t, r, offline.StatusApplied)
		}
	}
	after := w.counts(t)
	if n := after["interactions"] - before["interactions"]; n != int64(created) {
		t.Fatalf("%d interactions created, want %d", n, created)
	}
	if n := after["sync_mutations"] - before["sync_mutations"]; n != 500 {
		t.Fatalf("%d results recorded, want 500", n)
	}
	if n := after["sync_changes"] - before["sync_changes"]; n != int64(created) {
		t.Fatalf("%d change-log rows, want %d", n, created)
	}
	got, err := w.db.Interaction(nurse, existing)
	if err != nil || got.Notes != "edited mid-push" {
		t.Fatalf("the edit in the middle: %+v, %v", got, err)
	}
	// Sent again, and twice at once: the same answers, nothing written.
	for round := range 2 {
		for _, o := range pushAtOnce(t, w.eng, nurse, dev, changes, round+1) {
			if jsonOf(t, o.Results) != jsonOf(t, p.Results) {
				t.Fatalf("round %d: the replay answered differently", round)
			}
		}
		if again := w.counts(t); again["interactions"] != after["interactions"] || again["sync_mutations"] != after["sync_mutations"] ||
			again["sync_changes"] != after["sync_changes"] {
			t.Fatalf("round %d: the replay wrote: %v -> %v", round, after, again)
		}
	}
	// The first attempt of a push of 500, sent twice at once (its answer
	// was lost): each change applied once, both attempts answered alike.
	dev2 := newID(t)
	var fresh []offline.ChangeInput
	for k := range 500 {
		fresh = append(fresh, createVisit(int64(k+1), newID(t), w.f.PatientA1, "at once"))
	}
	before = w.counts(t)
	out := pushAtOnce(t, w.eng, nurse, dev2, fresh, 2)
	if jsonOf(t, out[0].Results) != jsonOf(t, out[1].Results) {
		t.Fatal("at once: the two attempts answered differently")
	}
	after = w.counts(t)
	if n := after["interactions"] - before["interactions"]; n != 500 {
		t.Fatalf("at once: %d interactions created, want 500", n)
	}
	if n := after["sync_mutations"] - before["sync_mutations"]; n != 500 {
		t.Fatalf("at once: %d results recorded, want 500", n)
	}
}

// pushAtOnce sends the same push n times at once and returns the answers;
// it fails the test if any attempt fails.
func pushAtOnce(t *testing.T, eng *offline.Engine, ctx context.Context, dev uuid.UUID, changes []offline.ChangeInput, n int) []*offline.PushPayload {
	t.Helper()
	out := make([]*offline.PushPayload, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[k], errs[k] = eng.Push(ctx, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Changes: changes})
		}()
	}
	wg.Wait()
	for k, err := range errs {
		if err != nil {
			t.Fatalf("attempt %d of %d at once: %v", k+1, n, err)
		}
	}
	return out
}
