package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rapportcare/rapport/care"
)

// Load writes a whole dataset (the demo seed, a benchmark's workload) in one
// transaction with COPY, table by table in dependency order, then records the
// creation of every patient, patient relationship, interaction and amendment in
// access_audit and refreshes the planner's statistics. Rows are written as
// they are: an amended interaction already holds its corrected content, and
// zero timestamps and versions become the load time and 1. Only the system
// actor may load: EUNAUTHENTICATED without an actor, EFORBIDDEN for any other.
// A row that breaks a constraint (a duplicate ID or NHS number, a dangling
// reference, a signed interaction without a signing time) fails the whole load
// with ECONFLICT, ENOTFOUND or EINVALID and nothing is written.
func (db *DB) Load(ctx context.Context, d *care.Dataset) error {
	a, err := actorOf(ctx)
	if err != nil {
		return err
	}
	if a.Role != care.RoleSystem {
		return forbidden("bulk load data")
	}
	if d == nil {
		return care.Errorf(care.EINVALID, "no dataset to load")
	}
	now := db.now()
	return db.InTx(ctx, func(tx *DB) error {
		// A million-row COPY outlasts the pool's per-statement timeout; the
		// caller's context still bounds the load.
		if _, err := tx.q.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return fmt.Errorf("load: lift statement timeout: %w", err)
		}
		if _, err := tx.q.Exec(ctx, bulkLoadOffSQL); err != nil {
			return fmt.Errorf("load: sync triggers off: %w", err)
		}
		for _, t := range loadTables(d, now) {
			if err := tx.bulkCopy(ctx, t); err != nil {
				return err
			}
		}
		if err := tx.bulkCopy(ctx, auditTable(ctx, a, d)); err != nil {
			return err
		}
		if err := tx.logBulkLoad(ctx); err != nil {
			return err
		}
		if _, err := tx.q.Exec(ctx, `ANALYZE organizations, teams, practitioners, patients, care_relationships, interactions, interaction_amendments, sync_changes`); err != nil {
			return fmt.Errorf("load: analyze: %w", err)
		}
		return nil
	})
}

// loadTable is one table's COPY: its columns and a function giving row i.
type loadTable struct {
	name    string
	columns []string
	n       int
	row     func(i int) ([]any, error)
}

