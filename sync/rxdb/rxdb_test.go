package rxdb_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	offline "github.com/rapportcare/rapport/sync"
	"github.com/rapportcare/rapport/sync/rxdb"
)

type world struct {
	db    *postgres.DB
	f     *postgrestest.Fixture
	eng   *offline.Engine
	rx    *rxdb.Adapter
	nurse context.Context
}

func newWorld(t *testing.T) *world {
	t.Helper()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	eng := offline.New(db, offline.Config{})
	return &world{db: db, f: f, eng: eng, rx: rxdb.New(eng, nil), nurse: postgrestest.As(context.Background(), f.Nurse1Actor)}
}

func sp(s string) *string { return &s }

func visit(patient uuid.UUID, notes string) *rxdb.Interaction {
	return &rxdb.Interaction{ID: uuid.NewString(), PatientID: sp(patient.String()), Mode: sp("HOME_VISIT"),
		OccurredAt: sp(time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)), Purpose: sp("wound care"), Notes: sp(notes)}
}

func (w *world) push(t *testing.T, install string, rows ...*rxdb.InteractionPushRow) []*rxdb.Interaction {
	t.Helper()
	out, err := w.rx.PushInteractions(w.nurse, install, rows)
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return out
}

func (w *world) counts(t *testing.T) map[string]int64 {
	t.Helper()
	c, err := w.db.SyncRowCounts(postgrestest.As(context.Background(), care.SystemActor()), "interactions", "interaction_amendments", "sync_mutations", "sync_conflicts")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// iteration pulls a whole checkpoint iteration as RxDB does: until a page is
// shorter than limit. It fails if a full page was not really full, or a
// document came twice.
func iteration(t *testing.T, w *world, install string, cp *rxdb.Checkpoint, limit int) (map[string]*rxdb.Interaction, *rxdb.Checkpoint) {
	t.Helper()
	seen := map[string]*rxdb.Interaction{}
	for range 10000 {
		b, err := w.rx.PullInteractions(w.nurse, install, cp, limit)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range b.Documents {
			if _, dup := seen[d.ID]; dup {
				t.Fatalf("document %s twice in one checkpoint iteration", d.ID)
			}
			seen[d.ID] = d
		}
		cp = b.Checkpoint
		if len(b.Documents) < limit {
			return seen, cp
		}
	}
	t.Fatal("pull never ends")
	return nil, nil
}

func TestPullPaging(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	install := uuid.NewString()
	var rows []*rxdb.InteractionPushRow
	for i := range 60 {
		rows = append(rows, &rxdb.InteractionPushRow{NewDocumentState: visit([]uuid.UUID{w.f.PatientA1, w.f.PatientA2}[i%2], fmt.Sprint(i))})
	}
	if got := w.push(t, install, rows...); len(got) != 0 {
		t.Fatalf("new documents answered %d master states", len(got))
	}
	// Many other records (patients, relationships, directory) sit between
	// the interactions in the change log: pages must still be full.
	docs, cp := iteration(t, w, install, nil, 7)
	if len(docs) != 63 { // 60 + the fixture's three of the nurse's patients
		t.Fatalf("%d interactions pulled, want 63", len(docs))
	}
	t.Run("zero documents at the head", func(t *testing.T) {
		b, err := w.rx.PullInteractions(w.nurse, uuid.NewString(), nil, 1000)
		if err != nil || len(b.Documents) != 63 {
			t.Fatalf("%v %d", err, len(b.Documents))
		}
		b, err = w.rx.PullInteractions(w.nurse, install, cp, 7)
		if err != nil || len(b.Documents) != 0 || b.Checkpoint.Cursor == "" {
			t.Fatalf("at the head: %v %d documents", err, len(b.Documents))
		}
		// Another install's checkpoint is not this one's: it starts over.
		b, err = w.rx.PullInteractions(w.nurse, uuid.NewString(), cp, 7)
		if err != nil || len(b.Documents) != 7 {
			t.Fatalf("another install's checkpoint: %v %d documents", err, len(b.Documents))
		}
	})
	t.Run("a change after the checkpoint comes once", func(t *testing.T) {
		installB := uuid.NewString()
		_, cpB := iteration(t, w, installB, nil, 50)
		d := docs[rows[0].NewDocumentState.ID]
		nd := *d
		nd.Notes = sp("edited")
		if got := w.push(t, install, &rxdb.InteractionPushRow{AssumedMasterState: d, NewDocumentState: &nd}); len(got) != 0 {
			t.Fatalf("a clean edit answered %d master states", len(got))
		}
		more, _ := iteration(t, w, installB, cpB, 50)
		if len(more) != 1 || *more[d.ID].Notes != "edited" || *more[d.ID].Version != 2 {
			t.Fatalf("after the edit: %+v", more)
		}
	})
	t.Run("patients and the directory page the same way", func(t *testing.T) {
		b, err := w.rx.PullPatients(w.nurse, uuid.NewString(), nil, 1)
		if err != nil || len(b.Documents) != 1 {
			t.Fatalf("%v %+v", err, b)
		}
		b2, err := w.rx.PullPatients(w.nurse, uuid.NewString(), nil, 100)
		if err != nil || len(b2.Documents) != 2 {
			t.Fatalf("%v %d patients", err, len(b2.Documents))
		}
		o, err := w.rx.PullOrganizations(w.nurse, uuid.NewString(), nil, 100)
		if err != nil || len(o.Documents) < 2 {
			t.Fatalf("%v %+v", err, o)
		}
	})
}

func TestPullPatientLeaves(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	install := uuid.NewString()
	for range 5 {
		w.push(t, install, &rxdb.InteractionPushRow{NewDocumentState: visit(w.f.PatientA1, "x")})
	}
	_, cp := iteration(t, w, install, nil, 100)
	sys := postgrestest.As(context.Background(), care.SystemActor())
	if _, err := w.db.EndRelationship(sys, care.EndRelationshipInput{ID: w.f.PatientA1NamedNurse}); err != nil {
		t.Fatal(err)
	}
	// 7 of her interactions (5 + the fixture's 2) leave, one a page.
	gone, _ := iteration(t, w, install, cp, 1)
	if len(gone) != 7 {
		t.Fatalf("%d deletions, want 7", len(gone))
	}
	for id, d := range gone {
		if !d.Deleted || d.Notes != nil || d.PatientID != nil {
			t.Fatalf("%s: %+v: a deletion must carry nothing but its id", id, d)
		}
	}
	// The patients collection loses her too.
	pcp, err := w.rx.PullPatients(w.nurse, install, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pcp.Documents {
		if p.ID == w.f.PatientA1.String() && !p.Deleted {
			t.Fatal("a fresh pull still lists the patient who left")
		}
	}
}

func TestPushRetries(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	phone, tablet := uuid.NewString(), uuid.NewString()
	v := visit(w.f.PatientA1, "first")
	row := &rxdb.InteractionPushRow{NewDocumentState: v}
	w.push(t, phone, row)
	before := w.counts(t)
	if got := w.push(t, phone, row); len(got) != 0 {
		t.Fatalf("a retried create answered %+v", got)
	}
	if after := w.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a retry changed the database: %v → %v", before, after)
	}

	docs, _ := iteration(t, w, tablet, nil, 100)
	master := docs[v.ID]
	// The tablet and the phone edit the same notes from version 1.
	tv := *master
	tv.Notes = sp("tablet")
	if got := w.push(t, tablet, &rxdb.InteractionPushRow{AssumedMasterState: master, NewDocumentState: &tv}); len(got) != 0 {
		t.Fatalf("the first edit answered %+v", got)
	}
	pv := *master
	pv.Notes = sp("phone")
	pv.DurationMinutes = new(int)
	*pv.DurationMinutes = 40
	clash := &rxdb.InteractionPushRow{AssumedMasterState: master, NewDocumentState: &pv}
	got := w.push(t, phone, clash)
	if len(got) != 1 || *got[0].Notes != "tablet" || *got[0].DurationMinutes != 40 {
		t.Fatalf("a clinical collision must answer the master (server notes kept, duration merged): %+v", got)
	}
	before = w.counts(t)
	if before["sync_conflicts"] != 1 {
		t.Fatalf("%d ledger entries, want 1", before["sync_conflicts"])
	}
	// The answer was lost: the phone pushes the same row again.
	got = w.push(t, phone, clash)
	if len(got) != 1 || *got[0].Notes != "tablet" {
		t.Fatalf("the retried collision answered %+v", got)
	}
	if after := w.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("a retried collision changed the database (a second ledger entry?): %v → %v", before, after)
	}

	t.Run("sign and amend, retried", func(t *testing.T) {
		docs, _ := iteration(t, w, uuid.NewString(), nil, 100)
		cur := docs[v.ID]
		s := *cur
		s.Status = sp("SIGNED")
		w.push(t, phone, &rxdb.InteractionPushRow{AssumedMasterState: cur, NewDocumentState: &s})
		docs, _ = iteration(t, w, uuid.NewString(), nil, 100)
		signed := docs[v.ID]
		if *signed.Status != "SIGNED" {
			t.Fatalf("not signed: %+v", signed)
		}
		a := *signed
		a.Notes, a.AmendmentReason = sp("amended"), sp("typo")
		row := &rxdb.InteractionPushRow{AssumedMasterState: signed, NewDocumentState: &a}
		if got := w.push(t, phone, row); len(got) != 0 {
			t.Fatalf("an amendment answered %+v", got)
		}
		before := w.counts(t)
		w.push(t, phone, row)
		if after := w.counts(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("a retried amendment changed the database: %v → %v", before, after)
		}
		bad := *signed
		bad.Mode = sp("PHONE")
		if got := w.push(t, phone, &rxdb.InteractionPushRow{AssumedMasterState: signed, NewDocumentState: &bad}); len(got) != 1 || *got[0].Mode != "HOME_VISIT" {
			t.Fatalf("an unamendable change must answer the signed master: %+v", got)
		}
	})

	t.Run("an edit that repeats an earlier one is applied", func(t *testing.T) {
		d := visit(w.f.PatientA2, "A")
		w.push(t, phone, &rxdb.InteractionPushRow{NewDocumentState: d})
		b := *d
		b.Notes = sp("B")
		ab := &rxdb.InteractionPushRow{AssumedMasterState: d, NewDocumentState: &b}
		w.push(t, phone, ab)
		w.push(t, phone, &rxdb.InteractionPushRow{AssumedMasterState: &b, NewDocumentState: d})
		w.push(t, phone, ab) // the same row as before, but the master is A again
		docs, _ := iteration(t, w, uuid.NewString(), nil, 100)
		if n := *docs[d.ID].Notes; n != "B" {
			t.Fatalf("notes %q, want B", n)
		}
	})

	t.Run("another caseload's push leaves no trace", func(t *testing.T) {
		other := postgrestest.As(context.Background(), w.f.Nurse2Actor)
		before := w.counts(t)
		x := *master
		x.Notes = sp("intruder")
		got, err := w.rx.PushInteractions(other, uuid.NewString(), []*rxdb.InteractionPushRow{{AssumedMasterState: master, NewDocumentState: &x}})
		if err != nil || len(got) != 1 || !got[0].Deleted || got[0].Notes != nil {
			t.Fatalf("%v %+v: want a bare deletion, as for a record that does not exist", err, got)
		}
		after := w.counts(t)
		if after["interactions"] != before["interactions"] || after["sync_conflicts"] != before["sync_conflicts"] {
			t.Fatalf("%v → %v", before, after)
		}
	})
}

