// Package continuity computes continuity-of-care indices exactly as published.
// It is pure: functions over values, no context, no database, no clock. Time
// comes in as values and every calendar computation is in UTC.
//
// Patient level (one patient's contacts in a window chosen by the caller):
//
//   - UPC, Usual Provider of Care: n_max / N, the share of contacts with the
//     most-seen clinician. Breslau N, Reeb KG. Continuity of care in a
//     university-based practice. J Med Educ 1975;50(10):965–969.
//   - COC, Continuity of Care index: (Σ n_j² − N) / (N(N − 1)).
//     Bice TW, Boxerman SB. A quantitative measure of continuity of care.
//     Med Care 1977;15(4):347–349.
//   - SECON, Sequential Continuity index: Σ_{i=1}^{N−1} c_i / (N − 1), where
//     c_i = 1 when contacts i and i+1 are with the same clinician. Steinwachs DM.
//     Measuring provider continuity in ambulatory care: an assessment of
//     alternative approaches. Med Care 1979;17(6):551–565.
//   - MMCI, Modified Modified Continuity Index:
//     (1 − s/(N + 0.1)) / (1 − 1/(N + 0.1)), s the number of distinct clinicians.
//     Magill MK, Senf J. A new method for measuring continuity of care in
//     family practice residencies. J Fam Pract 1987;24(2):165–168; it rescales
//     Godkin and Rice's Modified Continuity Index MCI = 1 − s/(N + 0.1)
//     (Godkin MA, Rice CA, J Fam Pract 1981) so that one clinician scores 1.
//     The constant is N + 0.1, as tabulated with the formula in, e.g., the rapid
//     review in BMC Health Serv Res 2022;22 (doi:10.1186/s12913-022-07953-z),
//     Table 2.
//   - Herfindahl index: Σ (n_j / N)², the concentration index of Herfindahl
//     (1950) and Hirschman, used for continuity by Pollack CE, Hussey PS,
//     Rudin RS, et al. Measuring care continuity: a comparison of claims-based
//     methods. Med Care 2016;54(5):e30–e34.
//   - Usual provider share: the patient-level reading of SLICC (below): the share
//     of contacts that were with the usual GP or named clinician in force at each
//     contact's time.
//   - Known provider: the share of contacts with a clinician the patient had
//     already seen. The name follows "known provider continuity" (Haggerty JL,
//     Roberge D, Freeman GK, Beaulieu C, Bréton M. Validation of a generic
//     measure of continuity of care: when patients encounter several clinicians.
//     Ann Fam Med 2012;10(5):443–451). No published formula for this rolling
//     variant was found (an attribution to Salisbury et al., BJGP 2009, could not
//     be confirmed), so its exact rule is Rapport's and is stated on
//     [KnownProvider].
//
// List and practice level (one calendar month):
//
//   - SLICC, St Leonard's Index of Continuity of Care: of all GP contacts of the
//     patients on a GP's list, the share that were with that list's own GP; for
//     the whole practice, the sum of the lists' numerators over the sum of their
//     denominators. Sidaway-Lee K, Pereira Gray D, Evans P. A method for
//     measuring continuity of care in day-to-day general practice: a
//     quantitative analysis of appointment data. Br J Gen Pract
//     2019;69(682):e356–e362 (St Leonard's Research Practice, Exeter).
//   - OPR, Own Patient Ratio: for a list-holding GP, her contacts with patients
//     on her own list over all her contacts with the practice's patients; for the
//     whole practice, the same sums over list-holding GPs only. Defined and
//     worked through alongside UPC, COC and SLICC in Br J Gen Pract
//     2023;73(731):279–282 (doi:10.3399/bjgp23X733161), Tables 1 and 2, whose
//     worked example is one of this package's tests.
//
// Undefined is not zero: an index that cannot be computed (no contacts, fewer
// than the minimum, one contact for an index that compares pairs) has a nil
// Value and a Reason, never a 0 or a 1.
package continuity

