package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	offline "github.com/rapportcare/rapport/sync"
)

// The sync push benchmark's shape, as issue 14 states it.
const (
	pushBatch       = 500     // changes per push, and rows per plain INSERT transaction
	batchesPerRound = 12      // batches each system writes per round, alternating (4 left the figure to a few pushes: runs overlapped widely)
	writers         = clients // concurrent single-change writers, one organisation each (load runs clients)
	patientsPerOrg  = 4
	goalPushVsPlain = 0.5
)

// pushWorld is a GP practice and writers community nursing organisations,
// each with one nurse whose named-nurse caseload is patientsPerOrg patients
// of the practice.
type pushWorld struct {
	db       *postgres.DB
	eng      *offline.Engine
	practice uuid.UUID
	nurses   []*care.Actor
	patients [][]uuid.UUID // by nurse
}

func newPushWorld(b *testing.B) *pushWorld {
	b.Helper()
	// A pool that never makes the writers queue for a connection: only the
	// database may make them wait.
	db, err := postgres.OpenWith(context.Background(), postgrestest.URL(b), postgres.Options{MaxConns: 2*writers + 4})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	ctx := postgrestest.As(context.Background(), care.SystemActor())
	must := func(err error, what string) {
		b.Helper()
		if err != nil {
			b.Fatalf("seed %s: %v", what, err)
		}
	}
	w := &pushWorld{db: db, eng: offline.New(db, offline.Config{MaxBatch: pushBatch})}
	o, err := db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: "Riverside Surgery", Kind: care.OrgGPPractice})
	must(err, "practice")
	w.practice = o.ID
	start := time.Now().Add(-90 * 24 * time.Hour)
	for n := range writers {
		o, err := db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: fmt.Sprintf("Community Nursing %d", n+1), Kind: care.OrgCommunityNursing})
		must(err, "nursing organisation")
		p, err := db.CreatePractitioner(ctx, care.CreatePractitionerInput{OrganizationID: o.ID,
			GivenName: "Nurse", FamilyName: fmt.Sprintf("Number %d", n+1), Profession: care.ProfessionDistrictNurse})
		must(err, "nurse")
		w.nurses = append(w.nurses, &care.Actor{PractitionerID: p.ID, OrganizationID: o.ID, Role: care.RoleNurse,
			Subject: p.ID.String(), Access: care.PatientAccess{ViaRelationshipsOf: p.ID}})
		var mine []uuid.UUID
		for i := range patientsPerOrg {
			pt, err := db.CreatePatient(ctx, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(n*patientsPerOrg + i), GivenName: "Patient",
				FamilyName: fmt.Sprintf("%d-%d", n+1, i+1), BirthDate: time.Date(1930+i, 5, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: w.practice})
			must(err, "patient")
			_, err = db.StartRelationship(ctx, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &pt.ID, PractitionerID: &p.ID, PeriodStart: &start})
			must(err, "named nurse")
			mine = append(mine, pt.ID)
		}
		w.patients = append(w.patients, mine)
	}
	return w
}

// device is one nurse's device pushing CREATEs of draft home visits.
type device struct {
	w     *pushWorld
	nurse int
	id    uuid.UUID
	seq   int64
	at    time.Time
}

func (w *pushWorld) device(nurse int) *device {
	return &device{w: w, nurse: nurse, id: uuid.New(), at: time.Now().Add(-time.Hour).Truncate(time.Second)}
}

// changes returns n CREATEs and the same interactions as plain rows (other
// ids) for the baseline.
func (d *device) changes(n int) ([]offline.ChangeInput, []care.Interaction) {
	chs := make([]offline.ChangeInput, n)
	rows := make([]care.Interaction, n)
	a := d.w.nurses[d.nurse]
	hlc := offline.HLC{Wall: time.Now().UnixMilli(), Node: d.id.String()[:8]}.String()
	dur := 20
	for j := range n {
		d.seq++
		patient := d.w.patients[d.nurse][int(d.seq)%patientsPerOrg]
		chs[j] = offline.ChangeInput{MutationSeq: d.seq, Entity: offline.EntityInteraction, ID: uuid.Must(uuid.NewV7()), Op: offline.OpCreate, Hlc: hlc,
			Fields: map[string]any{"patientId": patient.String(), "mode": "HOME_VISIT", "occurredAt": d.at.Format(time.RFC3339),
				"durationMinutes": dur, "purpose": "Wound dressing", "notes": "Dressing changed, healing well."}}
		rows[j] = care.Interaction{ID: uuid.Must(uuid.NewV7()), PatientID: patient, PractitionerID: a.PractitionerID, OrganizationID: a.OrganizationID,
			Mode: care.ModeHomeVisit, OccurredAt: d.at, DurationMinutes: &dur, Purpose: "Wound dressing", Notes: "Dressing changed, healing well."}
	}
	return chs, rows
}

