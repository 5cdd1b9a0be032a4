-- Rapport's care domain. Every row carries version (bumped on each change) and
-- timestamps so the sync engine can build on the same tables.

CREATE TABLE organizations (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('gp_practice','community_nursing','social_care','hospital','voluntary')),
    ods_code    text UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    version     bigint NOT NULL DEFAULT 1
);

CREATE TABLE teams (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id),
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         bigint NOT NULL DEFAULT 1
);
CREATE INDEX teams_organization_idx ON teams (organization_id);

CREATE TABLE practitioners (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations(id),
    given_name      text NOT NULL,
    family_name     text NOT NULL,
    profession      text NOT NULL CHECK (profession IN ('gp','district_nurse','practice_nurse','community_nurse','hca','social_worker','physiotherapist','occupational_therapist','pharmacist','care_worker','other')),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    version         bigint NOT NULL DEFAULT 1
);
CREATE INDEX practitioners_organization_idx ON practitioners (organization_id);

CREATE TABLE patients (
    id                     uuid PRIMARY KEY,
    nhs_number             text NOT NULL UNIQUE CHECK (nhs_number ~ '^[0-9]{10}$'),
    given_name             text NOT NULL,
    family_name            text NOT NULL,
    birth_date             date NOT NULL,
    registered_practice_id uuid NOT NULL REFERENCES organizations(id),
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    version                bigint NOT NULL DEFAULT 1
);
CREATE INDEX patients_practice_name_idx ON patients (registered_practice_id, family_name, given_name, id);
CREATE INDEX patients_name_idx ON patients (lower(family_name), lower(given_name));

CREATE TABLE care_relationships (
    id                      uuid PRIMARY KEY,
    kind                    text NOT NULL CHECK (kind IN ('usual_gp','named_nurse','key_worker','care_coordinator','carer','family','team_member','partnership')),
    status                  text NOT NULL CHECK (status IN ('proposed','active','ended')),
    organization_id         uuid NOT NULL REFERENCES organizations(id),
    patient_id              uuid REFERENCES patients(id),
    practitioner_id         uuid REFERENCES practitioners(id),
    team_id                 uuid REFERENCES teams(id),
    partner_organization_id uuid REFERENCES organizations(id),
    related_person_name     text,
    period_start            timestamptz NOT NULL,
    period_end              timestamptz,
    consent                 text NOT NULL DEFAULT 'not_recorded' CHECK (consent IN ('given','refused','not_recorded')),
    patient_preference      text NOT NULL DEFAULT 'not_asked' CHECK (patient_preference IN ('preferred','accepted','not_preferred','not_asked')),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    version                 bigint NOT NULL DEFAULT 1,
    CHECK (period_end IS NULL OR period_end > period_start),
    -- the parties must fit the kind (mirrors care.StartRelationshipInput.Validate)
    CHECK (CASE kind
        WHEN 'team_member' THEN practitioner_id IS NOT NULL AND team_id IS NOT NULL AND patient_id IS NULL AND partner_organization_id IS NULL
        WHEN 'partnership' THEN partner_organization_id IS NOT NULL AND patient_id IS NULL AND practitioner_id IS NULL AND team_id IS NULL
        ELSE patient_id IS NOT NULL AND partner_organization_id IS NULL
             AND num_nonnulls(practitioner_id, team_id, related_person_name) = 1
    END)
);
CREATE INDEX care_relationships_patient_idx ON care_relationships (patient_id, kind) WHERE patient_id IS NOT NULL;
CREATE INDEX care_relationships_practitioner_idx ON care_relationships (practitioner_id, kind) WHERE practitioner_id IS NOT NULL;
CREATE INDEX care_relationships_team_idx ON care_relationships (team_id, kind) WHERE team_id IS NOT NULL;
CREATE INDEX care_relationships_org_idx ON care_relationships (organization_id, kind);
-- A patient has at most one active usual GP and one active named nurse.
CREATE UNIQUE INDEX care_relationships_one_usual_gp ON care_relationships (patient_id) WHERE kind = 'usual_gp' AND status = 'active';
CREATE UNIQUE INDEX care_relationships_one_named_nurse ON care_relationships (patient_id) WHERE kind = 'named_nurse' AND status = 'active';

