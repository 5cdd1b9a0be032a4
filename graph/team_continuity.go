package graph

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/continuity"
	"github.com/rapportcare/rapport/graph/model"
)

// maxTeamMonths bounds Team.continuity's range (documented in schema.graphql).
const maxTeamMonths = 24

// teamOptions count nurses' home visits, every one of them.
var teamOptions = continuity.Options{
	Modes:       []care.InteractionMode{care.ModeHomeVisit},
	Professions: []care.Profession{care.ProfessionDistrictNurse, care.ProfessionCommunityNurse, care.ProfessionPracticeNurse},
	SameDay:     continuity.CountEach,
	MinContacts: 1,
}

// teamContinuity serves Team.continuity: the store reads the caseload the
// caller may see, continuity measures each patient and pools the months.
func (r *Resolver) teamContinuity(ctx context.Context, t *care.Team, from, to time.Time) (*model.TeamContinuity, error) {
	months := continuity.Months(from, to)
	switch {
	case len(months) == 0:
		return nil, care.Errorf(care.EINVALID, "to must be after from")
	case len(months) > maxTeamMonths:
		return nil, care.Errorf(care.ELIMIT, "a team's continuity spans at most %d months", maxTeamMonths)
	}
	start, end := months[0], months[len(months)-1].AddDate(0, 1, 0)
	rows, err := r.DB.TeamContinuity(ctx, t.ID, start, end, teamOptions.Modes, teamOptions.Professions)
	if err != nil {
		return nil, err
	}
	ids := make([]uuid.UUID, len(rows))
	for i, p := range rows {
		ids[i] = p.PatientID
	}
	patients, err := r.loaders(ctx).Patient.LoadAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := &model.TeamContinuity{From: start, To: end}
	perPatient := make([][]continuity.VisitMonth, 0, len(rows))
	for i, p := range rows {
		if patients[i] == nil {
			continue // not visible after all: counted nowhere
		}
		caseload := continuity.CaseloadFrom(p.Caseload, t.ID)
		per, total := continuity.NamedNurseVisits(contactsOf(p.Contacts),
			continuity.AssignmentsFrom(p.NamedNurse, care.KindNamedNurse).At, caseload, months, teamOptions)
		perPatient = append(perPatient, per)
		tp := model.TeamPatientContinuity{Patient: patients[i], Total: visitsOf(total), Months: make([]model.NamedNurseVisits, len(per))}
		for j, m := range per {
			tp.Months[j] = *visitsOf(m)
		}
		out.Patients = append(out.Patients, tp)
	}
	for _, m := range continuity.PoolTeam(months, perPatient) {
		out.Months = append(out.Months, model.TeamContinuityMonth{Month: m.Month, Patients: m.Patients, PatientsVisited: m.PatientsVisited,
			Visits: m.Visits, ByNamedNurse: m.ByNamedNurse, NamedNurseShare: m.NamedNurseShare(), MeanNurses: m.MeanNurses()})
	}
	return out, nil
}

func visitsOf(m continuity.VisitMonth) *model.NamedNurseVisits {
	v := &model.NamedNurseVisits{OnCaseload: m.OnCaseload, Visits: m.Visits, ByNamedNurse: m.ByNamedNurse,
		NamedNurseShare: m.NamedNurseShare(), Nurses: m.Nurses}
	if !m.Month.IsZero() {
		month := m.Month
		v.Month = &month
	}
	return v
}
