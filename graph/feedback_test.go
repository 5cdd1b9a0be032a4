package graph_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// feedbackWorld has six anonymous CARE Measure responses about the nurse's
// visits and three about her colleague, each with a comment.
type feedbackWorld struct {
	*world
	adams *care.Patient
}

func newFeedbackWorld(t *testing.T) *feedbackWorld {
	db := postgrestest.New(t)
	w := &feedbackWorld{world: newWorld(t, db)}
	w.adams = w.patient(t, w.practiceA, w.gpA, w.nurse, "Adams")
	answer := func(actor *care.Actor, kind feedback.SubjectKind, id uuid.UUID, ratings []int) {
		t.Helper()
		c := must(db.PrepareFeedbackLink(care.NewContextWithActor(context.Background(), actor),
			postgres.CreateFeedbackLinkInput{SubjectKind: kind, SubjectID: id, Instrument: feedback.InstrumentCARE})).get(t)
		must(db.SubmitLinkedFeedback(context.Background(), c, feedback.Submission{SubjectKind: kind, SubjectID: id,
			Respondent: feedback.RespondentPatient, Instrument: feedback.InstrumentCARE, CARERatings: ratings, FreeText: "SECRET-COMMENT"})).get(t)
	}
	for i := 0; i < 6; i++ {
		visit := w.interaction(t, w.nurseActor(), w.adams.ID, time.Now().Add(-time.Duration(i+1)*time.Hour))
		answer(w.nurseActor(), feedback.SubjectInteraction, visit.ID, []int{5, 5, 5, 5, 5, 4, 4, 4, 4, 0})
	}
	for i := 0; i < 3; i++ {
		answer(w.nurseActor(), feedback.SubjectPractitioner, w.colleague, []int{3, 3, 3, 3, 3, 3, 3, 3, 3, 3})
	}
	return w
}

type cell struct {
	Suppressed     bool
	Responses      *int
	CareMean       *float64
	CareSuppressed bool
}

type summary struct {
	FeedbackSummary struct {
		Rows []struct {
			Key  string
			Cell cell
		}
		Total cell
	}
}

const summaryQuery = `query S($by: FeedbackGroupBy!, $f: FeedbackFilter) { feedbackSummary(groupBy: $by, filter: $f) {
	rows { key cell { suppressed responses careMean careSuppressed } }
	total { suppressed responses careMean careSuppressed careDistribution { from to count suppressed } } } }`

