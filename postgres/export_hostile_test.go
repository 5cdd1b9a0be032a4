package postgres

import (
	"context"

	"github.com/rapportcare/rapport/care"
)

// ExplainPatientsByName returns the plan PostgreSQL chooses for the system
// actor's patients list filtered by name, with sequential scans disabled so
// a usable index shows itself even in a small test database.
func (db *DB) ExplainPatientsByName(ctx context.Context, name string) (string, error) {
	s := patientSpec(care.SystemActor())
	if err := patientFilterSQL(s, care.PatientFilter{Name: &name}); err != nil {
		return "", err
	}
	return db.explain(ctx, []string{"SET LOCAL enable_seqscan = off"}, "EXPLAIN SELECT "+s.cols+" FROM "+s.from+" WHERE "+s.whereSQL(), s.q)
}
