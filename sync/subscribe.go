package sync

import (
	"context"
	"time"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rs/zerolog"
)

// SubscribeInterval is the least time between two events to one subscriber:
// a burst of changes becomes one event.
const SubscribeInterval = 250 * time.Millisecond

// Subscribe returns events telling the caller that changes in its scope are
// waiting, until ctx ends (then the channel closes). It listens through the
// process's one LISTEN connection (postgres.DB.ListenSync), so changes
// committed through any server instance on the database count. For each
// notification it asks the store whether changes after the subscriber's
// watermark touch records the caller may see, and sends
// ChangesWaiting: true only if so, at most once per SubscribeInterval. When
// notifications may have been lost (the listener reconnected) it sends an
// event without asking: a needless pull is cheap, a missed one is not.
// EUNAUTHENTICATED without an actor; an error if the listener cannot start.
func (e *Engine) Subscribe(ctx context.Context) (<-chan *ChangesEvent, error) {
	if care.ActorFromContext(ctx) == nil {
		return nil, care.Errorf(care.EUNAUTHENTICATED, "authentication required")
	}
	l, err := e.db.ListenSync(ctx)
	if err != nil {
		return nil, err
	}
	// Read the watermark only once listening: a change committed in between
	// is both below the watermark and notified, and then reported.
	since, err := e.db.SyncSeq(ctx)
	if err != nil {
		l.Close()
		return nil, err
	}
	out := make(chan *ChangesEvent)
	s := &subscriber{e: e, since: since, out: out, listener: l}
	go s.run(ctx)
	return out, nil
}

// subscriber is one Subscribe's state.
type subscriber struct {
	e        *Engine
	since    int64 // every change up to here has been considered
	out      chan *ChangesEvent
	listener *postgres.SyncListener
}

func (s *subscriber) run(ctx context.Context) {
	defer close(s.out)
	defer s.listener.Close()
	var (
		last    time.Time   // when the last event was sent
		pending bool        // a notification awaits checking
		lost    bool        // notifications may have been missed
		timer   *time.Timer // armed while waiting out the interval
		timerC  <-chan time.Time
	)
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-s.listener.C:
			seqs, missed := s.listener.Take()
			lost = lost || missed
			for _, q := range seqs {
				pending = pending || q > s.since
			}
			if !pending && !lost {
				continue
			}
			if timerC != nil {
				continue // already waiting out the interval
			}
			if wait := time.Until(last.Add(SubscribeInterval)); wait > 0 {
				timer = time.NewTimer(wait)
				timerC = timer.C
				continue
			}
		case <-timerC:
			timer, timerC = nil, nil
		}
		visible := lost
		if pending {
			v, maxSeq, err := s.e.db.ChangesVisibleSince(ctx, s.since)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				// Say changes may be waiting rather than stay silent.
				zerolog.Ctx(ctx).Warn().Err(err).Msg("sync: check changes for a subscriber")
				v = true
			} else {
				s.since = maxSeq
			}
			visible = visible || v
		}
		pending, lost = false, false
		if !visible {
			continue
		}
		select {
		case s.out <- &ChangesEvent{ChangesWaiting: true}:
			last = time.Now()
		case <-ctx.Done():
			return
		}
	}
}