func TestFeedbackSummary(t *testing.T) {
	t.Parallel()
	w := newFeedbackWorld(t)
	admin := newClient(t, w.db, w.actor(care.RolePracticeAdmin, uuid.Nil, w.orgN), graph.Limits{})

	t.Run("rows under five are suppressed, and a lone one takes another with it", func(t *testing.T) {
		t.Parallel()
		var out summary
		admin.ok(summaryQuery, map[string]any{"by": "PRACTITIONER"}, &out)
		s := out.FeedbackSummary
		if len(s.Rows) != 2 || s.Total.Suppressed || *s.Total.Responses != 9 {
			t.Fatalf("summary %+v", s)
		}
		for _, r := range s.Rows {
			if !r.Cell.Suppressed || r.Cell.Responses != nil || r.Cell.CareMean != nil {
				t.Fatalf("row %s: %+v, want suppressed (3 responses, or the only other row)", r.Key, r.Cell)
			}
		}
	})
	t.Run("by month: nine responses in one month are shown", func(t *testing.T) {
		t.Parallel()
		var out summary
		admin.ok(summaryQuery, map[string]any{"by": "MONTH"}, &out)
		s := out.FeedbackSummary
		if len(s.Rows) != 1 || s.Rows[0].Key != time.Now().UTC().Format("2006-01") || s.Rows[0].Cell.Suppressed || *s.Rows[0].Cell.Responses != 9 {
			t.Fatalf("months %+v", s.Rows)
		}
		// 6 × (41 + 41/9) and 3 × 30
		want := (6*(41+41.0/9) + 3*30) / 9
		if m := *s.Total.CareMean; m < want-1e-6 || m > want+1e-6 {
			t.Fatalf("mean %v want %v", m, want)
		}
	})
	t.Run("by relationship kind and team", func(t *testing.T) {
		t.Parallel()
		var out summary
		admin.ok(summaryQuery, map[string]any{"by": "RELATIONSHIP_KIND"}, &out)
		if rows := out.FeedbackSummary.Rows; len(rows) != 1 || rows[0].Key != "NAMED_NURSE" || rows[0].Cell.Suppressed || *rows[0].Cell.Responses != 6 {
			t.Fatalf("kinds %+v", rows)
		}
		admin.ok(summaryQuery, map[string]any{"by": "TEAM"}, &out)
		if rows := out.FeedbackSummary.Rows; len(rows) != 1 || rows[0].Key != gid("Team", w.team) || *rows[0].Cell.Responses != 6 {
			t.Fatalf("teams %+v", rows)
		}
	})
	t.Run("a filtered total under five is suppressed", func(t *testing.T) {
		t.Parallel()
		var out summary
		admin.ok(summaryQuery, map[string]any{"by": "MONTH", "f": map[string]any{"practitionerId": gid("Practitioner", w.colleague)}}, &out)
		s := out.FeedbackSummary
		if !s.Total.Suppressed || s.Total.Responses != nil || s.Total.CareMean != nil || !s.Rows[0].Cell.Suppressed {
			t.Fatalf("3 responses shown: %+v", s)
		}
	})
	t.Run("free text never reaches an aggregate", func(t *testing.T) {
		t.Parallel()
		res := admin.do(summaryQuery, map[string]any{"by": "PRACTITIONER"})
		if strings.Contains(string(res.Data), "SECRET-COMMENT") {
			t.Fatal("comment in summary")
		}
	})
	t.Run("each practitioner aggregates only her own", func(t *testing.T) {
		t.Parallel()
		var out summary
		newClient(t, w.db, w.nurseActor(), graph.Limits{}).ok(summaryQuery, map[string]any{"by": "MONTH"}, &out)
		if s := out.FeedbackSummary.Total; s.Suppressed || *s.Responses != 6 {
			t.Fatalf("nurse total %+v", s)
		}
		newClient(t, w.db, w.actor(care.RoleNurse, w.colleague, w.orgN), graph.Limits{}).ok(summaryQuery, map[string]any{"by": "MONTH"}, &out)
		if s := out.FeedbackSummary.Total; !s.Suppressed {
			t.Fatalf("colleague total of 3 shown %+v", s)
		}
		newClient(t, w.db, w.actor(care.RolePracticeAdmin, w.adminA, w.practiceA), graph.Limits{}).ok(summaryQuery, map[string]any{"by": "MONTH"}, &out)
		if s := out.FeedbackSummary; !s.Total.Suppressed || len(s.Rows) != 0 {
			t.Fatalf("another organisation's admin sees %+v", s)
		}
	})
}

