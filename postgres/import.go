package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// Import of a practice's contact history (package fhir turns a FHIR
// transaction Bundle into an ImportBatch). The whole batch is one
// transaction: every entry is written or none is. Records are matched by
// what identifies them at the source, so importing the same batch again
// changes nothing: patients by NHS number, practitioners and contacts by
// their source system and identifier (table imported_records).

// ImportPatient is a patient named by the batch; created, registered at the
// importing practice, when no patient has the NHS number.
type ImportPatient struct {
	Entry      int // the Bundle entry, for errors
	NHSNumber  string
	GivenName  string
	FamilyName string
	BirthDate  time.Time
}

// ImportPractitioner is a clinician of the practice, matched by source
// identifier (or, with ID set, an existing practitioner of the practice).
// Active false records one who has left.
type ImportPractitioner struct {
	Entry         int
	ID            *uuid.UUID
	System, Value string
	GivenName     string
	FamilyName    string
	Profession    care.Profession
	Active        bool
}

// ImportEncounter is one past contact, led by Practitioner (an index into
// the batch's Practitioners) with the patient whose NHS number is given.
type ImportEncounter struct {
	Entry           int
	System, Value   string
	NHSNumber       string
	Practitioner    int
	Mode            care.InteractionMode
	OccurredAt      time.Time
	DurationMinutes *int
	Purpose         string
}

// ImportBatch is one import.
type ImportBatch struct {
	Patients      []ImportPatient
	Practitioners []ImportPractitioner
	Encounters    []ImportEncounter
}

// ImportOutcome says, per batch record (aligned with the batch), which
// Rapport record it is and whether this import created it.
type ImportOutcome struct {
	PatientIDs           []uuid.UUID
	PatientsCreated      []bool
	PractitionerIDs      []uuid.UUID
	PractitionersCreated []bool
	EncounterIDs         []uuid.UUID
	EncountersCreated    []bool
}

// EntryError is an import failure caused by one entry of the batch.
type EntryError struct {
	Entry int
	Err   *care.Error
}

// Error implements error.
func (e *EntryError) Error() string { return fmt.Sprintf("entry %d: %v", e.Entry, e.Err) }

// Unwrap returns the care error (its code and caller-safe message).
func (e *EntryError) Unwrap() error { return e.Err }

func entryErr(entry int, code, format string, args ...any) error {
	return &EntryError{Entry: entry, Err: care.Errorf(code, format, args...)}
}

// MaxImportEncounters bounds one batch.
const MaxImportEncounters = 200_000

// mayImport reports whether the actor may import its practice's contacts:
// a practice admin or an integration of the practice holding the
// contacts:import scope (or the system, for its own organisation).
func mayImport(a *care.Actor) bool {
	if a.Role == care.RoleSystem {
		return a.OrganizationID != uuid.Nil
	}
	return hasRole(a, care.RolePracticeAdmin, care.RoleIntegration) && a.HasScope(care.ScopeContactsImport) && a.OrganizationID != uuid.Nil
}

// ImportContacts writes b for the actor's practice in one transaction and
// audits every patient and contact it creates. Imported contacts are signed
// (they are history), attributed to the practitioner named, including ones
// who have left, and recorded in imported_records with their source
// identifier. EFORBIDDEN without the import scope; an *EntryError (EINVALID,
// ECONFLICT, ENOTFOUND) naming the first bad entry, with nothing written.
func (db *DB) ImportContacts(ctx context.Context, b *ImportBatch) (*ImportOutcome, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if !mayImport(a) {
		return nil, forbidden("import contact history (needs the contacts:import scope of a practice admin or integration)")
	}
	if len(b.Encounters) > MaxImportEncounters {
		return nil, care.Errorf(care.ELIMIT, "an import carries at most %d encounters", MaxImportEncounters)
	}
	org := a.OrganizationID
	out := &ImportOutcome{}
	err = db.InTx(ctx, func(tx *DB) error {
		// The lookups join unnest() of this batch's arrays: a generic plan
		// (the pool's default) guesses 10 rows and nests loops over 10,000.
		if _, err := tx.q.Exec(ctx, `SET LOCAL statement_timeout = 0; SET LOCAL plan_cache_mode = force_custom_plan`); err != nil {
			return fmt.Errorf("import: lift statement timeout: %w", err)
		}
		// Like Load: the row-by-row change-log triggers are off, and the
		// change log of what was created is written in one statement last.
		if _, err := tx.q.Exec(ctx, bulkLoadOffSQL); err != nil {
			return fmt.Errorf("import: sync triggers off: %w", err)
		}
		patients, err := tx.importPatients(ctx, a, org, b, out)
		if err != nil {
			return err
		}
		if err := tx.importPractitioners(ctx, org, b, out); err != nil {
			return err
		}
		if err := tx.importEncounters(ctx, a, org, b, patients, out); err != nil {
			return err
		}
		return tx.logImport(ctx, out)
	})
	if err != nil {
		return nil, fmt.Errorf("import contacts: %w", err)
	}
	return out, nil
}

