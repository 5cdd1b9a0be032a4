package graph

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/graph/model"
	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres"
)

// Feedback resolvers: authorise and delegate to the store and the feedback
// package; schema.resolvers.go calls these in one line each.

// FeedbackLinkPath is where the public feedback page serves a link's token.
const FeedbackLinkPath = "/feedback/"

// WithFeedbackLinks lets createFeedbackLink sign links with s. Without it
// the mutation answers FORBIDDEN ("feedback links are not enabled").
func WithFeedbackLinks(s *feedback.Signer) Option { return func(o *options) { o.feedback = s } }

// enumIn turns a GraphQL enum value into the domain's stored value.
func enumIn[T ~string, M ~string](m M) T { return T(strings.ToLower(string(m))) }

// enumOut turns a domain value into its GraphQL enum value.
func enumOut[M ~string, T ~string](v T) M { return M(strings.ToUpper(string(v))) }

func optUUID(s *string, typ string) (*uuid.UUID, error) {
	if s == nil {
		return nil, nil
	}
	id, err := scalar.ParseID(*s, typ)
	if err != nil {
		return nil, err
	}
	return &id, nil
}

func (r *Resolver) createFeedbackLink(ctx context.Context, in model.CreateFeedbackLinkInput) (*model.FeedbackLink, error) {
	if r.Feedback == nil {
		return nil, care.Errorf(care.EFORBIDDEN, "feedback links are not enabled on this server")
	}
	subject, err := scalar.ParseID(in.SubjectID, subjectType(enumIn[feedback.SubjectKind](in.SubjectKind)))
	if err != nil {
		return nil, err
	}
	qid, err := optUUID(in.QuestionnaireID, "FeedbackQuestionnaire")
	if err != nil {
		return nil, err
	}
	pin := postgres.CreateFeedbackLinkInput{SubjectKind: enumIn[feedback.SubjectKind](in.SubjectKind), SubjectID: subject,
		Instrument: enumIn[feedback.Instrument](in.Instrument), QuestionnaireID: qid, QuestionnaireVersion: in.QuestionnaireVersion}
	if in.ValidForMinutes != nil {
		if *in.ValidForMinutes < 1 || *in.ValidForMinutes > int(feedback.MaxLinkTTL/time.Minute) {
			return nil, care.Errorf(care.EINVALID, "validForMinutes must be 1 to %d", int(feedback.MaxLinkTTL/time.Minute))
		}
		pin.TTL = time.Duration(*in.ValidForMinutes) * time.Minute
	}
	alsoFFT := in.AlsoAskFft != nil && *in.AlsoAskFft
	if alsoFFT && pin.Instrument != feedback.InstrumentCARE {
		return nil, care.Errorf(care.EINVALID, "alsoAskFFT goes with the CARE_MEASURE instrument only")
	}
	claims, err := r.DB.PrepareFeedbackLink(ctx, pin)
	if err != nil {
		return nil, err
	}
	claims.AlsoFFT = alsoFFT
	tok, err := r.Feedback.Sign(*claims)
	if err != nil {
		return nil, err
	}
	return &model.FeedbackLink{Path: FeedbackLinkPath + tok, Token: tok, ExpiresAt: claims.Expires.UTC().Truncate(time.Second)}, nil
}

