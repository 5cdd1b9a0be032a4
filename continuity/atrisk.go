package continuity

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// AtRiskThresholds says which patients are at risk of poor continuity: those
// with at least MinContacts counted contacts (UPC's count) of whom one of the
// set indices is defined and below its threshold. A nil threshold is not
// applied.
type AtRiskThresholds struct {
	// MinContacts is the fewest counted contacts a patient must have to be
	// judged at all.
	MinContacts int
	// UPCBelow, COCBelow and UsualProviderShareBelow are the thresholds.
	UPCBelow, COCBelow, UsualProviderShareBelow *float64
}

// AtRiskPatient is one patient judged against AtRiskThresholds.
type AtRiskPatient struct {
	PatientID          string
	UPC, COC           Result
	UsualProviderShare Result
	// Reasons says, one line per threshold crossed, which index is below
	// which threshold over how many contacts; empty when none is.
	Reasons []string
}

// atRiskReasonFormat is how a crossed threshold reads: index name, value,
// threshold, contacts.
const atRiskReasonFormat = "%s %.2f is below %.2f over %d counted contacts"

// AtRisk computes UPC, COC and the usual provider share of one patient's
// contacts (with usualAt the usual clinician in force at a time, as for
// UsualProviderShare) and judges them against th. It reports false when the
// patient has fewer than th.MinContacts counted contacts or crosses no
// threshold; the returned AtRiskPatient is filled either way.
func AtRisk(patientID string, contacts []Contact, usualAt func(time.Time) string, th AtRiskThresholds, opts Options) (AtRiskPatient, bool) {
	x := AtRiskPatient{
		PatientID:          patientID,
		UPC:                UPC(contacts, opts),
		COC:                COC(contacts, opts),
		UsualProviderShare: UsualProviderShare(contacts, usualAt, opts),
	}
	if x.UPC.Contacts < th.MinContacts {
		return x, false
	}
	for _, t := range []struct {
		name  string
		below *float64
		value Result
	}{
		{"UPC", th.UPCBelow, x.UPC},
		{"COC", th.COCBelow, x.COC},
		{"Usual provider share", th.UsualProviderShareBelow, x.UsualProviderShare},
	} {
		if t.below != nil && t.value.Value != nil && *t.value.Value < *t.below {
			x.Reasons = append(x.Reasons, fmt.Sprintf(atRiskReasonFormat, t.name, *t.value.Value, *t.below, t.value.Contacts))
		}
	}
	return x, len(x.Reasons) > 0
}

// SortAtRisk orders patients most at risk first: by UPC ascending with
// undefined UPC last, then by more counted contacts first, then by patient ID.
func SortAtRisk(ps []AtRiskPatient) {
	slices.SortFunc(ps, func(a, b AtRiskPatient) int {
		if c := cmpValue(a.UPC.Value, b.UPC.Value); c != 0 {
			return c
		}
		if a.UPC.Contacts != b.UPC.Contacts {
			return b.UPC.Contacts - a.UPC.Contacts
		}
		return strings.Compare(a.PatientID, b.PatientID)
	})
}

// cmpValue orders index values ascending with undefined ones last.
func cmpValue(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	case *a < *b:
		return -1
	case *a > *b:
		return 1
	}
	return 0
}