// importPatients returns the patient id of every NHS number the batch uses,
// creating the batch's patients who are new.
func (db *DB) importPatients(ctx context.Context, a *care.Actor, org uuid.UUID, b *ImportBatch, out *ImportOutcome) (map[string]uuid.UUID, error) {
	var nhs []string
	for _, p := range b.Patients {
		nhs = append(nhs, p.NHSNumber)
	}
	for _, e := range b.Encounters {
		nhs = append(nhs, e.NHSNumber)
	}
	rows, err := db.q.Query(ctx, `SELECT nhs_number, id, registered_practice_id FROM patients WHERE nhs_number = ANY($1::text[])`, nhs)
	if err != nil {
		return nil, fmt.Errorf("import: find patients: %w", err)
	}
	ids := map[string]uuid.UUID{}
	elsewhere := map[string]bool{}
	var n string
	var id, practice uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&n, &id, &practice}, func() error {
		if practice == org {
			ids[n] = id
		} else {
			elsewhere[n] = true
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("import: find patients: %w", err)
	}
	var newIDs []uuid.UUID
	var newNHS, given, family []string
	var births []time.Time
	var recs []auditRec
	out.PatientIDs = make([]uuid.UUID, len(b.Patients))
	out.PatientsCreated = make([]bool, len(b.Patients))
	for i, p := range b.Patients {
		if elsewhere[p.NHSNumber] {
			return nil, entryErr(p.Entry, care.ECONFLICT, "the patient with this NHS number is registered at another practice")
		}
		if existing, ok := ids[p.NHSNumber]; ok {
			out.PatientIDs[i] = existing
			continue
		}
		nid, err := newID(nil)
		if err != nil {
			return nil, err
		}
		ids[p.NHSNumber] = nid
		out.PatientIDs[i], out.PatientsCreated[i] = nid, true
		newIDs, newNHS, given, family, births = append(newIDs, nid), append(newNHS, p.NHSNumber), append(given, p.GivenName),
			append(family, p.FamilyName), append(births, p.BirthDate)
		recs = append(recs, auditRec{nid, entityPatient, nid})
	}
	if len(newIDs) > 0 {
		_, err := db.q.Exec(ctx, `INSERT INTO patients (id, nhs_number, given_name, family_name, birth_date, registered_practice_id)
			SELECT u.id, u.nhs, u.given, u.family, u.birth, $6 FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::date[]) AS u(id, nhs, given, family, birth)`,
			newIDs, newNHS, given, family, births, org)
		if err != nil {
			return nil, fmt.Errorf("import: create patients: %w", translate(err))
		}
		if err := db.audit(ctx, a, care.AuditCreate, recs); err != nil {
			return nil, err
		}
	}
	for _, e := range b.Encounters {
		if _, ok := ids[e.NHSNumber]; !ok {
			if elsewhere[e.NHSNumber] {
				return nil, entryErr(e.Entry, care.ECONFLICT, "the patient with this NHS number is registered at another practice")
			}
			return nil, entryErr(e.Entry, care.ENOTFOUND, "no patient with this NHS number at this practice, and none in the Bundle")
		}
	}
	return ids, nil
}