// SubmissionFromInput turns the GraphQL input into a feedback.Submission
// (also used for sync pushes of FEEDBACK records). EINVALID for malformed ids.
func SubmissionFromInput(in model.SubmitFeedbackInput) (feedback.Submission, error) {
	s := feedback.Submission{SubjectKind: enumIn[feedback.SubjectKind](in.SubjectKind), Respondent: enumIn[feedback.Respondent](in.Respondent),
		Instrument: enumIn[feedback.Instrument](in.Instrument), CARERatings: in.CareRatings}
	var err error
	if s.SubjectID, err = scalar.ParseID(in.SubjectID, subjectType(s.SubjectKind)); err != nil {
		return s, err
	}
	if s.ID, err = optUUID(in.ID, "FeedbackResponse"); err != nil {
		return s, err
	}
	if s.QuestionnaireID, err = optUUID(in.QuestionnaireID, "FeedbackQuestionnaire"); err != nil {
		return s, err
	}
	if in.QuestionnaireVersion != nil {
		s.QuestionnaireVersion = *in.QuestionnaireVersion
	}
	if in.FftAnswer != nil {
		a := enumIn[feedback.FFTAnswer](*in.FftAnswer)
		s.FFT = &a
	}
	for _, a := range in.Answers {
		s.Answers = append(s.Answers, feedback.Answer{Key: a.Key, Rating: a.Rating, Choice: a.Choice, Yes: a.Yes, Text: a.Text})
	}
	if in.FreeText != nil {
		s.FreeText = *in.FreeText
	}
	return s, nil
}

