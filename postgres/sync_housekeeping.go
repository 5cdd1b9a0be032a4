package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Housekeeping of the per-device sync tables (008_sync_housekeeping.sql).
//
// sync_mutations keeps the first answer to every pushed mutation number, so
// a retry replays it byte for byte. A device acknowledges answers by pushing
// a batch that starts after them (it always resends its oldest unanswered
// change first): AcknowledgeMutations records that as devices.acked_through,
// CompactMutations deletes acknowledged rows, and MutationResults answers a
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

// compactScopesSQL deletes, for up to $1 devices whose latest pull needed
// no generation below scope_pulled, the rows of those older generations
// that a newer generation repeats. A patient's newest row stays, so
// DeviceHadPatient still knows a patient who left the device's scope.
// scope_floor then says which checkpoints must reset. The devices' rows are
// locked for the statement only (a concurrent pull's page start, SyncPageStart, waits; a device whose
// page is being pulled is skipped).
const compactScopesSQL = `
WITH d AS (SELECT id, scope_pulled FROM devices WHERE scope_pulled > scope_floor ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED),
del AS (DELETE FROM device_scopes s USING d
	WHERE s.device_id = d.id AND s.generation < d.scope_pulled
	  AND EXISTS (SELECT 1 FROM device_scopes n WHERE n.device_id = s.device_id AND n.patient_id = s.patient_id AND n.generation > s.generation)
	RETURNING 1),
up AS (UPDATE devices x SET scope_floor = d.scope_pulled FROM d WHERE x.id = d.id RETURNING 1)
SELECT (SELECT count(*) FROM del), (SELECT count(*) FROM up)`

// CompactScopes deletes device_scopes rows of generations no checkpoint of
// their device can still name, batch devices per transaction, and returns
// how many rows it deleted, or the database's error.
func (db *DB) CompactScopes(ctx context.Context, batch int) (int64, error) {
	batch = max(batch, 1)
	var total int64
	for {
		var rows, devices int64
		if err := db.q.QueryRow(ctx, compactScopesSQL, batch).Scan(&rows, &devices); err != nil {
			return total, fmt.Errorf("compact device scopes: %w", err)
		}
		total += rows
		if devices < int64(batch) || ctx.Err() != nil {
			return total, ctx.Err()
		}
	}
}
