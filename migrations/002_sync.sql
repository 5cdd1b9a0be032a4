-- Offline sync: a commit-ordered change log, devices, exactly-once mutation
-- results, per-field clocks for field-level merge, the conflict ledger and
-- scope tracking. docs/sync-protocol.md explains the protocol; sync/ and
-- postgres/sync_*.go use these tables.

-- The commit-ordered counter. Its one row is locked by each writing
-- transaction at COMMIT (see sync_stamp_seq), so sequence numbers are handed
-- out in commit order: a reader whose snapshot holds seq n+1 holds seq n.
CREATE TABLE sync_clock (
    id  boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq bigint NOT NULL
);
INSERT INTO sync_clock (seq) VALUES (0);

-- One row per synced record: its latest change. A pull returns the record's
-- current state, like CouchDB's changes feed. seq is NULL until the writing
-- transaction commits (then stamped by sync_stamp_seq); op 'delete' rows are
-- tombstones, purged after the retention window.
CREATE TABLE sync_changes (
    entity          text NOT NULL CHECK (entity IN ('patient','care_relationship','interaction','practitioner','team','organization')),
    entity_id       uuid NOT NULL,
    seq             bigint,
    txid            xid8 NOT NULL DEFAULT pg_current_xact_id(),
    op              text NOT NULL CHECK (op IN ('upsert','delete')),
    patient_id      uuid,
    organization_id uuid,
    version         bigint NOT NULL DEFAULT 1,
    changed_fields  text[] NOT NULL DEFAULT '{}',
    hlc             text NOT NULL,
    device_id       uuid,
    changed_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity, entity_id)
);
CREATE INDEX sync_changes_seq_idx ON sync_changes (seq, entity, entity_id);
CREATE INDEX sync_changes_unstamped_idx ON sync_changes (txid) WHERE seq IS NULL;
CREATE INDEX sync_changes_patient_idx ON sync_changes (patient_id, entity, entity_id) WHERE patient_id IS NOT NULL;
CREATE INDEX sync_changes_directory_idx ON sync_changes (entity, entity_id) WHERE patient_id IS NULL;
CREATE INDEX sync_changes_tombstone_idx ON sync_changes (changed_at) WHERE op = 'delete';

-- The last change of each field of a record that has been updated (fields
-- untouched since creation have no row): which version and clock changed it.
-- Field-level merge reads it to tell which fields moved since a device's base version.
CREATE TABLE sync_field_clocks (
    entity    text NOT NULL,
    entity_id uuid NOT NULL,
    field     text NOT NULL, -- the column name
    hlc       text NOT NULL,
    version   bigint NOT NULL,
    device_id uuid,
    PRIMARY KEY (entity, entity_id, field)
);

-- Housekeeping state (one row): tombstones of changes up to purged_through_seq
-- may have been purged; a checkpoint older than that must reset.
CREATE TABLE sync_state (
    id                 boolean PRIMARY KEY DEFAULT true CHECK (id),
    purged_through_seq bigint NOT NULL DEFAULT 0
);
INSERT INTO sync_state DEFAULT VALUES;

-- The server-side hybrid logical clock for changes not made through sync:
-- the transaction's rapport.hlc when sync set it, else the wall clock.
CREATE FUNCTION sync_hlc() RETURNS text LANGUAGE sql VOLATILE AS $$
    SELECT COALESCE(NULLIF(current_setting('rapport.hlc', true), ''),
                    lpad((floor(extract(epoch FROM clock_timestamp()) * 1000))::bigint::text, 13, '0') || '-0000-server')
$$;

