package postgres_test

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
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

	t.Run("a gathered response is queued whole when it leaves", func(t *testing.T) {
		before, queued := reads(), db.AuditStats().Queued
		ctx, queue := db.GatherReadAudit(gp)
		must[*care.Patient](t)(db.Patient(ctx, f.PatientA1))
		if q := db.AuditStats().Queued; q != queued {
			t.Fatalf("%d entries queued before the response left, want none", q-queued)
		}
		if err := queue(); err != nil {
			t.Fatal(err)
		}
		if got := reads(); got != before+1 {
			t.Fatalf("%d reads audited, want %d", got, before+1)
		}
		// Work outliving its response is audited on its own.
		must[*care.Patient](t)(db.Patient(ctx, f.PatientA1))
		if got := reads(); got != before+2 {
			t.Fatalf("a read after the response left: %d reads audited, want %d", got, before+2)
		}
	})

	t.Run("a response is refused whole when the queue cannot take it as it leaves", func(t *testing.T) {
		before := reads()
		release := blockAudit(t, url)
		defer release()
		ctx, queue := db.GatherReadAudit(gp)
		must[*care.Patient](t)(db.Patient(ctx, f.PatientA1)) // admitted: the queue is empty
		// Other requests fill the queue meanwhile.
		for range 50 {
			must[*care.Patient](t)(db.Patient(gp, f.PatientA1))
		}
		wantCode(t, queue(), care.EUNAVAILABLE)
		release()
		if got := reads(); got != before+50 {
			t.Fatalf("%d reads audited, want %d (the refused response's is not)", got, before+50)
		}
	})

	t.Run("a read is refused at once when its response could not be queued", func(t *testing.T) {
		release := blockAudit(t, url)
		defer release()
		ctx, queue := db.GatherReadAudit(gp)
		for i := range 51 {
			_, err := db.Patient(ctx, f.PatientA1)
			if i < 50 && err != nil {
				t.Fatalf("read %d: %v", i, err)
			}
			if i == 50 {
				wantCode(t, err, care.EUNAVAILABLE)
			}
		}
		if err := queue(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestAuditRowPerRequest reads at random, many requests at once, and checks
// the trail from the outside: every record a request was served is listed
// exactly once under its request with its patient, nothing it was not
// served is, and the records that one call served, of every patient, share
// one row. Reads without a request id are never merged.
func TestAuditRowPerRequest(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	gp := as(f.GPAActor)
	for i := range 12 {
		must[*care.Interaction](t)(db.CreateInteraction(gp, care.CreateInteractionInput{PatientID: []uuid.UUID{f.PatientA1, f.PatientA2}[i%2],
			Mode: care.ModePhone, OccurredAt: time.Now().Add(-time.Duration(i+1) * time.Hour)}))
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)

	type served map[string]int // "patient entity id" → times served
	add := func(s served, patient uuid.UUID, entity string, id uuid.UUID) {
		s[patient.String()+" "+entity+" "+id.String()]++
	}
	// read makes one random read call and notes what it served; it returns
	// how many patients the call served.
	read := func(ctx context.Context, rnd *rand.Rand, s served) int {
		patients := map[uuid.UUID]bool{}
		switch rnd.IntN(3) {
		case 0:
			p := must[*care.Patient](t)(db.Patient(ctx, []uuid.UUID{f.PatientA1, f.PatientA2}[rnd.IntN(2)]))
			add(s, p.ID, "Patient", p.ID)
			patients[p.ID] = true
		case 1:
			for _, e := range must[*care.Page[care.Patient]](t)(db.Patients(ctx, care.PatientFilter{}, care.PageArgs{})).Edges {
				add(s, e.Node.ID, "Patient", e.Node.ID)
				patients[e.Node.ID] = true
			}
		default:
			first := 1 + rnd.IntN(10)
			for _, e := range must[*care.Page[care.Interaction]](t)(db.Interactions(ctx, care.InteractionFilter{}, care.PageArgs{First: &first})).Edges {
				add(s, e.Node.PatientID, "Interaction", e.Node.ID)
				patients[e.Node.PatientID] = true
			}
		}
		return len(patients)
	}

	const requests = 40
	want := make([]served, requests)
	oneCall := make([]int, requests) // patients served, for requests of one call; else 0
	var wg sync.WaitGroup
	for r := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(seed, uint64(r)))
			ctx := care.NewContextWithRequestID(gp, fmt.Sprintf("merge-%d", r))
			want[r] = served{}
			calls := 1 + rnd.IntN(3)
			for range calls {
				n := read(ctx, rnd, want[r])
				if calls == 1 {
					oneCall[r] = n
				}
			}
		}()
	}
	// Reads without a request id, by another actor, interleaved with them.
	unnamed := served{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		rnd := rand.New(rand.NewPCG(seed, requests))
		for range 5 {
			read(as(f.AdminAActor), rnd, unnamed)
		}
	}()
	wg.Wait()

	trail := func(sql string, args ...any) served {
		t.Helper()
		got := served{}
		for _, row := range must[[][]string](t)(db.QueryTextRows(context.Background(), sql, args...)) {
			got[strings.Join(row, " ")]++
		}
		return got
	}
	for r := range requests {
		req := fmt.Sprintf("merge-%d", r)
		got := trail(`SELECT patient_id::text, entity, entity_id::text FROM access_audit_entries WHERE request_id = $1 AND action = 'read'`, req)
		if !maps.Equal(got, want[r]) {
			t.Errorf("request %d: the trail lists %v, the request was served %v", r, got, want[r])
		}
		if oneCall[r] > 0 {
			rows := must[[][]string](t)(db.QueryTextRows(context.Background(), `SELECT count(*)::text FROM access_audit WHERE request_id = $1`, req))
			if rows[0][0] != "1" {
				t.Errorf("request %d: one call served %d patients in %s audit rows, want one row", r, oneCall[r], rows[0][0])
			}
		}
	}
	got := trail(`SELECT patient_id::text, entity, entity_id::text FROM access_audit_entries WHERE actor_subject = $1 AND action = 'read'`, f.AdminAActor.Subject)
	if !maps.Equal(got, unnamed) {
		t.Errorf("reads without a request id: the trail lists %v, they were served %v", got, unnamed)
	}
	rows := must[[][]string](t)(db.QueryTextRows(context.Background(), `SELECT count(*)::text FROM access_audit
		WHERE actor_subject = $1 AND action = 'read' AND cardinality(entities) > 1`, f.AdminAActor.Subject))
	if rows[0][0] != "0" {
		t.Errorf("%s rows of reads without a request id list more than one record; such reads must not be merged", rows[0][0])
	}
}

// TestAuditTrailSince reads access_audit_trail as an auditor does: a
// patient's entries, all or from a time on, and none of another patient's.
func TestAuditTrailSince(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	ctx := care.NewContextWithRequestID(as(f.GPAActor), "since-1")
	// One request reads both patients, so their entries share a row.
	must[*care.Page[care.Patient]](t)(db.Patients(ctx, care.PatientFilter{}, care.PageArgs{}))
	if err := db.FlushAudit(ctx); err != nil {
		t.Fatal(err)
	}
	count := func(patient uuid.UUID, since string) string {
		t.Helper()
		rows := must[[][]string](t)(db.QueryTextRows(context.Background(),
			`SELECT count(*)::text FROM access_audit_trail($1, $2::timestamptz) WHERE request_id = 'since-1' AND patient_id = $1`, patient, since))
		return rows[0][0]
	}
	for _, p := range []uuid.UUID{f.PatientA1, f.PatientA2} {
		all := must[[][]string](t)(db.QueryTextRows(context.Background(),
			`SELECT count(*)::text, count(*) FILTER (WHERE patient_id <> $1)::text FROM access_audit_trail($1) WHERE request_id = 'since-1'`, p))
		if all[0][0] != "1" || all[0][1] != "0" {
			t.Errorf("patient %s: the trail lists %s entries of the request, %s of another patient; want 1 and 0", p, all[0][0], all[0][1])
		}
		if got := count(p, time.Now().Add(-time.Hour).Format(time.RFC3339)); got != "1" {
			t.Errorf("patient %s: %s entries since an hour ago, want 1", p, got)
		}
		if got := count(p, time.Now().Add(time.Hour).Format(time.RFC3339)); got != "0" {
			t.Errorf("patient %s: %s entries since an hour from now, want 0", p, got)
		}
	}
}
