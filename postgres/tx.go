package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// maxTxAttempts bounds how often InTx runs a transaction that keeps failing
// with a serialization failure or deadlock; between attempts it waits a
// random time that doubles from txBackoff, so contending transactions stop
// meeting in step.
const (
	maxTxAttempts = 6
	txBackoff     = 2 * time.Millisecond
)

// InTx runs fn in a transaction, handing it a DB bound to that transaction.
// It commits if fn returns nil and rolls back if fn returns an error or
// panics (the panic is re-raised after the rollback). Serialization failures
// (40001), deadlocks (40P01) and ErrRecordedConcurrently are retried up to
// maxTxAttempts times, so fn must be safe to run again. Called on a DB already inside a transaction, it
// runs fn in that transaction. It returns fn's error, or the error of begin
// or commit.
func (db *DB) InTx(ctx context.Context, fn func(tx *DB) error) error {
	return db.inTxWith(ctx, pgx.TxOptions{}, fn)
}

// inTxWith is InTx with the transaction's options (e.g. its isolation level).
func (db *DB) inTxWith(ctx context.Context, opts pgx.TxOptions, fn func(tx *DB) error) error {
	if db.inTx {
		return fn(db)
	}
	var err error
	wait := txBackoff
	for attempt := 1; attempt <= maxTxAttempts; attempt++ {
		err = db.runTx(ctx, opts, fn)
		if !retryable(err) || ctx.Err() != nil || attempt == maxTxAttempts {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait *= 2
	}
	return err
}

func (db *DB) runTx(ctx context.Context, opts pgx.TxOptions, fn func(tx *DB) error) (err error) {
	tx, err := db.pool.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			panic(p)
		}
		if err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	txdb := &DB{pool: db.pool, q: tx, inTx: true, counter: db.counter, audits: db.audits, standing: db.standing, Now: db.Now}
	if err = fn(txdb); err != nil {
		return err
	}
	if err = tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit transaction: %w", translate(err))
	}
	if db.router != nil {
		// Committed: the actor's next reads must see it (read-your-writes).
		// A failure here only keeps the actor's reads on the primary.
		_ = db.router.wrote(ctx)
	}
	return nil
}

// retryable reports whether err is a serialization failure or deadlock, or
// a sync mutation recorded concurrently (which a new attempt finds recorded).
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01") || errors.Is(err, ErrRecordedConcurrently)
}
