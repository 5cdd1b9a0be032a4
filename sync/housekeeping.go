package sync

import (
	"context"
	"fmt"
)

// CodeAlreadyApplied rejects a resent mutation number whose first answer the
// device acknowledged (by pushing a batch that starts after it) and the
// server has since compacted: the change took effect when first sent and is
// not applied again.
const CodeAlreadyApplied = "ALREADY_APPLIED"

// compactBatch bounds the rows one housekeeping transaction deletes.
const compactBatch = 1000

// Acknowledge records what a push acknowledges: a device resends its oldest
// unanswered change first, so every answer to a mutation number below the
// batch's first has reached it and may be compacted (docs/sync-protocol.md,
// "Acknowledged answers"). Call it with each push, before Push; an empty
// batch acknowledges nothing. Errors: as Push's RegisterDevice.
func (e *Engine) Acknowledge(ctx context.Context, in PushInput) error {
	if len(in.Changes) == 0 {
		return nil
	}
	first := in.Changes[0].MutationSeq
	for _, c := range in.Changes[1:] {
		first = min(first, c.MutationSeq)
	}
	if err := e.db.AcknowledgeMutations(ctx, in.DeviceID, first-1); err != nil {
		return fmt.Errorf("sync push: %w", err)
	}
	return nil
}

// CompactStats says what Compact deleted.
type CompactStats struct {
	// Mutations counts acknowledged push results deleted.
	Mutations int64
}

// Compact deletes what the per-device sync tables no longer need: push
// results their device has acknowledged (a retry of one is answered
// REJECTED ALREADY_APPLIED, never applied twice), keeping a device's latest
// result for each record for the retention window (a protocol version 1
// device's queued change may chain to it), in bounded batches. Run it
// with Purge. It returns what it deleted, or the database's error.
func (e *Engine) Compact(ctx context.Context) (CompactStats, error) {
	var st CompactStats
	n, err := e.db.CompactMutations(ctx, e.cfg.Now().Add(-e.cfg.Retention), compactBatch)
	st.Mutations = n
	return st, err
}
