package sync

import (
	"bytes"
	"context"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres"
)

// Feedback through sync: a device creates reflections and colleague feedback
// offline (CREATE only: feedback is never edited) and pulls the feedback its
// user may see. The write goes through postgres.SubmitFeedback, the same
// path as the submitFeedback mutation. Hooks in push.go, pull.go and sync.go
// call these (see docs/feedback.md).

// EntityFeedback is a feedback response (push CREATE; pull).
const EntityFeedback Entity = "feedback"

// feedbackFields is a FEEDBACK CREATE's fields, named as in SubmitFeedbackInput.
type feedbackFields struct {
	SubjectKind          string  `json:"subjectKind"`
	SubjectID            string  `json:"subjectId"`
	Respondent           string  `json:"respondent"`
	Instrument           string  `json:"instrument"`
	CareRatings          []int   `json:"careRatings"`
	FftAnswer            *string `json:"fftAnswer"`
	QuestionnaireID      *string `json:"questionnaireId"`
	QuestionnaireVersion *int    `json:"questionnaireVersion"`
	Answers              []struct {
		Key    string  `json:"key"`
		Rating *int    `json:"rating"`
		Choice *string `json:"choice"`
		Yes    *bool   `json:"yes"`
		Text   *string `json:"text"`
	} `json:"answers"`
	FreeText string `json:"freeText"`
}

// feedbackSubmission decodes a FEEDBACK CREATE's fields; EINVALID when malformed.
func feedbackSubmission(id uuid.UUID, raw map[string]any) (feedback.Submission, error) {
	var f feedbackFields
	b, err := json.Marshal(raw)
	if err == nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err = dec.Decode(&f)
	}
	if err != nil {
		return feedback.Submission{}, care.Errorf(care.EINVALID, "FEEDBACK fields are those of SubmitFeedbackInput")
	}
	s := feedback.Submission{ID: &id, FreeText: f.FreeText, CARERatings: f.CareRatings}
	if s.SubjectKind, err = care.ParseEnum([]feedback.SubjectKind{feedback.SubjectInteraction, feedback.SubjectRelationship,
		feedback.SubjectPractitioner, feedback.SubjectTeam, feedback.SubjectPartnership}, "feedback subject kind", f.SubjectKind); err != nil {
		return s, err
	}
	if s.SubjectID, err = uuid.Parse(f.SubjectID); err != nil {
		return s, care.Errorf(care.EINVALID, "subjectId must be a bare UUID")
	}
	if s.Respondent, err = care.ParseEnum([]feedback.Respondent{feedback.RespondentColleague, feedback.RespondentSelf}, "respondent (COLLEAGUE or SELF)", f.Respondent); err != nil {
		return s, err
	}
	if s.Instrument, err = care.ParseEnum([]feedback.Instrument{feedback.InstrumentCARE, feedback.InstrumentFFT, feedback.InstrumentQuestionnaire}, "instrument", f.Instrument); err != nil {
		return s, err
	}
	if f.FftAnswer != nil {
		a, err := care.ParseEnum(feedback.FFTAnswers, "FFT answer", *f.FftAnswer)
		if err != nil {
			return s, err
		}
		s.FFT = &a
	}
	if f.QuestionnaireID != nil {
		q, err := uuid.Parse(*f.QuestionnaireID)
		if err != nil {
			return s, care.Errorf(care.EINVALID, "questionnaireId must be a bare UUID")
		}
		s.QuestionnaireID = &q
	}
	if f.QuestionnaireVersion != nil {
		s.QuestionnaireVersion = *f.QuestionnaireVersion
	}
	for _, a := range f.Answers {
		s.Answers = append(s.Answers, feedback.Answer{Key: a.Key, Rating: a.Rating, Choice: a.Choice, Yes: a.Yes, Text: a.Text})
	}
	return s, nil
}

// createFeedback applies a pushed FEEDBACK CREATE (idempotent: the same id
// returns the stored response). It returns the store's errors.
func createFeedback(ctx context.Context, tx *postgres.DB, id uuid.UUID, raw map[string]any) (*feedback.Response, error) {
	s, err := feedbackSubmission(id, raw)
	if err != nil {
		return nil, err
	}
	return tx.SubmitFeedback(ctx, s)
}

// feedbackData is a feedback response as a sync record.
func feedbackData(r *feedback.Response) map[string]any {
	ratings := make([]any, len(r.CARERatings))
	for i, v := range r.CARERatings {
		ratings[i] = int64(v)
	}
	answers := make([]any, len(r.Answers))
	for i, a := range r.Answers {
		answers[i] = map[string]any{"key": a.Key, "rating": optInt(a.Rating), "choice": optStr(a.Choice), "yes": optBool(a.Yes), "text": optStr(a.Text)}
	}
	var score any
	if r.CARE != nil && r.CARE.Scorable {
		score = r.CARE.Score
	}
	var fft, relKind any
	if r.FFT != nil {
		fft = EnumText(*r.FFT)
	}
	if r.RelationshipKind != nil {
		relKind = EnumText(*r.RelationshipKind)
	}
	return map[string]any{
		"id": r.ID.String(), "organizationId": r.OrganizationID.String(), "subjectKind": EnumText(r.SubjectKind),
		"subjectId": r.SubjectID.String(), "practitionerId": optID(r.PractitionerID), "teamId": optID(r.TeamID),
		"relationshipKind": relKind, "respondent": EnumText(r.Respondent), "instrument": EnumText(r.Instrument),
		"careRatings": ratings, "careScore": score, "fftAnswer": fft, "questionnaireId": optID(r.QuestionnaireID),
		"questionnaireVersion": int64(r.QuestionnaireVersion), "answers": answers, "freeText": r.FreeText,
		"submittedOn": r.SubmittedOn.Format(time.DateOnly), "version": r.Version,
	}
}

func optBool(b *bool) any {
	if b == nil {
		return nil
	}
	return *b
}

// applyFeedback applies one pushed FEEDBACK change: CREATE only (feedback
// is never edited or deleted). push.go's applyChange calls it first thing
// for EntityFeedback. EINVALID for other operations or malformed fields.
func (e *Engine) applyFeedback(ctx context.Context, tx *postgres.DB, ch *ChangeInput) (*ChangeResult, error) {
	if ch.Op != OpCreate {
		return nil, care.Errorf(care.EINVALID, "FEEDBACK records are only created")
	}
	r, err := createFeedback(ctx, tx, ch.ID, ch.Fields)
	if err != nil {
		return nil, err
	}
	v := r.Version
	return &ChangeResult{Status: StatusApplied, Version: &v, Record: feedbackData(r), Conflicts: []*Conflict{}}, nil
}
