package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rapportcare/rapport/care"
)

// Live change notifications. Every stamp (sync_stamp(), which numbers
// committed changes: 009_sync_stamp_after_commit.sql) runs
// pg_notify('rapport_sync', <new high-water>). Each process keeps one
// dedicated connection LISTENing on that channel (not a pool connection: it
// is held for as long as anyone subscribes) and fans the notifications out to
// its subscribers, so a write through any server instance reaches the
// subscribers of every instance. While it has subscribers, the process also
// stamps every stampEvery, so a committed change is numbered, and its
// subscribers woken, within about that long even when nobody pulls.

// SyncChannel is the channel sync_stamp() notifies.
const SyncChannel = "rapport_sync"

const (
	// listenWait bounds how long ListenSync waits for the listener to connect.
	listenWait = 10 * time.Second
	// maxPendingSeqs bounds the sequence numbers a slow subscriber holds;
	// past it the subscriber is told notifications were lost.
	maxPendingSeqs = 256
	// stampEvery is how often a process with subscribers numbers committed
	// changes (a stamp with nothing to number takes no lock and writes nothing).
	stampEvery = 20 * time.Millisecond
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// SyncListener receives the rapport_sync notifications for one subscriber.
// Notifications never block on it: they accumulate until Take.
type SyncListener struct {
	// C receives a value when notifications are waiting (several
	// notifications may share one value); then call Take.
	C <-chan struct{}

	c    chan struct{}
	n    *notifier
	mu   sync.Mutex
	seqs []int64
	lost bool
	once sync.Once
}

// Take returns the sequence numbers notified since the previous Take, and
// lost = true when notifications may have been missed (the listener
// reconnected, a payload was not a number, or too many piled up): the
// subscriber must then assume anything may have changed.
func (l *SyncListener) Take() (seqs []int64, lost bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	seqs, lost = l.seqs, l.lost
	l.seqs, l.lost = nil, false
	return seqs, lost
}

// Close unsubscribes; the process's listener connection closes with its last
// subscriber.
func (l *SyncListener) Close() { l.once.Do(func() { l.n.remove(l) }) }

// push records a notification (ok=false: one whose content is unknown).
func (l *SyncListener) push(seq int64, ok bool) {
	l.mu.Lock()
	if !ok || len(l.seqs) >= maxPendingSeqs {
		l.lost, l.seqs = true, nil
	} else if !l.lost {
		l.seqs = append(l.seqs, seq)
	}
	l.mu.Unlock()
	select {
	case l.c <- struct{}{}:
	default:
	}
}

// notifier is the process-wide listener for one pool.
type notifier struct {
	pool   *pgxpool.Pool
	cancel context.CancelFunc
	ready  chan struct{} // closed once LISTEN first succeeds
	done   chan struct{} // closed when run and stamp have returned and the connection is closed
	subs   map[*SyncListener]struct{}
}

// notifiers holds the running listener of each pool.
var notifiers = struct {
	mu sync.Mutex
	m  map[*pgxpool.Pool]*notifier
}{m: map[*pgxpool.Pool]*notifier{}}

// ListenSync subscribes to rapport_sync notifications. It returns once the
// process's listener is LISTENing, so every change committed after it returns
// is notified; it returns an error if the listener cannot connect within
// ctx and 10 seconds. Close the listener when done.
func (db *DB) ListenSync(ctx context.Context) (*SyncListener, error) {
	c := make(chan struct{}, 1)
	l := &SyncListener{C: c, c: c}
	notifiers.mu.Lock()
	n := notifiers.m[db.pool]
	if n == nil {
		lctx, cancel := context.WithCancel(context.Background())
		n = &notifier{pool: db.pool, cancel: cancel, ready: make(chan struct{}), done: make(chan struct{}), subs: map[*SyncListener]struct{}{}}
		notifiers.m[db.pool] = n
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			n.run(lctx)
		}()
		go func() {
			defer wg.Done()
			n.stamp(lctx, db)
		}()
		go func() {
			wg.Wait()
			close(n.done)
		}()
	}
	n.subs[l] = struct{}{}
	l.n = n
	notifiers.mu.Unlock()

	t := time.NewTimer(listenWait)
	defer t.Stop()
	select {
	case <-n.ready:
		return l, nil
	case <-ctx.Done():
		l.Close()
		return nil, fmt.Errorf("listen for sync changes: %w", ctx.Err())
	case <-t.C:
		l.Close()
		return nil, care.Errorf(care.EINTERNAL, "listen for sync changes: the database did not answer")
	}
}

// remove unsubscribes l; the last subscriber stops the listener and waits
// for its connection to close.
func (n *notifier) remove(l *SyncListener) {
	notifiers.mu.Lock()
	delete(n.subs, l)
	last := len(n.subs) == 0 && notifiers.m[n.pool] == n
	if last {
		delete(notifiers.m, n.pool)
		n.cancel()
	}
	notifiers.mu.Unlock()
	if last {
		<-n.done
	}
}

// SyncListening reports whether this process holds a LISTEN connection for
// the pool (it does while anyone subscribes).
func (db *DB) SyncListening() bool {
	notifiers.mu.Lock()
	defer notifiers.mu.Unlock()
	return notifiers.m[db.pool] != nil
}

// stamp numbers committed changes every stampEvery until ctx ends. A
// failure is retried at the next tick (a pull or another instance may stamp
// meanwhile; nothing is lost, only later).
func (n *notifier) stamp(ctx context.Context, db *DB) {
	t := time.NewTicker(stampEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_, _ = db.stampOnce(ctx)
		}
	}
}

