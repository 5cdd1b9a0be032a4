-- A stamp numbers past a patient a writer holds, holding back only her
-- records.
--
-- Until now (012_sync_stamp_past_held_leaves.sql) a committed, unnumbered
-- change of a patient that a writer still open held (replacing it: a second
-- edit of her details, a registration transfer in progress) stopped every
-- stamp: no change of anyone's, in any practice, was numbered and no
-- device's pull saw anything new until that writer ended, because the
-- patient might be the parent of another committed change.
--
-- A patient is the parent only of the records that name her: her visits
-- (interactions) and care relationships, whose change-log rows carry her id
-- (sync_changes.patient_id), and feedback, whose rows name no patient (it
-- is anonymous in the log) but may name one of her visits or relationships.
-- So when held changes include patients, the stamp now leaves the held
-- patients' visits and relationships and all feedback for a later stamp, and
-- numbers every other committed change. What it leaves is numbered later,
-- above every number handed out before, as before: the pull stays gap-free
-- and a parent is never numbered after its child. A held organisation, team
-- or practitioner still stops the stamp (-1): their children are every kind
-- of record.
CREATE OR REPLACE FUNCTION sync_stamp() RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s        bigint;
    held     text[];
    patients uuid[];
    ents     text[];
    ids      uuid[];
    pids     uuid[];
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
    -- could lock, h the rest (held by writers); all from that one snapshot.
    WITH v AS (
        SELECT sc.entity, sc.entity_id FROM sync_changes sc
        WHERE sc.seq IS NULL AND sc.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()),
    u AS (
        SELECT sc.entity, sc.entity_id, sc.patient_id FROM sync_changes sc
        WHERE sc.seq IS NULL AND sc.txid IS DISTINCT FROM pg_current_xact_id_if_assigned()
        FOR UPDATE SKIP LOCKED),
    h AS (SELECT * FROM v EXCEPT SELECT u.entity, u.entity_id FROM u),
    a AS (SELECT array_agg(u.entity) AS e, array_agg(u.entity_id) AS i, array_agg(u.patient_id) AS p FROM u)
    SELECT (SELECT coalesce(array_agg(DISTINCT h.entity), '{}') FROM h),
           (SELECT coalesce(array_agg(h.entity_id), '{}') FROM h WHERE h.entity = 'patient'),
           a.e, a.i, a.p
    INTO held, patients, ents, ids, pids FROM a;
    IF held && ARRAY['organization', 'team', 'practitioner'] THEN
        RETURN -1; -- a writer holds a parent of any kind of record; number nothing
    END IF;
    IF held && ARRAY['patient', 'interaction', 'care_relationship'] THEN
        -- The held patients' visits and relationships wait for them, and
        -- feedback, which may name a held or held-back visit or
        -- relationship, waits too.
        SELECT array_agg(r.entity), array_agg(r.entity_id) INTO ents, ids
        FROM unnest(ents, ids, pids) AS r(entity, entity_id, patient_id)
        WHERE r.entity <> 'feedback' AND (r.patient_id IS NULL OR r.patient_id <> ALL (patients));
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
