package sync_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

func TestPush(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)

	t.Run("offline create keeps its id", func(t *testing.T) {
		dev, id := newID(t), newID(t)
		p := mustPush(t, w.eng, nurse, dev, createVisit(1, id, w.f.PatientA1, "dressing changed"))
		wantStatus(t, p.Results[0], offline.StatusApplied)
		if p.Results[0].Record["id"] != id.String() || *p.Results[0].Version != 1 {
			t.Fatalf("record %v version %v", p.Results[0].Record["id"], p.Results[0].Version)
		}
		got, err := w.db.Interaction(nurse, id)
		if err != nil || got.Notes != "dressing changed" {
			t.Fatalf("stored interaction %+v, %v", got, err)
		}
		if _, err := offline.ParseHLC(p.ServerHlc); err != nil {
			t.Fatalf("server hlc %q: %v", p.ServerHlc, err)
		}
	})

	t.Run("replaying a whole push returns identical results and changes nothing", func(t *testing.T) {
		dev, id := newID(t), newID(t)
		in := []offline.ChangeInput{
			createVisit(1, id, w.f.PatientA1, "first"),
			update(2, id, 1, now(), map[string]any{"notes": "second", "durationMinutes": 30}),
			{MutationSeq: 3, Entity: offline.EntityInteraction, ID: id, Op: offline.OpSign, BaseVersion: ptr(int64(0)), Hlc: now()},
			update(4, w.f.InteractionB1, 1, now(), map[string]any{"notes": "not mine"}), // rejected
		}
		first := mustPush(t, w.eng, nurse, dev, in...)
		before := w.counts(t)
		second := mustPush(t, w.eng, nurse, dev, in...)
		if !reflect.DeepEqual(jsonOf(t, first.Results), jsonOf(t, second.Results)) {
			t.Fatalf("results differ:\n%s\n%s", jsonOf(t, first.Results), jsonOf(t, second.Results))
		}
		if after := w.counts(t); !reflect.DeepEqual(before, after) {
			t.Fatalf("row counts moved on replay: %v -> %v", before, after)
		}
		got, _ := w.db.Interaction(nurse, id)
		if got.Version != 3 || got.Status != care.InteractionSigned {
			t.Fatalf("version %d status %s, want 3 signed", got.Version, got.Status)
		}
	})

	t.Run("a bad change among good ones is rejected alone", func(t *testing.T) {
		dev, a, b := newID(t), newID(t), newID(t)
		before := w.counts(t)
		p := mustPush(t, w.eng, nurse, dev,
			createVisit(1, a, w.f.PatientA1, "good"),
			offline.ChangeInput{MutationSeq: 2, Entity: offline.EntityInteraction, ID: newID(t), Op: offline.OpCreate, Hlc: now(),
				Fields: map[string]any{"patientId": w.f.PatientA1.String(), "mode": "HOME_VISIT", "occurredAt": "2024-01-01T10:00:00Z", "notes": "x", "durationMinutes": 5000}},
			offline.ChangeInput{MutationSeq: 3, Entity: offline.EntityInteraction, ID: newID(t), Op: offline.OpCreate, Hlc: now(),
				Fields: map[string]any{"patientId": w.f.PatientA1.String(), "mode": "HOME_VISIT", "occurredAt": "2024-01-01T10:00:00Z", "colour": "red"}},
			createVisit(4, b, w.f.PatientA1, "also good"),
		)
		wantStatus(t, p.Results[0], offline.StatusApplied)
		wantCode(t, p.Results[1], offline.CodeBadUserInput)
		wantCode(t, p.Results[2], offline.CodeBadUserInput)
		wantStatus(t, p.Results[3], offline.StatusApplied)
		after := w.counts(t)
		if d := after["interactions"] - before["interactions"]; d != 2 {
			t.Fatalf("%d interactions written, want 2", d)
		}
		if d := after["sync_mutations"] - before["sync_mutations"]; d != 4 {
			t.Fatalf("%d results recorded, want 4 (rejections too)", d)
		}
	})

	t.Run("a cancelled context mid-push leaves every change applied or not at all", func(t *testing.T) {
		dev := newID(t)
		ids := []uuid.UUID{newID(t), newID(t), newID(t), newID(t)}
		var changes []offline.ChangeInput
		for i, id := range ids {
			changes = append(changes, createVisit(int64(i+1), id, w.f.PatientA1, "visit"))
		}
		ctx, cancel := context.WithCancel(nurse)
		var calls atomic.Int32
		// Two changes per transaction: the first pair commits, the second is cut.
		eng := offline.New(w.db, offline.Config{TxChunk: 2, TxMax: 2, Now: func() time.Time {
			if calls.Add(1) == 3 { // the third change's clock check
				cancel()
			}
			return time.Now()
		}})
		if _, err := eng.Push(ctx, offline.PushInput{ProtocolVersion: 1, DeviceID: dev, Changes: changes}); err == nil {
			t.Fatal("push with a cancelled context succeeded")
		}
		applied := 0
		for _, id := range ids {
			if _, err := w.db.Interaction(nurse, id); err == nil {
				applied++
			}
		}
		if applied != 2 {
			t.Fatalf("%d changes applied, want the 2 of the transaction committed before the cancellation", applied)
		}
		// The retry replays the two and applies the rest, once.
		p := mustPush(t, w.eng, nurse, dev, changes...)
		for _, r := range p.Results {
			wantStatus(t, r, offline.StatusApplied)
		}
		for _, id := range ids {
			if got, err := w.db.Interaction(nurse, id); err != nil || got.Version != 1 {
				t.Fatalf("interaction %s: %v %v", id, got, err)
			}
		}
	})

	t.Run("unsupported protocol and oversize batch apply nothing", func(t *testing.T) {
		dev := newID(t)
		before := w.counts(t)
		_, err := w.eng.Push(nurse, offline.PushInput{ProtocolVersion: 99, DeviceID: dev, Changes: []offline.ChangeInput{createVisit(1, newID(t), w.f.PatientA1, "x")}})
		if care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("protocol 99: %v", err)
		}
		small := offline.New(w.db, offline.Config{MaxBatch: 2})
		_, err = small.Push(nurse, offline.PushInput{ProtocolVersion: 1, DeviceID: dev, Changes: []offline.ChangeInput{
			createVisit(1, newID(t), w.f.PatientA1, "x"), createVisit(2, newID(t), w.f.PatientA1, "x"), createVisit(3, newID(t), w.f.PatientA1, "x")}})
		if care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("oversize batch: %v", err)
		}
		if after := w.counts(t); !reflect.DeepEqual(before, after) {
			t.Fatalf("rows written: %v -> %v", before, after)
		}
	})

	t.Run("a device bound to someone else is refused", func(t *testing.T) {
		dev := newID(t)
		mustPush(t, w.eng, nurse, dev, createVisit(1, newID(t), w.f.PatientA1, "mine"))
		_, err := w.eng.Push(as(w.f.Nurse2Actor), offline.PushInput{ProtocolVersion: 1, DeviceID: dev, Changes: []offline.ChangeInput{createVisit(2, newID(t), w.f.PatientA1, "x")}})
		if care.ErrorCode(err) != care.EFORBIDDEN {
			t.Fatalf("got %v, want forbidden", err)
		}
	})

	t.Run("deleting a draft leaves a tombstone; a signed one cannot be deleted", func(t *testing.T) {
		dev, id := newID(t), newID(t)
		pl := &puller{eng: w.eng, ctx: nurse, dev: dev}
		pl.all(t)
		mustPush(t, w.eng, nurse, dev, createVisit(1, id, w.f.PatientA1, "oops"))
		p := mustPush(t, w.eng, nurse, dev,
			offline.ChangeInput{MutationSeq: 2, Entity: offline.EntityInteraction, ID: id, Op: offline.OpDelete, BaseVersion: ptr(int64(1)), Hlc: now()},
			offline.ChangeInput{MutationSeq: 3, Entity: offline.EntityInteraction, ID: w.f.InteractionA1Signed, Op: offline.OpDelete, BaseVersion: ptr(int64(2)), Hlc: now()})
		wantStatus(t, p.Results[0], offline.StatusApplied)
		wantCode(t, p.Results[1], offline.CodeConflict)
		if _, err := w.db.Interaction(nurse, id); care.ErrorCode(err) != care.ENOTFOUND {
			t.Fatalf("deleted draft still readable: %v", err)
		}
		pages := pl.all(t)
		found := false
		for _, pg := range pages {
			for _, ts := range pg.Tombstones {
				found = found || ts.ID == id
			}
		}
		if !found {
			t.Fatalf("no tombstone for the deleted draft: %s", describe(pages))
		}
	})
}

func jsonOf(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
