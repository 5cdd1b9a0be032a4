-- Stamp commit order after commit, not at it: no global hot row for writers.
--
-- Until now (002_sync.sql, 007_sync_stamp_once.sql) every writing
-- transaction, in every organisation, ended with a deferred trigger that
-- locked the one sync_clock row, took the next number and ran pg_notify.
-- The row lock and the NOTIFY queue lock were held across the commit's WAL
-- flush, so all writers queued on one row (pgbench -c 16 of one-row
-- transactions: ~7,000 tps plain, ~1,400 with both).
--
-- Now writers commit their sync_changes rows with seq NULL (txid still
-- names the writing transaction) and take no shared lock. sync_stamp() gives
-- committed unstamped rows their numbers afterwards: under the sync_clock
-- row lock, so only stampers (pulls, the notifier, housekeeping) wait on
-- each other, never writers. Each stamp commits while holding the lock, so
-- stamps commit in number order and a snapshot that sees number n+1 sees
-- every number up to it: the pull stays gap-free. A change is numbered only
-- once its transaction has committed (a stamp's snapshot cannot see
-- uncommitted rows), so a transaction that commits late is numbered above
-- everything handed out before it, never below a checkpoint a device holds.

DROP TRIGGER sync_changes_stamp ON sync_changes;
DROP TRIGGER sync_changes_stamp_queued ON sync_changes;
DROP FUNCTION sync_stamp_seq();
DROP FUNCTION sync_stamp_queued();

-- sync_stamp numbers every committed unstamped change, one number per
-- writing transaction (in txid order), moves sync_clock to the highest
-- number given, notifies listeners (channel rapport_sync, payload the new
-- high-water) and returns it; NULL, having written nothing (no lock, no
-- WAL, no clock update), when there was nothing to stamp. It must run in a
-- READ COMMITTED transaction of its own (or as a statement on its own):
-- each statement then sees what committed before it, in particular
-- everything the previous stamp committed once its lock is released. Rows
-- another transaction has locked (a writer about to replace the change)
-- are skipped; the next stamp numbers them once that writer commits.
CREATE FUNCTION sync_stamp() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    base bigint;
    n    bigint;
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'sync_stamp() must run in a READ COMMITTED transaction, not %', current_setting('transaction_isolation');
    END IF;
    -- Cheap and lock-free when there is nothing to do (the partial index
    -- sync_changes_unstamped_idx holds only unstamped rows).
    IF NOT EXISTS (SELECT 1 FROM sync_changes WHERE seq IS NULL) THEN
        RETURN NULL;
    END IF;
    -- Stampers (and bulk loads, which take a number themselves) queue here.
    -- The lock is held until this transaction commits.
    SELECT c.seq INTO base FROM sync_clock c FOR UPDATE;
    -- A new statement, so a new snapshot: everything the previous holder of
    -- the lock committed is visible. The own transaction's rows (visible to
    -- it before it commits) are left for a later stamp.
    WITH u AS (
        SELECT sc.entity, sc.entity_id, sc.txid FROM sync_changes sc
        WHERE sc.seq IS NULL AND sc.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()
        FOR UPDATE SKIP LOCKED),
    r AS (SELECT u.entity, u.entity_id, dense_rank() OVER (ORDER BY u.txid) AS k FROM u),
    s AS (
        UPDATE sync_changes sc SET seq = base + r.k FROM r
        WHERE sc.entity = r.entity AND sc.entity_id = r.entity_id
        RETURNING r.k)
    SELECT max(s.k) INTO n FROM s;
    IF n IS NULL THEN
        RETURN NULL; -- every unstamped row was locked by a writer
    END IF;
    UPDATE sync_clock SET seq = base + n;
    PERFORM pg_notify('rapport_sync', (base + n)::text);
    RETURN base + n;
END $$;
