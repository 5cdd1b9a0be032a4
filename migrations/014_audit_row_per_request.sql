-- A read's access_audit row now records everything one request read, about
-- every patient it touched: a third array, patient_ids, gives the patient of
-- each entity (patient_ids[i] is the patient of entities[i] and
-- entity_ids[i]), and a GIN index on it finds a patient's rows. A caseload
-- page of 100 patients wrote 100 rows, each with its heap tuple and three
-- index entries, and those rows were half the page's database time; it now
-- writes one row, its patients' entries going to the GIN index's pending
-- list. A sync page of many patients' records likewise writes one row.
-- Writes keep one row for each statement and patient.
--
-- Nothing recorded is lost: who, when, what action, through which request
-- and operation, and every entity's kind, id and patient. The view
-- access_audit_entries still shows the trail one entity per row, with its
-- patient; the function access_audit_trail(patient) reads one patient's
-- entries through the GIN index (a filter on the view's patient_id would
-- unnest every row). The price is the auditor's: a patient's trail is read
-- in proportion to how many requests read the patient, each row unnested in
-- full (the newest 10 entries of a patient read by 20,000 caseload requests:
-- 0.07 ms through the old B-tree on (patient_id, at), about 270 ms this
-- way). A BRIN index on at, which costs an insert next to nothing, lets a
-- trail bounded in time (access_audit_trail's since) read only that time's
-- rows: the same patient's last day, 41 ms. The UPDATE below rewrites the
-- trail once: on a large trail, apply this migration in a maintenance
-- window.
DROP VIEW access_audit_entries;
ALTER TABLE access_audit ADD COLUMN patient_ids uuid[];
UPDATE access_audit SET patient_ids = array_fill(patient_id, ARRAY[cardinality(entities)]);
ALTER TABLE access_audit
    ALTER COLUMN patient_ids SET NOT NULL,
    DROP CONSTRAINT access_audit_entities_match,
    ADD CONSTRAINT access_audit_entities_match
        CHECK (cardinality(entities) >= 1 AND cardinality(entities) = cardinality(entity_ids)
               AND cardinality(entities) = cardinality(patient_ids)),
    DROP COLUMN patient_id;
CREATE INDEX access_audit_patients_idx ON access_audit USING gin (patient_ids);
CREATE INDEX access_audit_at_idx ON access_audit USING brin (at);

CREATE VIEW access_audit_entries AS
SELECT a.id, a.at, a.actor_id, a.actor_subject, a.actor_role, a.organization_id, e.patient_id, a.action,
       e.entity, e.entity_id, a.request_id, a.operation, e.position
FROM access_audit a
CROSS JOIN LATERAL unnest(a.patient_ids, a.entities, a.entity_ids) WITH ORDINALITY AS e(patient_id, entity, entity_id, position);

-- One patient's trail, one entity per row, as access_audit_entries shows it;
-- since bounds it in time (at or after).
CREATE FUNCTION access_audit_trail(patient uuid, since timestamptz DEFAULT '-infinity') RETURNS SETOF access_audit_entries
LANGUAGE sql STABLE AS $$
    SELECT a.id, a.at, a.actor_id, a.actor_subject, a.actor_role, a.organization_id, e.patient_id, a.action,
           e.entity, e.entity_id, a.request_id, a.operation, e.position
    FROM access_audit a
    CROSS JOIN LATERAL unnest(a.patient_ids, a.entities, a.entity_ids) WITH ORDINALITY AS e(patient_id, entity, entity_id, position)
    WHERE a.patient_ids @> ARRAY[patient] AND e.patient_id = patient AND a.at >= since
$$;
