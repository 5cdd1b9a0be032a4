package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
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
	var plan []string
	err := db.InTx(ctx, func(tx *DB) error {
		if _, err := tx.q.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
			return err
		}
		rows, err := tx.q.Query(ctx, "EXPLAIN SELECT "+s.cols+" FROM "+s.from+" WHERE "+s.whereSQL(), s.q...)
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	})
	return strings.Join(plan, "\n"), err
}
