// Package postgres stores Rapport's data in PostgreSQL through pgx/v5. It is the
// only package that imports pgx; it translates driver errors into care error
// codes and enforces the access rule on every read and write.
package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is a handle on the database: a pool, or (inside InTx) one transaction.
type DB struct {
	pool *pgxpool.Pool
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// Open connects to the database at url.
func Open(ctx context.Context, url string) (*DB, error) {
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, err
	}
	return &DB{pool: pool, Now: time.Now}, nil
}

// Close closes the pool.
func (db *DB) Close() { db.pool.Close() }

// Ping checks the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }
