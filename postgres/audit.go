package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rapportcare/rapport/care"
)

// Audited entity names.
const (
	entityPatient      = "Patient"
	entityRelationship = "CareRelationship"
	entityInteraction  = "Interaction"
	entityAmendment    = "InteractionAmendment"
	entityConflict     = "SyncConflict"
)

// auditRec is one patient-data row to record.
type auditRec struct {
	patientID uuid.UUID
	entity    string
	entityID  uuid.UUID
}

// insertAuditSQL writes one row for each patient of the records
// ($8 to $10: parallel arrays of patient, entity and entity id), listing
// that patient's entities in order.
const insertAuditSQL = `
INSERT INTO access_audit (actor_id, actor_subject, actor_role, organization_id, patient_ids,
                          action, entities, entity_ids, request_id, operation)
SELECT $1, $2, $3, $4, array_agg(u.patient_id ORDER BY u.n), $5, array_agg(u.entity ORDER BY u.n), array_agg(u.entity_id ORDER BY u.n), $6, $7
FROM unnest($8::uuid[], $9::text[], $10::uuid[]) WITH ORDINALITY AS u(patient_id, entity, entity_id, n)
GROUP BY u.patient_id`

// auditParams are the actor, action and request of audit rows, as
// insertAuditSQL ($1 to $7) and auditOfRowsSQL take them.
func auditParams(ctx context.Context, a *care.Actor, action care.AuditAction) []any {
	return []any{nilIfZero(a.PractitionerID), a.Subject, string(a.Role), nilIfZero(a.OrganizationID), string(action),
		care.RequestIDFromContext(ctx), care.OperationFromContext(ctx)}
}

// auditOfRowsSQL is an INSERT of the audit rows of entity for the rows of
// rows (a CTE with id and patient_id), one for each patient, for a statement
// that writes records and their audit together; auditParams are its
// parameters $n to $n+6.
func auditOfRowsSQL(n int, entity, rows string) string {
	return fmt.Sprintf(`INSERT INTO access_audit (actor_id, actor_subject, actor_role, organization_id, patient_ids,
                          action, entities, entity_ids, request_id, operation)
    SELECT $%d, $%d, $%d, $%d, array_fill(r.patient_id, ARRAY[count(*)::int]), $%d, array_fill('%s'::text, ARRAY[count(*)::int]), array_agg(r.id), $%d, $%d
    FROM %s r GROUP BY r.patient_id`, n, n+1, n+2, n+3, n+4, entity, n+5, n+6, rows)
}

// auditGroup is one access_audit row: the entities of entries first to
// last, which share a key, each with its patient.
type auditGroup struct {
	first    int // the first entry's index
	entities []string
	ids      []pgtype.UUID
	patients []pgtype.UUID
}

// groupAudit gathers n entries into rows, one for each key in order of its
// first entry; an entry that may not merge gets a row of its own.
func groupAudit[K comparable](n int, entry func(i int) (key K, merge bool, rec auditRec)) []auditGroup {
	out := make([]auditGroup, 0, n)
	at := make(map[K]int, n)
	for i := range n {
		key, merge, rec := entry(i)
		j, ok := at[key]
		if !ok || !merge {
			j = len(out)
			at[key] = j
			out = append(out, auditGroup{first: i})
		}
		out[j].entities = append(out[j].entities, rec.entity)
		out[j].ids = append(out[j].ids, loadUUID(rec.entityID))
		out[j].patients = append(out[j].patients, loadUUID(rec.patientID))
	}
	return out
}

// audit records recs in access_audit; nothing is written for no rows. Reads
// outside a transaction are queued for the audit flusher (auditqueue.go),
// or gathered for their response's queueing (GatherReadAudit),
// which refuses them with EUNAVAILABLE when it cannot keep up; everything
// else is inserted with one multi-row INSERT in the caller's transaction,
// which commits anyway. It returns the refusal or
// the database's error: the caller must then not serve the data.
func (db *DB) audit(ctx context.Context, a *care.Actor, action care.AuditAction, recs []auditRec) error {
	if len(recs) == 0 {
		return nil
	}
	if action == care.AuditRead && !db.inTx {
		rows := auditRows(ctx, a, action, recs)
		if gathered, err := db.audits.gather(ctx, rows); gathered || err != nil {
			return err
		}
		return db.audits.enqueue(rows)
	}
	pids := make([]uuid.UUID, len(recs))
	entities := make([]string, len(recs))
	eids := make([]uuid.UUID, len(recs))
	for i, r := range recs {
		pids[i], entities[i], eids[i] = r.patientID, r.entity, r.entityID
	}
	_, err := db.q.Exec(ctx, insertAuditSQL, append(auditParams(ctx, a, action), pids, entities, eids)...)
	if err != nil {
		return fmt.Errorf("write audit: %w", err)
	}
	return nil
}

// auditHead is what the audit entries of one call share: who read, how,
// and in which request.
type auditHead struct {
	actorID, org                                pgtype.UUID
	subject, role, action, requestID, operation string
}

// auditColumns are the columns of an access_audit row as a COPY writes
// them: its time, then appendValues's.
var auditColumns = []string{"at", "actor_id", "actor_subject", "actor_role", "organization_id", "patient_ids",
	"action", "entities", "entity_ids", "request_id", "operation"}

