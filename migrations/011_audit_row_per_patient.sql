-- One access_audit row now records everything one statement or one request
-- did to one patient's record: the entities it touched, in two arrays of
-- the same length (entities[i] is the kind of entity_ids[i]). A caseload
-- page of 100 patients with their usual GPs wrote 200 rows and now writes
-- 100; a patient read with 50 interactions wrote 51 and now writes one.
-- Each row costs its heap tuple and three index entries whatever it holds,
-- and these rows were half a caseload read's database time.
--
-- Nothing recorded is lost: who, when, which patient, what action, through
-- which request and operation, and every entity's kind and id. The view
-- access_audit_entries shows the trail as before, one row per entity
-- (position: its place in its row). The UPDATE below rewrites the trail
-- once: on a large trail, apply this migration in a maintenance window.
ALTER TABLE access_audit ADD COLUMN entities text[], ADD COLUMN entity_ids uuid[];
UPDATE access_audit SET entities = ARRAY[entity], entity_ids = ARRAY[entity_id];
ALTER TABLE access_audit
    ALTER COLUMN entities SET NOT NULL,
    ALTER COLUMN entity_ids SET NOT NULL,
    DROP COLUMN entity,
    DROP COLUMN entity_id,
    ADD CONSTRAINT access_audit_entities_match
        CHECK (cardinality(entities) >= 1 AND cardinality(entities) = cardinality(entity_ids));

CREATE VIEW access_audit_entries AS
SELECT a.id, a.at, a.actor_id, a.actor_subject, a.actor_role, a.organization_id, a.patient_id, a.action,
       e.entity, e.entity_id, a.request_id, a.operation, e.position
FROM access_audit a
CROSS JOIN LATERAL unnest(a.entities, a.entity_ids) WITH ORDINALITY AS e(entity, entity_id, position);