// loadTables lists the dataset's tables in the order their references need.
func loadTables(d *care.Dataset, now time.Time) []loadTable {
	ts := func(t time.Time) time.Time {
		if t.IsZero() {
			return now
		}
		return t
	}
	version := func(v int64) int64 { return max(v, 1) }
	return []loadTable{
		{"organizations", []string{"id", "name", "kind", "ods_code", "created_at", "updated_at", "version"},
			len(d.Organizations), func(i int) ([]any, error) {
				o := &d.Organizations[i]
				return []any{loadUUID(o.ID), o.Name, string(o.Kind), o.ODSCode, ts(o.CreatedAt), ts(o.UpdatedAt), version(o.Version)}, nil
			}},
		{"teams", []string{"id", "organization_id", "name", "created_at", "updated_at", "version"},
			len(d.Teams), func(i int) ([]any, error) {
				t := &d.Teams[i]
				return []any{loadUUID(t.ID), loadUUID(t.OrganizationID), t.Name, ts(t.CreatedAt), ts(t.UpdatedAt), version(t.Version)}, nil
			}},
		{"practitioners", []string{"id", "organization_id", "given_name", "family_name", "profession", "active", "created_at", "updated_at", "version"},
			len(d.Practitioners), func(i int) ([]any, error) {
				p := &d.Practitioners[i]
				return []any{loadUUID(p.ID), loadUUID(p.OrganizationID), p.GivenName, p.FamilyName, string(p.Profession), p.Active, ts(p.CreatedAt), ts(p.UpdatedAt), version(p.Version)}, nil
			}},
		{"patients", []string{"id", "nhs_number", "given_name", "family_name", "birth_date", "registered_practice_id", "created_at", "updated_at", "version"},
			len(d.Patients), func(i int) ([]any, error) {
				p := &d.Patients[i]
				birth := pgtype.Date{Time: p.BirthDate, Valid: true}
				return []any{loadUUID(p.ID), p.NHSNumber, p.GivenName, p.FamilyName, birth, loadUUID(p.RegisteredPracticeID), ts(p.CreatedAt), ts(p.UpdatedAt), version(p.Version)}, nil
			}},
		{"care_relationships", []string{"id", "kind", "status", "organization_id", "patient_id", "practitioner_id", "team_id", "partner_organization_id", "related_person_name", "period_start", "period_end", "consent", "patient_preference", "created_at", "updated_at", "version"},
			len(d.Relationships), func(i int) ([]any, error) {
				r := &d.Relationships[i]
				return []any{loadUUID(r.ID), string(r.Kind), string(r.Status), loadUUID(r.OrganizationID), loadUUIDPtr(r.PatientID), loadUUIDPtr(r.PractitionerID), loadUUIDPtr(r.TeamID), loadUUIDPtr(r.PartnerOrganizationID), r.RelatedPersonName,
					r.PeriodStart, r.PeriodEnd, orDefault(string(r.Consent), string(care.ConsentNotRecorded)), orDefault(string(r.PatientPreference), string(care.PreferenceNotAsked)), ts(r.CreatedAt), ts(r.UpdatedAt), version(r.Version)}, nil
			}},
		{"interactions", []string{"id", "patient_id", "practitioner_id", "organization_id", "mode", "occurred_at", "duration_minutes", "participant_ids", "other_present", "purpose", "notes", "status", "signed_at", "signed_by_id", "created_at", "updated_at", "version"},
			len(d.Interactions), func(i int) ([]any, error) {
				in := &d.Interactions[i]
				participants := make([]pgtype.UUID, len(in.ParticipantIDs))
				for k, id := range in.ParticipantIDs {
					participants[k] = loadUUID(id)
				}
				others := in.OtherPresent
				if others == nil {
					others = []string{}
				}
				return []any{loadUUID(in.ID), loadUUID(in.PatientID), loadUUID(in.PractitionerID), loadUUID(in.OrganizationID), string(in.Mode), in.OccurredAt, in.DurationMinutes, participants, others,
					in.Purpose, in.Notes, orDefault(string(in.Status), string(care.InteractionDraft)), in.SignedAt, loadUUIDPtr(in.SignedByID), ts(in.CreatedAt), ts(in.UpdatedAt), version(in.Version)}, nil
			}},
		{"interaction_amendments", []string{"id", "interaction_id", "amended_by_id", "amended_at", "reason", "before_purpose", "before_notes", "before_duration_minutes", "after_purpose", "after_notes", "after_duration_minutes"},
			len(d.Amendments), func(i int) ([]any, error) {
				m := &d.Amendments[i]
				return []any{loadUUID(m.ID), loadUUID(m.InteractionID), loadUUID(m.AmendedByID), ts(m.AmendedAt), m.Reason,
					m.Before.Purpose, m.Before.Notes, m.Before.DurationMinutes, m.After.Purpose, m.After.Notes, m.After.DurationMinutes}, nil
			}},
	}
}

// rebuildRows is the batch size from which bulkCopy sets a table's indexes
// and foreign keys aside; below it, maintaining them row by row is cheaper.
const rebuildRows = 50_000

// bulkCopy copies t's rows into its table. A large batch into an empty table
// the role owns is copied with the table's plain (non-unique) indexes and its
// foreign keys set aside, then rebuilt and re-checked in bulk, as PostgreSQL's
// "Populating a Database" advises: several times faster than maintaining them
// row by row. It all happens inside the load's transaction, so a failure
// leaves the schema as it was; primary keys and unique indexes stay in place
// throughout. The table is locked against readers until the load commits.
func (db *DB) bulkCopy(ctx context.Context, t loadTable) error {
	if t.n == 0 {
		return nil
	}
	table := pgx.Identifier{t.name}.Sanitize()
	var rebuild []string
	if t.n >= rebuildRows {
		var err error
		if rebuild, err = db.setAsideIndexes(ctx, table); err != nil {
			return fmt.Errorf("load %s: set indexes aside: %w", t.name, err)
		}
	}
	n, err := db.q.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromSlice(t.n, t.row))
	if err != nil {
		return fmt.Errorf("load %s: %w", t.name, translate(err))
	}
	if n != int64(t.n) {
		return fmt.Errorf("load %s: copied %d of %d rows", t.name, n, t.n)
	}
	for _, stmt := range rebuild {
		if _, err := db.q.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("load %s: rebuild indexes and keys: %w", t.name, translate(err))
		}
	}
	return nil
}

const (
	// Whether bulkCopy may set the table's indexes aside: the role owns it and it is empty.
	setAsideEligibleSQL = `SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = $1::text::regclass`
	// The table's indexes that back no constraint and are not unique.
	plainIndexesSQL = `
SELECT c.relname, pg_get_indexdef(i.indexrelid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE i.indrelid = $1::text::regclass AND NOT i.indisunique AND NOT i.indisprimary
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
ORDER BY c.relname`
	// The table's foreign keys.
	foreignKeysSQL = `
SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
WHERE conrelid = $1::text::regclass AND contype = 'f' ORDER BY conname`
)