// broadcast hands a notification to every subscriber.
func (n *notifier) broadcast(seq int64, ok bool) {
	notifiers.mu.Lock()
	defer notifiers.mu.Unlock()
	for l := range n.subs {
		l.push(seq, ok)
	}
}

// run keeps a connection LISTENing until ctx ends, reconnecting with
// exponential backoff. After a reconnection every subscriber is told that
// notifications may have been lost.
func (n *notifier) run(ctx context.Context) {
	backoff := minBackoff
	connected := false
	for ctx.Err() == nil {
		err := n.listen(ctx, func() {
			if connected {
				n.broadcast(0, false)
			} else {
				connected = true
				close(n.ready)
			}
			backoff = minBackoff
		})
		if ctx.Err() != nil || err == nil {
			return
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// listen opens a dedicated connection, LISTENs, calls listening, and relays
// notifications until the connection fails or ctx ends.
func (n *notifier) listen(ctx context.Context, listening func()) error {
	cfg := n.pool.Config().ConnConfig.Copy()
	cfg.Tracer = nil // not counted with the pool's queries
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect sync listener: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+SyncChannel); err != nil {
		return fmt.Errorf("listen on %s: %w", SyncChannel, err)
	}
	listening()
	for {
		nt, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("wait for %s notification: %w", SyncChannel, err)
		}
		seq, perr := strconv.ParseInt(strings.TrimSpace(nt.Payload), 10, 64)
		n.broadcast(seq, perr == nil)
	}
}

// SyncSeq numbers the changes committed so far (StampSync) and returns the
// highest sequence number handed out (0 when none): where a new subscriber
// starts watching. It returns the driver's error if a query fails.
func (db *DB) SyncSeq(ctx context.Context) (int64, error) {
	if _, err := db.StampSync(ctx); err != nil {
		return 0, err
	}
	var seq int64
	if err := db.q.QueryRow(onPrimary(ctx), `SELECT seq FROM sync_clock`).Scan(&seq); err != nil {
		return 0, fmt.Errorf("read latest sync seq: %w", translate(err))
	}
	return seq, nil
}

// ChangesVisibleSince numbers the changes committed so far (StampSync), then
// reports whether any change numbered after sequence number since touches a
// record the actor in ctx may see, and returns the high-water it looked up
// to (at least since): the subscriber's next watermark. Stamps commit in
// number order and number only committed changes
// (migrations/009_sync_stamp_after_commit.sql), so a snapshot that sees the
// clock at h sees every change numbered up to h, and nothing can later
// appear below it. A change is visible when its patient is visible to the
// actor; when it is a care relationship of the actor or of a team she
// belongs to (so a patient leaving her caseload counts); or, for directory
// records without a patient, when its organisation is visible.
//
// Like a pull (SyncStream), it asks patient by patient when the actor sees
// at most byPatientMax.check patients, and the directory and her
// relationships by their own indexes: a subscriber's check costs what she
// may see, not what everyone wrote since her last one. (Filtering every
// change since the watermark, as it did, made each online device's check
// grow with the whole system's writes.) EUNAUTHENTICATED without an actor;
// the driver's error if the query fails.
func (db *DB) ChangesVisibleSince(ctx context.Context, since int64) (visible bool, maxSeq int64, err error) {
	a, err := actorOf(ctx)
	if err != nil {
		return false, 0, err
	}
	if _, err := db.StampSync(ctx); err != nil {
		return false, 0, err
	}
	var q args
	s := q.add(since) + "::bigint"
	between := "c.seq > " + s + " AND c.seq <= (SELECT hw FROM clock)"
	vis := visibleCTE(a, &q)
	org := orgVisibleSQL(a, "c.organization_id", &q)
	few := q.add(byPatientMax.check)
	mine := "false"
	if a.PractitionerID != uuid.Nil {
		me := q.add(a.PractitionerID) + "::uuid"
		mine = fmt.Sprintf(`EXISTS (SELECT 1 FROM care_relationships cr
			JOIN sync_changes c ON c.entity = 'care_relationship' AND c.entity_id = cr.id
			WHERE (cr.practitioner_id = %[1]s
			   OR cr.team_id IN (SELECT tm.team_id FROM care_relationships tm
			                     WHERE tm.kind = 'team_member' AND tm.practitioner_id = %[1]s AND %[2]s))
			  AND %[3]s)`, me, activeSQL("tm"), between)
	}
	sql := `WITH clock AS MATERIALIZED (SELECT seq AS hw FROM sync_clock),
		` + vis + `, ` + visibleCountCTE + `
		SELECT greatest((SELECT hw FROM clock), ` + s + `),
			((SELECT patients FROM n) <= ` + few + ` AND EXISTS (SELECT 1 FROM vis, LATERAL (SELECT 1 FROM sync_changes c
				WHERE ` + ofVisiblePatientSQL("c") + ` AND ` + between + ` LIMIT 1) x))
			OR ((SELECT patients FROM n) > ` + few + ` AND EXISTS (SELECT 1 FROM sync_changes c
				WHERE ` + between + ` AND c.patient_id IN (SELECT id FROM vis)))
			OR EXISTS (SELECT 1 FROM sync_changes c WHERE c.patient_id IS NULL AND ` + between + ` AND ` + org + `)
			OR ` + mine
	if err := db.q.QueryRow(onPrimary(ctx), sql, q...).Scan(&maxSeq, &visible); err != nil {
		return false, 0, fmt.Errorf("check sync changes since %d: %w", since, translate(err))
	}
	return visible, maxSeq, nil
}
