package continuity

import (
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

// Relational continuity in district nursing: for a housebound patient on a
// nursing team's caseload, how much of her care comes from her named nurse,
// and how many different nurses come through her door. Both are read month
// by month, as a team lead reviews them:
//
//   - named-nurse share: of the month's counted visits, those made by the
//     named nurse in force at the visit's time (NAMED_NURSE relationship,
//     judged by its period, as UsualProviderShare judges it);
//   - different nurses: the number of distinct nurses among the month's
//     counted visits (s in MMCI's notation, for one month).
//
// A month in which the patient was not on the team's caseload counts nothing
// for her. No published index fixes how these are counted, so the rule is
// Rapport's and is stated on NamedNurseVisits.

// VisitMonth is one patient's counted visits in one calendar month (UTC), or
// the same counts over a whole range.
type VisitMonth struct {
	// Month is the first instant (UTC) of the month; zero for a whole range.
	Month time.Time
	// OnCaseload says the patient was on the team's caseload at some time in
	// the month; when false every count is 0.
	OnCaseload bool
	// Visits is the number of counted visits.
	Visits int
	// ByNamedNurse is how many of them were made by the named nurse in force.
	ByNamedNurse int
	// Nurses is the number of distinct nurses who made them.
	Nurses int
}

// NamedNurseShare is ByNamedNurse / Visits, or nil without a visit.
func (m VisitMonth) NamedNurseShare() *float64 { return quotient(m.ByNamedNurse, m.Visits) }

// quotient is num / den, or nil when den is 0: undefined, not zero.
func quotient(num, den int) *float64 {
	if den == 0 {
		return nil
	}
	v := float64(num) / float64(den)
	return &v
}

// NamedNurseVisits measures one patient over the months given (first
// instants, oldest first): contacts are filtered by opts (modes,
// professions, same-day rule, unknown clinicians), a contact counts in the
// month it happened in if the patient was on the caseload then (caseload
// in force at the contact's time), and it is by the named nurse when its
// clinician is namedAt(contact time). total is the same over all the months
// (Nurses distinct over the whole range; Month zero).
func NamedNurseVisits(contacts []Contact, namedAt func(time.Time) string, caseload Assignments, months []time.Time, opts Options) (perMonth []VisitMonth, total VisitMonth) {
	perMonth = make([]VisitMonth, len(months))
	index := make(map[time.Time]int, len(months))
	for i, m := range months {
		perMonth[i].Month = m
		perMonth[i].OnCaseload = caseloadOverlaps(caseload, m, m.AddDate(0, 1, 0))
		index[m] = i
	}
	seen := make([]map[string]bool, len(months))
	all := map[string]bool{}
	for _, c := range Filter(contacts, opts) {
		i, ok := index[MonthOf(c.At)]
		if !ok || caseload.At(c.At) == "" {
			continue
		}
		m := &perMonth[i]
		m.Visits++
		total.Visits++
		if c.ProviderID != "" && c.ProviderID == namedAt(c.At) {
			m.ByNamedNurse++
			total.ByNamedNurse++
		}
		if seen[i] == nil {
			seen[i] = map[string]bool{}
		}
		seen[i][nurseKey(c)] = true
		all[nurseKey(c)] = true
	}
	for i := range perMonth {
		perMonth[i].Nurses = len(seen[i])
		total.OnCaseload = total.OnCaseload || perMonth[i].OnCaseload
	}
	total.Nurses = len(all)
	return perMonth, total
}

// nurseKey tells clinicians apart; an unknown one (kept only under
// CountAsDistinct) is distinct from every other contact.
func nurseKey(c Contact) string {
	if c.ProviderID == "" {
		return "unknown:" + c.ID
	}
	return c.ProviderID
}

func caseloadOverlaps(as Assignments, from, to time.Time) bool {
	for _, a := range as {
		if a.overlaps(from, to) {
			return true
		}
	}
	return false
}

// TeamMonth pools a team's patients for one month.
type TeamMonth struct {
	// Month is the first instant (UTC) of the month.
	Month time.Time
	// Patients on the caseload at some time in the month.
	Patients int
	// PatientsVisited had at least one counted visit.
	PatientsVisited int
	// Visits and ByNamedNurse are summed over the patients.
	Visits, ByNamedNurse int
	// NursesSum is the sum over visited patients of their distinct nurses.
	NursesSum int
}

// NamedNurseShare is the pooled share ByNamedNurse / Visits (each visit
// weighs the same), or nil without a visit.
func (t TeamMonth) NamedNurseShare() *float64 { return quotient(t.ByNamedNurse, t.Visits) }

// MeanNurses is the mean number of different nurses per visited patient, or
// nil when no patient was visited.
func (t TeamMonth) MeanNurses() *float64 { return quotient(t.NursesSum, t.PatientsVisited) }

// PoolTeam sums each month over patients (each a NamedNurseVisits perMonth
// for the same months). Patients with fewer months than months are read as
// having nothing in the missing ones.
func PoolTeam(months []time.Time, patients [][]VisitMonth) []TeamMonth {
	out := make([]TeamMonth, len(months))
	for i, m := range months {
		out[i].Month = m
		for _, p := range patients {
			if i >= len(p) || !p[i].OnCaseload {
				continue
			}
			t := &out[i]
			t.Patients++
			if p[i].Visits > 0 {
				t.PatientsVisited++
				t.NursesSum += p[i].Nurses
			}
			t.Visits += p[i].Visits
			t.ByNamedNurse += p[i].ByNamedNurse
		}
	}
	return out
}

// CaseloadFrom returns the periods during which a patient was on team's
// caseload: her relationships with the team, of any kind, read by the same
// rule as AssignmentsFrom (ACTIVE or ENDED with an end, by their periods;
// PROPOSED never). The team's ID stands as the provider.
func CaseloadFrom(rels []care.CareRelationship, team uuid.UUID) Assignments {
	var own []care.CareRelationship
	for _, r := range rels {
		if r.TeamID == nil || *r.TeamID != team {
			continue
		}
		id := team
		r.PractitionerID, r.Kind = &id, care.KindCareCoordinator
		own = append(own, r)
	}
	return AssignmentsFrom(own, care.KindCareCoordinator)
}