// TestStreamAcrossInstances: a client streaming from one server instance
// hears of a commit made through another (two pools, one database).
func TestStreamAcrossInstances(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	open := func() *postgres.DB {
		db, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	a, b := open(), open()
	f := postgrestest.Seed(t, a)
	ctx, cancel := context.WithTimeout(postgrestest.As(context.Background(), f.Nurse1Actor), 20*time.Second)
	defer cancel()
	events, err := rxdb.New(offline.New(b, offline.Config{}), nil).Stream(ctx, uuid.NewString())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rxdb.New(offline.New(a, offline.Config{}), nil).PushInteractions(ctx, uuid.NewString(),
		[]*rxdb.InteractionPushRow{{NewDocumentState: visit(f.PatientA1, "from the other instance")}}); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev == nil || !ev.Resync {
			t.Fatalf("event %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no stream event for a commit through another instance")
	}
	// A commit outside the caller's scope is not announced.
	other := postgrestest.As(context.Background(), f.GPBActor)
	if got, err := rxdb.New(offline.New(a, offline.Config{}), nil).PushInteractions(other, uuid.NewString(),
		[]*rxdb.InteractionPushRow{{NewDocumentState: visit(f.PatientB1, "elsewhere")}}); err != nil || len(got) != 0 {
		t.Fatalf("the other practice's visit was not applied: %v %+v", err, got)
	}
	select {
	case ev := <-events:
		t.Fatalf("an event for a commit outside the scope: %+v", ev)
	case <-time.After(time.Second):
	}
}
