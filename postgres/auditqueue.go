package postgres

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rapportcare/rapport/care"
)

// Reads are audited through an in-process queue instead of a commit of their
// own: a read's audit entries (one for each record served) are queued before
// its data is returned, and one flusher writes everything queued with one
// COPY, so many reads share one WAL flush (group commit). The flusher writes
// one access_audit row for each request, listing that request's entries and
// the patient of each (mergeAuditRows). Writes still audit inside their own
// transaction.
//
// The price is a bounded window: audit entries of reads already served may be
// lost if the process dies before the flusher commits them. The queue bounds
// it twice over, and a read is refused (EUNAVAILABLE) rather than served
// unaudited when either bound would be passed:
//
//   - no read is served while the oldest queued entry has waited longer than
//     MaxLag (the database is slow or failing), and
//   - no more than MaxPending entries are ever waiting.
//
// So a crash loses at most MaxPending entries, all of reads served within
// MaxLag of one another. Close flushes what is queued.

// Defaults for the audit queue's bounds.
const (
	DefaultAuditMaxLag     = time.Second
	DefaultAuditMaxPending = 20_000
	// auditFlushRows caps one COPY.
	auditFlushRows = 5_000
)

// auditRow is one queued audit entry: one record served.
type auditRow struct {
	at   time.Time // when it was queued
	head *auditHead
	rec  auditRec
}

// mergeAuditRows gathers rows into one access_audit row for each request,
// actor, action and operation, keeping the rows' order and each row's
// patient; each merged row has its first row's time. Rows without a request
// id are not merged: nothing says they were one read.
func mergeAuditRows(rows []auditRow) []auditGroup {
	// Equal heads get one number, looked up once for each run of rows that
	// share a head (one call's), so the key of each row is small to hash.
	heads := map[auditHead]int{}
	var last *auditHead
	h := 0
	return groupAudit(len(rows), func(i int) (int, bool, auditRec) {
		r := &rows[i]
		if r.head != last {
			last = r.head
			var ok bool
			if h, ok = heads[*last]; !ok {
				h = len(heads)
				heads[*last] = h
			}
		}
		return h, last.requestID != "", r.rec
	})
}

