package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// InSnapshot runs fn in a REPEATABLE READ transaction, so every statement fn
// runs reads one snapshot of the database: a sync pull takes its high-water
// sequence number and the records it returns from the same moment. It
// commits if fn returns nil (fn may write, e.g. scope bookkeeping), rolls back
// otherwise, and retries serialization failures like InTx. Called inside a
// transaction it runs fn there. It returns fn's error, or begin's or commit's.
func (db *DB) InSnapshot(ctx context.Context, fn func(tx *DB) error) error {
	return db.inTxWith(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead}, fn)
}

// errNotInTx is returned by methods that need a transaction.
var errNotInTx = errors.New("postgres: must be called inside InTx")

// Savepoint runs fn inside a savepoint of the current transaction: if fn
// returns an error (or panics) everything fn did is rolled back while the
// transaction goes on, so a sync push can record that a change was rejected
// in the same transaction that tried it. It must be called inside InTx. It
// returns fn's error, or the savepoint's.
func (db *DB) Savepoint(ctx context.Context, fn func(tx *DB) error) (err error) {
	outer, ok := db.q.(pgx.Tx)
	if !db.inTx || !ok {
		return errNotInTx
	}
	sp, err := outer.Begin(ctx)
	if err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = sp.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = sp.Rollback(context.WithoutCancel(ctx))
		}
	}()
	if err = fn(&DB{pool: db.pool, q: sp, inTx: true, counter: db.counter, Now: db.Now}); err != nil {
		return err
	}
	if err = sp.Commit(ctx); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// SetSyncOrigin tags the current transaction's changes with the hybrid
// logical clock and device they came from: the change-log triggers of
// 002_sync.sql record them with every row written (and in the per-field
// clocks); uuid.Nil records no device. It must be called inside InTx.
func (db *DB) SetSyncOrigin(ctx context.Context, hlc string, device uuid.UUID) error {
	if !db.inTx {
		return errNotInTx
	}
	dev := "" // uuid.Nil: a change made on the server (e.g. a conflict resolution)
	if device != uuid.Nil {
		dev = device.String()
	}
	_, err := db.q.Exec(ctx, `SELECT set_config('rapport.hlc', $1, true), set_config('rapport.device_id', $2, true)`, hlc, dev)
	if err != nil {
		return fmt.Errorf("set sync origin: %w", err)
	}
	return nil
}