// edits returns UPDATEs of the notes and duration of drafts (id to the
// version the device holds), each against that version, as a nurse
// finishing her notes offline sends them.
func (d *device) edits(drafts map[uuid.UUID]int64, round int) []offline.ChangeInput {
	hlc := offline.HLC{Wall: time.Now().UnixMilli(), Node: d.id.String()[:8]}.String()
	chs := make([]offline.ChangeInput, 0, len(drafts))
	for id, v := range drafts {
		d.seq++
		base := v
		chs = append(chs, offline.ChangeInput{MutationSeq: d.seq, Entity: offline.EntityInteraction, ID: id, Op: offline.OpUpdate, Hlc: hlc,
			BaseVersion: &base, Fields: map[string]any{"notes": fmt.Sprintf("Dressing changed, healing well. Reviewed (%d).", round), "durationMinutes": 25 + round%10}})
	}
	return chs
}

// push pushes chs, fails unless every change was applied, and adds each
// change's record and result version to versions (when not nil).
func (d *device) push(ctx context.Context, chs []offline.ChangeInput, versions map[uuid.UUID]int64) error {
	ctx = postgrestest.As(ctx, d.w.nurses[d.nurse])
	p, err := d.w.eng.Push(ctx, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: d.id, Changes: chs})
	if err != nil {
		return err
	}
	for i, r := range p.Results {
		if r.Status != offline.StatusApplied {
			return fmt.Errorf("change %d: %s %v %v", r.MutationSeq, r.Status, deref(r.Code), deref(r.Message))
		}
		if versions != nil && r.Version != nil {
			versions[chs[i].ID] = *r.Version
		}
	}
	return nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// BenchmarkSyncPush measures, in one run on one database:
