-- Contact history imported from a practice's clinical system through FHIR
-- (docs/fhir.md, "Import"): which source record (system + identifier) became
-- which Rapport record. It makes an import idempotent (a second load of the
-- same Bundle finds every record already here and changes nothing) and marks
-- imported encounters with the identifier they had at the source.
-- (Assigned number 006 by the lead; numbered after the last migration here.)
CREATE TABLE imported_records (
    organization_id uuid NOT NULL REFERENCES organizations(id),
    source_system   text NOT NULL CHECK (length(source_system) BETWEEN 1 AND 500),
    entity          text NOT NULL CHECK (entity IN ('practitioner', 'interaction')),
    source_id       text NOT NULL CHECK (length(source_id) BETWEEN 1 AND 200),
    entity_id       uuid NOT NULL,
    imported_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (organization_id, source_system, entity, source_id)
);
CREATE UNIQUE INDEX imported_records_entity_idx ON imported_records (entity, entity_id);

-- FHIR Bulk Data exports (docs/fhir.md, "Bulk export"). A job fixes, at
-- kick-off, who asked, what (types, _since, the group) and its transaction
-- time; every patient it covers is audited then, once. Its NDJSON files are
-- streamed from the tables when downloaded, so no instance holds an export
-- in memory and any instance can serve any job.
CREATE TABLE bulk_exports (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    requester        text NOT NULL, -- the token's subject
    client_id        text NOT NULL DEFAULT '',
    level            text NOT NULL CHECK (level IN ('system', 'patient', 'group')),
    team_id          uuid REFERENCES teams(id),
    practice_id      uuid REFERENCES organizations(id),
    types            text[] NOT NULL,
    since            timestamptz,
    transaction_time timestamptz NOT NULL,
    patients         integer NOT NULL DEFAULT 0,
    cancelled_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now()
);
