// Package feedback is Rapport's feedback domain: the validated instruments
// (the CARE Measure and the NHS Friends and Family Test) scored by their
// published rules, practice-defined questionnaires that are versioned so old
// responses keep their meaning, the small-number suppression rule for
// aggregates, and the signed single-use links patients answer through. It is
// pure: plain functions over values, with time injected; it imports only care
// and the standard library.
package feedback

import (
	"io"

	"github.com/rapportcare/rapport/care"
)

// SubjectKind says what a piece of feedback is about.
type SubjectKind string

// Subject kinds.
const (
	SubjectInteraction  SubjectKind = "interaction"       // one visit, call or clinic contact
	SubjectRelationship SubjectKind = "care_relationship" // an ongoing patient relationship
	SubjectPractitioner SubjectKind = "practitioner"      // a practitioner as a whole
	SubjectTeam         SubjectKind = "team"              // a team
	SubjectPartnership  SubjectKind = "partnership"       // an organisation–organisation PARTNERSHIP relationship
)

// Respondent says who gave the feedback. It is a kind, never an identity.
type Respondent string

// Respondent kinds.
const (
	RespondentPatient   Respondent = "patient"
	RespondentCarer     Respondent = "carer"
	RespondentColleague Respondent = "colleague"
	RespondentSelf      Respondent = "self" // a practitioner's own reflection
)

// Instrument is the questionnaire a response answers.
type Instrument string

// Instruments.
const (
	InstrumentCARE          Instrument = "care_measure"
	InstrumentFFT           Instrument = "fft"
	InstrumentQuestionnaire Instrument = "questionnaire" // practice-defined
)

var (
	subjectKinds = []SubjectKind{SubjectInteraction, SubjectRelationship, SubjectPractitioner, SubjectTeam, SubjectPartnership}
	respondents  = []Respondent{RespondentPatient, RespondentCarer, RespondentColleague, RespondentSelf}
	instruments  = []Instrument{InstrumentCARE, InstrumentFFT, InstrumentQuestionnaire}
)

func valid[T ~string](all []T, v T) bool {
	for _, x := range all {
		if x == v {
			return true
		}
	}
	return false
}

// Valid reports whether k is a known subject kind.
func (k SubjectKind) Valid() bool { return valid(subjectKinds, k) }

// MarshalGQL writes the GraphQL enum name.
func (k SubjectKind) MarshalGQL(w io.Writer) { care.MarshalEnum(w, k) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (k *SubjectKind) UnmarshalGQL(v any) (err error) {
	*k, err = care.ParseEnum(subjectKinds, "feedback subject kind", v)
	return err
}

// Valid reports whether r is a known respondent kind.
func (r Respondent) Valid() bool { return valid(respondents, r) }

// Anonymous reports whether responses from r are stored without any
// respondent identity (patients and carers, through links).
func (r Respondent) Anonymous() bool { return r == RespondentPatient || r == RespondentCarer }

// MarshalGQL writes the GraphQL enum name.
func (r Respondent) MarshalGQL(w io.Writer) { care.MarshalEnum(w, r) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (r *Respondent) UnmarshalGQL(v any) (err error) {
	*r, err = care.ParseEnum(respondents, "feedback respondent", v)
	return err
}

// Valid reports whether i is a known instrument.
func (i Instrument) Valid() bool { return valid(instruments, i) }

// MarshalGQL writes the GraphQL enum name.
func (i Instrument) MarshalGQL(w io.Writer) { care.MarshalEnum(w, i) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (i *Instrument) UnmarshalGQL(v any) (err error) {
	*i, err = care.ParseEnum(instruments, "feedback instrument", v)
	return err
}

// MaxFreeTextLen bounds a free-text answer.
const MaxFreeTextLen = 4000
