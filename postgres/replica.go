package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rapportcare/rapport/care"
)

// Reads past one machine. A DB opened with Options.ReadURL keeps a second
// pool on a streaming replica of the primary. Writes, transactions and every
// read not marked with ReadFromReplica go to the primary, so nothing changes
// for callers that do not opt in. A read marked with ReadFromReplica outside
// a transaction goes to the replica — unless its actor wrote something the
// replica has not replayed yet: after each committed transaction the
// primary's WAL position is remembered for the transaction's actor, and that
// actor's reads stay on the primary until the replica's replay position
// passes it (read-your-writes). Audit rows are always written to the primary.
//
// The memory of recent writers is per process: a caller whose next read is
// routed to another instance before the replica catches up may read the
// state before its write. docs/deployment.md says how to deploy for that.

type replicaKey struct{}

// ReadFromReplica returns a copy of ctx whose reads outside transactions may
// be served by the read replica (when the DB has one), subject to
// read-your-writes for the actor in ctx. The GraphQL layer marks query
// operations with it; mutations and sync stay on the primary.
func ReadFromReplica(ctx context.Context) context.Context {
	return context.WithValue(ctx, replicaKey{}, true)
}

// onPrimary returns ctx with any ReadFromReplica mark removed.
func onPrimary(ctx context.Context) context.Context {
	if ctx.Value(replicaKey{}) == nil {
		return ctx
	}
	return context.WithValue(ctx, replicaKey{}, false)
}

func wantsReplica(ctx context.Context) bool {
	v, _ := ctx.Value(replicaKey{}).(bool)
	return v
}

// lsn is a WAL position.
type lsn uint64

// parseLSN parses PostgreSQL's text form of a pg_lsn, "X/Y" in hex.
func parseLSN(s string) (lsn, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("malformed WAL position %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("malformed WAL position %q", s)
	}
	return lsn(h<<32 | l), nil
}

// router is the querier of a DB with a replica: it sends each statement to
// the primary or the replica as the comment at the top of the file says.
type router struct {
	primary, replica *pgxpool.Pool

	mu      sync.Mutex
	written map[string]lsn // actor subject → WAL position after its last commit
}

func (r *router) pick(ctx context.Context) querier {
	if !wantsReplica(ctx) {
		return r.primary
	}
	a := care.ActorFromContext(ctx)
	if a == nil {
		return r.replica
	}
	r.mu.Lock()
	need, ok := r.written[a.Subject]
	r.mu.Unlock()
	if !ok {
		return r.replica
	}
	// The actor wrote recently: the replica serves it only once it has
	// replayed that far.
	var text string
	if err := r.replica.QueryRow(ctx, `SELECT coalesce(pg_last_wal_replay_lsn()::text, '0/0')`).Scan(&text); err != nil {
		return r.primary
	}
	replayed, err := parseLSN(text)
	if err != nil || replayed < need {
		return r.primary
	}
	r.mu.Lock()
	if r.written[a.Subject] == need {
		delete(r.written, a.Subject)
	}
	r.mu.Unlock()
	return r.replica
}

// wrote remembers that the actor in ctx committed a transaction, at the
// primary's current WAL position.
func (r *router) wrote(ctx context.Context) error {
	a := care.ActorFromContext(ctx)
	if a == nil {
		return nil
	}
	var text string
	err := r.primary.QueryRow(ctx, `SELECT pg_current_wal_lsn()::text`).Scan(&text)
	pos, perr := parseLSN(text)
	if err != nil || perr != nil {
		// Without the position, this actor's reads stay on the primary.
		pos = lsn(^uint64(0))
	}
	r.mu.Lock()
	if pos > r.written[a.Subject] {
		r.written[a.Subject] = pos
	}
	r.mu.Unlock()
	return nil
}

// Exec always runs on the primary: it is how writes are sent.
func (r *router) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return r.primary.Exec(ctx, sql, args...)
}

func (r *router) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	return r.pick(ctx).Query(ctx, sql, args...)
}

func (r *router) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return r.pick(ctx).QueryRow(ctx, sql, args...)
}

// SendBatch always runs on the primary.
func (r *router) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	return r.primary.SendBatch(ctx, b)
}

// CopyFrom always writes to the primary.
func (r *router) CopyFrom(ctx context.Context, t pgx.Identifier, cols []string, src pgx.CopyFromSource) (int64, error) {
	return r.primary.CopyFrom(ctx, t, cols, src)
}

// HasReplica reports whether db sends marked reads to a read replica.
func (db *DB) HasReplica() bool { return db.router != nil }
