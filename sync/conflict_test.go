package sync_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

func TestConflictPolicies(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	phone, tablet := newID(t), newID(t)
	t0 := time.Now().Add(-time.Minute)
	// fresh draft per case, both devices having seen version 1
	draft := func(t *testing.T, seq int64) uuid.UUID {
		id := newID(t)
		wantStatus(t, mustPush(t, w.eng, nurse, phone, createVisit(seq, id, w.f.PatientA1, "original")).Results[0], offline.StatusApplied)
		return id
	}
	read := func(t *testing.T, id uuid.UUID) *care.Interaction {
		i, err := w.db.Interaction(nurse, id)
		if err != nil {
			t.Fatal(err)
		}
		return i
	}

	t.Run("edits of different fields are merged", func(t *testing.T) {
		id := draft(t, 100)
		wantStatus(t, mustPush(t, w.eng, nurse, phone, update(101, id, 1, hlcAt(t0, 1, "phone"), map[string]any{"notes": "phone notes"})).Results[0], offline.StatusApplied)
		r := mustPush(t, w.eng, nurse, tablet, update(1, id, 1, hlcAt(t0, 0, "tablet"), map[string]any{"durationMinutes": 45})).Results[0]
		wantStatus(t, r, offline.StatusMerged)
		got := read(t, id)
		if got.Notes != "phone notes" || got.DurationMinutes == nil || *got.DurationMinutes != 45 {
			t.Fatalf("notes %q duration %v: an edit was lost", got.Notes, got.DurationMinutes)
		}
		if r.Record["notes"] != "phone notes" || *r.Version != got.Version {
			t.Fatalf("result record %v version %v", r.Record["notes"], *r.Version)
		}
	})

	t.Run("same plain field: the later clock wins either way and the loser is in the ledger", func(t *testing.T) {
		id := draft(t, 200)
		mustPush(t, w.eng, nurse, phone, update(201, id, 1, hlcAt(t0.Add(10*time.Second), 0, "phone"), map[string]any{"mode": "PHONE"}))
		// The tablet's edit is older: the server keeps PHONE.
		r := mustPush(t, w.eng, nurse, tablet, update(2, id, 1, hlcAt(t0.Add(5*time.Second), 0, "tablet"), map[string]any{"mode": "CLINIC"})).Results[0]
		wantStatus(t, r, offline.StatusConflict)
		if got := read(t, id); got.Mode != care.ModePhone {
			t.Fatalf("mode %s, want the later PHONE", got.Mode)
		}
		c := r.Conflicts[0]
		if c.Policy != offline.PolicyLastWriterWins || c.Outcome != offline.OutcomeServerKept || c.DeviceValue != "CLINIC" || c.ServerValue != "PHONE" {
			t.Fatalf("ledger %+v", c)
		}
		// A later edit from the tablet wins; the overwritten value is in the ledger.
		r = mustPush(t, w.eng, nurse, tablet, update(3, id, 1, hlcAt(t0.Add(20*time.Second), 0, "tablet"), map[string]any{"mode": "VIDEO"})).Results[0]
		wantStatus(t, r, offline.StatusConflict)
		if got := read(t, id); got.Mode != care.ModeVideo {
			t.Fatalf("mode %s, want the later VIDEO", got.Mode)
		}
		c = r.Conflicts[0]
		if c.Outcome != offline.OutcomeDeviceApplied || c.ServerValue != "PHONE" || c.DeviceValue != "VIDEO" {
			t.Fatalf("ledger %+v", c)
		}
	})

	t.Run("clinical notes are never overwritten: the server keeps its value and an open conflict holds the device's", func(t *testing.T) {
		id := draft(t, 300)
		mustPush(t, w.eng, nurse, phone, update(301, id, 1, hlcAt(t0, 0, "phone"), map[string]any{"notes": "leg ulcer improving"}))
		// Even with a later clock, the tablet's notes do not replace the phone's.
		r := mustPush(t, w.eng, nurse, tablet, update(4, id, 1, hlcAt(t0.Add(time.Minute), 0, "tablet"), map[string]any{"notes": "leg ulcer worse"})).Results[0]
		wantStatus(t, r, offline.StatusConflict)
		if got := read(t, id); got.Notes != "leg ulcer improving" {
			t.Fatalf("notes overwritten: %q", got.Notes)
		}
		c := r.Conflicts[0]
		if c.Policy != offline.PolicyKeepBoth || c.Outcome != offline.OutcomeOpen || c.DeviceValue != "leg ulcer worse" || c.ServerValue != "leg ulcer improving" {
			t.Fatalf("ledger %+v", c)
		}
		page, err := w.eng.Conflicts(nurse, offline.ConflictFilter{PatientID: &w.f.PatientA1, Open: ptr(true)}, care.PageArgs{})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Edges) != 1 || page.Edges[0].Node.ID != c.ID {
			t.Fatalf("open conflicts %d", len(page.Edges))
		}
		other, err := w.eng.Conflicts(as(w.f.GPBActor), offline.ConflictFilter{}, care.PageArgs{})
		if err != nil || other.TotalCount != 0 {
			t.Fatalf("another practice's GP sees %v conflicts (%v)", other, err)
		}
		if got, _ := w.eng.ConflictsByID(as(w.f.GPBActor), []uuid.UUID{c.ID}); got[0] != nil {
			t.Fatal("ConflictsByID leaks a conflict across practices")
		}

		t.Run("resolving it writes the chosen value, which syncs out", func(t *testing.T) {
			pl := &puller{eng: w.eng, ctx: nurse, dev: newID(t)}
			pl.all(t)
			res, err := w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: c.ID, Value: "leg ulcer improving; tablet noted worse at 14:00"})
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != offline.OutcomeResolved || res.ResolvedByID == nil || *res.ResolvedByID != w.f.Nurse1 {
				t.Fatalf("resolved %+v", res)
			}
			if got := read(t, id); got.Notes != "leg ulcer improving; tablet noted worse at 14:00" {
				t.Fatalf("notes %q", got.Notes)
			}
			pages := pl.all(t)
			seen := false
			for _, pg := range pages {
				for _, u := range pg.Upserts {
					seen = seen || u.ID == id && u.Data["notes"] == "leg ulcer improving; tablet noted worse at 14:00"
				}
			}
			if !seen {
				t.Fatalf("resolution did not sync out: %s", describe(pages))
			}
			if _, err := w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: c.ID, Value: "again"}); care.ErrorCode(err) != care.ECONFLICT {
				t.Fatalf("resolving twice: %v", err)
			}
		})
	})

	t.Run("an edit to a draft signed meanwhile becomes an open conflict, resolved by amendment", func(t *testing.T) {
		// The fixture's signed interaction was created (v1) then signed (v2).
		id := w.f.InteractionA1Signed
		before := read(t, id)
		r := mustPush(t, w.eng, nurse, tablet, update(5, id, 1, hlcAt(t0, 0, "tablet"), map[string]any{"notes": "added offline", "durationMinutes": 25})).Results[0]
		wantStatus(t, r, offline.StatusConflict)
		if len(r.Conflicts) != 2 {
			t.Fatalf("%d conflicts, want 2", len(r.Conflicts))
		}
		for _, c := range r.Conflicts {
			if c.Policy != offline.PolicyKeepBoth || c.Outcome != offline.OutcomeOpen {
				t.Fatalf("conflict %+v", c)
			}
		}
		if after := read(t, id); after.Version != before.Version || after.Notes != before.Notes {
			t.Fatal("signed interaction changed")
		}
		// A device that saw the signing must amend instead.
		wantCode(t, mustPush(t, w.eng, nurse, tablet, update(6, id, before.Version, hlcAt(t0, 1, "tablet"), map[string]any{"notes": "x"})).Results[0], offline.CodeConflict)

		var notes *offline.Conflict
		for _, c := range r.Conflicts {
			if c.Field == "notes" {
				notes = c
			}
		}
		if _, err := w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: notes.ID, Value: "seen and well; added offline", Reason: ptr("late entry")}); err != nil {
			t.Fatal(err)
		}
		ams, err := w.db.AmendmentsOf(nurse, []uuid.UUID{id})
		if err != nil || len(ams[id]) != 1 || ams[id][0].Reason != "late entry" || ams[id][0].Before.Notes != before.Notes {
			t.Fatalf("amendments %v %v", ams[id], err)
		}
		if got := read(t, id); got.Notes != "seen and well; added offline" || got.Status != care.InteractionAmended {
			t.Fatalf("notes %q status %s", got.Notes, got.Status)
		}
	})

	t.Run("an amendment racing another keeps both", func(t *testing.T) {
		id := w.f.InteractionA1Signed
		cur := read(t, id)
		mustPush(t, w.eng, nurse, phone, offline.ChangeInput{MutationSeq: 400, Entity: offline.EntityInteraction, ID: id, Op: offline.OpAmend,
			BaseVersion: &cur.Version, Hlc: hlcAt(t0, 0, "phone"), Fields: map[string]any{"reason": "typo", "purpose": "review of leg"}})
		r := mustPush(t, w.eng, nurse, tablet, offline.ChangeInput{MutationSeq: 7, Entity: offline.EntityInteraction, ID: id, Op: offline.OpAmend,
			BaseVersion: &cur.Version, Hlc: hlcAt(t0, 0, "tablet"), Fields: map[string]any{"reason": "clarify", "purpose": "leg review", "durationMinutes": 40}}).Results[0]
		wantStatus(t, r, offline.StatusConflict)
		got := read(t, id)
		if got.Purpose != "review of leg" || got.DurationMinutes == nil || *got.DurationMinutes != 40 {
			t.Fatalf("purpose %q duration %v: the unseen amendment was overwritten or the other field lost", got.Purpose, got.DurationMinutes)
		}
		if len(r.Conflicts) != 1 || r.Conflicts[0].Field != "purpose" || r.Conflicts[0].Outcome != offline.OutcomeOpen {
			t.Fatalf("conflicts %+v", r.Conflicts)
		}
	})
}