func TestFeedbackGraphQL(t *testing.T) {
	t.Parallel()
	w := newFeedbackWorld(t)
	nurse := newClient(t, w.db, w.nurseActor(), graph.Limits{})
	const list = `query { feedbackResponses(first: 50) { id subjectKind respondent instrument freeText practitioner { familyName } careMeasure { scorable score missing } } }`

	t.Run("a practitioner lists feedback about her with its comments", func(t *testing.T) {
		t.Parallel()
		var out struct {
			FeedbackResponses []struct {
				SubjectKind, Respondent, Instrument, FreeText string
				Practitioner                                  struct{ FamilyName string }
				CareMeasure                                   struct {
					Scorable bool
					Score    float64
					Missing  int
				}
			}
		}
		nurse.ok(list, nil, &out)
		if len(out.FeedbackResponses) != 6 {
			t.Fatalf("nurse sees %d", len(out.FeedbackResponses))
		}
		r := out.FeedbackResponses[0]
		if r.SubjectKind != "INTERACTION" || r.Respondent != "PATIENT" || r.Instrument != "CARE_MEASURE" || r.FreeText != "SECRET-COMMENT" ||
			r.Practitioner.FamilyName != "Evans" || !r.CareMeasure.Scorable || r.CareMeasure.Missing != 1 {
			t.Fatalf("response %+v", r)
		}
	})
	t.Run("GP of another practice sees none", func(t *testing.T) {
		t.Parallel()
		var out struct{ FeedbackResponses []struct{ ID string } }
		newClient(t, w.db, w.gpBActor(), graph.Limits{}).ok(list, nil, &out)
		if len(out.FeedbackResponses) != 0 {
			t.Fatalf("gpB sees %d", len(out.FeedbackResponses))
		}
	})
	t.Run("reflections and colleague feedback through submitFeedback", func(t *testing.T) {
		t.Parallel()
		const m = `mutation M($in: SubmitFeedbackInput!) { submitFeedback(input: $in) { id respondent fftAnswer subjectId } }`
		var out struct {
			SubmitFeedback struct{ Respondent, FftAnswer, SubjectID string }
		}
		nurse.ok(m, map[string]any{"in": map[string]any{"subjectKind": "PRACTITIONER", "subjectId": gid("Practitioner", w.colleague),
			"respondent": "COLLEAGUE", "instrument": "FFT", "fftAnswer": "VERY_GOOD"}}, &out)
		if out.SubmitFeedback.Respondent != "COLLEAGUE" || out.SubmitFeedback.FftAnswer != "VERY_GOOD" || out.SubmitFeedback.SubjectID != gid("Practitioner", w.colleague) {
			t.Fatalf("%+v", out)
		}
		nurse.fails(m, map[string]any{"in": map[string]any{"subjectKind": "PRACTITIONER", "subjectId": gid("Practitioner", w.colleague),
			"respondent": "SELF", "instrument": "FFT", "fftAnswer": "GOOD"}}, graph.CodeForbidden)
		nurse.fails(m, map[string]any{"in": map[string]any{"subjectKind": "PRACTITIONER", "subjectId": gid("Practitioner", w.nurse),
			"respondent": "SELF", "instrument": "CARE_MEASURE", "careRatings": []int{1, 2}}}, graph.CodeBadUserInput)
	})
	t.Run("links need a configured secret", func(t *testing.T) {
		t.Parallel()
		const m = `mutation L($s: ID!) { createFeedbackLink(input: {subjectKind: TEAM, subjectId: $s, instrument: FFT, validForMinutes: 30}) { path token expiresAt } }`
		nurse.fails(m, map[string]any{"s": gid("Team", w.team)}, graph.CodeForbidden)
		s, err := feedback.NewSigner([]byte(strings.Repeat("s", 32)))
		if err != nil {
			t.Fatal(err)
		}
		withLinks := clientFor(t, graph.NewServer(w.db, graph.Limits{}, graph.WithFeedbackLinks(s)), w.nurseActor())
		var out struct {
			CreateFeedbackLink struct{ Path, Token, ExpiresAt string }
		}
		withLinks.ok(m, map[string]any{"s": gid("Team", w.team)}, &out)
		c, err := s.Verify(out.CreateFeedbackLink.Token)
		if err != nil || c.SubjectID != w.team || c.Instrument != feedback.InstrumentFFT || out.CreateFeedbackLink.Path != "/feedback/"+out.CreateFeedbackLink.Token {
			t.Fatalf("link %+v claims %+v (%v)", out, c, err)
		}
		if d := time.Until(c.Expires); d < 29*time.Minute || d > 31*time.Minute {
			t.Fatalf("expires in %v", d)
		}
		withLinks.fails(m, map[string]any{"s": gid("Team", uuid.New())}, graph.CodeNotFound)
	})
	t.Run("instruments' wording", func(t *testing.T) {
		t.Parallel()
		var out struct {
			FeedbackInstruments struct {
				CareItems   []string
				FftQuestion string
			}
		}
		nurse.ok(`{ feedbackInstruments { careItems fftQuestion } }`, nil, &out)
		if len(out.FeedbackInstruments.CareItems) != 10 || out.FeedbackInstruments.FftQuestion != feedback.FFTQuestion {
			t.Fatalf("%+v", out)
		}
	})
}
