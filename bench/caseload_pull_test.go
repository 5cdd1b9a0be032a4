package bench_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
)

// pullGoal is issue 14's goal for a pull: at least half the rows a second of
// a plain indexed SELECT of the same number of rows.
const pullGoal = 0.5

// BenchmarkCaseloadFirstPull measures what a nurse's new phone does first:
// pull her whole caseload (the demo nurse's 225 patients, their
// relationships and about 100,000 interactions, among 10,000 patients of
// demo.Medium) through the sync engine in pages of 500, beside a plain keyset
// SELECT of as many interactions in pages of the same size, in the same run.
// The sync/ and sync/simulate benchmarks pull from a database holding little
// besides the device's own records; this one pulls a few per cent of a
// realistic database, where finding the device's records is most of the
// work.
func BenchmarkCaseloadFirstPull(b *testing.B) {
	url := mediumDB(b)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	nurse := care.NewContextWithActor(context.Background(), &care.Actor{PractitionerID: demo.NurseID, OrganizationID: demo.NursingOrgID,
		Role: care.RoleNurse, Subject: "bench", Access: care.PatientAccess{ViaRelationshipsOf: demo.NurseID}})
	sys := care.NewContextWithActor(context.Background(), care.SystemActor())
	eng := offline.New(db, offline.Config{})
	const page = 500
	var pullTime, baseTime time.Duration
	records := 0
	for b.Loop() {
		start := time.Now()
		n, err := pullEverything(nurse, eng, uuid.New(), page)
		if err != nil {
			b.Fatal(err)
		}
		// The pull's audit rows still queued are its work, written on
		// its clock rather than during the baseline's.
		if err := db.FlushAudit(sys); err != nil {
			b.Fatal(err)
		}
		pullTime += time.Since(start)
		if n < 1000 {
			b.Fatalf("the demo nurse pulled %d records", n)
		}
		records += n
		start = time.Now()
		if got, err := db.BaselineSelectInteractions(sys, n, page); err != nil || got != n {
			b.Fatalf("baseline read %d of %d: %v", got, n, err)
		}
		baseTime += time.Since(start)
	}
	rate, base := float64(records)/pullTime.Seconds(), float64(records)/baseTime.Seconds()
	b.ReportMetric(rate, "rows/s")
	b.ReportMetric(base, "baseline_rows/s")
	b.ReportMetric(rate/base, "ratio")
	fmt.Printf("\nA nurse's first pull of her caseload over demo.Medium (%d records a pull, pages of %d): %.0f rows/s, plain SELECT %.0f rows/s, ratio %.3f (goal ≥ %.1f)\n",
		records/max(b.N, 1), page, rate, base, rate/base, pullGoal)
}

// pullEverything pulls onto a new device until the engine says there is no
// more, and returns how many records it received.
func pullEverything(ctx context.Context, eng *offline.Engine, device uuid.UUID, limit int) (int, error) {
	var cp *string
	n := 0
	for {
		out, err := eng.Pull(ctx, offline.PullInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: device, Checkpoint: cp, Limit: &limit})
		if err != nil {
			return n, err
		}
		if out.ResetRequired {
			return n, fmt.Errorf("a new device was told to reset")
		}
		n += len(out.Upserts)
		cp = &out.Checkpoint
		if !out.HasMore {
			return n, nil
		}
	}
}