import (
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

// Contact is one contact of a patient with a clinician, reduced to what the
// indices need.
type Contact struct {
	// ID is a stable identifier; it orders contacts that share a timestamp, so
	// that SECON never depends on the order rows came out of a database.
	ID string
	// At is when the contact happened.
	At time.Time
	// ProviderID identifies the clinician; "" means the clinician is unknown
	// (see UnknownRule).
	ProviderID string
	// Mode is how the contact happened.
	Mode care.InteractionMode
	// Profession is the clinician's profession.
	Profession care.Profession
}

// FromInteraction turns an interaction into a Contact. The caller supplies the
// profession of the practitioner who led it, which the interaction does not
// carry. A nil practitioner ID becomes an unknown clinician. Whether drafts
// count is the caller's choice; this package counts what it is given.
func FromInteraction(in care.Interaction, profession care.Profession) Contact {
	c := Contact{ID: in.ID.String(), At: in.OccurredAt, Mode: in.Mode, Profession: profession}
	if in.PractitionerID != uuid.Nil {
		c.ProviderID = in.PractitionerID.String()
	}
	return c
}

// SameDayRule says how several contacts of one patient with the same clinician
// on the same UTC calendar day count.
type SameDayRule int

const (
	// CountOnce counts them as one contact (the earliest). It is the default
	// because one consultation is often recorded more than once (a visit and its
	// follow-up call, a record split in two), and counting each copy would
	// inflate every index towards continuity; claims-based studies count a
	// single visit per patient–provider pair per day for the same reason
	// (Pollack et al. 2016).
	CountOnce SameDayRule = iota
	// CountEach counts every contact.
	CountEach
)

// UnknownRule says how contacts with an unknown clinician (ProviderID "") count.
type UnknownRule int

const (
	// Exclude leaves them out, as if they had not happened. It is the default:
	// an unknown clinician can be neither matched nor told apart.
	Exclude UnknownRule = iota
	// CountAsDistinct counts each one as a contact with a clinician seen on no
	// other contact: it never continues a sequence, never matches a usual or a
	// known clinician, and is never merged with another on the same day. This is
	// the pessimistic reading.
	CountAsDistinct
)

// Options says which contacts count and how. The zero value means the defaults
// (see DefaultOptions): a zero or empty field takes its default.
type Options struct {
	// MinContacts is the number of counted contacts below which a patient-level
	// index is undefined. Default 2; a negative value means 1. COC, SECON and
	// MMCI need at least 2 by definition whatever this says.
	MinContacts int
	// Modes lists the interaction modes that count. Default: face to face only
	// (see FaceToFace); FaceToFaceAndRemote adds phone and video.
	Modes []care.InteractionMode
	// Professions lists the clinicians' professions that count. Default: GP
	// only. For named-nurse continuity pass the nursing professions.
	Professions []care.Profession
	// SameDay says how same-day contacts with the same clinician count.
	// Default CountOnce.
	SameDay SameDayRule
	// UnknownProvider says how contacts with an unknown clinician count.
	// Default Exclude.
	UnknownProvider UnknownRule
}

// DefaultMinContacts is the default minimum number of counted contacts: with
// one contact no continuity index says anything.
const DefaultMinContacts = 2

// DefaultOptions returns the defaults: at least 2 contacts, face-to-face
// contacts (clinic and home visit) with GPs, same-day repeats with the same
// clinician counted once, unknown clinicians excluded.
func DefaultOptions() Options {
	return Options{
		MinContacts:     DefaultMinContacts,
		Modes:           FaceToFace(),
		Professions:     []care.Profession{care.ProfessionGP},
		SameDay:         CountOnce,
		UnknownProvider: Exclude,
	}
}

// FaceToFace returns the face-to-face modes, clinic and home visit: the
// contacts SLICC was defined on and the default here.
func FaceToFace() []care.InteractionMode {
	return []care.InteractionMode{care.ModeClinic, care.ModeHomeVisit}
}

// FaceToFaceAndRemote returns the face-to-face modes plus phone and video, for
// practices where remote consultations are a large share of care. Messages are
// never included: they are not consultations.
func FaceToFaceAndRemote() []care.InteractionMode {
	return []care.InteractionMode{care.ModeClinic, care.ModeHomeVisit, care.ModePhone, care.ModeVideo}
}

// withDefaults fills unset fields with their defaults.
func (o Options) withDefaults() Options {
	switch {
	case o.MinContacts == 0:
		o.MinContacts = DefaultMinContacts
	case o.MinContacts < 0:
		o.MinContacts = 1
	}
	if len(o.Modes) == 0 {
		o.Modes = FaceToFace()
	}
	if len(o.Professions) == 0 {
		o.Professions = []care.Profession{care.ProfessionGP}
	}
	if o.SameDay != CountEach {
		o.SameDay = CountOnce
	}
	if o.UnknownProvider != CountAsDistinct {
		o.UnknownProvider = Exclude
	}
	return o
}

// Filter returns the contacts that count under opts, in the order every index
// uses: by time, then by ID (then by clinician, so the order is total). It
// keeps contacts whose mode and profession are listed, drops unknown
// clinicians unless opts counts them, and under CountOnce keeps only the
// earliest contact per clinician per UTC day. The input is not modified.
func Filter(contacts []Contact, opts Options) []Contact {
	o := opts.withDefaults()
	out := make([]Contact, 0, len(contacts))
	for _, c := range contacts {
		if !slices.Contains(o.Modes, c.Mode) || !slices.Contains(o.Professions, c.Profession) {
			continue
		}
		if c.ProviderID == "" && o.UnknownProvider != CountAsDistinct {
			continue
		}
		out = append(out, c)
	}
	if !slices.IsSortedFunc(out, compareContacts) {
		sortContacts(out)
	}
	if o.SameDay == CountEach {
		return out
	}
	// In time order a UTC day's contacts are consecutive: the clinicians
	// seen since the day began are all that need remembering.
	kept := out[:0]
	var day time.Time
	var today stringIndex
	for _, c := range out {
		if d := dayOf(c.At); !d.Equal(day) {
			day = d
			today.reset()
		}
		if c.ProviderID != "" {
			if _, seen := today.find(c.ProviderID); seen {
				continue
			}
			today.add(c.ProviderID)
		}
		kept = append(kept, c)
	}
	return kept
}

// compareContacts orders contacts by time, then ID, then clinician.
func compareContacts(a, b Contact) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if c := strings.Compare(a.ID, b.ID); c != 0 {
		return c
	}
	return strings.Compare(a.ProviderID, b.ProviderID)
}

// sortContacts orders contacts by compareContacts.
func sortContacts(cs []Contact) {
	slices.SortStableFunc(cs, compareContacts)
}

// dayOf returns the start of t's UTC calendar day.
func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
