-- A stamp numbers past a visit, relationship or feedback a writer holds.
--
-- Until now sync_stamp() (009_sync_stamp_after_commit.sql) numbered nothing
-- at all while any committed, unnumbered change was held by a writer still
-- open (replacing it), because the held change could be the parent of
-- another committed change. So while a writer held one (an edit left open
-- in its transaction, a session idle in a transaction that had replaced a
-- record, or writers taking turns at one record faster than stamps could
-- slip in between them), no change of anyone's was numbered and no device's
-- pull saw anything new.
--
-- Only some records are parents. A visit (interaction) or a care
-- relationship is the parent of nothing but feedback about it; feedback is
-- the parent of nothing. Organisations, teams, practitioners and patients
-- are the parents of everything else. So when every held change is of a
-- visit, a relationship or feedback, the stamp numbers every other committed
-- change now, except feedback when a visit or a relationship is held (a
-- feedback may name it). What it leaves is numbered by a later stamp, above
-- every number handed out before, as before: the pull stays gap-free and a
-- parent is never numbered after its child. A held organisation, team,
-- practitioner or patient still stops the stamp (-1): its children are
-- every kind of record, and numbering them without it could send a child
-- before its parent.
CREATE OR REPLACE FUNCTION sync_stamp() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s     bigint;
    held  text[];
    ents  text[];
    ids   uuid[];
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
    -- stamp). v is every committed unnumbered change, u those this stamp
    -- could lock, held the kinds of record of the rest; all from that one
    -- snapshot.
    WITH v AS (
        SELECT sc.entity, sc.entity_id FROM sync_changes sc
        WHERE sc.seq IS NULL AND sc.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()),
    u AS (
        SELECT sc.entity, sc.entity_id FROM sync_changes sc
        WHERE sc.seq IS NULL AND sc.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()
        FOR UPDATE SKIP LOCKED),
    h AS (SELECT DISTINCT x.entity FROM (SELECT * FROM v EXCEPT SELECT * FROM u) x),
    a AS (SELECT array_agg(u.entity) AS e, array_agg(u.entity_id) AS i FROM u)
    SELECT (SELECT coalesce(array_agg(h.entity), '{}') FROM h), a.e, a.i INTO held, ents, ids FROM a;
    IF held && ARRAY['organization', 'team', 'practitioner', 'patient'] THEN
        RETURN -1; -- a writer holds a parent of any kind of record; number nothing
    END IF;
    IF held && ARRAY['interaction', 'care_relationship'] THEN
        -- Feedback may name the held visit or relationship: it waits too.
        SELECT array_agg(r.entity), array_agg(r.entity_id) INTO ents, ids
        FROM unnest(ents, ids) AS r(entity, entity_id) WHERE r.entity <> 'feedback';
    END IF;
    IF coalesce(cardinality(ids), 0) = 0 THEN
        RETURN CASE WHEN cardinality(held) > 0 THEN -1 END; -- all of it held, or nothing to number
    END IF;
    UPDATE sync_changes sc SET seq = s FROM unnest(ents, ids) AS r(entity, entity_id)
    WHERE sc.entity = r.entity AND sc.entity_id = r.entity_id;
    UPDATE sync_clock SET seq = s;
    PERFORM pg_notify('rapport_sync', s::text);
    RETURN s;
END $$;