// importPractitioners resolves every practitioner of the batch, creating
// the ones whose source identifier is new.
func (db *DB) importPractitioners(ctx context.Context, org uuid.UUID, b *ImportBatch, out *ImportOutcome) error {
	out.PractitionerIDs = make([]uuid.UUID, len(b.Practitioners))
	out.PractitionersCreated = make([]bool, len(b.Practitioners))
	for i, p := range b.Practitioners {
		if p.ID != nil {
			var porg uuid.UUID
			err := db.q.QueryRow(ctx, `SELECT organization_id FROM practitioners WHERE id = $1`, *p.ID).Scan(&porg)
			if errors.Is(err, pgx.ErrNoRows) || (err == nil && porg != org) {
				return entryErr(p.Entry, care.ENOTFOUND, "no such practitioner at this practice")
			} else if err != nil {
				return fmt.Errorf("import: find practitioner: %w", err)
			}
			out.PractitionerIDs[i] = *p.ID
			continue
		}
		var id uuid.UUID
		err := db.q.QueryRow(ctx, `SELECT entity_id FROM imported_records WHERE organization_id = $1 AND source_system = $2
			AND entity = 'practitioner' AND source_id = $3`, org, p.System, p.Value).Scan(&id)
		if err == nil {
			out.PractitionerIDs[i] = id
			continue
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("import: find practitioner: %w", err)
		}
		if id, err = newID(nil); err != nil {
			return err
		}
		if _, err := db.q.Exec(ctx, `INSERT INTO practitioners (id, organization_id, given_name, family_name, profession, active)
			VALUES ($1, $2, $3, $4, $5, $6)`, id, org, p.GivenName, p.FamilyName, string(p.Profession), p.Active); err != nil {
			return &EntryError{Entry: p.Entry, Err: asCareError(translate(err))}
		}
		if _, err := db.q.Exec(ctx, `INSERT INTO imported_records (organization_id, source_system, entity, source_id, entity_id)
			VALUES ($1, $2, 'practitioner', $3, $4)`, org, p.System, p.Value, id); err != nil {
			return &EntryError{Entry: p.Entry, Err: asCareError(translate(err))}
		}
		out.PractitionerIDs[i], out.PractitionersCreated[i] = id, true
	}
	return nil
}

// asCareError returns err's care error, or an EINTERNAL one.
func asCareError(err error) *care.Error {
	var ce *care.Error
	if errors.As(err, &ce) {
		return ce
	}
	return care.Errorf(care.EINTERNAL, "Internal error.")
}

// importEncounters creates the contacts whose source identifier is new.
func (db *DB) importEncounters(ctx context.Context, a *care.Actor, org uuid.UUID, b *ImportBatch, patients map[string]uuid.UUID, out *ImportOutcome) error {
	n := len(b.Encounters)
	out.EncounterIDs = make([]uuid.UUID, n)
	out.EncountersCreated = make([]bool, n)
	if n == 0 {
		return nil
	}
	systems, values := make([]string, n), make([]string, n)
	for i, e := range b.Encounters {
		systems[i], values[i] = e.System, e.Value
	}
	rows, err := db.q.Query(ctx, `SELECT u.i, r.entity_id FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(sys, val, i)
		JOIN imported_records r ON r.organization_id = $1 AND r.entity = 'interaction' AND r.source_system = u.sys AND r.source_id = u.val`,
		org, systems, values)
	if err != nil {
		return fmt.Errorf("import: find encounters: %w", err)
	}
	var idx int64
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&idx, &id}, func() error { out.EncounterIDs[idx-1] = id; return nil }); err != nil {
		return fmt.Errorf("import: find encounters: %w", err)
	}
	var (
		ids, pats, pracs      []uuid.UUID
		modes, purposes       []string
		times                 []time.Time
		durations             []*int
		newSystems, newValues []string
		recs                  []auditRec
	)
	for i, e := range b.Encounters {
		if out.EncounterIDs[i] != uuid.Nil {
			continue
		}
		nid, err := newID(nil)
		if err != nil {
			return err
		}
		out.EncounterIDs[i], out.EncountersCreated[i] = nid, true
		pid := patients[e.NHSNumber]
		ids, pats, pracs = append(ids, nid), append(pats, pid), append(pracs, out.PractitionerIDs[e.Practitioner])
		modes, purposes, times, durations = append(modes, string(e.Mode)), append(purposes, e.Purpose), append(times, e.OccurredAt), append(durations, e.DurationMinutes)
		newSystems, newValues = append(newSystems, e.System), append(newValues, e.Value)
		recs = append(recs, auditRec{pid, entityInteraction, nid})
	}
	if len(ids) == 0 {
		return nil
	}
	_, err = db.q.Exec(ctx, `INSERT INTO interactions (id, patient_id, practitioner_id, organization_id, mode, occurred_at, duration_minutes,
			purpose, status, signed_at, signed_by_id)
		SELECT u.id, u.patient, u.prac, $1, u.mode, u.at, u.dur, u.purpose, 'signed', u.at, u.prac
		FROM unnest($2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[], $7::int[], $8::text[]) AS u(id, patient, prac, mode, at, dur, purpose)`,
		org, ids, pats, pracs, modes, times, durations, purposes)
	if err != nil {
		return fmt.Errorf("import: create encounters: %w", translate(err))
	}
	_, err = db.q.Exec(ctx, `INSERT INTO imported_records (organization_id, source_system, entity, source_id, entity_id)
		SELECT $1, u.sys, 'interaction', u.val, u.id FROM unnest($2::text[], $3::text[], $4::uuid[]) AS u(sys, val, id)`,
		org, newSystems, newValues, ids)
	if err != nil {
		return fmt.Errorf("import: record sources: %w", translate(err))
	}
	return db.audit(ctx, a, care.AuditCreate, recs)
}

