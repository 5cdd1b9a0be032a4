package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rapportcare/rapport/care"
)

// Reads are audited through an in-process queue instead of a commit of their
// own: a read's audit rows are queued before its data is returned, and one
// flusher writes everything queued with one COPY, so many reads share one
// WAL flush (group commit). Writes still audit inside their own transaction.
//
// The price is a bounded window: audit rows of reads already served may be
// lost if the process dies before the flusher commits them. The queue bounds
// it twice over, and a read is refused (EUNAVAILABLE) rather than served
// unaudited when either bound would be passed:
//
//   - no read is served while the oldest queued row has waited longer than
//     MaxLag (the database is slow or failing), and
//   - no more than MaxPending rows are ever waiting.
//
// So a crash loses at most MaxPending rows, all of reads served within MaxLag
// of one another. Close flushes what is queued.

// Defaults for the audit queue's bounds.
const (
	DefaultAuditMaxLag     = time.Second
	DefaultAuditMaxPending = 20_000
	// auditFlushRows caps one COPY.
	auditFlushRows = 5_000
)

// auditRow is one queued access_audit row.
type auditRow struct {
	at        time.Time
	actorID   pgtype.UUID
	subject   string
	role      string
	org       pgtype.UUID
	patientID uuid.UUID
	action    string
	entity    string
	entityID  uuid.UUID
	requestID string
	operation string
}

var auditColumns = []string{"at", "actor_id", "actor_subject", "actor_role", "organization_id", "patient_id",
	"action", "entity", "entity_id", "request_id", "operation"}

// AuditStats describes the audit queue since Open.
type AuditStats struct {
	// Queued and Written count rows; Pending is how many wait now.
	Queued, Written int64
	Pending         int
	// Flushes counts COPYs committed; Refused counts reads refused.
	Flushes, Refused int64
	// MaxLag is the longest a row waited from queueing to commit: the widest
	// window seen in which a served read was not yet durably audited.
	MaxLag time.Duration
}

// auditQueue batches read-audit rows; see the comment at the top of the file.
type auditQueue struct {
	// The flusher writes on a connection of its own, so a pool saturated by
	// the very reads it audits cannot hold it up.
	connConfig *pgx.ConnConfig
	conn       *pgx.Conn // the flusher's; nil until first used or after a failure
	maxLag     time.Duration
	maxPending int
	now        func() time.Time

	mu      sync.Mutex
	rows    []auditRow  // waiting, oldest first; rows[:inFlight] are being written
	queued  []time.Time // when each row of rows was queued
	closed  bool
	flushed chan struct{} // closed and replaced after each commit
	seq     int64         // rows ever queued
	done    int64         // rows ever written

	kick    chan struct{}
	stop    context.CancelFunc
	stopped chan struct{}

	flushes, refused atomic.Int64
	maxSeen          atomic.Int64 // nanoseconds
}

func newAuditQueue(pool *pgxpool.Pool, maxLag time.Duration, maxPending int) *auditQueue {
	if maxLag <= 0 {
		maxLag = DefaultAuditMaxLag
	}
	if maxPending <= 0 {
		maxPending = DefaultAuditMaxPending
	}
	ctx, cancel := context.WithCancel(context.Background())
	cc := pool.Config().ConnConfig.Copy()
	cc.Tracer = nil // not counted with the pool's statements
	q := &auditQueue{connConfig: cc, maxLag: maxLag, maxPending: maxPending, now: time.Now,
		flushed: make(chan struct{}), kick: make(chan struct{}, 1), stop: cancel, stopped: make(chan struct{})}
	go q.run(ctx)
	return q
}

// errAuditBehind is the refusal when the audit cannot keep up.
func errAuditBehind() error {
	return care.Errorf(care.EUNAVAILABLE, "the audit trail cannot keep up; nothing was read, try again shortly")
}

// enqueue queues rows, or refuses with EUNAVAILABLE when the queue is past
// one of its bounds (or closed); then the caller must not serve the read.
func (q *auditQueue) enqueue(rows []auditRow) error {
	now := q.now()
	q.mu.Lock()
	if q.closed || len(q.rows)+len(rows) > q.maxPending || (len(q.rows) > 0 && now.Sub(q.queued[0]) > q.maxLag) {
		q.mu.Unlock()
		q.refused.Add(1)
		return errAuditBehind()
	}
	for i := range rows {
		rows[i].at = now
		q.queued = append(q.queued, now)
	}
	q.rows = append(q.rows, rows...)
	q.seq += int64(len(rows))
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
	return nil
}

