package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres"
)

// stampOf returns the sequence number of an interaction's change (nil while
// unnumbered).
func stampOf(t *testing.T, db *postgres.DB, id uuid.UUID) *int64 {
	t.Helper()
	return entityStampOf(t, db, "interaction", id)
}

// entityStampOf returns the sequence number of a record's change (nil while
// unnumbered).
func entityStampOf(t *testing.T, db *postgres.DB, entity string, id uuid.UUID) *int64 {
	t.Helper()
	var seq *int64
	if err := db.ScanRaw(context.Background(), `SELECT seq FROM sync_changes WHERE entity = $1 AND entity_id = $2`, []any{entity, id}, &seq); err != nil {
		t.Fatalf("change of %s %s: %v", entity, id, err)
	}
	return seq
}

// show prints a sequence number or NULL.
func show(s *int64) string {
	if s == nil {
		return "NULL"
	}
	return strconv.FormatInt(*s, 10)
}

// highWater is what a pull's snapshot would take as its high-water.
func highWater(t *testing.T, db *postgres.DB) int64 {
	t.Helper()
	var hw int64
	err := db.InSnapshot(context.Background(), func(tx *postgres.DB) error {
		var err error
		hw, _, err = tx.SyncHighWater(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return hw
}

// Writers commit their changes unnumbered; sync_stamp()
// (009_sync_stamp_after_commit.sql) numbers committed changes afterwards,
// one number for everything one stamp sees.
func TestStampAfterCommit(t *testing.T) {
	db, f := setup(t)
	ctx := context.Background()
	nurse := as(f.Nurse1Actor)
	visit := func() care.CreateInteractionInput {
		return care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModeHomeVisit, OccurredAt: time.Now().Add(-time.Hour)}
	}
	create := func(t *testing.T, tx *postgres.DB) uuid.UUID {
		t.Helper()
		i, err := tx.CreateInteraction(nurse, visit())
		if err != nil {
			t.Fatal(err)
		}
		return i.ID
	}
	stamp := func(t *testing.T) int64 {
		t.Helper()
		hw, err := db.StampSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return hw
	}
	stamp(t)

	t.Run("a commit is unnumbered until a stamp, then one number for the stamp", func(t *testing.T) {
		var a, b uuid.UUID
		if err := db.InTx(nurse, func(tx *postgres.DB) error { a, b = create(t, tx), create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		if s := stampOf(t, db, a); s != nil {
			t.Fatalf("numbered at commit: %s", show(s))
		}
		hw := stamp(t)
		sa, sb := stampOf(t, db, a), stampOf(t, db, b)
		if sa == nil || sb == nil || *sa != *sb || *sa != hw || highWater(t, db) != hw {
			t.Fatalf("stamps %s %s, high-water %d (clock %d): want one number, the new high-water", show(sa), show(sb), hw, highWater(t, db))
		}
	})

	t.Run("after a savepoint rolled back the first change", func(t *testing.T) {
		var undone, b, c uuid.UUID
		err := db.InTx(nurse, func(tx *postgres.DB) error {
			errUndo := errors.New("undo")
			if err := tx.Savepoint(nurse, func(sp *postgres.DB) error {
				undone = create(t, sp)
				return errUndo
			}); !errors.Is(err, errUndo) {
				return err
			}
			b, c = create(t, tx), create(t, tx)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		stamp(t)
		s := []*int64{stampOf(t, db, b), stampOf(t, db, c)}
		if s[0] == nil || s[1] == nil || *s[0] != *s[1] {
			t.Fatalf("stamps %s %s, want one number for both", show(s[0]), show(s[1]))
		}
		var n int
		if err := db.ScanRaw(ctx, `SELECT count(*) FROM sync_changes WHERE entity_id = $1`, []any{undone}, &n); err != nil || n != 0 {
			t.Fatalf("rolled-back change logged: %d %v", n, err)
		}
	})

	t.Run("with nothing to number a stamp writes nothing", func(t *testing.T) {
		stamp(t)
		var before, after string
		const row = `SELECT xmin::text || '/' || xmax::text || '/' || seq FROM sync_clock`
		if err := db.ScanRaw(ctx, row, nil, &before); err != nil {
			t.Fatal(err)
		}
		if hw := stamp(t); hw != 0 {
			t.Fatalf("empty stamp returned %d", hw)
		}
		if err := db.ScanRaw(ctx, row, nil, &after); err != nil {
			t.Fatal(err)
		}
		if before != after {
			t.Fatalf("an empty stamp locked or rewrote the clock row: %s → %s", before, after)
		}
	})

	// The gap-free rule: a writer that commits late (its transaction opened
	// before others committed and were pulled) must be numbered above every
	// number handed out, never below a checkpoint a device already holds.
	t.Run("a transaction held open is numbered above every number handed out before its commit", func(t *testing.T) {
		written, release, done := make(chan uuid.UUID), make(chan struct{}), make(chan error, 1)
		letGo := sync.OnceFunc(func() { close(release) })
		defer letGo() // a failing test must not leave the transaction open
		go func() {
			done <- db.InTx(nurse, func(tx *postgres.DB) error {
				i, err := tx.CreateInteraction(nurse, visit())
				if err != nil {
					return err
				}
				written <- i.ID
				<-release
				return nil
			})
		}()
		early := <-written
		var later uuid.UUID
		if err := db.InTx(nurse, func(tx *postgres.DB) error { later = create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		stamp(t)
		checkpoint := highWater(t, db) // a device pulls and holds this
		if s := stampOf(t, db, later); s == nil || *s > checkpoint {
			t.Fatalf("committed change %s not within the checkpoint %d", show(s), checkpoint)
		}
		letGo()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		stamp(t)
		if s := stampOf(t, db, early); s == nil || *s <= checkpoint {
			t.Fatalf("the late commit was numbered %s, at or below the checkpoint %d a device already holds", show(s), checkpoint)
		}
	})

	// Stamps queue on the sync_clock row and commit in number order: a
	// stamp that starts while another is still uncommitted waits for it and
	// numbers after it.
	t.Run("a stamp waits for the stamp before it to commit", func(t *testing.T) {
		var first uuid.UUID
		if err := db.InTx(nurse, func(tx *postgres.DB) error { first = create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		stamped, release, done := make(chan int64), make(chan struct{}), make(chan error, 1)
		letGo := sync.OnceFunc(func() { close(release) })
		defer letGo() // a failing test must not leave the transaction open
		go func() {
			done <- db.InTx(ctx, func(tx *postgres.DB) error {
				var hw *int64
				if err := tx.ScanRaw(ctx, `SELECT sync_stamp()`, nil, &hw); err != nil {
					return err
				}
				if hw == nil {
					return fmt.Errorf("nothing stamped")
				}
				stamped <- *hw
				<-release
				return nil
			})
		}()
		var n1 int64
		select {
		case n1 = <-stamped:
		case err := <-done:
			t.Fatal(err)
		}
		var second uuid.UUID
		if err := db.InTx(nurse, func(tx *postgres.DB) error { second = create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		got := make(chan int64, 1)
		go func() {
			hw, err := db.StampSync(ctx)
			if err != nil {
				t.Error(err)
			}
			got <- hw
		}()
		select {
		case hw := <-got:
			t.Fatalf("a second stamp finished (high-water %d) while the first (%d) was uncommitted", hw, n1)
		case <-time.After(300 * time.Millisecond):
		}
		letGo()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		n2 := <-got
		if s := stampOf(t, db, first); s == nil || *s != n1 {
			t.Fatalf("first change %s, want %d", show(s), n1)
		}
		if s := stampOf(t, db, second); s == nil || *s != n2 || n2 <= n1 {
			t.Fatalf("second change %s, stamp %d: want a number above %d", show(s), n2, n1)
		}
	})

	// hold replaces a committed change in a transaction it keeps open until
	// the returned function is called (which also waits for its commit).
	hold := func(t *testing.T, replace func(tx *postgres.DB) error) (commit func()) {
		t.Helper()
		locked, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
		letGo := sync.OnceFunc(func() { close(release) })
		t.Cleanup(letGo) // a failing test must not leave the transaction open
		go func() {
			done <- db.InTx(nurse, func(tx *postgres.DB) error {
				if err := replace(tx); err != nil {
					return err
				}
				close(locked)
				<-release
				return nil
			})
		}()
		select {
		case <-locked:
		case err := <-done:
			t.Fatal(err)
		}
		return func() {
			letGo()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
	}

	// A visit is the parent of nothing but feedback about it: while a writer
	// holds a committed change of a visit (replacing it), a stamp numbers
	// everything else but feedback (012_sync_stamp_past_held_leaves.sql).
	// Before, it numbered nothing: an edit of one visit left open kept every
	// device from seeing anything new until it ended.
	t.Run("a stamp numbers past a visit a writer holds, but not feedback that may name it", func(t *testing.T) {
		// The visit and feedback on it commit unnumbered; then a writer
		// holds the visit (which also keeps new feedback from naming it
		// until it commits), and another visit commits.
		var held, other uuid.UUID
		if err := db.InTx(nurse, func(tx *postgres.DB) error { held = create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		fb, err := db.SubmitFeedback(nurse, feedback.Submission{SubjectKind: feedback.SubjectInteraction, SubjectID: held,
			Respondent: feedback.RespondentSelf, Instrument: feedback.InstrumentFFT, FFT: ptr(feedback.FFTGood)})
		if err != nil {
			t.Fatal(err)
		}
		commit := hold(t, func(tx *postgres.DB) error {
			_, err := tx.UpdateInteraction(nurse, care.UpdateInteractionInput{ID: held, Notes: ptr("replaced while a stamp runs")})
			return err
		})
		if err := db.InTx(nurse, func(tx *postgres.DB) error { other = create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		n := stamp(t)
		if so := stampOf(t, db, other); n <= 0 || so == nil || *so != n {
			t.Fatalf("stamp %d, the visit no one holds %s: want it numbered", n, show(so))
		}
		if sh, sf := stampOf(t, db, held), entityStampOf(t, db, "feedback", fb.ID); sh != nil || sf != nil {
			t.Fatalf("held visit %s, feedback on it %s: want both left for a later stamp", show(sh), show(sf))
		}
		commit()
		n2 := stamp(t)
		if sh, sf := stampOf(t, db, held), entityStampOf(t, db, "feedback", fb.ID); sh == nil || sf == nil || *sh != n2 || *sf != n2 || n2 <= n {
			t.Fatalf("after the writer committed: visit %s, feedback %s, stamp %d: want both at a number above %d", show(sh), show(sf), n2, n)
		}
	})

	// A patient is the parent of her visits and relationships, and feedback
	// may name one of them: while a writer holds a committed change of a
	// patient, a stamp numbers everything else
	// (013_sync_stamp_past_held_patients.sql). Before, it numbered nothing:
	// a second edit of one patient left open kept every device of every
	// practice from seeing anything new until it ended.
	t.Run("a stamp numbers past a patient a writer holds, but not her records or feedback", func(t *testing.T) {
		rename := func(tx *postgres.DB, name string) error {
			_, err := tx.UpdatePatient(nurse, care.UpdatePatientInput{ID: f.PatientA1, GivenName: ptr(name)})
			return err
		}
		// The patient's change, a visit to her, a visit to another patient
		// and feedback on that visit commit unnumbered; then a writer holds
		// the patient.
		if err := db.InTx(nurse, func(tx *postgres.DB) error { return rename(tx, "Ada") }); err != nil {
			t.Fatal(err)
		}
		var child uuid.UUID
		if err := db.InTx(nurse, func(tx *postgres.DB) error { child = create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		o, err := db.CreateInteraction(nurse, care.CreateInteractionInput{PatientID: f.PatientA2, Mode: care.ModeHomeVisit, OccurredAt: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		other := o.ID
		fb, err := db.SubmitFeedback(nurse, feedback.Submission{SubjectKind: feedback.SubjectInteraction, SubjectID: other,
			Respondent: feedback.RespondentSelf, Instrument: feedback.InstrumentFFT, FFT: ptr(feedback.FFTGood)})
		if err != nil {
			t.Fatal(err)
		}
		commit := hold(t, func(tx *postgres.DB) error { return rename(tx, "Adaline") })
		n := stamp(t)
		if so := stampOf(t, db, other); n <= 0 || so == nil || *so != n {
			t.Fatalf("stamp %d, the other patient's visit %s: want it numbered", n, show(so))
		}
		sp, sc, sf := entityStampOf(t, db, "patient", f.PatientA1), stampOf(t, db, child), entityStampOf(t, db, "feedback", fb.ID)
		if sp != nil || sc != nil || sf != nil {
			t.Fatalf("held patient %s, her visit %s, feedback %s: want all left for a later stamp", show(sp), show(sc), show(sf))
		}
		commit()
		n2 := stamp(t)
		sp, sc, sf = entityStampOf(t, db, "patient", f.PatientA1), stampOf(t, db, child), entityStampOf(t, db, "feedback", fb.ID)
		if sp == nil || sc == nil || sf == nil || *sp != n2 || *sc != n2 || *sf != n2 || n2 <= n {
			t.Fatalf("after the writer committed: patient %s, visit %s, feedback %s, stamp %d: want all at a number above %d", show(sp), show(sc), show(sf), n2, n)
		}
	})

	// A practitioner (like an organisation or a team) is the parent of every
	// kind of record: while a writer holds a committed change of one, a
	// stamp numbers nothing rather than number a child without it.
	t.Run("a stamp numbers nothing while a writer holds a practitioner", func(t *testing.T) {
		// A nurse may not edit a practitioner through the store; the row's
		// trigger records the change all the same.
		touch := func(tx *postgres.DB) error {
			return tx.ExecRaw(ctx, `UPDATE practitioners SET version = version + 1 WHERE id = $1`, f.Nurse1)
		}
		// The practitioner's change and a visit commit unnumbered; then a
		// writer holds the practitioner.
		if err := db.InTx(nurse, touch); err != nil {
			t.Fatal(err)
		}
		var child uuid.UUID
		if err := db.InTx(nurse, func(tx *postgres.DB) error { child = create(t, tx); return nil }); err != nil {
			t.Fatal(err)
		}
		commit := hold(t, touch)
		var hw *int64
		if err := db.ScanRaw(ctx, `SELECT sync_stamp()`, nil, &hw); err != nil || hw == nil || *hw != -1 {
			t.Fatalf("stamp returned %s (%v), want -1", show(hw), err)
		}
		if n := stamp(t); n != 0 {
			t.Fatalf("StampSync numbered %d while a writer held a practitioner", n)
		}
		if s := stampOf(t, db, child); s != nil {
			t.Fatalf("a visit numbered %s before the practitioner's change a writer holds", show(s))
		}
		commit()
		n := stamp(t)
		if sp, sc := entityStampOf(t, db, "practitioner", f.Nurse1), stampOf(t, db, child); sp == nil || sc == nil || *sp != n || *sc != n {
			t.Fatalf("after the writer committed: practitioner %s visit %s, stamp %d", show(sp), show(sc), n)
		}
	})

	t.Run("a stamp refuses a snapshot transaction", func(t *testing.T) {
		err := db.InSnapshot(ctx, func(tx *postgres.DB) error {
			var hw *int64
			return tx.ScanRaw(ctx, `SELECT sync_stamp()`, nil, &hw)
		})
		if err == nil {
			t.Fatal("sync_stamp() ran in REPEATABLE READ")
		}
	})

	var unstamped int
	stamp(t)
	if err := db.ScanRaw(ctx, `SELECT count(*) FROM sync_changes WHERE seq IS NULL`, nil, &unstamped); err != nil || unstamped != 0 {
		t.Fatalf("%d changes left unstamped (%v)", unstamped, err)
	}
}

// Many writers, stampers and pullers at once: every pull sees a gap-free
// prefix of the log. A change a pull at high-water h did not see must never
// appear later with a number at or below h.
func TestStampGapFree(t *testing.T) {
	db, f := setup(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nurse := care.NewContextWithActor(ctx, f.Nurse1Actor)
	if _, err := db.StampSync(ctx); err != nil {
		t.Fatal(err)
	}
	start := highWater(t, db)
	const writers, stampers, pullers, run = 6, 3, 2, 2 * time.Second
	// Two visits edited without pause by two writers each, so that a
	// committed change of one is often held by the next writer: stamps
	// number past them (012_sync_stamp_past_held_leaves.sql), and the pulls
	// must stay gap-free all the same.
	var hot [2]uuid.UUID
	for k := range hot {
		i, err := db.CreateInteraction(nurse, care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModeHomeVisit, OccurredAt: time.Now().Add(-time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		hot[k] = i.ID
	}
	const editors = 2 * len(hot)
	stop := time.Now().Add(run)
	var wg sync.WaitGroup
	const renamers = 2
	errs := make(chan error, writers+editors+renamers+stampers+pullers)
	// keepEditing starts count writers, each making edit e (its number) in
	// a transaction it holds open a millisecond longer, again and again
	// until the run stops.
	keepEditing := func(count int, edit func(tx *postgres.DB, e, n int) error) {
		for e := range count {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; time.Now().Before(stop); n++ {
					err := db.InTx(nurse, func(tx *postgres.DB) error {
						if err := edit(tx, e, n); err != nil {
							return err
						}
						time.Sleep(time.Millisecond) // hold the record across stamps
						return nil
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
	}
	keepEditing(editors, func(tx *postgres.DB, e, n int) error {
		_, err := tx.UpdateInteraction(nurse, care.UpdateInteractionInput{ID: hot[e%len(hot)], Notes: ptr(fmt.Sprint("edit ", e, " ", n))})
		return err
	})
	// One patient renamed without pause by two writers, so that her
	// committed change is often held by the next rename: stamps number past
	// her and hold back her visits (013_sync_stamp_past_held_patients.sql),
	// which the writers below create in every other transaction.
	keepEditing(renamers, func(tx *postgres.DB, e, n int) error {
		_, err := tx.UpdatePatient(nurse, care.UpdatePatientInput{ID: f.PatientA2, GivenName: ptr(fmt.Sprint("Name ", e, " ", n))})
		return err
	})
	pairs := make(chan [2]string, 100000)
	patients := [2]uuid.UUID{f.PatientA1, f.PatientA2}
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; time.Now().Before(stop); n++ {
				var pair [2]string
				err := db.InTx(nurse, func(tx *postgres.DB) error {
					for k := range 2 {
						i, err := tx.CreateInteraction(nurse, care.CreateInteractionInput{PatientID: patients[n%2], Mode: care.ModeHomeVisit, OccurredAt: time.Now().Add(-time.Hour)})
						if err != nil {
							return err
						}
						pair[k] = i.ID.String()
					}
					time.Sleep(time.Millisecond) // hold the transaction open across stamps
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				pairs <- pair
			}
		}()
	}
	for range stampers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := db.StampSync(ctx); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	type pulled struct {
		hw   int64
		seen map[string]int64
	}
	results := make(chan pulled, 10000)
	for range pullers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				var p pulled
				err := db.InSnapshot(ctx, func(tx *postgres.DB) error {
					var err error
					if p.hw, _, err = tx.SyncHighWater(ctx); err != nil {
						return err
					}
					rows, err := tx.QueryTextRows(ctx, `SELECT entity_id::text, seq::text FROM sync_changes WHERE seq <= $1`, p.hw)
					if err != nil {
						return err
					}
					p.seen = map[string]int64{}
					for _, r := range rows {
						seq, err := strconv.ParseInt(r[1], 10, 64)
						if err != nil {
							return err
						}
						p.seen[r[0]] = seq
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
				select {
				case results <- p:
				default:
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	close(results)
	if _, err := db.StampSync(ctx); err != nil {
		t.Fatal(err)
	}
	var all []pulled
	for p := range results {
		all = append(all, p)
	}
	final := highWater(t, db)
	rows, err := db.QueryTextRows(ctx, `SELECT entity_id::text, seq::text FROM sync_changes WHERE entity = 'interaction' AND seq > $1`, start)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 10 || len(rows) < 20 {
		t.Fatalf("too little happened: %d pulls, %d changes", len(all), len(rows))
	}
	numbers := map[string]int64{}
	for _, r := range rows {
		id := r[0]
		seq, err := strconv.ParseInt(r[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		numbers[id] = seq
		if seq > final {
			t.Fatalf("change %s numbered %d above the clock %d", id, seq, final)
		}
		for _, p := range all {
			if seq <= p.hw {
				if got, ok := p.seen[id]; !ok || got != seq {
					t.Fatalf("change %s numbered %d appeared after a pull at high-water %d that did not see it (saw %v, %v)", id, seq, p.hw, got, ok)
				}
			}
		}
	}
	close(pairs)
	for p := range pairs {
		if numbers[p[0]] == 0 || numbers[p[0]] != numbers[p[1]] {
			t.Fatalf("one writer transaction's changes numbered %d and %d", numbers[p[0]], numbers[p[1]])
		}
	}
	t.Logf("%d pulls, %d changes, high-water %d", len(all), len(rows), final)
}
