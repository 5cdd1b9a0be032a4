-- Nothing a nurse records is lost (sync protocol version 2).

-- Ids are never reused: every deleted synced record leaves its id here,
-- kept for ever (ids only, no patient data), and a BEFORE INSERT trigger
-- refuses an insert with a retired id, so a delayed CREATE can never
-- resurrect a deleted record, whatever the path (sync, GraphQL, import).
CREATE TABLE retired_ids (
    id         uuid PRIMARY KEY,
    entity     text NOT NULL,
    retired_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION retire_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO retired_ids (id, entity) VALUES (OLD.id, TG_TABLE_NAME) ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE FUNCTION refuse_retired_id() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM retired_ids WHERE id = NEW.id) THEN
        RAISE EXCEPTION 'id % belonged to a deleted record', NEW.id
            USING ERRCODE = 'unique_violation', CONSTRAINT = 'retired_ids_pkey';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER interactions_retire AFTER DELETE ON interactions FOR EACH ROW EXECUTE FUNCTION retire_id();
CREATE TRIGGER interactions_refuse_retired BEFORE INSERT ON interactions FOR EACH ROW EXECUTE FUNCTION refuse_retired_id();
CREATE TRIGGER care_relationships_retire AFTER DELETE ON care_relationships FOR EACH ROW EXECUTE FUNCTION retire_id();
CREATE TRIGGER care_relationships_refuse_retired BEFORE INSERT ON care_relationships FOR EACH ROW EXECUTE FUNCTION refuse_retired_id();
CREATE TRIGGER patients_retire AFTER DELETE ON patients FOR EACH ROW EXECUTE FUNCTION retire_id();
CREATE TRIGGER patients_refuse_retired BEFORE INSERT ON patients FOR EACH ROW EXECUTE FUNCTION refuse_retired_id();

-- What each applied change was judged against: the record it changed, the
-- base version it was judged against (after reading a version 1 device's
-- chained base back to what the device had really seen) and the version it
-- produced. A version 1 device sends, for a change queued behind its own
-- earlier change, that change's result version as its base; the server
-- reads it back to the earlier change's base (see sync/push.go).
ALTER TABLE sync_mutations
    ADD COLUMN record_id      uuid,
    ADD COLUMN base_version   bigint,
    ADD COLUMN result_version bigint;
CREATE INDEX sync_mutations_record_idx ON sync_mutations (device_id, record_id, result_version) WHERE record_id IS NOT NULL;

-- The record's version when a conflict was recorded: a resolution that does
-- not say which version it was made against is judged against this one.
ALTER TABLE sync_conflicts ADD COLUMN record_version bigint;
