package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/rapportcare/rapport/care"
)

// TeamContinuityPatient is one patient of a nursing team's caseload with
// what the relational-continuity measures (continuity.NamedNurseVisits)
// need.
type TeamContinuityPatient struct {
	PatientID uuid.UUID
	// Caseload: the patient's relationships with the team whose period
	// overlaps the range (active or ended), oldest first.
	Caseload []care.CareRelationship
	// NamedNurse: the patient's NAMED_NURSE relationships, whatever their
	// status, oldest first (continuity.AssignmentsFrom decides which were in
	// force).
	NamedNurse []care.CareRelationship
	// Contacts in the range with the given modes and professions, by time then ID.
	Contacts []ContinuityContact
}

// teamCaseloadSQL selects the team's patient relationships overlapping
// [$2, $3) of patients the actor may see (the predicate is appended).
const teamCaseloadSQL = `SELECT ` + relCols + ` FROM care_relationships r JOIN patients p ON p.id = r.patient_id
	WHERE r.team_id = $1 AND r.patient_id IS NOT NULL AND r.status IN ('active', 'ended')
	  AND r.period_start < $3 AND (r.period_end IS NULL OR r.period_end > $2) AND `

const teamNamedNurseSQL = `SELECT ` + relCols + ` FROM care_relationships r
	WHERE r.patient_id = ANY($1) AND r.kind = 'named_nurse' AND r.practitioner_id IS NOT NULL
	ORDER BY r.patient_id, r.period_start, r.id`

const teamContactsSQL = `SELECT i.patient_id, i.id, i.practitioner_id, i.occurred_at, i.mode, pr.profession
	FROM interactions i JOIN practitioners pr ON pr.id = i.practitioner_id
	WHERE i.patient_id = ANY($1) AND i.occurred_at >= $2 AND i.occurred_at < $3
	  AND i.mode = ANY($4::text[]) AND pr.profession = ANY($5::text[])
	ORDER BY i.patient_id, i.occurred_at, i.id`

// TeamContinuity returns the patients on team's caseload at some time in
// [from, to) — those with a relationship to the team in that period — that
// the actor may see (the one access rule, in SQL), ordered by ID, each with
// her named-nurse relationships and her contacts in [from, to) of the given
// modes with clinicians of the given professions. Every patient returned is
// audited as a read (entity "Continuity"). Errors: EUNAUTHENTICATED without an
// actor; EFORBIDDEN for an integration without patients:read; EINVALID for an
// empty window or empty modes or professions; otherwise the database's.
func (db *DB) TeamContinuity(ctx context.Context, team uuid.UUID, from, to time.Time, modes []care.InteractionMode, professions []care.Profession) ([]TeamContinuityPatient, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case !to.After(from):
		return nil, care.Errorf(care.EINVALID, "the continuity window must end after it starts")
	case len(modes) == 0 || len(professions) == 0:
		return nil, care.Errorf(care.EINVALID, "at least one mode and one profession must count")
	case a.Role == care.RoleIntegration && !a.HasScope(care.ScopePatientsRead):
		return nil, forbidden("read patient-level continuity with this token")
	}
	q := args{team, from, to}
	sql := teamCaseloadSQL + patientAccessSQL(a, "p", &q) + ` ORDER BY r.patient_id, r.period_start, r.id`
	var out []TeamContinuityPatient
	index := map[uuid.UUID]int{}
	collect := func(sql string, params []any, fn func(i int, r *care.CareRelationship)) error {
		rows, err := db.q.Query(ctx, sql, params...)
		if err != nil {
			return err
		}
		_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
			rel, err := scanRel(row)
			if err == nil {
				i, ok := index[*rel.PatientID]
				if !ok {
					i = len(out)
					index[*rel.PatientID] = i
					out = append(out, TeamContinuityPatient{PatientID: *rel.PatientID})
				}
				fn(i, rel)
			}
			return struct{}{}, err
		})
		return err
	}
	if err := collect(sql, q, func(i int, r *care.CareRelationship) { out[i].Caseload = append(out[i].Caseload, *r) }); err != nil {
		return nil, fmt.Errorf("team continuity: caseload: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	ids := make([]uuid.UUID, len(out))
	for i, p := range out {
		ids[i] = p.PatientID
	}
	if err := collect(teamNamedNurseSQL, []any{ids}, func(i int, r *care.CareRelationship) { out[i].NamedNurse = append(out[i].NamedNurse, *r) }); err != nil {
		return nil, fmt.Errorf("team continuity: named nurses: %w", err)
	}
	rows, err := db.q.Query(ctx, teamContactsSQL, ids, from, to, strs(modes), strs(professions))
	if err != nil {
		return nil, fmt.Errorf("team continuity: contacts: %w", err)
	}
	_, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var pid uuid.UUID
		var c ContinuityContact
		err := row.Scan(&pid, &c.ID, &c.PractitionerID, &c.At, &c.Mode, &c.Profession)
		if err == nil {
			i := index[pid]
			out[i].Contacts = append(out[i].Contacts, c)
		}
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("team continuity: contacts: %w", err)
	}
	recs := make([]auditRec, len(out))
	for i, p := range out {
		recs[i] = auditRec{p.PatientID, entityContinuity, p.PatientID}
	}
	if err := db.audit(ctx, a, care.AuditRead, recs); err != nil {
		return nil, err
	}
	return out, nil
}
