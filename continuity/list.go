package continuity

import (
	"slices"
	"time"

	"github.com/rapportcare/rapport/care"
)

// Assignment is a period during which a clinician was a patient's usual
// clinician (usual GP, named nurse): in force from Start up to, not including,
// End. A zero End means open-ended.
type Assignment struct {
	ProviderID string
	Start      time.Time
	End        time.Time
}

// inForce reports whether the assignment is in force at t.
func (a Assignment) inForce(t time.Time) bool {
	return a.ProviderID != "" && !t.Before(a.Start) && (a.End.IsZero() || t.Before(a.End))
}

// overlaps reports whether the assignment is in force at some instant of
// [from, to).
func (a Assignment) overlaps(from, to time.Time) bool {
	return a.ProviderID != "" && a.Start.Before(to) && (a.End.IsZero() || a.End.After(from))
}

// Assignments is a patient's history of usual clinicians of one kind.
type Assignments []Assignment

// At returns the clinician in force at t, or "" when none is. Periods should
// not overlap; if they do, the one that started last wins, then the smaller
// provider ID, so the answer is deterministic.
func (as Assignments) At(t time.Time) string {
	best := -1
	for i, a := range as {
		if !a.inForce(t) {
			continue
		}
		if best < 0 || a.Start.After(as[best].Start) ||
			(a.Start.Equal(as[best].Start) && a.ProviderID < as[best].ProviderID) {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	return as[best].ProviderID
}

// AssignmentsFrom returns the periods of a patient's care relationships of the
// given kind (care.KindUsualGP, care.KindNamedNurse) with a practitioner.
// A relationship counts for its period whether it is ACTIVE or ENDED, so a past
// month is judged by the relationship in force then (CareRelationship.ActiveAt
// answers for an active status only, which is right for today and wrong for
// history). PROPOSED relationships were never in force and are left out, and
// so is an ENDED one without a PeriodEnd, whose period is unknown.
func AssignmentsFrom(rels []care.CareRelationship, kind care.RelationshipKind) Assignments {
	var out Assignments
	for _, r := range rels {
		if r.Kind != kind || r.PractitionerID == nil {
			continue
		}
		a := Assignment{ProviderID: r.PractitionerID.String(), Start: r.PeriodStart}
		if r.PeriodEnd != nil {
			a.End = *r.PeriodEnd
		}
		switch r.Status {
		case care.RelationshipActive:
		case care.RelationshipEnded:
			if r.PeriodEnd == nil {
				continue
			}
		default:
			continue
		}
		out = append(out, a)
	}
	return out
}

// PatientMonth is one patient's input to the list-level measures for one
// month: the patient's usual-GP assignments (any that overlap the month) and
// the patient's contacts. Each contact is judged against the usual GP in force
// at its own time, so a patient who changes list mid-month counts on the old
// list before the change and on the new one after it.
type PatientMonth struct {
	PatientID string
	UsualGP   Assignments
	Contacts  []Contact
}

// ListResult is one ratio: Numerator over Denominator, with Value nil when the
// denominator is 0.
type ListResult struct {
	// GP is the list-holding GP the ratio belongs to; "" for the whole practice.
	GP          string
	Numerator   int
	Denominator int
	Value       *float64
}

func ratio(gp string, num, den int) ListResult {
	r := ListResult{GP: gp, Numerator: num, Denominator: den}
	if den > 0 {
		v := float64(num) / float64(den)
		r.Value = &v
	}
	return r
}

// SLICCResult is the St Leonard's Index for one month.
type SLICCResult struct {
	// Month is the first instant (UTC) of the month measured.
	Month time.Time
	// Lists has one entry per list-holding GP in the month (every GP with a
	// usual-GP assignment overlapping it, whether or not her patients were
	// seen), ordered by GP ID: contacts with the list's own GP over all counted
	// contacts of the list's patients.
	Lists []ListResult
	// Practice is the sum of the lists' numerators over the sum of their
	// denominators.
	Practice ListResult
	// Unassigned is the number of counted contacts made while the patient had
	// no usual GP in force; SLICC leaves them out.
	Unassigned int
}

// SLICC returns the St Leonard's Index of Continuity of Care (Sidaway-Lee,
// Pereira Gray and Evans 2019) for the calendar month containing month:
//
//	SLICC(list of GP g) = contacts of g's patients with g / all contacts of g's patients
//	SLICC(practice)     = Σ_g numerator_g / Σ_g denominator_g
//
// A contact belongs to the list of the patient's usual GP in force at its
// time. Contacts are filtered with opts (the defaults, face-to-face GP
// contacts, are SLICC's own); contacts outside the month are ignored.
// MinContacts does not apply: SLICC is counted over appointments, not
// patients. An unknown clinician counted under CountAsDistinct is in the
// denominator and never in the numerator. Value is nil for a list with no
// counted contacts.
func SLICC(month time.Time, patients []PatientMonth, opts Options) SLICCResult {
	from, to := monthBounds(month)
	num, den := make(map[string]int), make(map[string]int)
	holders := listHolders(patients, from, to)
	res := SLICCResult{Month: from}
	for _, p := range patients {
		for _, c := range monthContacts(p.Contacts, from, to, opts) {
			gp := p.UsualGP.At(c.At)
			if gp == "" {
				res.Unassigned++
				continue
			}
			den[gp]++
			if c.ProviderID == gp {
				num[gp]++
			}
		}
	}
	totalNum, totalDen := 0, 0
	for _, gp := range holders {
		res.Lists = append(res.Lists, ratio(gp, num[gp], den[gp]))
		totalNum += num[gp]
		totalDen += den[gp]
	}
	res.Practice = ratio("", totalNum, totalDen)
	return res
}

// OPRResult is the Own Patient Ratio for one month.
type OPRResult struct {
	// Month is the first instant (UTC) of the month measured.
	Month time.Time
	// GPs has one entry per list-holding GP in the month, ordered by GP ID:
	// her contacts with patients on her own list over all her contacts with the
	// practice's patients.
	GPs []ListResult
	// Practice is the sum of the numerators over the sum of the denominators,
	// over list-holding GPs only (contacts with other clinicians, such as
	// locums, are in no denominator).
	Practice ListResult
}

// OwnPatientRatio returns the Own Patient Ratio (BJGP 2023;73(731):279–282)
// for the calendar month containing month:
//
//	OPR(g) = g's contacts with patients on g's list / all g's contacts with practice patients
//
// patients must be all the practice's patients with contacts in the month,
// including those with no usual GP, because their contacts are in the
// denominator. "On g's list" is judged at each contact's time. Contacts are
// filtered with opts; those outside the month are ignored. Value is nil for a
// GP with no counted contacts.
func OwnPatientRatio(month time.Time, patients []PatientMonth, opts Options) OPRResult {
	from, to := monthBounds(month)
	num, den := make(map[string]int), make(map[string]int)
	for _, p := range patients {
		for _, c := range monthContacts(p.Contacts, from, to, opts) {
			if c.ProviderID == "" {
				continue
			}
			den[c.ProviderID]++
			if p.UsualGP.At(c.At) == c.ProviderID {
				num[c.ProviderID]++
			}
		}
	}
	res := OPRResult{Month: from}
	totalNum, totalDen := 0, 0
	for _, gp := range listHolders(patients, from, to) {
		res.GPs = append(res.GPs, ratio(gp, num[gp], den[gp]))
		totalNum += num[gp]
		totalDen += den[gp]
	}
	res.Practice = ratio("", totalNum, totalDen)
	return res
}

// listHolders returns, ordered, the GPs with an assignment overlapping [from, to).
// A practice has tens of GPs and thousands of patients: each GP is kept once
// before sorting.
func listHolders(patients []PatientMonth, from, to time.Time) []string {
	var gps []string
	seen := make(map[string]bool)
	for _, p := range patients {
		for _, a := range p.UsualGP {
			if a.overlaps(from, to) && !seen[a.ProviderID] {
				seen[a.ProviderID] = true
				gps = append(gps, a.ProviderID)
			}
		}
	}
	slices.Sort(gps)
	return gps
}

// monthContacts returns the counted contacts inside [from, to).
func monthContacts(contacts []Contact, from, to time.Time, opts Options) []Contact {
	cs := Filter(contacts, opts)
	return slices.DeleteFunc(cs, func(c Contact) bool { return c.At.Before(from) || !c.At.Before(to) })
}