-- Records the change of one row of a synced table in sync_changes (and, for
-- updates of interactions and relationships, its per-field clocks).
CREATE FUNCTION sync_record_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r      record;
    ent    text;
    eid    uuid;
    pid    uuid;
    org    uuid;
    ver    bigint;
    op     text := 'upsert';
    fields text[] := '{}';
    clock  text := sync_hlc();
    dev    uuid := NULLIF(current_setting('rapport.device_id', true), '')::uuid;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
        op := 'delete';
    ELSE
        r := NEW;
    END IF;
    CASE TG_TABLE_NAME
    WHEN 'patients' THEN
        ent := 'patient'; eid := r.id; pid := r.id; org := r.registered_practice_id; ver := r.version;
    WHEN 'care_relationships' THEN
        ent := 'care_relationship'; eid := r.id; pid := r.patient_id; org := r.organization_id; ver := r.version;
    WHEN 'interactions' THEN
        ent := 'interaction'; eid := r.id; pid := r.patient_id; org := r.organization_id; ver := r.version;
    WHEN 'interaction_amendments' THEN
        -- an amendment travels inside its interaction
        ent := 'interaction'; eid := r.interaction_id; op := 'upsert';
        SELECT i.patient_id, i.organization_id, i.version INTO pid, org, ver FROM interactions i WHERE i.id = eid;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    WHEN 'practitioners' THEN
        ent := 'practitioner'; eid := r.id; org := r.organization_id; ver := r.version;
    WHEN 'teams' THEN
        ent := 'team'; eid := r.id; org := r.organization_id; ver := r.version;
    WHEN 'organizations' THEN
        ent := 'organization'; eid := r.id; org := r.id; ver := r.version;
    END CASE;

    IF TG_OP = 'UPDATE' AND TG_TABLE_NAME <> 'interaction_amendments' THEN
        SELECT COALESCE(array_agg(n.key ORDER BY n.key), '{}') INTO fields
        FROM jsonb_each(to_jsonb(NEW)) n
        WHERE n.key NOT IN ('version', 'updated_at') AND to_jsonb(OLD) -> n.key IS DISTINCT FROM n.value;
        IF TG_TABLE_NAME IN ('interactions', 'care_relationships') AND cardinality(fields) > 0 THEN
            INSERT INTO sync_field_clocks AS fc (entity, entity_id, field, hlc, version, device_id)
            SELECT ent, eid, f, clock, ver, dev FROM unnest(fields) f
            ON CONFLICT (entity, entity_id, field) DO UPDATE
                SET hlc = EXCLUDED.hlc, version = EXCLUDED.version, device_id = EXCLUDED.device_id;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM sync_field_clocks WHERE entity = ent AND entity_id = eid;
    END IF;

    INSERT INTO sync_changes AS sc (entity, entity_id, seq, txid, op, patient_id, organization_id, version, changed_fields, hlc, device_id, changed_at)
    VALUES (ent, eid, NULL, pg_current_xact_id(), op, pid, org, ver, fields, clock, dev, now())
    ON CONFLICT (entity, entity_id) DO UPDATE SET
        seq = NULL, txid = EXCLUDED.txid, op = EXCLUDED.op, patient_id = EXCLUDED.patient_id,
        organization_id = EXCLUDED.organization_id, version = EXCLUDED.version,
        changed_fields = CASE WHEN sc.seq IS NULL AND sc.txid = EXCLUDED.txid
                              THEN ARRAY(SELECT DISTINCT u FROM unnest(sc.changed_fields || EXCLUDED.changed_fields) u ORDER BY u)
                              ELSE EXCLUDED.changed_fields END,
        hlc = EXCLUDED.hlc, device_id = EXCLUDED.device_id, changed_at = EXCLUDED.changed_at;
    RETURN NULL;
END $$;

-- The triggers skip a bulk load (postgres.Load sets rapport.bulk_load for its
-- transaction and writes the change log itself, in one statement per table).
CREATE TRIGGER patients_sync AFTER INSERT OR UPDATE OR DELETE ON patients FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sync_record_changed();
CREATE TRIGGER care_relationships_sync AFTER INSERT OR UPDATE OR DELETE ON care_relationships FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sync_record_changed();
CREATE TRIGGER interactions_sync AFTER INSERT OR UPDATE OR DELETE ON interactions FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sync_record_changed();
CREATE TRIGGER interaction_amendments_sync AFTER INSERT OR UPDATE ON interaction_amendments FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sync_record_changed();
CREATE TRIGGER practitioners_sync AFTER INSERT OR UPDATE OR DELETE ON practitioners FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sync_record_changed();
CREATE TRIGGER teams_sync AFTER INSERT OR UPDATE OR DELETE ON teams FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sync_record_changed();
CREATE TRIGGER organizations_sync AFTER INSERT OR UPDATE OR DELETE ON organizations FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION sync_record_changed();

