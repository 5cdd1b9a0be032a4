package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// blockAudit holds an exclusive lock on access_audit from another connection
// until the returned function is called, so the audit flusher cannot write.
func blockAudit(t *testing.T, url string) (release func()) {
	t.Helper()
	other, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	locked, done, finished := make(chan error, 1), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		_ = other.InTx(context.Background(), func(tx *postgres.DB) error {
			err := tx.ExecRaw(context.Background(), `LOCK TABLE access_audit IN ACCESS EXCLUSIVE MODE`)
			locked <- err
			if err == nil {
				<-done
			}
			return nil
		})
	}()
	if err := <-locked; err != nil {
		t.Fatalf("lock access_audit: %v", err)
	}
	var once bool
	return func() {
		if !once {
			once = true
			close(done)
			<-finished
			other.Close()
		}
	}
}

// TestReadAuditQueue proves reads are audited through the queue, and refused
// rather than served unaudited when the audit cannot keep up.
func TestReadAuditQueue(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	const maxLag = 150 * time.Millisecond
	db, err := postgres.OpenWith(context.Background(), url, postgres.Options{AuditMaxLag: maxLag, AuditMaxPending: 50})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	f := postgrestest.Seed(t, db)
	gp := as(f.GPAActor)
	sys := as(care.SystemActor())
	reads := func() int {
		t.Helper()
		n := 0
		for _, e := range must[[]*care.AuditEntry](t)(db.AuditEntries(sys, f.PatientA1)) {
			if e.Action == care.AuditRead && e.Entity == "Patient" && e.ActorID == f.GPA {
				n++
			}
		}
		return n
	}

	t.Run("a served read is in the trail", func(t *testing.T) {
		before := reads()
		must[*care.Patient](t)(db.Patient(gp, f.PatientA1))
		if got := reads(); got != before+1 {
			t.Fatalf("%d reads audited, want %d", got, before+1)
		}
	})

	t.Run("while the audit cannot be written, reads are refused once the oldest waits past the bound", func(t *testing.T) {
		before := reads()
		release := blockAudit(t, url)
		defer release()
		// Served: the queue is healthy, its row waits for the flusher.
		must[*care.Patient](t)(db.Patient(gp, f.PatientA1))
		time.Sleep(maxLag + 50*time.Millisecond)
		start := time.Now()
		_, err := db.Patient(gp, f.PatientA1)
		wantCode(t, err, care.EUNAVAILABLE)
		if took := time.Since(start); took > 100*time.Millisecond {
			t.Errorf("refusal took %v; it must come at once", took)
		}
		// Lists too.
		_, err = db.Patients(gp, care.PatientFilter{}, care.PageArgs{})
		wantCode(t, err, care.EUNAVAILABLE)
		if s := db.AuditStats(); s.Refused < 2 || s.Pending != 1 {
			t.Errorf("stats %+v: want 2+ refused, 1 pending", s)
		}
		release()
		// Once the flusher catches up, the one served read is recorded and
		// the refused ones are not; reads are served again.
		if got := reads(); got != before+1 {
			t.Fatalf("%d reads audited, want %d (one served while blocked)", got, before+1)
		}
		must[*care.Patient](t)(db.Patient(gp, f.PatientA1))
		if s := db.AuditStats(); s.MaxLag < maxLag {
			t.Errorf("stats %+v: the blocked row's lag is not measured", s)
		}
	})

	t.Run("a read that would overfill the queue is refused", func(t *testing.T) {
		release := blockAudit(t, url)
		defer release()
		// 50 rows at most may wait; each patient read queues one.
		var served, refused int
		for range 60 {
			_, err := db.Patient(gp, f.PatientA1)
			switch care.ErrorCode(err) {
			case "":
				served++
			case care.EUNAVAILABLE:
				refused++
			default:
				t.Fatal(err)
			}
		}
		// (Exactly 50 unless the machine is so slow that 60 reads outlast
		// the lag bound, which refuses more.)
		if served > 50 || refused < 10 {
			t.Fatalf("served %d, refused %d; want at most 50 served", served, refused)
		}
	})

	t.Run("writes are audited in their own transaction", func(t *testing.T) {
		release := blockAudit(t, url)
		ctx, cancel := context.WithTimeout(gp, 200*time.Millisecond)
		_, err := db.CreateInteraction(ctx, care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModePhone, OccurredAt: time.Now().Add(-time.Hour)})
		cancel()
		release()
		if err == nil {
			t.Fatal("a write was committed while its audit could not be written")
		}
	})
}
