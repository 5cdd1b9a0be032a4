package postgres

import "context"

// ExecRaw runs SQL directly, bypassing the store's rules, so tests can prove
// the database itself refuses what the store never attempts.
func (db *DB) ExecRaw(ctx context.Context, sql string, args ...any) error {
	_, err := db.q.Exec(ctx, sql, args...)
	return translate(err)
}

// QueryRowRaw runs a one-row query directly and scans its one column into dst.
func (db *DB) QueryRowRaw(ctx context.Context, sql string, dst any, args ...any) error {
	return translate(db.q.QueryRow(ctx, sql, args...).Scan(dst))
}

// ScanRaw runs a query directly and scans its one row into dest.
func (db *DB) ScanRaw(ctx context.Context, sql string, args []any, dest ...any) error {
	return db.q.QueryRow(ctx, sql, args...).Scan(dest...)
}