// setAsideIndexes drops table's plain indexes and foreign keys if the role
// owns it and it is empty, and returns the statements that restore them
// (none when it is not eligible). table is the quoted name.
func (db *DB) setAsideIndexes(ctx context.Context, table string) ([]string, error) {
	var owner, empty bool
	if err := db.q.QueryRow(ctx, setAsideEligibleSQL, table).Scan(&owner); err != nil {
		return nil, err
	}
	if !owner {
		return nil, nil
	}
	if err := db.q.QueryRow(ctx, `SELECT NOT EXISTS (SELECT 1 FROM `+table+`)`).Scan(&empty); err != nil {
		return nil, err
	}
	if !empty {
		return nil, nil
	}
	type def struct{ name, sql string }
	collect := func(sql string) ([]def, error) {
		rows, err := db.q.Query(ctx, sql, table)
		if err != nil {
			return nil, err
		}
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (def, error) {
			var d def
			err := r.Scan(&d.name, &d.sql)
			return d, err
		})
	}
	indexes, err := collect(plainIndexesSQL)
	if err != nil {
		return nil, err
	}
	fks, err := collect(foreignKeysSQL)
	if err != nil {
		return nil, err
	}
	var restore []string
	for _, ix := range indexes {
		if _, err := db.q.Exec(ctx, `DROP INDEX `+pgx.Identifier{ix.name}.Sanitize()); err != nil {
			return nil, err
		}
		restore = append(restore, ix.sql)
	}
	for _, fk := range fks {
		if _, err := db.q.Exec(ctx, `ALTER TABLE `+table+` DROP CONSTRAINT `+pgx.Identifier{fk.name}.Sanitize()); err != nil {
			return nil, err
		}
		restore = append(restore, `ALTER TABLE `+table+` ADD CONSTRAINT `+pgx.Identifier{fk.name}.Sanitize()+` `+fk.sql)
	}
	if len(restore) > 0 {
		// Index builds sort in memory; the default (64MB) spills a million rows to disk.
		if _, err := db.q.Exec(ctx, `SET LOCAL maintenance_work_mem = '256MB'`); err != nil {
			return nil, err
		}
	}
	return restore, nil
}

// auditTable lists, for one COPY into access_audit, the creation of every
// patient-data row the load writes.
func auditTable(ctx context.Context, a *care.Actor, d *care.Dataset) loadTable {
	recs := make([]auditRec, 0, len(d.Patients)+len(d.Relationships)+len(d.Interactions)+len(d.Amendments))
	for i := range d.Patients {
		recs = append(recs, auditRec{d.Patients[i].ID, entityPatient, d.Patients[i].ID})
	}
	for i := range d.Relationships {
		if r := &d.Relationships[i]; r.PatientID != nil {
			recs = append(recs, auditRec{*r.PatientID, entityRelationship, r.ID})
		}
	}
	amended := make(map[uuid.UUID]uuid.UUID, len(d.Amendments)) // interaction → patient
	for i := range d.Amendments {
		amended[d.Amendments[i].InteractionID] = uuid.Nil
	}
	for i := range d.Interactions {
		in := &d.Interactions[i]
		recs = append(recs, auditRec{in.PatientID, entityInteraction, in.ID})
		if _, ok := amended[in.ID]; ok {
			amended[in.ID] = in.PatientID
		}
	}
	for i := range d.Amendments {
		m := &d.Amendments[i]
		if pid := amended[m.InteractionID]; pid != uuid.Nil {
			recs = append(recs, auditRec{pid, entityAmendment, m.ID})
		}
	}
	h := newAuditHead(ctx, a, care.AuditCreate)
	// One row for each patient, listing the patient's entities in order.
	rows := groupAudit(len(recs), func(i int) (uuid.UUID, bool, auditRec) {
		return recs[i].patientID, true, recs[i]
	})
	return loadTable{"access_audit", auditColumns[1:], len(rows), func(i int) ([]any, error) {
		return h.appendValues(make([]any, 0, len(auditColumns)-1), &rows[i]), nil
	}}
}

// loadUUID converts without the reflection pgx would otherwise use per value,
// which matters at a million rows.
func loadUUID(id uuid.UUID) pgtype.UUID { return pgtype.UUID{Bytes: id, Valid: true} }

func loadUUIDPtr(id *uuid.UUID) pgtype.UUID {
	if id == nil {
		return pgtype.UUID{}
	}
	return loadUUID(*id)
}
