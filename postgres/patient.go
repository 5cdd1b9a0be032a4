package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

const patientCols = "p.id, p.nhs_number, p.given_name, p.family_name, p.birth_date, p.registered_practice_id, p.created_at, p.updated_at, p.version"

func scanPatient(r row, pre ...any) (*care.Patient, error) {
	var p care.Patient
	err := r.Scan(append(pre, &p.ID, &p.NHSNumber, &p.GivenName, &p.FamilyName, &p.BirthDate, &p.RegisteredPracticeID, &p.CreatedAt, &p.UpdatedAt, &p.Version)...)
	return &p, err
}

func patientSpec(a *care.Actor) *listSpec[care.Patient] {
	s := allPatientsSpec()
	s.access, s.count = patientSetAccess(a, "p", &s.q)
	return s
}

// allPatientsSpec lists patients with no access predicate: only for a
// filter that admits nothing the actor may not see (see CaseloadsFor).
func allPatientsSpec() *listSpec[care.Patient] {
	return &listSpec[care.Patient]{
		from: "patients p", cols: patientCols,
		keyCols: []string{"p.family_name", "p.given_name", "p.id"}, keyCast: []string{"text", "text", "uuid"},
		scan: scanPatient,
		key:  func(p *care.Patient) []string { return []string{p.FamilyName, p.GivenName, p.ID.String()} },
	}
}

