package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Housekeeping of the per-device sync tables (009_sync_housekeeping.sql).
//
// sync_mutations keeps the first answer to every pushed mutation number, so
// a retry replays it byte for byte. A device acknowledges answers by pushing
// a batch that starts after them (it always resends its oldest unanswered
// change first): AcknowledgeMutations records that as devices.acked_through,
// CompactMutations deletes acknowledged rows, and ClaimMutation answers a
// number at or below the mark whose row is gone with AlreadyAppliedResult
// instead of applying it again.

// AlreadyAppliedResult is the result recorded for a mutation number that was
// applied, acknowledged and compacted (or, if the device broke the protocol,
// never sent before it pushed later numbers): in the form sync stores
// results (sync/push.go, storedResult), REJECTED ALREADY_APPLIED.
var AlreadyAppliedResult = []byte(`{"status":"rejected","code":"ALREADY_APPLIED","message":"this change was applied when first sent, and its answer was acknowledged by a later push; it was not applied again"}`)

// AcknowledgeMutations records that the device has the answers to all its
// mutation numbers up to through (never beyond the highest it has pushed).
// Only the device's own practitioner may: EUNAUTHENTICATED, EFORBIDDEN as
// RegisterDevice; a device not registered yet is left alone.
func (db *DB) AcknowledgeMutations(ctx context.Context, device uuid.UUID, through int64) error {
	a, err := syncerOf(ctx)
	if err != nil {
		return err
	}
	if through <= 0 {
		return nil
	}
	_, err = db.q.Exec(ctx, `UPDATE devices SET acked_through = LEAST($2, (SELECT max(mutation_seq) FROM sync_mutations WHERE device_id = $1))
		WHERE id = $1 AND practitioner_id = $3 AND acked_through < LEAST($2, (SELECT max(mutation_seq) FROM sync_mutations WHERE device_id = $1))`,
		device, through, a.PractitionerID)
	if err != nil {
		return fmt.Errorf("acknowledge mutations: %w", err)
	}
	return nil
}

// compactMutationsSQL deletes up to $1 acknowledged results. Until it is
// older than $2 (the tombstone retention) it keeps, for each record a device
// changed, the device's latest result for it: a protocol version 1 device
// sends that result's version as the base of a change queued behind it, and
// ChainedBase reads the row to judge the change against what the device had
// really seen. Rows a push holds are skipped.
const compactMutationsSQL = `
WITH v AS (
	SELECT m.device_id, m.mutation_seq FROM devices d
	JOIN sync_mutations m ON m.device_id = d.id AND m.mutation_seq <= d.acked_through
	WHERE d.acked_through > 0
	  AND (m.record_id IS NULL OR m.applied_at < $2 OR EXISTS (SELECT 1 FROM sync_mutations n
		WHERE n.device_id = m.device_id AND n.record_id = m.record_id AND n.mutation_seq > m.mutation_seq))
	LIMIT $1 FOR UPDATE OF m SKIP LOCKED)
DELETE FROM sync_mutations m USING v WHERE m.device_id = v.device_id AND m.mutation_seq = v.mutation_seq`

// CompactMutations deletes acknowledged sync_mutations rows (a device's
// latest result for a record only once applied before keepLatestUntil), at
// most batch per transaction (so no lock is held long), until none is left,
// and returns how many it deleted, or the database's error.
func (db *DB) CompactMutations(ctx context.Context, keepLatestUntil time.Time, batch int) (int64, error) {
	batch = max(batch, 1)
	var total int64
	for {
		tag, err := db.q.Exec(ctx, compactMutationsSQL, batch, keepLatestUntil)
		if err != nil {
			return total, fmt.Errorf("compact sync mutations: %w", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < int64(batch) || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
