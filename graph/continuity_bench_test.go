package graph_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/continuity"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// BenchmarkPracticeContinuityLarge measures the scale requirement of
// continuity of care: the 24-month monthly series of a practice of 20,000
// patients and about 900,000 interactions (demo.Large), requested through
// GraphQL by the practice admin, against a plain SQL scan that groups the
// same interactions (the practice's face-to-face GP contacts over the same
// months and index lookback) by patient and clinician, on the same database
// in the same run. It reports both times per operation and their ratio.
//
// The Large dataset is seeded once into a database kept between runs.
//
//	go test ./graph/ -run '^$' -bench PracticeContinuityLarge -benchtime 5x
func BenchmarkPracticeContinuityLarge(b *testing.B) {
	// demo.Large takes a minute to seed: it is seeded once into a database
	// kept between runs (named after the migrations), and reused.
	url := postgrestest.Persistent(b, "rapport_bench_large")
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(db.Close)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	o := demo.Large
	o.Now = demo.ReferenceNow
	sum, seeded, err := demo.SeedIfMissing(ctx, db, o)
	if err != nil {
		b.Fatalf("seed demo.Large: %v", err)
	}
	if seeded {
		b.Logf("seeded demo.Large once: %d patients, %d interactions in %v", sum.Patients, sum.Interactions, sum.Generate+sum.Load)
	}

	to := continuity.MonthOf(demo.ReferenceNow)
	from := to.AddDate(0, -24, 0)
	admin := &care.Actor{PractitionerID: demo.PracticeAdminID, OrganizationID: demo.PracticeID, Role: care.RolePracticeAdmin, Subject: "bench"}
	admin.Access = care.PatientAccess{RegisteredAt: []uuid.UUID{demo.PracticeID}}
	c := newClient(b, db, admin, graph.Limits{})
	const q = `query Series($practice: ID!, $from: Date!, $to: Date!) {
		practiceContinuity(practiceId: $practice, from: $from, to: $to) {
			indexMonths
			months {
				month unassignedContacts
				slicc { value numerator denominator } opr { value numerator denominator }
				lists { practitioner { id } slicc { value numerator denominator } opr { value numerator denominator } }
				meanUPC { value eligible excluded exclusions { reason patients } }
				meanCOC { value eligible excluded exclusions { reason patients } }
			}
		}
	}`
	vars := map[string]any{"practice": demo.PracticeID.String(), "from": from.Format(time.DateOnly), "to": to.Format(time.DateOnly)}
	var out struct {
		PracticeContinuity struct {
			Months []struct {
				Slicc struct{ Denominator int }
			}
		}
	}
	c.ok(q, vars, &out)
	if n := len(out.PracticeContinuity.Months); n != 24 {
		b.Fatalf("%d months, want 24", n)
	}
	if out.PracticeContinuity.Months[12].Slicc.Denominator == 0 {
		b.Fatal("no GP contacts counted in a month of demo.Large")
	}
	// The same interactions the request reads: 11 months of index lookback.
	scanFrom := from.AddDate(0, -11, 0)
	groups, err := db.BaselineContinuityScan(ctx, demo.PracticeID, scanFrom, to, continuity.FaceToFace(), []care.Profession{care.ProfessionGP})
	if err != nil || groups == 0 {
		b.Fatalf("baseline scan: %d groups, %v", groups, err)
	}

	var request, scan time.Duration
	n := 0
	// Three interleaved pairs per iteration: one pair alone is at the mercy
	// of whatever else the machine is doing.
	for b.Loop() {
		for range 3 {
			start := time.Now()
			c.ok(q, vars, nil)
			mid := time.Now()
			if _, err := db.BaselineContinuityScan(ctx, demo.PracticeID, scanFrom, to, continuity.FaceToFace(), []care.Profession{care.ProfessionGP}); err != nil {
				b.Fatal(err)
			}
			request += mid.Sub(start)
			scan += time.Since(mid)
			n++
		}
	}
	b.ReportMetric(float64(request.Milliseconds())/float64(n), "request-ms/op")
	b.ReportMetric(float64(scan.Milliseconds())/float64(n), "scan-ms/op")
	b.ReportMetric(float64(request)/float64(scan), "request/scan")
	fmt.Printf("\nContinuity, 24-month practice series over demo.Large: request %v, plain GROUP BY scan %v, ratio %.2f (goal ≤ 3)\n",
		(request / time.Duration(n)).Round(time.Millisecond), (scan / time.Duration(n)).Round(time.Millisecond), float64(request)/float64(scan))
}