-- At COMMIT, once per transaction: take the next sequence number (the
-- sync_clock row lock is held until the commit completes, so numbers follow
-- commit order), stamp this transaction's changes with it and notify
-- listeners (channel rapport_sync, payload the seq).
CREATE FUNCTION sync_stamp_seq() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    s bigint;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM sync_changes WHERE seq IS NULL AND txid = pg_current_xact_id()) THEN
        RETURN NULL; -- already stamped by an earlier event of this transaction
    END IF;
    UPDATE sync_clock SET seq = seq + 1 RETURNING seq INTO s;
    UPDATE sync_changes SET seq = s WHERE seq IS NULL AND txid = pg_current_xact_id();
    PERFORM pg_notify('rapport_sync', s::text);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER sync_changes_stamp AFTER INSERT OR UPDATE ON sync_changes
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.seq IS NULL)
    EXECUTE FUNCTION sync_stamp_seq();

-- Devices that sync, each bound to the practitioner who first synced with it.
CREATE TABLE devices (
    id              uuid PRIMARY KEY,
    practitioner_id uuid NOT NULL REFERENCES practitioners(id),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz,
    revoked_at      timestamptz,
    revoked_by      uuid REFERENCES practitioners(id)
);
CREATE INDEX devices_practitioner_idx ON devices (practitioner_id);
CREATE INDEX devices_organization_idx ON devices (organization_id);

-- The recorded result of every pushed change, so a retried push returns it
-- instead of applying the change again (exactly-once effect).
CREATE TABLE sync_mutations (
    device_id    uuid NOT NULL REFERENCES devices(id),
    mutation_seq bigint NOT NULL,
    result       jsonb NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, mutation_seq)
);

-- The conflict ledger: every collision, settled or open, with both values.
CREATE TABLE sync_conflicts (
    id              uuid PRIMARY KEY,
    entity          text NOT NULL,
    record_id       uuid NOT NULL,
    field           text NOT NULL,
    patient_id      uuid,
    server_value    jsonb,
    device_value    jsonb,
    policy          text NOT NULL CHECK (policy IN ('last_writer_wins','keep_both')),
    outcome         text NOT NULL CHECK (outcome IN ('server_kept','device_applied','open','resolved')),
    device_id       uuid NOT NULL REFERENCES devices(id),
    mutation_seq    bigint NOT NULL,
    practitioner_id uuid REFERENCES practitioners(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_by     uuid REFERENCES practitioners(id),
    resolved_at     timestamptz,
    resolved_value  jsonb,
    reason          text
);
CREATE INDEX sync_conflicts_created_idx ON sync_conflicts (created_at DESC, id DESC);
CREATE INDEX sync_conflicts_patient_idx ON sync_conflicts (patient_id, created_at DESC);
CREATE INDEX sync_conflicts_practitioner_idx ON sync_conflicts (practitioner_id, created_at DESC);
CREATE INDEX sync_conflicts_record_idx ON sync_conflicts (entity, record_id);

-- The patients in a device's scope as of each generation its checkpoints
-- name, so a pull can tell who entered (backfill) and who left (purge).
CREATE TABLE device_scopes (
    device_id  uuid NOT NULL REFERENCES devices(id),
    generation bigint NOT NULL,
    patient_id uuid NOT NULL,
    PRIMARY KEY (device_id, generation, patient_id)
);
CREATE INDEX device_scopes_patient_idx ON device_scopes (device_id, patient_id);

-- Records that existed before this migration enter the log at seq 0.
INSERT INTO sync_changes (entity, entity_id, seq, op, patient_id, organization_id, version, hlc)
SELECT 'organization', id, 0, 'upsert', NULL::uuid, id, version, sync_hlc() FROM organizations
UNION ALL SELECT 'team', id, 0, 'upsert', NULL, organization_id, version, sync_hlc() FROM teams
UNION ALL SELECT 'practitioner', id, 0, 'upsert', NULL, organization_id, version, sync_hlc() FROM practitioners
UNION ALL SELECT 'patient', id, 0, 'upsert', id, registered_practice_id, version, sync_hlc() FROM patients
UNION ALL SELECT 'care_relationship', id, 0, 'upsert', patient_id, organization_id, version, sync_hlc() FROM care_relationships
UNION ALL SELECT 'interaction', id, 0, 'upsert', patient_id, organization_id, version, sync_hlc() FROM interactions;
