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

// compactBatch bounds the push results one housekeeping transaction
// deletes, compactScopeDevices the devices whose scopes it compacts.
const (
	compactBatch        = 1000
	compactScopeDevices = 100
)

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
	// Mutations counts acknowledged push results deleted; Scopes, rows of
	// scope generations no checkpoint of their device can still name.
	Mutations, Scopes int64
}

// Compact deletes what the per-device sync tables no longer need: scope
// generations older than any checkpoint their device can still send (it
// pulled with a later one; a checkpoint naming a compacted one is told
// CHECKPOINT_EXPIRED), and push results their device has acknowledged (a retry of one is answered
// REJECTED ALREADY_APPLIED, never applied twice), keeping a device's latest
// result for each record for the retention window (a protocol version 1
// device's queued change may chain to it), in bounded batches. Run it
// with Purge. It returns what it deleted, or the database's error.
func (e *Engine) Compact(ctx context.Context) (CompactStats, error) {
	var st CompactStats
	var err error
	if st.Mutations, err = e.db.CompactMutations(ctx, e.cfg.Now().Add(-e.cfg.Retention), compactBatch); err != nil {
		return st, err
	}
	st.Scopes, err = e.db.CompactScopes(ctx, compactScopeDevices)
	return st, err
}

// scopeNeed returns the lowest scope generation a pull with cp reads: its
// generation, and in a backfill the generation it backfills from (0, the
// empty generation, needs no rows).
func (cp checkpoint) scopeNeed() int64 {
	if cp.Phase == phaseBackfill && cp.From > 0 {
		return min(cp.Gen, cp.From)
	}
	return cp.Gen
}