// appendValues appends the values of auditColumns[1:] for the row of g.
func (h *auditHead) appendValues(vals []any, g *auditGroup) []any {
	return append(vals, h.actorID, h.subject, h.role, h.org, g.patients, h.action, g.entities, g.ids, h.requestID, h.operation)
}

func newAuditHead(ctx context.Context, a *care.Actor, action care.AuditAction) *auditHead {
	h := &auditHead{actorID: loadUUID(a.PractitionerID), org: loadUUID(a.OrganizationID), subject: a.Subject, role: string(a.Role),
		action: string(action), requestID: care.RequestIDFromContext(ctx), operation: care.OperationFromContext(ctx)}
	h.actorID.Valid, h.org.Valid = a.PractitionerID != uuid.Nil, a.OrganizationID != uuid.Nil
	return h
}

// auditRows turns recs into queue rows.
func auditRows(ctx context.Context, a *care.Actor, action care.AuditAction, recs []auditRec) []auditRow {
	h := newAuditHead(ctx, a, action)
	out := make([]auditRow, len(recs))
	for i, r := range recs {
		out[i] = auditRow{head: h, rec: r}
	}
	return out
}

// nilIfZero maps uuid.Nil to SQL NULL.
func nilIfZero(id uuid.UUID) *uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return &id
}

func patientRecs(ps []*care.Patient) []auditRec {
	out := make([]auditRec, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, auditRec{p.ID, entityPatient, p.ID})
		}
	}
	return out
}

func interactionRecs(is []*care.Interaction) []auditRec {
	out := make([]auditRec, 0, len(is))
	for _, i := range is {
		if i != nil {
			out = append(out, auditRec{i.PatientID, entityInteraction, i.ID})
		}
	}
	return out
}

// relationshipRecs records only relationships with a patient.
func relationshipRecs(rs []*care.CareRelationship) []auditRec {
	out := make([]auditRec, 0, len(rs))
	for _, r := range rs {
		if r != nil && r.PatientID != nil {
			out = append(out, auditRec{*r.PatientID, entityRelationship, r.ID})
		}
	}
	return out
}

// AuditConflicts records that the actor in ctx did action on each conflict of
// the sync conflict ledger that is about a patient: the ledger holds both
// sides of clinical fields (notes), so reading it is reading the record.
// conflicts maps each conflict's id to its patient (nil: no patient, nothing
// recorded). It returns EUNAUTHENTICATED without an actor, or the
// database's error.
func (db *DB) AuditConflicts(ctx context.Context, action care.AuditAction, conflicts map[uuid.UUID]*uuid.UUID) error {
	a, err := actorOf(ctx)
	if err != nil {
		return err
	}
	recs := make([]auditRec, 0, len(conflicts))
	for id, patient := range conflicts {
		if patient != nil {
			recs = append(recs, auditRec{*patient, entityConflict, id})
		}
	}
	return db.audit(ctx, a, action, recs)
}

// auditEntriesSQL reads the trail one entity at a time, through the
// function that finds the patient's rows by the index on their patients and
// unnests their entities in order (014_audit_row_per_request.sql).
const auditEntriesSQL = `
SELECT id, at, actor_id, actor_role, organization_id, patient_id, action, entity, entity_id, request_id, operation
FROM access_audit_trail($1) ORDER BY at, id, position`

// AuditEntries returns the audit trail for a patient, oldest first. Only the
// system and practice admins of the patient's registered practice may read it:
// EFORBIDDEN for other roles, ENOTFOUND for an unknown patient or another
// practice's patient.
func (db *DB) AuditEntries(ctx context.Context, patientID uuid.UUID) ([]*care.AuditEntry, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if !hasRole(a, care.RoleSystem, care.RolePracticeAdmin) {
		return nil, forbidden("read the audit trail")
	}
	// The trail shows every read this process has served, queued or not:
	// flushed to the primary, and read there.
	if err := db.FlushAudit(ctx); err != nil {
		return nil, err
	}
	ctx = onPrimary(ctx)
	var practice uuid.UUID
	err = db.q.QueryRow(ctx, `SELECT registered_practice_id FROM patients WHERE id = $1`, patientID).Scan(&practice)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", translate(err))
	}
	if !adminOf(a, practice) {
		return nil, care.Errorf(care.ENOTFOUND, "no such patient")
	}
	rows, err := db.q.Query(ctx, auditEntriesSQL, patientID)
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*care.AuditEntry, error) {
		var e care.AuditEntry
		var actor, org *uuid.UUID
		var role, action string
		if err := r.Scan(&e.ID, &e.At, &actor, &role, &org, &e.PatientID, &action, &e.Entity, &e.EntityID, &e.RequestID, &e.Operation); err != nil {
			return nil, err
		}
		if actor != nil {
			e.ActorID = *actor
		}
		if org != nil {
			e.OrganizationID = *org
		}
		e.ActorRole, e.Action = care.Role(role), care.AuditAction(action)
		return &e, nil
	})
	if err != nil {
		return nil, fmt.Errorf("audit entries: %w", err)
	}
	return out, nil
}
