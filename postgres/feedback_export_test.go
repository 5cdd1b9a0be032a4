package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// QueryTextRows runs SQL directly and returns every row's columns as text,
// so tests can inspect what is stored, bypassing the store's rules.
func (db *DB) QueryTextRows(ctx context.Context, sql string, args ...any) ([][]string, error) {
	// Queued read audits first, so tests see every read served so far.
	if err := db.FlushAudit(ctx); err != nil {
		return nil, err
	}
	rows, err := db.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
		vals, err := r.Values()
		if err != nil {
			return nil, err
		}
		out := make([]string, len(vals))
		for i, v := range vals {
			if v != nil {
				out[i] = fmt.Sprint(v)
			}
		}
		return out, nil
	})
}
