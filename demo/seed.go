package demo

import (
	"context"
	"fmt"
	"time"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// Summary says what Seed wrote and how long it took.
type Summary struct {
	Organizations int
	Teams         int
	Practitioners int
	Patients      int
	Relationships int
	Interactions  int
	Amendments    int
	// Generate is the time spent generating, Load the time spent writing.
	Generate time.Duration
	Load     time.Duration
}

// Seed generates the dataset o describes and loads it into db in one
// transaction. A zero o.Now means the database clock's now, so the demo's
// recent interactions are recent. ctx must carry the system actor
// (care.SystemActor): the load returns EFORBIDDEN otherwise. Seeding a database
// that already holds the dataset fails with ECONFLICT and writes nothing; use
// Seeded to check first.
func Seed(ctx context.Context, db *postgres.DB, o Options) (Summary, error) {
	if o.Now.IsZero() {
		o.Now = time.Now()
		if db.Now != nil {
			o.Now = db.Now()
		}
	}
	start := time.Now()
	d := Generate(o)
	s := Summary{
		Organizations: len(d.Organizations), Teams: len(d.Teams), Practitioners: len(d.Practitioners),
		Patients: len(d.Patients), Relationships: len(d.Relationships), Interactions: len(d.Interactions),
		Amendments: len(d.Amendments), Generate: time.Since(start),
	}
	start = time.Now()
	if err := db.Load(ctx, d); err != nil {
		return Summary{}, fmt.Errorf("seed demo data: %w", err)
	}
	s.Load = time.Since(start)
	return s, nil
}

// Seeded reports whether db already holds the demo dataset, by looking for the
// persona practice (PracticeID) as the system actor. It returns the store's
// error for anything but the practice being absent.
func Seeded(ctx context.Context, db *postgres.DB) (bool, error) {
	ctx = care.NewContextWithActor(ctx, care.SystemActor())
	_, err := db.Organization(ctx, PracticeID)
	switch care.ErrorCode(err) {
	case "":
		return true, nil
	case care.ENOTFOUND:
		return false, nil
	}
	return false, fmt.Errorf("check for demo data: %w", err)
}

// SeedIfMissing seeds the dataset o describes unless db already holds the
// demo dataset, and reports whether it seeded (the summary is zero if not).
// Errors as for Seeded and Seed.
func SeedIfMissing(ctx context.Context, db *postgres.DB, o Options) (Summary, bool, error) {
	seeded, err := Seeded(ctx, db)
	if err != nil || seeded {
		return Summary{}, false, err
	}
	s, err := Seed(ctx, db, o)
	return s, err == nil, err
}