// visiblePatients loads the patients among ids the actor may see, aligned with
// ids (nil where missing or invisible), optionally locking them. It does not audit.
func (db *DB) visiblePatients(ctx context.Context, a *care.Actor, ids []uuid.UUID, lock bool) ([]*care.Patient, error) {
	q := args{ids}
	sql := "SELECT " + patientCols + " FROM patients p WHERE p.id = ANY($1::uuid[]) AND " + patientAccessSQL(a, "p", &q)
	if lock {
		sql += " FOR UPDATE OF p"
	}
	rows, err := db.q.Query(ctx, sql, q...)
	if err != nil {
		return nil, fmt.Errorf("load patients: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*care.Patient, error) { return scanPatient(r) })
	if err != nil {
		return nil, fmt.Errorf("load patients: %w", err)
	}
	return align(ids, items, func(p *care.Patient) uuid.UUID { return p.ID }), nil
}

// visiblePatient loads one patient the actor may see, or ENOTFOUND.
func (db *DB) visiblePatient(ctx context.Context, a *care.Actor, id uuid.UUID, lock bool) (*care.Patient, error) {
	ps, err := db.visiblePatients(ctx, a, []uuid.UUID{id}, lock)
	if err != nil {
		return nil, err
	}
	if ps[0] == nil {
		return nil, care.Errorf(care.ENOTFOUND, "no such patient")
	}
	return ps[0], nil
}

// Patient returns one patient the actor may see, and audits the read.
// ENOTFOUND when missing or not visible.
func (db *DB) Patient(ctx context.Context, id uuid.UUID) (*care.Patient, error) {
	out, err := db.PatientsByID(ctx, []uuid.UUID{id})
	return one(out, err, "no such patient")
}

// PatientsByID returns patients aligned with ids (nil where missing or not
// visible), and audits the reads.
func (db *DB) PatientsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Patient, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	out, err := db.visiblePatients(ctx, a, ids, false)
	if err != nil {
		return nil, err
	}
	if err := db.audit(ctx, a, care.AuditRead, patientRecs(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// patientFilterSQL adds the filter's predicates to s.
func patientFilterSQL(s *listSpec[care.Patient], f care.PatientFilter) error {
	if err := f.Validate(); err != nil {
		return err
	}
	if f.Name != nil {
		// A prefix match on the lowered names, which the text_pattern_ops
		// indexes of migration 004 serve.
		n := s.q.add(prefixPattern(*f.Name))
		s.where = append(s.where, "(lower(p.given_name) LIKE "+n+" OR lower(p.family_name) LIKE "+n+")")
	}
	if f.NHSNumber != nil {
		nhs, err := care.NormalizeNHSNumber(*f.NHSNumber)
		if err != nil {
			return err
		}
		s.where = append(s.where, "p.nhs_number = "+s.q.add(nhs))
	}
	if f.RegisteredPracticeID != nil {
		s.where = append(s.where, "p.registered_practice_id = "+s.q.add(*f.RegisteredPracticeID))
	}
	if f.PractitionerID != nil {
		s.where = append(s.where, "EXISTS (SELECT 1 FROM care_relationships fr WHERE fr.patient_id = p.id AND fr.practitioner_id = "+
			s.q.add(*f.PractitionerID)+" AND "+activeSQL("fr")+")")
	}
	if f.TeamID != nil {
		s.where = append(s.where, "EXISTS (SELECT 1 FROM care_relationships fr WHERE fr.patient_id = p.id AND fr.team_id = "+
			s.q.add(*f.TeamID)+" AND "+activeSQL("fr")+")")
	}
	return nil
}

// Patients lists the patients the actor may see, by family name, given name,
// id, and audits the reads. EINVALID for a bad cursor or NHS number, ELIMIT
// for a bad page size.
func (db *DB) Patients(ctx context.Context, f care.PatientFilter, p care.PageArgs) (*care.Page[care.Patient], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := patientSpec(a)
	if err := patientFilterSQL(s, f); err != nil {
		return nil, err
	}
	page, items, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("list patients: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, patientRecs(items)); err != nil {
		return nil, err
	}
	return page, nil
}

// CaseloadsFor returns, per practitioner, a page of the visible patients with
// an active relationship to them or to a team they are an active member of;
// two queries whatever the number of practitioners. Reads are audited.
func (db *DB) CaseloadsFor(ctx context.Context, practitionerIDs []uuid.UUID, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Patient], error) {
	return db.caseloadsFor(ctx, practitionerIDs, p, caseloadParent)
}

func (db *DB) caseloadsFor(ctx context.Context, practitionerIDs []uuid.UUID, p care.PageArgs, parent parentOf) (map[uuid.UUID]*care.Page[care.Patient], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := patientSpec(a)
	if ownCaseload(a, practitionerIDs) {
		s = allPatientsSpec()
	}
	out, items, err := listFor(ctx, db, s, practitionerIDs, parent, p)
	if err != nil {
		return nil, fmt.Errorf("caseloads: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, patientRecs(items)); err != nil {
		return nil, err
	}
	return out, nil
}

// CaseloadWithCurrent is what CaseloadsWithCurrent reads.
type CaseloadWithCurrent struct {
	Pages map[uuid.UUID]*care.Page[care.Patient] // by practitioner, as CaseloadsFor gives them
	// Patients lists the patients of every page; Current maps each of them
	// to their current practitioner of the kind asked for (absent: none).
	Patients []uuid.UUID
	Current  map[uuid.UUID]*care.Practitioner
}

// CaseloadsWithCurrent is CaseloadsFor, and the current practitioner of
// kind of every patient on the pages (as CurrentPractitionerRecords gives
// them): a caseload page with each patient's usual GP. The page's statement
// has applied the access rule to those patients in this request, so the
// second statement does not apply it again (on the medium demo data, 0.9 ms
// with it and 0.5 ms without for a page of 100, generic plans, psql).
func (db *DB) CaseloadsWithCurrent(ctx context.Context, practitionerIDs []uuid.UUID, p care.PageArgs, kind care.RelationshipKind) (CaseloadWithCurrent, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return CaseloadWithCurrent{}, err
	}
	pages, err := db.CaseloadsFor(ctx, practitionerIDs, p)
	if err != nil {
		return CaseloadWithCurrent{}, err
	}
	out := CaseloadWithCurrent{Pages: pages, Current: map[uuid.UUID]*care.Practitioner{}}
	for _, page := range pages {
		for _, e := range page.Edges {
			out.Patients = append(out.Patients, e.Node.ID)
		}
	}
	if len(out.Patients) > 0 {
		if out.Current, err = db.currentPractitionerRecords(ctx, a, kind, out.Patients, true); err != nil {
			return CaseloadWithCurrent{}, err
		}
	}
	return out, nil
}

// caseloadParent ties a patient to the practitioner whose caseload holds
// them: her array of patients (caseloadSQL) is read once per practitioner
// for both the count and the page, where writing caseloadSQL in each read
// it twice (a nurse's page of 100 with its count on the medium demo data:
// 0.92-0.96 ms that way, 0.80-0.85 ms this way, pgbench, one client,
// generic plans). TestCaseloadWithCurrentAsAlone holds it to caseloadSQL.
var caseloadParent = parentOf{
	cond:   func(string) string { return "p.id = ANY(" + sharedSQL + ")" },
	shared: caseloadArraySQL,
}

// ownCaseload reports whether every practitioner of ids is the one whose
// relationships grant the actor access. Her caseload is then, by definition,
// inside what the access rule admits (the rule is "her caseload, or ..."; both
// are written from viaArmsSQL), and testing the rule again on every row of
// it would change nothing but the cost: a nurse's caseload page of 100
// with its count took 7-8 ms with the rule and 4-5.5 ms without (medium demo
// data, generic plans, psql).
func ownCaseload(a *care.Actor, ids []uuid.UUID) bool {
	own := a.Access.ViaRelationshipsOf
	if own == uuid.Nil || len(ids) == 0 {
		return false
	}
	for _, id := range ids {
		if id != own {
			return false
		}
	}
	return true
}

const insertPatientSQL = `
INSERT INTO patients AS p (id, nhs_number, given_name, family_name, birth_date, registered_practice_id)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (id) DO NOTHING
RETURNING ` + patientCols

// CreatePatient registers a patient (gp or practice_admin of the registered
// practice, system) and audits it. Creating again with the same ID and NHS
// number returns the existing patient. Errors: EINVALID (e.g. NHS number),
// EFORBIDDEN, ENOTFOUND (no such practice, or an existing ID not visible),
// ECONFLICT (NHS number already registered, ID used by another patient).
func (db *DB) CreatePatient(ctx context.Context, in care.CreatePatientInput) (*care.Patient, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(db.now()); err != nil {
		return nil, err
	}
	if !(a.Role == care.RoleSystem || (hasRole(a, care.RoleGP, care.RolePracticeAdmin) && a.OrganizationID == in.RegisteredPracticeID)) {
		return nil, forbidden("register patients at this practice")
	}
	id, err := newID(in.ID)
	if err != nil {
		return nil, err
	}
	var out *care.Patient
	transferred := false
	err = db.InTx(ctx, func(tx *DB) error {
		// Registered at another practice: say so without saying where, and
		// ask that practice to transfer the patient (committed below).
		if transferred, err = tx.requestTransfer(ctx, a, in.NHSNumber, in.RegisteredPracticeID); err != nil || transferred {
			return err
		}
		p, err := scanPatient(tx.q.QueryRow(ctx, insertPatientSQL, id, in.NHSNumber, in.GivenName, in.FamilyName, in.BirthDate, in.RegisteredPracticeID))
		if errors.Is(err, pgx.ErrNoRows) {
			ex, err := tx.visiblePatient(ctx, a, id, false)
			if care.ErrorCode(err) == care.ENOTFOUND {
				return idConflict() // the same answer whoever's record has the id
			}
			if err != nil {
				return err
			}
			if ex.NHSNumber != in.NHSNumber {
				return idConflict()
			}
			out = ex
			return tx.audit(ctx, a, care.AuditRead, patientRecs([]*care.Patient{ex}))
		}
		if err != nil {
			return translate(err)
		}
		out = p
		return tx.audit(ctx, a, care.AuditCreate, patientRecs([]*care.Patient{p}))
	})
	if err != nil {
		return nil, fmt.Errorf("create patient: %w", err)
	}
	if transferred {
		return nil, fmt.Errorf("create patient: %w: %w", ErrTransferRequested, care.Errorf(care.ECONFLICT,
			"this NHS number is registered at another practice; a transfer request has been sent to it"))
	}
	return out, nil
}

const updatePatientSQL = `
UPDATE patients p SET given_name = COALESCE($2, p.given_name), family_name = COALESCE($3, p.family_name),
       birth_date = COALESCE($4, p.birth_date), registered_practice_id = COALESCE($5, p.registered_practice_id),
       version = p.version + 1, updated_at = now()
WHERE p.id = $1
RETURNING ` + patientCols

// UpdatePatient changes a visible patient (any role but integration; moving
// the registration only gp, practice_admin, system) and audits it. Errors:
// EINVALID, EFORBIDDEN, ENOTFOUND (missing or not visible, or no such practice).
func (db *DB) UpdatePatient(ctx context.Context, in care.UpdatePatientInput) (*care.Patient, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(db.now()); err != nil {
		return nil, err
	}
	var out *care.Patient
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.visiblePatient(ctx, a, in.ID, true)
		if err != nil {
			return err
		}
		if in.RegisteredPracticeID != nil && *in.RegisteredPracticeID != ex.RegisteredPracticeID &&
			!hasRole(a, care.RoleGP, care.RolePracticeAdmin, care.RoleSystem) {
			return forbidden("change a patient's registered practice")
		}
		if changed, err := changedSince("patient", ex.Version, in.BaseVersion); err != nil {
			return err
		} else if changed && patientChanges(ex, in) {
			// No field clocks are kept for patients: any change since is
			// one the author did not see.
			return care.Errorf(care.ECONFLICT, "the patient changed since version %d, which this change was based on (it is at version %d): nothing was saved; read it again and reapply the change",
				*in.BaseVersion, ex.Version)
		}
		p, err := scanPatient(tx.q.QueryRow(ctx, updatePatientSQL, in.ID, in.GivenName, in.FamilyName, in.BirthDate, in.RegisteredPracticeID))
		if err != nil {
			return translate(err)
		}
		out = p
		return tx.audit(ctx, a, care.AuditUpdate, patientRecs([]*care.Patient{p}))
	})
	if err != nil {
		return nil, fmt.Errorf("update patient: %w", err)
	}
	return out, nil
}

// patientChanges reports whether in writes a value other than ex's.
func patientChanges(ex *care.Patient, in care.UpdatePatientInput) bool {
	return in.GivenName != nil && *in.GivenName != ex.GivenName ||
		in.FamilyName != nil && *in.FamilyName != ex.FamilyName ||
		in.BirthDate != nil && !in.BirthDate.Equal(ex.BirthDate) ||
		in.RegisteredPracticeID != nil && *in.RegisteredPracticeID != ex.RegisteredPracticeID
}
