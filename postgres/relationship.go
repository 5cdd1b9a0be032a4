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

// relCols reads a relationship. Its status follows its period at every
// moment: an ACTIVE relationship whose period has ended reads as ENDED even
// before the maintenance loop (EndExpiredRelationships) stores it so.
const relCols = "r.id, r.kind, " + relStatusSQL + ", r.organization_id, r.patient_id, r.practitioner_id, r.team_id, r.partner_organization_id, " +
	"r.related_person_name, r.period_start, r.period_end, r.consent, r.patient_preference, r.created_at, r.updated_at, r.version"

// relStatusSQL is the status of the care_relationships row r as of now().
const relStatusSQL = "(CASE WHEN r.status = 'active' AND r.period_end IS NOT NULL AND r.period_end <= now() THEN 'ended' ELSE r.status END)"

func scanRel(rw row, pre ...any) (*care.CareRelationship, error) {
	var r care.CareRelationship
	err := rw.Scan(append(pre, &r.ID, text(&r.Kind), text(&r.Status), &r.OrganizationID, &r.PatientID, &r.PractitionerID, &r.TeamID,
		&r.PartnerOrganizationID, &r.RelatedPersonName, &r.PeriodStart, &r.PeriodEnd, text(&r.Consent), text(&r.PatientPreference),
		&r.CreatedAt, &r.UpdatedAt, &r.Version)...)
	return &r, err
}

func relSpec(a *care.Actor) *listSpec[care.CareRelationship] {
	s := &listSpec[care.CareRelationship]{
		from: "care_relationships r", cols: relCols,
		keyCols: []string{"r.period_start", "r.id"}, keyCast: []string{"timestamptz", "uuid"}, desc: true,
		scan: scanRel,
		key:  func(r *care.CareRelationship) []string { return []string{timeKey(r.PeriodStart), r.ID.String()} },
	}
	s.where = append(s.where, relationshipVisibleSQL(a, "r", &s.q))
	return s
}

func relFilterSQL(s *listSpec[care.CareRelationship], f care.RelationshipFilter) {
	if f.PatientID != nil {
		s.where = append(s.where, "r.patient_id = "+s.q.add(*f.PatientID))
	}
	if f.PractitionerID != nil {
		s.where = append(s.where, "r.practitioner_id = "+s.q.add(*f.PractitionerID))
	}
	if f.TeamID != nil {
		s.where = append(s.where, "r.team_id = "+s.q.add(*f.TeamID))
	}
	if f.OrganizationID != nil {
		o := s.q.add(*f.OrganizationID)
		s.where = append(s.where, "(r.organization_id = "+o+" OR r.partner_organization_id = "+o+")")
	}
	if f.Kind != nil {
		s.where = append(s.where, "r.kind = "+s.q.add(string(*f.Kind)))
	}
	if f.Active != nil {
		if *f.Active {
			s.where = append(s.where, activeSQL("r"))
		} else {
			s.where = append(s.where, "NOT "+activeSQL("r"))
		}
	}
}

