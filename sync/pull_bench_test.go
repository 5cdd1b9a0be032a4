package sync_test

import (
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// goalPullRatio is issue 14's goal: a pull moves at least half as many rows
// a second as a plain indexed SELECT of the same rows.
const goalPullRatio = 0.5

// BenchmarkPullEngine pulls 100,000 interactions onto a fresh device in
// pages of 1,000 through the engine (access rule, change log, amendments,
// audit; no HTTP or GraphQL encoding, which sync/simulate's
// BenchmarkSyncPull adds), beside a plain keyset SELECT of the same rows in
// the same run.
func BenchmarkPullEngine(b *testing.B) {
	const records, page = 100_000, 1_000
	w := newWorld(b, offline.Config{})
	ds := &care.Dataset{}
	at := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	for j := range records {
		dur := 15
		pid := []uuid.UUID{w.f.PatientA1, w.f.PatientA2}[j%2]
		ds.Interactions = append(ds.Interactions, care.Interaction{ID: uuid.Must(uuid.NewV7()), PatientID: pid,
			PractitionerID: w.f.Nurse1, OrganizationID: w.f.Nursing, Mode: care.ModePhone, OccurredAt: at.Add(-time.Duration(j) * time.Second),
			DurationMinutes: &dur, Purpose: "Medication review", Notes: "Reviewed medicines; no changes.", Status: care.InteractionDraft,
			ParticipantIDs: []uuid.UUID{}, OtherPresent: []string{}})
	}
	if err := w.db.Load(sys(), ds); err != nil {
		b.Fatal(err)
	}
	nurse := as(w.f.Nurse1Actor)
	var syncTime, baseTime time.Duration
	b.ResetTimer()
	for range b.N {
		p := &puller{eng: w.eng, ctx: nurse, dev: newID(b), limit: page, raw: true}
		start := time.Now()
		n := 0
		for _, pg := range p.all(b) {
			n += len(pg.Upserts)
		}
		syncTime += time.Since(start)
		if n < records {
			b.Fatalf("pulled %d records, want at least %d", n, records)
		}
		start = time.Now()
		if got, err := w.db.BaselineSelectInteractions(sys(), records, page); err != nil || got != records {
			b.Fatalf("baseline read %d: %v", got, err)
		}
		baseTime += time.Since(start)
	}
	n := float64(b.N * records)
	b.ReportMetric(n/syncTime.Seconds(), "rows/s")
	b.ReportMetric(n/baseTime.Seconds(), "baseline_rows/s")
	b.ReportMetric(baseTime.Seconds()/syncTime.Seconds(), "ratio")
	b.ReportMetric(goalPullRatio, "goal_ratio")
}
