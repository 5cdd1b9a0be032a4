-- Feedback on care relationships (docs/feedback.md). Responses are scored by
-- the feedback package (CARE Measure, Friends and Family Test, versioned
-- practice questionnaires). A response holds NO respondent identity: no
-- person, account, device, IP address or user agent. What it is about (its
-- subject) is all that connects it to anyone; submitted_on is a date, not an
-- instant, so it cannot be matched to a visit's time.

-- Practice-defined questionnaires: one row per version; versions are never
-- changed, so a response is always read against the questions it answered.
CREATE TABLE feedback_questionnaires (
    id              uuid NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    organization_id uuid NOT NULL REFERENCES organizations(id),
    title           text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    questions       jsonb NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, version)
);
CREATE INDEX feedback_questionnaires_org_idx ON feedback_questionnaires (organization_id, id, version DESC);

CREATE TABLE feedback_responses (
    id                    uuid PRIMARY KEY,
    organization_id       uuid NOT NULL REFERENCES organizations(id),
    subject_kind          text NOT NULL CHECK (subject_kind IN ('interaction','care_relationship','practitioner','team','partnership')),
    -- The subject, and the practitioner, team and relationship kind it
    -- belongs to (denormalised when the response is stored, for access and
    -- aggregates).
    interaction_id        uuid REFERENCES interactions(id),
    relationship_id       uuid REFERENCES care_relationships(id),
    practitioner_id       uuid REFERENCES practitioners(id),
    team_id               uuid REFERENCES teams(id),
    relationship_kind     text,
    respondent            text NOT NULL CHECK (respondent IN ('patient','carer','colleague','self')),
    instrument            text NOT NULL CHECK (instrument IN ('care_measure','fft','questionnaire')),
    care_ratings          smallint[],
    care_score            double precision CHECK (care_score BETWEEN 10 AND 50),
    care_missing          smallint,
    fft_answer            text CHECK (fft_answer IN ('very_good','good','neither','poor','very_poor','dont_know')),
    questionnaire_id      uuid,
    questionnaire_version integer,
    answers               jsonb,
    -- Free text: stored, shown only with the single response, never aggregated.
    free_text             text CHECK (length(free_text) <= 4000),
    submitted_on          date NOT NULL,
    version               bigint NOT NULL DEFAULT 1,
    CHECK (CASE subject_kind
        WHEN 'interaction' THEN interaction_id IS NOT NULL AND practitioner_id IS NOT NULL
        WHEN 'care_relationship' THEN relationship_id IS NOT NULL
        WHEN 'partnership' THEN relationship_id IS NOT NULL
        WHEN 'practitioner' THEN practitioner_id IS NOT NULL
        WHEN 'team' THEN team_id IS NOT NULL
    END),
    CHECK (CASE instrument
        WHEN 'care_measure' THEN cardinality(care_ratings) = 10 AND care_missing IS NOT NULL AND fft_answer IS NULL AND questionnaire_id IS NULL
        WHEN 'fft' THEN fft_answer IS NOT NULL AND care_ratings IS NULL AND questionnaire_id IS NULL
        ELSE questionnaire_id IS NOT NULL AND questionnaire_version IS NOT NULL AND answers IS NOT NULL AND care_ratings IS NULL AND fft_answer IS NULL
    END),
    CHECK ((care_score IS NULL) OR care_missing <= 2),
    FOREIGN KEY (questionnaire_id, questionnaire_version) REFERENCES feedback_questionnaires(id, version)
);
CREATE INDEX feedback_responses_org_idx ON feedback_responses (organization_id, submitted_on DESC, id DESC);
CREATE INDEX feedback_responses_practitioner_idx ON feedback_responses (practitioner_id, submitted_on DESC, id DESC) WHERE practitioner_id IS NOT NULL;
CREATE INDEX feedback_responses_team_idx ON feedback_responses (team_id, submitted_on DESC) WHERE team_id IS NOT NULL;

-- Feedback links that have been used: the link's token id, under its primary
-- key, so a second submission with the same link (even a concurrent one)
-- fails. Deliberately not linked to the response it produced. Rows may be
-- deleted once expires_at has passed (the token is refused as expired then).
CREATE TABLE feedback_link_uses (
    link_id    uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

-- Feedback travels through sync like other records (entity 'feedback'). The
-- change log row names the organisation only: no patient, and never the
-- device or person that wrote it.
ALTER TABLE sync_changes DROP CONSTRAINT sync_changes_entity_check;
ALTER TABLE sync_changes ADD CONSTRAINT sync_changes_entity_check
    CHECK (entity IN ('patient','care_relationship','interaction','practitioner','team','organization','feedback'));

CREATE FUNCTION feedback_sync_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r  record;
    op text := 'upsert';
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
        op := 'delete';
    ELSE
        r := NEW;
    END IF;
    INSERT INTO sync_changes AS sc (entity, entity_id, seq, txid, op, patient_id, organization_id, version, changed_fields, hlc, device_id, changed_at)
    VALUES ('feedback', r.id, NULL, pg_current_xact_id(), op, NULL, r.organization_id, r.version, '{}',
            -- a day-granular clock: feedback is never merged, and an exact
            -- instant could be matched against a visit
            lpad((floor(extract(epoch FROM date_trunc('day', now())) * 1000))::bigint::text, 13, '0') || '-0000-server',
            NULL, date_trunc('day', now()))
    ON CONFLICT (entity, entity_id) DO UPDATE SET
        seq = NULL, txid = EXCLUDED.txid, op = EXCLUDED.op, organization_id = EXCLUDED.organization_id,
        version = EXCLUDED.version, changed_fields = '{}', hlc = EXCLUDED.hlc, device_id = NULL, changed_at = EXCLUDED.changed_at;
    RETURN NULL;
END $$;
CREATE TRIGGER feedback_responses_sync AFTER INSERT OR UPDATE OR DELETE ON feedback_responses FOR EACH ROW
    WHEN (current_setting('rapport.bulk_load', true) IS DISTINCT FROM 'on') EXECUTE FUNCTION feedback_sync_changed();
