-- Sync housekeeping: pull pages read the change log in index order, and the
-- per-device tables stop growing without bound (docs/sync-protocol.md,
-- "Acknowledged results"; docs/deployment.md, "Housekeeping").

-- A pull walks the change log by patient (backfill) or by sequence number
-- (stream), parents first within each: ORDER BY ..., <entity rank>, entity_id
-- (postgres/sync_log.go, entityRankSQL). Indexes on the raw entity name could
-- not give that order, so every page sorted every row of the device's
-- scope (a 100,000-record backfill: ~70 ms a page, quadratic in the scope).
-- These replace the old indexes (same columns but for the rank), so a write
-- still maintains the same number of indexes. The expression must stay
-- byte-for-byte what entityRankSQL writes, or the planner cannot use them.
DROP INDEX sync_changes_patient_idx;
CREATE INDEX sync_changes_patient_idx ON sync_changes
    (patient_id, COALESCE(array_position(ARRAY['organization','team','practitioner','patient','care_relationship','interaction','feedback']::text[], entity), 0), entity_id)
    WHERE patient_id IS NOT NULL;
DROP INDEX sync_changes_seq_idx;
CREATE INDEX sync_changes_seq_idx ON sync_changes
    (seq, COALESCE(array_position(ARRAY['organization','team','practitioner','patient','care_relationship','interaction','feedback']::text[], entity), 0), entity_id);

-- acked_through: every result of this device's mutation numbers up to here
-- has been acknowledged (the device pushed a batch starting after it: a
-- device always resends its oldest unanswered change first), so the purge
-- may delete those sync_mutations rows; a later push of such a number is
-- answered REJECTED ALREADY_APPLIED instead of being applied again.
-- scope_floor: scope generations below it have been compacted; a checkpoint
-- naming one must reset (CHECKPOINT_EXPIRED). scope_pulled: the lowest
-- generation the device's latest pull still needed (its checkpoint's
-- generation, or the backfill's "from"): the purge compacts below it.
ALTER TABLE devices
    ADD COLUMN acked_through bigint NOT NULL DEFAULT 0,
    ADD COLUMN scope_floor   bigint NOT NULL DEFAULT 0,
    ADD COLUMN scope_pulled  bigint NOT NULL DEFAULT 0;
