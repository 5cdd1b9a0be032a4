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

-- sync_stamp numbers every committed unstamped change with one new number,
-- moves sync_clock to it, notifies listeners (channel rapport_sync, payload
-- the new high-water) and returns it. It returns NULL having written nothing
-- (no lock, no WAL, no clock update) when there is nothing to number, and
-- -1 having numbered nothing when a transaction still open holds the row of
-- a committed, unnumbered change (it is replacing that change): the caller
-- may try again shortly.
--
-- Why one number for everything a stamp sees, not one per writing
-- transaction: the stamp cannot tell the order in which the transactions it
-- sees committed (txid order is the order they first wrote, not committed),
-- and a transaction that created a record's child after the parent's
-- transaction committed could otherwise be numbered below the parent. Within
-- one number a pull sends parents first (entity rank), as it always has for
-- a transaction, and a parent committed before its child's transaction is
-- numbered by the same stamp or an earlier one. For the same reason a stamp
-- numbers nothing while any committed change is locked: skipping it could
-- send a child before the parent whose row was skipped.
--
-- It must run in a READ COMMITTED transaction of its own (or as a statement
-- on its own): each statement then sees what committed before it, in
-- particular everything the previous stamp committed before releasing the
-- lock.
CREATE FUNCTION sync_stamp() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s       bigint;
    visible bigint;
    locked  bigint;
    ents    text[];
    ids     uuid[];
BEGIN
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'sync_stamp() must run in a READ COMMITTED transaction, not %', current_setting('transaction_isolation');
    END IF;
    -- Cheap and lock-free when there is nothing to do (the partial index
    -- sync_changes_unstamped_idx holds only unstamped rows).
    IF NOT EXISTS (SELECT 1 FROM sync_changes WHERE seq IS NULL) THEN
        RETURN NULL;
    END IF;
    -- Stampers (and bulk loads, which number their rows themselves) queue
    -- here. The lock is held until this transaction commits, so stamps
    -- commit in number order.
    SELECT c.seq + 1 INTO s FROM sync_clock c FOR UPDATE;
    -- A new statement, so a new snapshot: everything the previous holder of
    -- the lock committed is visible, and only committed changes (the own
    -- transaction's, visible to it before it commits, are left for a later
    -- stamp). Both counts come from that one snapshot.
    WITH v AS (
        SELECT 1 FROM sync_changes sc
        WHERE sc.seq IS NULL AND sc.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()),
    u AS (
        SELECT sc.entity, sc.entity_id FROM sync_changes sc
        WHERE sc.seq IS NULL AND sc.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()
        FOR UPDATE SKIP LOCKED),
    a AS (SELECT array_agg(u.entity) AS e, array_agg(u.entity_id) AS i FROM u)
    SELECT (SELECT count(*) FROM v), a.e, a.i INTO visible, ents, ids FROM a;
    locked := coalesce(cardinality(ids), 0);
    IF locked = 0 AND visible = 0 THEN
        RETURN NULL;
    END IF;
    IF locked < visible THEN
        RETURN -1; -- a writer holds one of them; number nothing (see above)
    END IF;
    UPDATE sync_changes sc SET seq = s FROM unnest(ents, ids) AS r(entity, entity_id)
    WHERE sc.entity = r.entity AND sc.entity_id = r.entity_id;
    UPDATE sync_clock SET seq = s;
    PERFORM pg_notify('rapport_sync', s::text);
    RETURN s;
END $$;
