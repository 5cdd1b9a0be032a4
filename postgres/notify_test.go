package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// open returns a second pool on the database at url, as another server
// instance would have.
func open(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}

// next waits for the listener to be signalled and returns what it took.
func next(t *testing.T, l *postgres.SyncListener) ([]int64, bool) {
	t.Helper()
	select {
	case <-l.C:
		return l.Take()
	case <-time.After(10 * time.Second):
		t.Fatal("no notification")
		return nil, false
	}
}

func TestListenSync(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	a, b := open(t, url), open(t, url)
	f := postgrestest.Seed(t, a)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Number the seed's changes before listening, so their notification is
	// not taken for the first write's.
	if _, err := a.StampSync(ctx); err != nil {
		t.Fatal(err)
	}

	l, err := a.ListenSync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	before, err := a.SyncSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a write through another pool notifies its commit seq", func(t *testing.T) {
		_, err := b.UpdateInteraction(postgrestest.As(ctx, f.Nurse1Actor),
			care.UpdateInteractionInput{ID: f.InteractionA1Draft, Notes: ptr("walked to the door unaided")})
		if err != nil {
			t.Fatal(err)
		}
		seqs, lost := next(t, l)
		after, err := b.SyncSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if lost || len(seqs) != 1 || seqs[0] != after || after <= before {
			t.Fatalf("got seqs %v lost %v; seq before %d after %d", seqs, lost, before, after)
		}
	})
	t.Run("every subscriber of a process hears it", func(t *testing.T) {
		l2, err := a.ListenSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer l2.Close()
		if err := b.ExecRaw(ctx, `SELECT pg_notify('rapport_sync', '424242')`); err != nil {
			t.Fatal(err)
		}
		for _, x := range []*postgres.SyncListener{l, l2} {
			if seqs, lost := next(t, x); lost || len(seqs) != 1 || seqs[0] != 424242 {
				t.Fatalf("got %v lost %v", seqs, lost)
			}
		}
	})
	t.Run("a payload that is not a seq counts as lost", func(t *testing.T) {
		if err := b.ExecRaw(ctx, `SELECT pg_notify('rapport_sync', 'garbage')`); err != nil {
			t.Fatal(err)
		}
		if _, lost := next(t, l); !lost {
			t.Fatal("lost = false")
		}
	})
	t.Run("reconnects after losing its connection and says so", func(t *testing.T) {
		if err := b.ExecRaw(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = current_database() AND query = 'LISTEN rapport_sync'`); err != nil {
			t.Fatal(err)
		}
		if _, lost := next(t, l); !lost {
			t.Fatal("no lost signal after the reconnection")
		}
		if err := b.ExecRaw(ctx, `SELECT pg_notify('rapport_sync', '7')`); err != nil {
			t.Fatal(err)
		}
		if seqs, _ := next(t, l); len(seqs) != 1 || seqs[0] != 7 {
			t.Fatalf("after reconnecting got %v", seqs)
		}
	})
	t.Run("a closed listener hears nothing more", func(t *testing.T) {
		l3, err := a.ListenSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		l3.Close()
		if err := b.ExecRaw(ctx, `SELECT pg_notify('rapport_sync', '8')`); err != nil {
			t.Fatal(err)
		}
		next(t, l) // l still hears it
		select {
		case <-l3.C:
			t.Fatal("closed listener was signalled")
		case <-time.After(100 * time.Millisecond):
		}
	})
	t.Run("the listener stops with its last subscriber and starts again", func(t *testing.T) {
		l.Close()
		if a.SyncListening() {
			t.Fatal("still listening with no subscriber")
		}
		l4, err := a.ListenSync(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer l4.Close()
		if err := b.ExecRaw(ctx, `SELECT pg_notify('rapport_sync', '9')`); err != nil {
			t.Fatal(err)
		}
		if seqs, _ := next(t, l4); len(seqs) != 1 || seqs[0] != 9 {
			t.Fatalf("got %v", seqs)
		}
	})
}

func TestChangesVisibleSince(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	ctx := context.Background()
	since, err := db.SyncSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, a *care.Actor, since int64) (bool, int64) {
		t.Helper()
		v, max, err := db.ChangesVisibleSince(as(a), since)
		if err != nil {
			t.Fatal(err)
		}
		return v, max
	}

	t.Run("nothing new is nothing visible", func(t *testing.T) {
		if v, max := check(t, f.Nurse1Actor, since); v || max != since {
			t.Fatalf("visible %v max %d, want false %d", v, max, since)
		}
	})
	if _, err := db.UpdateInteraction(as(f.Nurse1Actor), care.UpdateInteractionInput{ID: f.InteractionA1Draft, Notes: ptr("ate well")}); err != nil {
		t.Fatal(err)
	}
	t.Run("a change to a caseload patient's record is visible to her nurse", func(t *testing.T) {
		v, max := check(t, f.Nurse1Actor, since)
		if !v || max <= since {
			t.Fatalf("visible %v max %d", v, max)
		}
		if v, _ := check(t, f.Nurse1Actor, max); v {
			t.Fatal("visible again past the watermark")
		}
	})
	t.Run("and to the patient's practice GP", func(t *testing.T) {
		if v, _ := check(t, f.GPAActor, since); !v {
			t.Fatal("not visible")
		}
	})
	t.Run("not to a nurse or GP who cannot see the patient", func(t *testing.T) {
		for name, a := range map[string]*care.Actor{"nurse2": f.Nurse2Actor, "gpB": f.GPBActor} {
			if v, max := check(t, a, since); v || max <= since {
				t.Fatalf("%s: visible %v max %d", name, v, max)
			}
		}
	})
	t.Run("a patient leaving the caseload is visible to the nurse", func(t *testing.T) {
		mark, err := db.SyncSeq(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.EndRelationship(as(care.SystemActor()), care.EndRelationshipInput{ID: f.PatientA1NamedNurse}); err != nil {
			t.Fatal(err)
		}
		if v, _ := check(t, f.Nurse1Actor, mark); !v {
			t.Fatal("the end of her relationship was not visible to her")
		}
		if v, _ := check(t, f.Nurse2Actor, mark); v {
			t.Fatal("visible to a nurse with no part in it")
		}
	})
	t.Run("needs an actor", func(t *testing.T) {
		_, _, err := db.ChangesVisibleSince(ctx, since)
		wantCode(t, err, care.EUNAUTHENTICATED)
	})
}