// visibleRels loads the relationships among ids the actor may see, aligned
// with ids, optionally locking them. It does not audit.
func (db *DB) visibleRels(ctx context.Context, a *care.Actor, ids []uuid.UUID, lock bool) ([]*care.CareRelationship, error) {
	q := args{ids}
	sql := "SELECT " + relCols + " FROM care_relationships r WHERE r.id = ANY($1::uuid[]) AND " + relationshipVisibleSQL(a, "r", &q)
	if lock {
		sql += " FOR UPDATE OF r"
	}
	rows, err := db.q.Query(ctx, sql, q...)
	if err != nil {
		return nil, fmt.Errorf("load relationships: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*care.CareRelationship, error) { return scanRel(r) })
	if err != nil {
		return nil, fmt.Errorf("load relationships: %w", err)
	}
	return align(ids, items, func(r *care.CareRelationship) uuid.UUID { return r.ID }), nil
}

// CareRelationship returns one relationship the actor may see, auditing a
// patient's relationship. ENOTFOUND when missing or not visible.
func (db *DB) CareRelationship(ctx context.Context, id uuid.UUID) (*care.CareRelationship, error) {
	out, err := db.CareRelationshipsByID(ctx, []uuid.UUID{id})
	return one(out, err, "no such care relationship")
}

// CareRelationshipsByID returns relationships aligned with ids (nil where
// missing or not visible), auditing patients' relationships.
func (db *DB) CareRelationshipsByID(ctx context.Context, ids []uuid.UUID) ([]*care.CareRelationship, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	out, err := db.visibleRels(ctx, a, ids, false)
	if err != nil {
		return nil, err
	}
	if err := db.audit(ctx, a, care.AuditRead, relationshipRecs(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// CareRelationships lists visible relationships, newest period_start first,
// auditing patients' relationships. EINVALID for a bad cursor, ELIMIT for a
// bad page size.
func (db *DB) CareRelationships(ctx context.Context, f care.RelationshipFilter, p care.PageArgs) (*care.Page[care.CareRelationship], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := relSpec(a)
	relFilterSQL(s, f)
	page, items, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("list relationships: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, relationshipRecs(items)); err != nil {
		return nil, err
	}
	return page, nil
}

// RelationshipsForPatients returns, per patient, a page of their visible
// relationships (two queries for any number of patients), audited.
func (db *DB) RelationshipsForPatients(ctx context.Context, patientIDs []uuid.UUID, f care.RelationshipFilter, p care.PageArgs) (map[uuid.UUID]*care.Page[care.CareRelationship], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := relSpec(a)
	f.PatientID = nil
	relFilterSQL(s, f)
	out, items, err := listFor(ctx, db, s, patientIDs, parentOf{cond: func(parent string) string { return "r.patient_id = " + parent }}, p)
	if err != nil {
		return nil, fmt.Errorf("relationships for patients: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, relationshipRecs(items)); err != nil {
		return nil, err
	}
	return out, nil
}

// CurrentPractitioners returns, per visible patient, the practitioner ID of
// their active relationship of kind (USUAL_GP or NAMED_NURSE); absent when
// none. The relationships read are audited.
func (db *DB) CurrentPractitioners(ctx context.Context, kind care.RelationshipKind, patientIDs []uuid.UUID) (map[uuid.UUID]uuid.UUID, error) {
	ps, err := db.CurrentPractitionerRecords(ctx, kind, patientIDs)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]uuid.UUID, len(ps))
	for pid, p := range ps {
		out[pid] = p.ID
	}
	return out, nil
}

// CurrentPractitionerRecords is CurrentPractitioners returning the
// practitioners themselves, read in the same statement (one for any number
// of patients). The relationships read are audited.
func (db *DB) CurrentPractitionerRecords(ctx context.Context, kind care.RelationshipKind, patientIDs []uuid.UUID) (map[uuid.UUID]*care.Practitioner, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	return db.currentPractitionerRecords(ctx, a, kind, patientIDs, false)
}

// currentPractitionerRecords is CurrentPractitionerRecords; admitted says
// that the access rule has already admitted every patient of patientIDs in
// this request (they are the rows of a page this store has just served), so
// the statement does not test it again.
func (db *DB) currentPractitionerRecords(ctx context.Context, a *care.Actor, kind care.RelationshipKind, patientIDs []uuid.UUID, admitted bool) (map[uuid.UUID]*care.Practitioner, error) {
	q := args{patientIDs, string(kind)}
	patients, access := "", ""
	if !admitted {
		patients, access = ` JOIN patients p ON p.id = r.patient_id`, ` AND `+patientAccessSQL(a, "p", &q)
	}
	sql := `SELECT r.patient_id, r.id, ` + practitionerCols + ` FROM care_relationships r` + patients + `
		JOIN practitioners pr ON pr.id = r.practitioner_id
		WHERE r.patient_id = ANY($1::uuid[]) AND r.kind = $2 AND r.practitioner_id IS NOT NULL AND ` + activeSQL("r") +
		access + ` ORDER BY r.patient_id, r.period_start`
	rows, err := db.q.Query(ctx, sql, q...)
	if err != nil {
		return nil, fmt.Errorf("current practitioners: %w", err)
	}
	out := make(map[uuid.UUID]*care.Practitioner, len(patientIDs))
	var recs []auditRec
	_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
		var pid, rid uuid.UUID
		p, err := scanPractitioner(r, &pid, &rid)
		if err == nil {
			out[pid] = p
			recs = append(recs, auditRec{pid, entityRelationship, rid})
		}
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("current practitioners: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, recs); err != nil {
		return nil, err
	}
	return out, nil
}

// authoriseRel checks that the actor may start or change a relationship of
// this kind: patient kinds need a role among gp, practice_admin, nurse, system
// (a nurse never a USUAL_GP one) and a visible patient (checked by the caller);
// TEAM_MEMBER the team organisation's practice_admin; PARTNERSHIP a
// practice_admin of either organisation. System may do all.
func authoriseRel(a *care.Actor, kind care.RelationshipKind, org uuid.UUID, partner *uuid.UUID) error {
	switch {
	case kind.IsPatientKind():
		if !hasRole(a, care.RoleGP, care.RolePracticeAdmin, care.RoleNurse, care.RoleSystem) {
			return forbidden("manage care relationships")
		}
		if a.Role == care.RoleNurse && kind == care.KindUsualGP {
			return forbidden("manage USUAL_GP relationships as a nurse")
		}
	case kind == care.KindTeamMember:
		if !adminOf(a, org) {
			return forbidden("manage this team's members")
		}
	case kind == care.KindPartnership:
		if !adminOf(a, org) && (partner == nil || !adminOf(a, *partner)) {
			return forbidden("manage this partnership")
		}
	}
	return nil
}

const insertRelSQL = `
INSERT INTO care_relationships AS r (id, kind, status, organization_id, patient_id, practitioner_id, team_id,
       partner_organization_id, related_person_name, period_start, period_end, consent, patient_preference)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (id) DO NOTHING
RETURNING ` + relCols

func eqID(a, b *uuid.UUID) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

func eqStr(a, b *string) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == *b)
}

// StartRelationship starts a relationship, ACTIVE when its period has begun
// and PROPOSED otherwise, and audits a patient's one. Starting again with the
// same ID, kind and parties returns the existing relationship. Errors:
// EINVALID, EFORBIDDEN, ENOTFOUND (patient not visible, no such practitioner,
// team or organisation), ECONFLICT (a second active usual GP or named nurse,
// an ID used by a different relationship).
func (db *DB) StartRelationship(ctx context.Context, in care.StartRelationshipInput) (*care.CareRelationship, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	now := db.now()
	if err := in.Validate(now); err != nil {
		return nil, err
	}
	id, err := newID(in.ID)
	if err != nil {
		return nil, err
	}
	var out *care.CareRelationship
	err = db.InTx(ctx, func(tx *DB) error {
		var owner uuid.UUID
		switch {
		case in.Kind.IsPatientKind():
			if err := authoriseRel(a, in.Kind, uuid.Nil, nil); err != nil {
				return err
			}
			p, err := tx.visiblePatient(ctx, a, *in.PatientID, true)
			if err != nil {
				return err
			}
			owner = a.OrganizationID
			if a.Role == care.RoleSystem {
				owner = p.RegisteredPracticeID
			}
		case in.Kind == care.KindTeamMember:
			ts, err := tx.teamsByID(ctx, []uuid.UUID{*in.TeamID}, false)
			if err != nil {
				return err
			}
			if ts[0] == nil {
				return care.Errorf(care.ENOTFOUND, "no such team")
			}
			owner = ts[0].OrganizationID
			if err := authoriseRel(a, in.Kind, owner, nil); err != nil {
				return err
			}
		default: // partnership
			owner = *in.OrganizationID
			if err := authoriseRel(a, in.Kind, owner, in.PartnerOrganizationID); err != nil {
				return err
			}
		}
		status := care.RelationshipActive
		switch {
		case in.PeriodStart.After(now):
			status = care.RelationshipProposed
		case in.PeriodEnd != nil && !in.PeriodEnd.After(now):
			status = care.RelationshipEnded // entered after the fact
		}
		if in.PatientID != nil {
			// A usual GP or named nurse whose period ran out must not block
			// its successor (one ACTIVE of each per patient).
			if err := tx.endExpired(ctx, a, in.PatientID); err != nil {
				return err
			}
		}
		r, err := scanRel(tx.q.QueryRow(ctx, insertRelSQL, id, string(in.Kind), string(status), owner, in.PatientID,
			in.PractitionerID, in.TeamID, in.PartnerOrganizationID, in.RelatedPersonName, *in.PeriodStart, in.PeriodEnd,
			string(*in.Consent), string(*in.PatientPreference)))
		if errors.Is(err, pgx.ErrNoRows) {
			ex, err := tx.visibleRels(ctx, a, []uuid.UUID{id}, false)
			if err != nil {
				return err
			}
			e := ex[0]
			if e == nil {
				return idConflict() // the same answer whoever's record has the id
			}
			if e.Kind != in.Kind || !eqID(e.PatientID, in.PatientID) || !eqID(e.PractitionerID, in.PractitionerID) ||
				!eqID(e.TeamID, in.TeamID) || !eqID(e.PartnerOrganizationID, in.PartnerOrganizationID) ||
				!eqStr(e.RelatedPersonName, in.RelatedPersonName) ||
				(in.Kind == care.KindPartnership && e.OrganizationID != *in.OrganizationID) {
				return idConflict()
			}
			out = e
			return tx.audit(ctx, a, care.AuditRead, relationshipRecs(ex))
		}
		if err != nil {
			return translate(err)
		}
		out = r
		return tx.audit(ctx, a, care.AuditCreate, relationshipRecs([]*care.CareRelationship{r}))
	})
	if err != nil {
		return nil, fmt.Errorf("start relationship: %w", err)
	}
	return out, nil
}

// lockRelForChange loads a visible relationship for update and checks the
// actor may change it: ENOTFOUND, EFORBIDDEN.
func (db *DB) lockRelForChange(ctx context.Context, a *care.Actor, id uuid.UUID) (*care.CareRelationship, error) {
	rs, err := db.visibleRels(ctx, a, []uuid.UUID{id}, true)
	if err != nil {
		return nil, err
	}
	r := rs[0]
	if r == nil {
		return nil, care.Errorf(care.ENOTFOUND, "no such care relationship")
	}
	if err := authoriseRel(a, r.Kind, r.OrganizationID, r.PartnerOrganizationID); err != nil {
		return nil, err
	}
	return r, nil
}

const updateRelSQL = `
UPDATE care_relationships r SET consent = COALESCE($2, r.consent), patient_preference = COALESCE($3, r.patient_preference),
       period_end = COALESCE($4, r.period_end),
       status = CASE WHEN COALESCE($4, r.period_end) <= now() AND r.status = 'active' THEN 'ended'
                     WHEN r.status = 'proposed' AND r.period_start <= now() THEN 'active' ELSE r.status END,
       version = r.version + 1, updated_at = now()
WHERE r.id = $1
RETURNING ` + relCols

// UpdateRelationship changes consent, preference or planned end (same rights
// as starting it) and audits a patient's one. Errors: EINVALID (e.g. an end
// before the start), EFORBIDDEN, ENOTFOUND, ECONFLICT (already ended).
func (db *DB) UpdateRelationship(ctx context.Context, in care.UpdateRelationshipInput) (*care.CareRelationship, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *care.CareRelationship
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.lockRelForChange(ctx, a, in.ID)
		if err != nil {
			return err
		}
		if ex.Status == care.RelationshipEnded {
			return care.Errorf(care.ECONFLICT, "the relationship has ended")
		}
		if in.PeriodEnd != nil && !in.PeriodEnd.After(ex.PeriodStart) {
			return care.Errorf(care.EINVALID, "periodEnd must be after periodStart")
		}
		if err := tx.refuseUnseen(ctx, "care_relationship", ex.ID, ex.Version, in.BaseVersion, relationshipColumns(ex, in)); err != nil {
			return err
		}
		r, err := scanRel(tx.q.QueryRow(ctx, updateRelSQL, in.ID, (*string)(in.Consent), (*string)(in.PatientPreference), in.PeriodEnd))
		if err != nil {
			return translate(err)
		}
		out = r
		return tx.audit(ctx, a, care.AuditUpdate, relationshipRecs([]*care.CareRelationship{r}))
	})
	if err != nil {
		return nil, fmt.Errorf("update relationship: %w", err)
	}
	return out, nil
}

