package postgrestest_test

import (
	"context"
	"testing"

	"github.com/rapportcare/rapport/care"

	"github.com/rapportcare/rapport/postgres/postgrestest"
)

func TestNew(t *testing.T) {
	t.Parallel()
	t.Run("gives a migrated database", func(t *testing.T) {
		t.Parallel()
		db := postgrestest.New(t)
		if err := db.Ping(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func TestSeed(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	ctx := postgrestest.As(context.Background(), f.Nurse1Actor)
	t.Run("nurse1 sees her caseload", func(t *testing.T) {
		p, err := db.Patients(ctx, care.PatientFilter{}, care.PageArgs{})
		if err != nil {
			t.Fatal(err)
		}
		if p.TotalCount != 2 {
			t.Fatalf("got %d patients, want 2", p.TotalCount)
		}
	})
}

func TestNHSNumber(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for n := 0; n < 2000; n++ {
		s := postgrestest.NHSNumber(n)
		if _, err := care.NormalizeNHSNumber(s); err != nil {
			t.Fatalf("NHSNumber(%d) = %s: %v", n, s, err)
		}
		if seen[s] {
			t.Fatalf("NHSNumber(%d) = %s repeats", n, s)
		}
		seen[s] = true
	}
}