// ImportRowCounts returns how many rows the tables an import writes hold
// (patients, practitioners, interactions, imported_records, access_audit),
// for operators checking an import and for tests proving a refused or
// repeated import wrote nothing. Only the system actor may ask (EFORBIDDEN).
func (db *DB) ImportRowCounts(ctx context.Context) (map[string]int64, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if a.Role != care.RoleSystem {
		return nil, forbidden("count rows")
	}
	var p, pr, i, r, au int64
	err = db.q.QueryRow(ctx, `SELECT (SELECT count(*) FROM patients), (SELECT count(*) FROM practitioners),
		(SELECT count(*) FROM interactions), (SELECT count(*) FROM imported_records), (SELECT count(*) FROM access_audit)`).Scan(&p, &pr, &i, &r, &au)
	if err != nil {
		return nil, fmt.Errorf("import row counts: %w", err)
	}
	return map[string]int64{"patients": p, "practitioners": pr, "interactions": i, "imported_records": r, "access_audit": au}, nil
}

// logImportSQL records the created practitioners, patients and interactions
// in the sync change log under one new sequence number (as logBulkLoadSQL
// does for a Load, taking the sync_clock row until it commits, as a stamp
// does), so devices whose scope they fall in pull them.
const logImportSQL = `
WITH s AS (UPDATE sync_clock SET seq = seq + 1 RETURNING seq),
     h AS (SELECT sync_hlc() AS hlc),
     ins AS (
INSERT INTO sync_changes (entity, entity_id, seq, op, patient_id, organization_id, version, hlc)
SELECT x.entity, x.id, (SELECT seq FROM s), 'upsert', x.pid, x.org, x.version, (SELECT hlc FROM h) FROM (
    SELECT 'practitioner' AS entity, id, NULL::uuid AS pid, organization_id AS org, version FROM practitioners WHERE id = ANY($1::uuid[])
    UNION ALL SELECT 'patient', id, id, registered_practice_id, version FROM patients WHERE id = ANY($2::uuid[])
    UNION ALL SELECT 'interaction', id, patient_id, organization_id, version FROM interactions WHERE id = ANY($3::uuid[])
) x
ORDER BY x.entity, x.id
RETURNING 1)
SELECT pg_notify('rapport_sync', (SELECT seq FROM s)::text) FROM (SELECT count(*) FROM ins) n`

// logImport writes the change log of what an import created, if anything.
func (db *DB) logImport(ctx context.Context, out *ImportOutcome) error {
	created := func(ids []uuid.UUID, made []bool) []uuid.UUID {
		var r []uuid.UUID
		for i, id := range ids {
			if made[i] {
				r = append(r, id)
			}
		}
		return r
	}
	prac := created(out.PractitionerIDs, out.PractitionersCreated)
	pat := created(out.PatientIDs, out.PatientsCreated)
	enc := created(out.EncounterIDs, out.EncountersCreated)
	if len(prac)+len(pat)+len(enc) == 0 {
		return nil
	}
	if _, err := db.q.Exec(ctx, logImportSQL, prac, pat, enc); err != nil {
		return fmt.Errorf("import: change log: %w", err)
	}
	return nil
}