// AuditStats describes the audit queue since Open.
type AuditStats struct {
	// Queued and Written count entries (one for each record served);
	// Pending is how many wait now. Rows counts the access_audit rows
	// written, each listing one request's entries.
	Queued, Written, Rows int64
	Pending               int
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

	mu sync.Mutex
	// chunks wait, oldest first, each the rows of one enqueue, kept as
	// given rather than copied into one growing slice; pending counts
	// their rows. The flusher writes from the front and removes what it
	// committed.
	chunks  [][]auditRow
	pending int
	batch   []auditRow // the flusher's: the rows of one COPY, reused
	closed  bool
	flushed chan struct{} // closed and replaced after each commit
	seq     int64         // rows ever queued
	done    int64         // rows ever written

	kick    chan struct{}
	stop    context.CancelFunc
	stopped chan struct{}

	flushes, refused, rowsWritten atomic.Int64
	maxSeen                       atomic.Int64 // nanoseconds
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

// enqueue queues rows, which it keeps, or refuses with EUNAVAILABLE when the
// queue is past one of its bounds (or closed); then the caller must not
// serve the read.
func (q *auditQueue) enqueue(rows []auditRow) error {
	if len(rows) == 0 {
		return nil
	}
	now := q.now()
	for i := range rows {
		rows[i].at = now
	}
	q.mu.Lock()
	if q.behindLocked(len(rows), now) {
		q.mu.Unlock()
		q.refused.Add(1)
		return errAuditBehind()
	}
	q.chunks = append(q.chunks, rows)
	q.pending += len(rows)
	q.seq += int64(len(rows))
	q.mu.Unlock()
	select {
	case q.kick <- struct{}{}:
	default:
	}
	return nil
}

// behindLocked reports whether n more entries would pass one of the queue's
// bounds (or it is closed). q.mu is held.
func (q *auditQueue) behindLocked(n int, now time.Time) bool {
	return q.closed || q.pending+n > q.maxPending || (q.pending > 0 && now.Sub(q.chunks[0][0].at) > q.maxLag)
}

// admits refuses, as enqueue would, n entries the queue could not take now.
func (q *auditQueue) admits(n int) error {
	now := q.now()
	q.mu.Lock()
	behind := q.behindLocked(n, now)
	q.mu.Unlock()
	if behind {
		q.refused.Add(1)
		return errAuditBehind()
	}
	return nil
}

// gatheredAudit holds one response's read-audit entries until the response
// is about to be served; see GatherReadAudit.
type gatheredAudit struct {
	q      *auditQueue
	mu     sync.Mutex
	rows   []auditRow
	queued bool
}

type gatherKey struct{}

// GatherReadAudit returns a copy of ctx under which reads gather their
// audit entries instead of queueing them call by call, and the function
// that queues them all at once. Call it before the response leaves; when it
// returns an error (EUNAVAILABLE: the audit cannot keep up) serve none of
// the data. A read under ctx is still refused at once when the queue could
// not take what the response has gathered so far with it, so a request
// never gathers what it could not queue; a read after the queueing (work
// outliving its response) is queued on its own, as without ctx.
//
// One response's entries thus reach the queue together, and the flusher
// writes one access_audit row for them: a caseload page's 100 patients and
// their usual GPs, read by two statements, share a row. Their time
// (access_audit.at) is when the response was queued, just before it was
// served.
func (db *DB) GatherReadAudit(ctx context.Context) (context.Context, func() error) {
	g := &gatheredAudit{q: db.audits}
	return context.WithValue(ctx, gatherKey{}, g), g.queue
}

// gather keeps rows in ctx's gathered audit if there is one for q and it is
// not queued yet; it reports whether it did, or the refusal.
func (q *auditQueue) gather(ctx context.Context, rows []auditRow) (bool, error) {
	g, _ := ctx.Value(gatherKey{}).(*gatheredAudit)
	if g == nil || g.q != q {
		return false, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.queued {
		return false, nil
	}
	if err := q.admits(len(g.rows) + len(rows)); err != nil {
		return false, err
	}
	g.rows = append(g.rows, rows...)
	return true, nil
}

// queue queues what was gathered, once.
func (g *gatheredAudit) queue() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queued = true
	rows := g.rows
	g.rows = nil
	if len(rows) == 0 {
		return nil
	}
	return g.q.enqueue(rows)
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

// flushOnce writes the oldest queued chunks, up to auditFlushRows rows (or
// the oldest chunk, if it is larger), and returns how many rows it wrote.
// While stopping it gives up after a few seconds.
func (q *auditQueue) flushOnce(stopping bool) (int, error) {
	q.mu.Lock()
	k, n := 0, 0
	for k < len(q.chunks) && (k == 0 || n+len(q.chunks[k]) <= auditFlushRows) {
		n += len(q.chunks[k])
		k++
	}
	chunks := q.chunks[:k:k]
	q.mu.Unlock()
	if n == 0 {
		return 0, nil
	}
	batch := q.batch[:0]
	for _, c := range chunks {
		batch = append(batch, c...)
	}
	defer func() {
		clear(batch) // keeps no written row's strings alive
		q.batch = batch[:0]
	}()
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
	merged := mergeAuditRows(batch)
	_, err := q.conn.CopyFrom(ctx, pgx.Identifier{"access_audit"}, auditColumns, pgx.CopyFromSlice(len(merged), func(i int) ([]any, error) {
		m := &merged[i]
		r := &batch[m.first]
		return r.head.appendValues(append(make([]any, 0, len(auditColumns)), r.at), m), nil
	}))
	if err != nil {
		_ = q.conn.Close(context.Background())
		q.conn = nil
		if stopping {
			// Nothing more can be done: drop the rows so Close returns.
			q.mu.Lock()
			q.dropLocked(k, n)
			q.mu.Unlock()
		}
		return 0, fmt.Errorf("flush %d audit rows: %w", n, err)
	}
	lag := q.now().Sub(chunks[0][0].at)
	// The counters move before anyone waiting on the flush is woken, so a
	// caller of flush sees the stats of the rows it waited for.
	q.flushes.Add(1)
	q.rowsWritten.Add(int64(len(merged)))
	for {
		seen := q.maxSeen.Load()
		if int64(lag) <= seen || q.maxSeen.CompareAndSwap(seen, int64(lag)) {
			break
		}
	}
	q.mu.Lock()
	q.dropLocked(k, n)
	q.done += int64(n)
	close(q.flushed)
	q.flushed = make(chan struct{})
	q.mu.Unlock()
	return n, nil
}

// dropLocked removes the oldest k chunks, of n rows. q.mu is held.
func (q *auditQueue) dropLocked(k, n int) {
	clear(q.chunks[:k])
	q.chunks, q.pending = q.chunks[k:], q.pending-n
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
	return AuditStats{Queued: q.seq, Written: q.done, Rows: q.rowsWritten.Load(), Pending: q.pending, Flushes: q.flushes.Load(),
		Refused: q.refused.Load(), MaxLag: time.Duration(q.maxSeen.Load())}
}

// FlushAudit waits until every read audited so far by this process is
// durably recorded in access_audit. It returns ctx's error if it ends first.
func (db *DB) FlushAudit(ctx context.Context) error { return db.audits.flush(ctx) }

// AuditStats returns the read-audit queue's counters.
func (db *DB) AuditStats() AuditStats { return db.audits.stats() }
