-- One commit-order stamp per transaction, not one per change.
--
-- sync_changes_stamp (002_sync.sql) queued a deferred event for every row a
-- transaction wrote to sync_changes: a sync push of 50 changes ran
-- sync_stamp_seq 50 times at COMMIT, once to stamp and 49 times to find
-- nothing left, the last 49 while holding the sync_clock row that every
-- writer needs. Now the first unstamped row of a transaction queues the
-- event and raises a transaction-local flag (rapport.stamp_queued) that the
-- next rows' WHEN clauses read. The flag and the event live and die
-- together: both are undone when the savepoint that made them rolls back,
-- both kept when it is released. sync_stamp_seq lowers the flag once it has
-- stamped, so a row written after an early stamp (SET CONSTRAINTS ...
-- IMMEDIATE) queues a new event. Commit order, gap-free reads and the
-- notification are unchanged.

CREATE FUNCTION sync_stamp_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('rapport.stamp_queued', 'on', true);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION sync_stamp_seq() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    PERFORM set_config('rapport.stamp_queued', '', true);
    IF NOT EXISTS (SELECT 1 FROM sync_changes WHERE seq IS NULL AND txid = pg_current_xact_id()) THEN
        RETURN NULL; -- already stamped by an earlier event of this transaction
    END IF;
    UPDATE sync_clock SET seq = seq + 1 RETURNING seq INTO s;
    UPDATE sync_changes SET seq = s WHERE seq IS NULL AND txid = pg_current_xact_id();
    PERFORM pg_notify('rapport_sync', s::text);
    RETURN NULL;
END $$;

DROP TRIGGER sync_changes_stamp ON sync_changes;
CREATE CONSTRAINT TRIGGER sync_changes_stamp AFTER INSERT OR UPDATE ON sync_changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.seq IS NULL AND current_setting('rapport.stamp_queued', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION sync_stamp_seq();
-- Fires after sync_changes_stamp was queued for the same row (AFTER row
-- triggers' WHEN clauses are all read when the row is written).
CREATE TRIGGER sync_changes_stamp_queued AFTER INSERT OR UPDATE ON sync_changes
    FOR EACH ROW
    WHEN (NEW.seq IS NULL AND current_setting('rapport.stamp_queued', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION sync_stamp_queued();
