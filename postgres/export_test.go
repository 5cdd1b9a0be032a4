package postgres

import "context"

// ExecRaw runs SQL directly, bypassing the store's rules, so tests can prove
// the database itself refuses what the store never attempts.
func (db *DB) ExecRaw(ctx context.Context, sql string, args ...any) error {
	_, err := db.q.Exec(ctx, sql, args...)
	return translate(err)
}

// ScanRaw runs a query directly and scans its one row into dest.
func (db *DB) ScanRaw(ctx context.Context, sql string, args []any, dest ...any) error {
	return db.q.QueryRow(ctx, sql, args...).Scan(dest...)
}