// run is the flusher: it writes whatever is queued, one COPY at a time,
// retrying a failed COPY with backoff until it succeeds or the queue closes.
func (q *auditQueue) run(ctx context.Context) {
	defer close(q.stopped)
	defer func() {
		if q.conn != nil {
			_ = q.conn.Close(context.Background())
		}
	}()
	backoff := time.Duration(0)
	for {
		if backoff > 0 {
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		} else {
			select {
			case <-q.kick:
			case <-ctx.Done():
			}
		}
		stopping := ctx.Err() != nil
		for {
			n, err := q.flushOnce(stopping)
			if err != nil {
				backoff = min(max(2*backoff, 10*time.Millisecond), time.Second)
				break
			}
			backoff = 0
			if n == 0 {
				break
			}
		}
		if stopping {
			return
		}
	}
}

// flushOnce writes up to auditFlushRows of the oldest queued rows and
// returns how many it wrote. While stopping it gives up after a few seconds.
func (q *auditQueue) flushOnce(stopping bool) (int, error) {
	q.mu.Lock()
	n := min(len(q.rows), auditFlushRows)
	batch := q.rows[:n:n]
	q.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), StatementTimeout)
	if stopping {
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	}
	defer cancel()
	if q.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, q.connConfig)
		if err != nil {
			return 0, fmt.Errorf("flush audit rows: connect: %w", err)
		}
		q.conn = conn
	}
	_, err := q.conn.CopyFrom(ctx, pgx.Identifier{"access_audit"}, auditColumns, pgx.CopyFromSlice(n, func(i int) ([]any, error) {
		r := &batch[i]
		return []any{r.at, r.actorID, r.subject, r.role, r.org, loadUUID(r.patientID), r.action, r.entity, loadUUID(r.entityID), r.requestID, r.operation}, nil
	}))
	if err != nil {
		_ = q.conn.Close(context.Background())
		q.conn = nil
		if stopping {
			// Nothing more can be done: drop the rows so Close returns.
			q.mu.Lock()
			q.rows, q.queued = q.rows[n:], q.queued[n:]
			q.mu.Unlock()
		}
		return 0, fmt.Errorf("flush %d audit rows: %w", n, err)
	}
	now := q.now()
	q.mu.Lock()
	lag := now.Sub(q.queued[0])
	q.rows, q.queued = q.rows[n:], q.queued[n:]
	q.done += int64(n)
	close(q.flushed)
	q.flushed = make(chan struct{})
	q.mu.Unlock()
	q.flushes.Add(1)
	for {
		seen := q.maxSeen.Load()
		if int64(lag) <= seen || q.maxSeen.CompareAndSwap(seen, int64(lag)) {
			break
		}
	}
	return n, nil
}

// flush waits until every row queued before the call is written, or ctx ends.
func (q *auditQueue) flush(ctx context.Context) error {
	q.mu.Lock()
	target := q.seq
	q.mu.Unlock()
	for {
		q.mu.Lock()
		done, ch := q.done, q.flushed
		q.mu.Unlock()
		if done >= target {
			return nil
		}
		select {
		case q.kick <- struct{}{}:
		default:
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("flush audit: %w", ctx.Err())
		}
	}
}

// close refuses new rows, writes what is queued (giving up after a few
// seconds if the database fails) and stops the flusher.
func (q *auditQueue) close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.stop()
	<-q.stopped
}

func (q *auditQueue) stats() AuditStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return AuditStats{Queued: q.seq, Written: q.done, Pending: len(q.rows), Flushes: q.flushes.Load(),
		Refused: q.refused.Load(), MaxLag: time.Duration(q.maxSeen.Load())}
}

// FlushAudit waits until every read audited so far by this process is
// durably recorded in access_audit. It returns ctx's error if it ends first.
func (db *DB) FlushAudit(ctx context.Context) error { return db.audits.flush(ctx) }

// AuditStats returns the read-audit queue's counters.
func (db *DB) AuditStats() AuditStats { return db.audits.stats() }