//
//   - a device pushing batches of pushBatch offline-created interactions
//     through the sync engine (in process: validation, access rule,
//     exactly-once bookkeeping, change log, audit), beside plain batched
//     INSERTs of the same rows (pushBatch per transaction, no triggers);
//   - the same device pushing batches of pushBatch UPDATEs of the drafts it
//     created, beside plain batched UPDATEs of the baseline's rows;
//   - writers devices of different organisations each pushing one change at a
//     time, beside writers clients each INSERTing one row per transaction,
//     and the time the sync writers spent waiting on each other's locks.
//
// Rounds interleave the systems so both see the same machine load.
func BenchmarkSyncPush(b *testing.B) {
	w := newPushWorld(b)
	ctx := context.Background()
	sys := postgrestest.As(ctx, care.SystemActor())
	batchDev := w.device(0)
	devs := make([]*device, writers)
	for i := range devs {
		devs[i] = w.device(i)
	}
	// Warm every connection and plan cache once.
	if _, err := load(ctx, time.Second, func(ctx context.Context, i int) error {
		chs, _ := devs[i%writers].changes(1)
		return devs[i%writers].push(ctx, chs, nil)
	}); err != nil {
		b.Fatal(err)
	}
	// And the batch device: its first push registers it, once, and the
	// warm-up's last writes settle before anything is timed.
	if chs, _ := batchDev.changes(1); true {
		if err := batchDev.push(ctx, chs, nil); err != nil {
			b.Fatalf("warm the batch device: %v", err)
		}
	}

	var pushN, plainN, editN, plainEditN, syncOne, plainOne, clockOne int64
	var pushT, plainT, editT, plainEditT, syncOneT, plainOneT, clockOneT time.Duration
	var waits, samples int64
	b.ResetTimer()
	for round := range rounds() {
		// Batches, each system in turn, batchesPerRound times.
		var drafts []map[uuid.UUID]int64 // the device's drafts of this round, by batch
		var plainIDs [][]uuid.UUID       // the plain INSERTs' rows of this round, by batch
		for k := range 2 * batchesPerRound {
			chs, rows := batchDev.changes(pushBatch)
			if (k+round)%2 == 0 {
				versions := make(map[uuid.UUID]int64, pushBatch)
				start := time.Now()
				if err := batchDev.push(ctx, chs, versions); err != nil {
					b.Fatalf("push: %v", err)
				}
				pushT += time.Since(start)
				pushN += pushBatch
				drafts = append(drafts, versions)
			} else {
				start := time.Now()
				if err := w.db.BaselineInsertInteractions(sys, rows, pushBatch); err != nil {
					b.Fatalf("plain insert: %v", err)
				}
				plainT += time.Since(start)
				plainN += pushBatch
				ids := make([]uuid.UUID, len(rows))
				for j, r := range rows {
					ids[j] = r.ID
				}
				plainIDs = append(plainIDs, ids)
			}
		}
		// The same drafts edited: each batch of pushBatch UPDATEs (notes and
		// duration, against the version the device holds) beside plain
		// batched UPDATEs of the baseline's rows, each system in turn.
		for k := range 2 * len(drafts) {
			if (k+round)%2 == 0 {
				chs := batchDev.edits(drafts[k/2], round)
				start := time.Now()
				if err := batchDev.push(ctx, chs, drafts[k/2]); err != nil {
					b.Fatalf("push edits: %v", err)
				}
				editT += time.Since(start)
				editN += int64(len(chs))
			} else {
				ids := plainIDs[k/2]
				start := time.Now()
				if err := w.db.BaselineUpdateInteractions(sys, ids, fmt.Sprintf("Dressing changed, healing well. Reviewed (%d).", round), 25+round%10, pushBatch); err != nil {
					b.Fatalf("plain update: %v", err)
				}
				plainEditT += time.Since(start)
				plainEditN += int64(len(ids))
			}
		}
		// Concurrent single-change writers: sync, plain INSERTs, and plain
		// INSERTs that take the commit-order row as sync writes do.
		for k := range 3 {
			switch (k + round) % 3 {
			case 0:
				stop := sampleLockWaits(ctx, w.db, &waits, &samples)
				n, err := load(ctx, seconds(), func(ctx context.Context, i int) error {
					chs, _ := devs[i%writers].changes(1)
					return devs[i%writers].push(ctx, chs, nil)
				})
				stop()
				if err != nil {
					b.Fatalf("concurrent push: %v", err)
				}
				syncOne += n
				syncOneT += seconds()
			case 1:
				n, err := plainWriters(ctx, devs, func(rows []care.Interaction) error { return w.db.BaselineInsertInteractions(sys, rows, 1) })
				if err != nil {
					b.Fatalf("concurrent plain insert: %v", err)
				}
				plainOne += n
				plainOneT += seconds()
			default:
				n, err := plainWriters(ctx, devs, func(rows []care.Interaction) error { return w.db.BaselineInsertInteractionsOrdered(sys, rows, 1) })
				if err != nil {
					b.Fatalf("concurrent plain insert with the clock row: %v", err)
				}
				clockOne += n
				clockOneT += seconds()
			}
		}
	}
	b.StopTimer()

	push, plain := float64(pushN)/pushT.Seconds(), float64(plainN)/plainT.Seconds()
	edit, plainEdit := float64(editN)/editT.Seconds(), float64(plainEditN)/plainEditT.Seconds()
	one, plainConc := float64(syncOne)/syncOneT.Seconds(), float64(plainOne)/plainOneT.Seconds()
	clockConc := float64(clockOne) / clockOneT.Seconds()
	waiting := float64(waits) / float64(max(samples, 1))
	var out strings.Builder
	fmt.Fprintf(&out, "\nSync push, %d rounds (%d batches of %d; %d concurrent writers of different organisations for %v):\n",
		rounds(), batchesPerRound, pushBatch, writers, seconds())
	fmt.Fprintf(&out, "%-52s %10s %10s %14s\n", "", "sync", "plain SQL", "ratio (goal)")
	fmt.Fprintf(&out, "%-52s %10.0f %10.0f %s\n", "batched push, changes/s vs batched INSERT rows/s",
		push, plain, againstGoal(push/plain, goalPushVsPlain, 3))
	fmt.Fprintf(&out, "%-52s %10.0f %10.0f %s\n", "batched edits, changes/s vs batched UPDATE rows/s",
		edit, plainEdit, againstGoal(edit/plainEdit, goalPushVsPlain, 3))
	fmt.Fprintf(&out, "%-52s %10.0f %10.0f %6.3f\n", fmt.Sprintf("%d single-change writers, changes/s vs INSERTs/s", writers),
		one, plainConc, one/plainConc)
	fmt.Fprintf(&out, "%-52s %10s %10.0f %6.3f\n", "  plain INSERTs that also take the sync_clock row", "", clockConc, one/clockConc)
	fmt.Fprintf(&out, "sync writers waiting on a lock (mean of %d samples): %.1f of %d\n", samples, waiting, writers)
	fmt.Print(out.String())
	b.ReportMetric(push, "push_changes/s")
	b.ReportMetric(plain, "plain_rows/s")
	b.ReportMetric(push/plain, "push-vs-plain")
	b.ReportMetric(edit, "edit_changes/s")
	b.ReportMetric(plainEdit, "plain_update_rows/s")
	b.ReportMetric(edit/plainEdit, "edit-vs-plain")
	b.ReportMetric(one, "writers16_changes/s")
	b.ReportMetric(plainConc, "writers16_plain/s")
	b.ReportMetric(one/plainConc, "writers16-vs-plain")
	b.ReportMetric(clockConc, "writers16_plain_clock_row/s")
	b.ReportMetric(waiting, "writers16_lock_waiting")
}

// plainWriters runs insert from writers goroutines for seconds(), each
// inserting one device's next row per call, and returns how many it inserted.
func plainWriters(ctx context.Context, devs []*device, insert func([]care.Interaction) error) (int64, error) {
	return load(ctx, seconds(), func(ctx context.Context, i int) error {
		_, rows := devs[i%writers].changes(1)
		return insert(rows)
	})
}

// sampleLockWaits counts, every 10 ms until stop is called, the backends of
// the database waiting on a heavyweight lock (a row or transaction lock held
// by another writer), adding them to waits and one to samples per sample.
func sampleLockWaits(ctx context.Context, db *postgres.DB, waits, samples *int64) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				n, err := db.BenchLockWaiters(ctx)
				if err == nil {
					*waits += int64(n)
					*samples++
				}
			}
		}
	}()
	return func() { cancel(); <-done }
}