CREATE TABLE interactions (
    id               uuid PRIMARY KEY,
    patient_id       uuid NOT NULL REFERENCES patients(id),
    practitioner_id  uuid NOT NULL REFERENCES practitioners(id),
    organization_id  uuid NOT NULL REFERENCES organizations(id),
    mode             text NOT NULL CHECK (mode IN ('home_visit','clinic','phone','video','message')),
    occurred_at      timestamptz NOT NULL,
    duration_minutes integer CHECK (duration_minutes BETWEEN 0 AND 1440),
    participant_ids  uuid[] NOT NULL DEFAULT '{}',
    other_present    text[] NOT NULL DEFAULT '{}',
    purpose          text NOT NULL DEFAULT '',
    notes            text NOT NULL DEFAULT '',
    status           text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft','signed','amended')),
    signed_at        timestamptz,
    signed_by_id     uuid REFERENCES practitioners(id),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    version          bigint NOT NULL DEFAULT 1,
    CHECK ((status = 'draft') = (signed_at IS NULL))
);
CREATE INDEX interactions_patient_idx ON interactions (patient_id, occurred_at DESC, id DESC);
CREATE INDEX interactions_practitioner_idx ON interactions (practitioner_id, occurred_at DESC, id DESC);
CREATE INDEX interactions_org_idx ON interactions (organization_id, occurred_at DESC);

CREATE TABLE interaction_amendments (
    id                      uuid PRIMARY KEY,
    interaction_id          uuid NOT NULL REFERENCES interactions(id),
    amended_by_id           uuid NOT NULL REFERENCES practitioners(id),
    amended_at              timestamptz NOT NULL DEFAULT now(),
    reason                  text NOT NULL CHECK (length(reason) > 0),
    before_purpose          text NOT NULL,
    before_notes            text NOT NULL,
    before_duration_minutes integer,
    after_purpose           text NOT NULL,
    after_notes             text NOT NULL,
    after_duration_minutes  integer
);
CREATE INDEX interaction_amendments_interaction_idx ON interaction_amendments (interaction_id, amended_at);

-- A signed interaction's clinical content changes only together with an
-- amendment row in the same transaction; this trigger refuses anything else,
-- so no code path (present or future) can silently rewrite a signed record.
CREATE FUNCTION interactions_guard_signed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.status <> 'draft' THEN
        IF NEW.patient_id IS DISTINCT FROM OLD.patient_id
           OR NEW.practitioner_id IS DISTINCT FROM OLD.practitioner_id
           OR NEW.mode IS DISTINCT FROM OLD.mode
           OR NEW.occurred_at IS DISTINCT FROM OLD.occurred_at
           OR NEW.signed_at IS DISTINCT FROM OLD.signed_at
           OR NEW.status = 'draft' THEN
            RAISE EXCEPTION 'signed interaction % cannot be edited', OLD.id USING ERRCODE = 'P0001';
        END IF;
        IF (NEW.purpose IS DISTINCT FROM OLD.purpose OR NEW.notes IS DISTINCT FROM OLD.notes
            OR NEW.duration_minutes IS DISTINCT FROM OLD.duration_minutes)
           AND NOT EXISTS (SELECT 1 FROM interaction_amendments a
                           WHERE a.interaction_id = OLD.id
                             AND a.after_purpose = NEW.purpose AND a.after_notes = NEW.notes
                             AND a.after_duration_minutes IS NOT DISTINCT FROM NEW.duration_minutes
                             AND a.amended_at = now()) THEN
            RAISE EXCEPTION 'signed interaction % changes only by amendment', OLD.id USING ERRCODE = 'P0001';
        END IF;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER interactions_guard_signed BEFORE UPDATE ON interactions
    FOR EACH ROW EXECUTE FUNCTION interactions_guard_signed();

-- Who read or wrote which patient's data, when, through which request.
CREATE TABLE access_audit (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_id        uuid,
    actor_subject   text NOT NULL,
    actor_role      text NOT NULL,
    organization_id uuid,
    patient_id      uuid NOT NULL,
    action          text NOT NULL,
    entity          text NOT NULL,
    entity_id       uuid NOT NULL,
    request_id      text NOT NULL DEFAULT '',
    operation       text NOT NULL DEFAULT ''
);
CREATE INDEX access_audit_patient_idx ON access_audit (patient_id, at);
CREATE INDEX access_audit_actor_idx ON access_audit (actor_id, at);