func (r *Resolver) submitFeedback(ctx context.Context, in model.SubmitFeedbackInput) (*model.FeedbackResponse, error) {
	s, err := SubmissionFromInput(in)
	if err != nil {
		return nil, err
	}
	resp, err := r.DB.SubmitFeedback(ctx, s)
	if err != nil {
		return nil, err
	}
	out, err := r.feedbackOut(ctx, []*feedback.Response{resp})
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

func (r *Resolver) saveFeedbackQuestionnaire(ctx context.Context, in model.SaveFeedbackQuestionnaireInput) (*model.FeedbackQuestionnaire, error) {
	id, err := optUUID(in.ID, "FeedbackQuestionnaire")
	if err != nil {
		return nil, err
	}
	qs := make([]feedback.Question, len(in.Questions))
	for i, x := range in.Questions {
		qs[i] = feedback.Question{Key: x.Key, Text: x.Text, Kind: enumIn[feedback.QuestionKind](x.Kind), Options: x.Options, Required: orZero(x.Required)}
		if x.ScaleMax != nil {
			qs[i].ScaleMax = *x.ScaleMax
		}
	}
	q, err := r.DB.SaveQuestionnaire(ctx, id, in.Title, qs)
	if err != nil {
		return nil, err
	}
	return questionnaireOut(q), nil
}

func (r *Resolver) feedbackFilter(f *model.FeedbackFilter) (postgres.FeedbackFilter, error) {
	var out postgres.FeedbackFilter
	if f == nil {
		return out, nil
	}
	var err error
	if out.PractitionerID, err = optUUID(f.PractitionerID, "Practitioner"); err != nil {
		return out, err
	}
	if out.TeamID, err = optUUID(f.TeamID, "Team"); err != nil {
		return out, err
	}
	if out.SubjectID, err = optUUID(f.SubjectID, ""); err != nil {
		return out, err
	}
	out.RelationshipKind, out.From, out.To = f.RelationshipKind, f.From, f.To
	if f.SubjectKind != nil {
		k := enumIn[feedback.SubjectKind](*f.SubjectKind)
		out.SubjectKind = &k
	}
	if f.Instrument != nil {
		i := enumIn[feedback.Instrument](*f.Instrument)
		out.Instrument = &i
	}
	if f.Respondent != nil {
		x := enumIn[feedback.Respondent](*f.Respondent)
		out.Respondent = &x
	}
	return out, nil
}

func (r *Resolver) feedbackResponses(ctx context.Context, filter *model.FeedbackFilter, first *int, after *string) ([]model.FeedbackResponse, error) {
	f, err := r.feedbackFilter(filter)
	if err != nil {
		return nil, err
	}
	before, err := optUUID(after, "")
	if err != nil {
		return nil, err
	}
	rs, err := r.DB.FeedbackResponses(ctx, f, orZero(first), before)
	if err != nil {
		return nil, err
	}
	return r.feedbackOut(ctx, rs)
}

func (r *Resolver) feedbackResponse(ctx context.Context, id string) (*model.FeedbackResponse, error) {
	uid, err := scalar.ParseID(id, "FeedbackResponse")
	if err != nil {
		return nil, err
	}
	resp, err := r.DB.FeedbackResponse(ctx, uid)
	if care.ErrorCode(err) == care.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	out, err := r.feedbackOut(ctx, []*feedback.Response{resp})
	if err != nil {
		return nil, err
	}
	return &out[0], nil
}

// subjectType is the GraphQL type a subject's global ID names.
func subjectType(k feedback.SubjectKind) string {
	switch k {
	case feedback.SubjectInteraction:
		return "Interaction"
	case feedback.SubjectPractitioner:
		return "Practitioner"
	case feedback.SubjectTeam:
		return "Team"
	}
	return "CareRelationship"
}

// feedbackOut converts responses, loading their practitioners, teams (one
// batch each) and questionnaire versions.
func (r *Resolver) feedbackOut(ctx context.Context, rs []*feedback.Response) ([]model.FeedbackResponse, error) {
	l := r.loaders(ctx)
	var pids, tids []uuid.UUID
	for _, x := range rs {
		if x.PractitionerID != nil {
			pids = append(pids, *x.PractitionerID)
		}
		if x.TeamID != nil {
			tids = append(tids, *x.TeamID)
		}
	}
	pracs, err := l.Practitioner.LoadAll(ctx, pids)
	if err != nil {
		return nil, err
	}
	teams, err := l.Team.LoadAll(ctx, tids)
	if err != nil {
		return nil, err
	}
	pracByID := map[uuid.UUID]*care.Practitioner{}
	for _, p := range pracs {
		if p != nil {
			pracByID[p.ID] = p
		}
	}
	teamByID := map[uuid.UUID]*care.Team{}
	for _, t := range teams {
		if t != nil {
			teamByID[t.ID] = t
		}
	}
	qs := map[string]*model.FeedbackQuestionnaire{}
	out := make([]model.FeedbackResponse, len(rs))
	for i, x := range rs {
		m := model.FeedbackResponse{ID: scalar.GlobalID("FeedbackResponse", x.ID), SubjectKind: enumOut[model.FeedbackSubjectKind](x.SubjectKind),
			SubjectID: scalar.GlobalID(subjectType(x.SubjectKind), x.SubjectID), RelationshipKind: x.RelationshipKind,
			Respondent: enumOut[model.FeedbackRespondent](x.Respondent), Instrument: enumOut[model.FeedbackInstrument](x.Instrument),
			SubmittedOn: x.SubmittedOn, Answers: []model.FeedbackAnswer{}}
		if x.PractitionerID != nil {
			m.Practitioner = pracByID[*x.PractitionerID]
		}
		if x.TeamID != nil {
			m.Team = teamByID[*x.TeamID]
		}
		if x.CARE != nil {
			m.CareMeasure = &model.CareMeasureScore{Scorable: x.CARE.Scorable, Missing: x.CARE.Missing, Ratings: x.CARERatings}
			if x.CARE.Scorable {
				s := x.CARE.Score
				m.CareMeasure.Score = &s
			}
		}
		if x.FFT != nil {
			a := enumOut[model.FFTAnswer](*x.FFT)
			m.FftAnswer = &a
		}
		if x.FreeText != "" {
			t := x.FreeText
			m.FreeText = &t
		}
		for _, a := range x.Answers {
			m.Answers = append(m.Answers, model.FeedbackAnswer{Key: a.Key, Rating: a.Rating, Choice: a.Choice, Yes: a.Yes, Text: a.Text})
		}
		if x.QuestionnaireID != nil {
			key := fmt.Sprintf("%s/%d", x.QuestionnaireID, x.QuestionnaireVersion)
			q, ok := qs[key]
			if !ok {
				dq, err := r.DB.Questionnaire(ctx, *x.QuestionnaireID, x.QuestionnaireVersion)
				if err != nil && care.ErrorCode(err) != care.ENOTFOUND {
					return nil, err
				}
				if dq != nil {
					q = questionnaireOut(dq)
				}
				qs[key] = q
			}
			m.Questionnaire = q
		}
		out[i] = m
	}
	return out, nil
}

func questionnaireOut(q *feedback.Questionnaire) *model.FeedbackQuestionnaire {
	out := &model.FeedbackQuestionnaire{ID: scalar.GlobalID("FeedbackQuestionnaire", q.ID), Version: q.Version, Title: q.Title,
		Questions: make([]model.FeedbackQuestion, len(q.Questions))}
	for i, x := range q.Questions {
		out.Questions[i] = model.FeedbackQuestion{Key: x.Key, Text: x.Text, Kind: enumOut[model.FeedbackQuestionKind](x.Kind),
			Options: append([]string{}, x.Options...), Required: x.Required}
		if x.ScaleMax > 0 {
			n := x.ScaleMax
			out.Questions[i].ScaleMax = &n
		}
	}
	return out
}

func (r *Resolver) feedbackSummary(ctx context.Context, filter *model.FeedbackFilter, groupBy model.FeedbackGroupBy, dontKnow *model.FFTDontKnow) (*model.FeedbackSummary, error) {
	f, err := r.feedbackFilter(filter)
	if err != nil {
		return nil, err
	}
	scores, err := r.DB.FeedbackScores(ctx, f)
	if err != nil {
		return nil, err
	}
	policy := feedback.DontKnowExclude
	if dontKnow != nil {
		policy = enumIn[feedback.DontKnowPolicy](*dontKnow)
	}
	by := enumIn[feedback.GroupBy](groupBy)
	rows, total := feedback.Breakdown(scores, by, policy)
	out := &model.FeedbackSummary{GroupBy: groupBy, Rows: make([]model.FeedbackSummaryRow, len(rows)), Total: cellOut(total)}
	for i, row := range rows {
		key := row.Key
		switch by {
		case feedback.ByPractitioner, feedback.ByTeam:
			typ := "Practitioner"
			if by == feedback.ByTeam {
				typ = "Team"
			}
			if id, err := uuid.Parse(key); err == nil {
				key = scalar.GlobalID(typ, id)
			}
		case feedback.ByRelationshipKind:
			key = strings.ToUpper(key)
		}
		out.Rows[i] = model.FeedbackSummaryRow{Key: key, Cell: cellOut(row.Cell)}
	}
	return out, nil
}

func cellOut(c feedback.Cell) *model.FeedbackCell {
	out := &model.FeedbackCell{Suppressed: c.Suppressed, Responses: c.Responses, CareResponses: c.CAREResponses, CareMean: c.CAREMean,
		CareSuppressed: c.CARESuppressed, CareDistribution: []model.CareScoreBand{}, FftResponses: c.FFTResponses,
		FftPercentPositive: c.FFTPercentPositive, FftPercentNegative: c.FFTPercentNegative, FftSuppressed: c.FFTSuppressed}
	for _, b := range c.CAREDistribution {
		out.CareDistribution = append(out.CareDistribution, model.CareScoreBand{From: b.From, To: b.To, Count: b.Count, Suppressed: b.Suppressed})
	}
	return out
}

func (r *Resolver) feedbackQuestionnaires(ctx context.Context) ([]model.FeedbackQuestionnaire, error) {
	qs, err := r.DB.Questionnaires(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]model.FeedbackQuestionnaire, len(qs))
	for i, q := range qs {
		out[i] = *questionnaireOut(q)
	}
	return out, nil
}

func (r *Resolver) feedbackQuestionnaire(ctx context.Context, id string, version *int) (*model.FeedbackQuestionnaire, error) {
	uid, err := scalar.ParseID(id, "FeedbackQuestionnaire")
	if err != nil {
		return nil, err
	}
	q, err := r.DB.Questionnaire(ctx, uid, orZero(version))
	if care.ErrorCode(err) == care.ENOTFOUND {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return questionnaireOut(q), nil
}

func (r *Resolver) feedbackInstruments() *model.FeedbackInstruments {
	return &model.FeedbackInstruments{CareStem: feedback.CAREStem, CareItems: feedback.CAREItems[:],
		CareRatingLabels: feedback.CARERatingLabels[:], FftQuestion: feedback.FFTQuestion}
}
