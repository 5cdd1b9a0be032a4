package feedback

import (
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// Submission is one response as given: about a subject, by a kind of
// respondent, answering one instrument. It names no respondent.
type Submission struct {
	// ID is optional: a device offline chooses it (UUIDv7).
	ID          *uuid.UUID
	SubjectKind SubjectKind
	SubjectID   uuid.UUID
	Respondent  Respondent
	Instrument  Instrument
	// CARERatings: InstrumentCARE only; ten ratings, 0 for does not apply.
	CARERatings []int
	// FFT: InstrumentFFT only.
	FFT *FFTAnswer
	// QuestionnaireID, QuestionnaireVersion and Answers: InstrumentQuestionnaire only.
	QuestionnaireID      *uuid.UUID
	QuestionnaireVersion int
	Answers              []Answer
	// FreeText is an optional comment with any instrument.
	FreeText string
}

// Response is a stored, scored response.
type Response struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	SubjectKind    SubjectKind
	SubjectID      uuid.UUID
	// PractitionerID, TeamID and RelationshipKind are what the subject
	// belongs to, fixed when the response was stored.
	PractitionerID       *uuid.UUID
	TeamID               *uuid.UUID
	RelationshipKind     *care.RelationshipKind
	Respondent           Respondent
	Instrument           Instrument
	CARERatings          []int
	CARE                 *CAREScore
	FFT                  *FFTAnswer
	QuestionnaireID      *uuid.UUID
	QuestionnaireVersion int
	Answers              []Answer
	FreeText             string
	SubmittedOn          time.Time // a date (UTC midnight)
	Version              int64
}

// Validate normalises s and checks it against its instrument (and, for a
// practice questionnaire, against q, the version it names; nil otherwise).
// It returns the CARE score for a CARE response, or EINVALID naming the
// first problem.
func (s *Submission) Validate(q *Questionnaire) (*CAREScore, error) {
	s.FreeText = strings.TrimSpace(s.FreeText)
	switch {
	case !s.SubjectKind.Valid() || s.SubjectID == uuid.Nil:
		return nil, care.Errorf(care.EINVALID, "feedback needs a subject")
	case !s.Respondent.Valid():
		return nil, care.Errorf(care.EINVALID, "feedback needs a known respondent kind")
	case !s.Instrument.Valid():
		return nil, care.Errorf(care.EINVALID, "feedback needs a known instrument")
	case len(s.FreeText) > MaxFreeTextLen:
		return nil, care.Errorf(care.EINVALID, "the comment is longer than %d characters", MaxFreeTextLen)
	}
	onlyFor := func(what string, set bool, inst Instrument) error {
		if set && s.Instrument != inst {
			return care.Errorf(care.EINVALID, "%s belongs to %s responses only", what, inst)
		}
		return nil
	}
	for _, err := range []error{
		onlyFor("careRatings", s.CARERatings != nil, InstrumentCARE),
		onlyFor("fftAnswer", s.FFT != nil, InstrumentFFT),
		onlyFor("a questionnaire", s.QuestionnaireID != nil || len(s.Answers) > 0, InstrumentQuestionnaire),
	} {
		if err != nil {
			return nil, err
		}
	}
	switch s.Instrument {
	case InstrumentCARE:
		sc, err := ScoreCARE(s.CARERatings)
		if err != nil {
			return nil, err
		}
		return &sc, nil
	case InstrumentFFT:
		if s.FFT == nil || !s.FFT.Valid() {
			return nil, care.Errorf(care.EINVALID, "an FFT response needs one of its six answers")
		}
	case InstrumentQuestionnaire:
		if s.QuestionnaireID == nil || q == nil || q.ID != *s.QuestionnaireID || q.Version != s.QuestionnaireVersion {
			return nil, care.Errorf(care.EINVALID, "a questionnaire response names the questionnaire and version it answers")
		}
		if err := q.ValidateAnswers(s.Answers); err != nil {
			return nil, err
		}
	}
	return nil, nil
}