const endRelSQL = `
UPDATE care_relationships r SET status = 'ended', period_end = $2, version = r.version + 1, updated_at = now()
WHERE r.id = $1
RETURNING ` + relCols

// EndRelationship ends a relationship at EndedAt (default now), with the same
// rights as starting it, and audits a patient's one. Ending an ended one
// returns it unchanged. Errors: EINVALID (an end not after the start),
// EFORBIDDEN, ENOTFOUND.
func (db *DB) EndRelationship(ctx context.Context, in care.EndRelationshipInput) (*care.CareRelationship, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	var out *care.CareRelationship
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.lockRelForChange(ctx, a, in.ID)
		if err != nil {
			return err
		}
		if ex.Status == care.RelationshipEnded {
			out = ex
			return tx.audit(ctx, a, care.AuditRead, relationshipRecs([]*care.CareRelationship{ex}))
		}
		var end time.Time
		if in.EndedAt != nil {
			end = *in.EndedAt
		} else {
			end = db.now()
		}
		if !end.After(ex.PeriodStart) {
			return care.Errorf(care.EINVALID, "endedAt must be after the relationship's periodStart")
		}
		r, err := scanRel(tx.q.QueryRow(ctx, endRelSQL, in.ID, end))
		if err != nil {
			return translate(err)
		}
		out = r
		return tx.audit(ctx, a, care.AuditEnd, relationshipRecs([]*care.CareRelationship{r}))
	})
	if err != nil {
		return nil, fmt.Errorf("end relationship: %w", err)
	}
	return out, nil
}

// relationshipColumns lists the columns to which the change in gives a value
// other than ex's.
func relationshipColumns(ex *care.CareRelationship, in care.UpdateRelationshipInput) []string {
	var cols []string
	if in.Consent != nil && *in.Consent != ex.Consent {
		cols = append(cols, "consent")
	}
	if in.PatientPreference != nil && *in.PatientPreference != ex.PatientPreference {
		cols = append(cols, "patient_preference")
	}
	if in.PeriodEnd != nil && (ex.PeriodEnd == nil || !in.PeriodEnd.Equal(*ex.PeriodEnd)) {
		cols = append(cols, "period_end")
	}
	return cols
}
