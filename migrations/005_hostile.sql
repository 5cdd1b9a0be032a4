-- Issue 9 (hostile callers and departed staff).
--
-- The patients name filter matches the start of a given or family name,
-- case-insensitively; these indexes serve lower(name) LIKE 'prefix%' whatever
-- the database's collation (text_pattern_ops compares bytewise).
CREATE INDEX patients_family_name_prefix_idx ON patients (lower(family_name) text_pattern_ops);
CREATE INDEX patients_given_name_prefix_idx ON patients (lower(given_name) text_pattern_ops);

-- Registering a patient whose NHS number is already registered at another
-- practice does not say where: it files a transfer request to the registered
-- practice, which accepts or declines it. Every step is in access_audit.
CREATE TABLE registration_transfers (
    id                    uuid PRIMARY KEY,
    patient_id            uuid NOT NULL REFERENCES patients(id),
    from_practice_id      uuid NOT NULL REFERENCES organizations(id),
    to_practice_id        uuid NOT NULL REFERENCES organizations(id),
    requested_by          uuid REFERENCES practitioners(id),
    requested_at          timestamptz NOT NULL DEFAULT now(),
    status                text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'accepted', 'declined')),
    decided_by            uuid REFERENCES practitioners(id),
    decided_at            timestamptz
);
CREATE UNIQUE INDEX registration_transfers_one_pending ON registration_transfers (patient_id, to_practice_id) WHERE status = 'pending';
CREATE INDEX registration_transfers_from_idx ON registration_transfers (from_practice_id, status);
CREATE INDEX registration_transfers_to_idx ON registration_transfers (to_practice_id, status);
