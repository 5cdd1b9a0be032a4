package feedback_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestScoreCARE(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		ratings  []int
		scorable bool
		score    float64
		missing  int
	}{
		{"all ten answered: plain sum", []int{5, 4, 3, 2, 1, 5, 4, 3, 2, 1}, true, 30, 0},
		{"all excellent is 50", []int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5}, true, 50, 0},
		{"all poor is 10", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, true, 10, 0},
		// 9 answered summing 36, mean 4: 36 + 4 = 40
		{"one not applicable replaced by the mean", []int{4, 4, 4, 4, 0, 4, 4, 4, 4, 4}, true, 40, 1},
		// 8 answered: 5*4 + 3*4 = 32, mean 4 → 32 + 2*4 = 40
		{"two not applicable replaced by the mean", []int{5, 5, 5, 5, 3, 3, 3, 3, 0, 0}, true, 40, 2},
		// 8 answered summing 27, mean 3.375 → 27 + 6.75 = 33.75
		{"two missing with a fractional mean", []int{5, 4, 3, 3, 3, 3, 3, 3, 0, 0}, true, 33.75, 2},
		{"three not applicable is unscorable", []int{5, 5, 5, 5, 5, 5, 5, 0, 0, 0}, false, 0, 3},
		{"nothing answered is unscorable", make([]int, 10), false, 0, 10},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := feedback.ScoreCARE(c.ratings)
			if err != nil {
				t.Fatal(err)
			}
			if got.Scorable != c.scorable || !near(got.Score, c.score) || got.Missing != c.missing {
				t.Fatalf("ScoreCARE(%v) = %+v, want scorable=%v score=%v missing=%d", c.ratings, got, c.scorable, c.score, c.missing)
			}
			if got.Scorable && (got.Score < 10 || got.Score > 50) {
				t.Fatalf("score %v outside 10–50", got.Score)
			}
		})
	}
	t.Run("rejects malformed responses", func(t *testing.T) {
		t.Parallel()
		for _, r := range [][]int{nil, {1, 2, 3}, {1, 2, 3, 4, 5, 1, 2, 3, 4, 6}, {1, 2, 3, 4, 5, 1, 2, 3, 4, -1}, make([]int, 11)} {
			if _, err := feedback.ScoreCARE(r); care.ErrorCode(err) != care.EINVALID {
				t.Errorf("ScoreCARE(%v) err = %v, want EINVALID", r, err)
			}
		}
	})
}

func TestFFTPercentages(t *testing.T) {
	t.Parallel()
	f := func(p *float64) float64 {
		if p == nil {
			return -1
		}
		return *p
	}
	counts := feedback.FFTCounts{feedback.FFTVeryGood: 6, feedback.FFTGood: 2, feedback.FFTNeither: 1, feedback.FFTPoor: 1, feedback.FFTVeryPoor: 0}
	withDK := feedback.FFTCounts{feedback.FFTVeryGood: 6, feedback.FFTGood: 2, feedback.FFTNeither: 1, feedback.FFTPoor: 1, feedback.FFTDontKnow: 2}
	cases := []struct {
		name          string
		c             feedback.FFTCounts
		policy        feedback.DontKnowPolicy
		resp, den     int
		pos, neg      float64
		noPercentages bool
	}{
		{"no don't know: 8 of 10 positive", counts, feedback.DontKnowExclude, 10, 10, 80, 10, false},
		{"don't know excluded from the denominator", withDK, feedback.DontKnowExclude, 12, 10, 80, 10, false},
		{"zero-value policy excludes don't know", withDK, "", 12, 10, 80, 10, false},
		{"don't know included in the denominator", withDK, feedback.DontKnowInclude, 12, 12, 100 * 8.0 / 12, 100 * 1.0 / 12, false},
		{"only don't know: no percentages", feedback.FFTCounts{feedback.FFTDontKnow: 3}, feedback.DontKnowExclude, 3, 0, -1, -1, true},
		{"no answers", feedback.FFTCounts{}, feedback.DontKnowInclude, 0, 0, -1, -1, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := feedback.FFTPercentages(c.c, c.policy)
			if got.Responses != c.resp || got.Denominator != c.den {
				t.Fatalf("responses/denominator = %d/%d, want %d/%d", got.Responses, got.Denominator, c.resp, c.den)
			}
			if c.noPercentages {
				if got.PercentPositive != nil || got.PercentNegative != nil {
					t.Fatalf("percentages %v/%v, want none", f(got.PercentPositive), f(got.PercentNegative))
				}
				return
			}
			if !near(f(got.PercentPositive), c.pos) || !near(f(got.PercentNegative), c.neg) {
				t.Fatalf("%%pos/%%neg = %v/%v, want %v/%v", f(got.PercentPositive), f(got.PercentNegative), c.pos, c.neg)
			}
		})
	}
	t.Run("the question and answers are the 2020 wording", func(t *testing.T) {
		t.Parallel()
		if feedback.FFTQuestion != "Overall, how was your experience of our service?" {
			t.Fatalf("question %q", feedback.FFTQuestion)
		}
		var labels []string
		for _, a := range feedback.FFTAnswers {
			labels = append(labels, a.Label())
		}
		want := "Very good|Good|Neither good nor poor|Poor|Very poor|Don't know"
		if strings.Join(labels, "|") != want {
			t.Fatalf("answers %v", labels)
		}
	})
}

func TestQuestionnaireVersions(t *testing.T) {
	t.Parallel()
	v1 := feedback.Questionnaire{ID: uuid.New(), Version: 1, Title: "Home visits", Questions: []feedback.Question{
		{Key: "on_time", Text: "Did we arrive when we said?", Kind: feedback.QuestionYesNo, Required: true},
		{Key: "helpful", Text: "How helpful was the visit?", Kind: feedback.QuestionRating},
		{Key: "contact", Text: "How did you contact us?", Kind: feedback.QuestionSingleChoice, Options: []string{"Phone", "Letter"}},
		{Key: "comments", Text: "Anything else?", Kind: feedback.QuestionFreeText},
	}}
	if err := v1.Validate(); err != nil {
		t.Fatal(err)
	}
	yes, four, phone, text := true, 4, "Phone", "  kind nurse  "
	old := []feedback.Answer{{Key: "on_time", Yes: &yes}, {Key: "helpful", Rating: &four}, {Key: "contact", Choice: &phone}, {Key: "comments", Text: &text}}
	if err := v1.ValidateAnswers(old); err != nil {
		t.Fatalf("v1 answers: %v", err)
	}
	if *old[3].Text != "kind nurse" {
		t.Fatalf("free text not trimmed: %q", *old[3].Text)
	}

	v2, err := v1.Revise("Home visits", []feedback.Question{
		{Key: "on_time", Text: "Did we arrive within the time we gave you?", Kind: feedback.QuestionYesNo, Required: true},
		{Key: "helpful", Text: "How helpful was the visit?", Kind: feedback.QuestionRating, ScaleMax: 10},
		{Key: "contact", Text: "How did you contact us?", Kind: feedback.QuestionSingleChoice, Options: []string{"Phone", "Email", "App"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a revision is a new version and leaves the old one unchanged", func(t *testing.T) {
		if v2.Version != 2 || v2.ID != v1.ID {
			t.Fatalf("v2 = %d %v", v2.Version, v2.ID)
		}
		if v1.Question("comments") == nil || v1.Question("on_time").Text != "Did we arrive when we said?" || len(v1.Question("contact").Options) != 2 {
			t.Fatal("revising changed version 1")
		}
		if v2.Question("helpful").ScaleMax != 10 || v1.Question("helpful").ScaleMax != 5 {
			t.Fatal("scale defaults wrong")
		}
	})
	t.Run("old answers keep their meaning against their own version", func(t *testing.T) {
		if err := v1.ValidateAnswers(old); err != nil {
			t.Fatalf("v1 answers no longer valid against v1: %v", err)
		}
		if err := v2.ValidateAnswers(old); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("v1 answers against v2 (question removed): err = %v, want EINVALID", err)
		}
	})
	t.Run("answers are checked against the version's questions", func(t *testing.T) {
		nine, letter, email := 9, "Letter", "Email"
		if err := v2.ValidateAnswers([]feedback.Answer{{Key: "on_time", Yes: &yes}, {Key: "helpful", Rating: &nine}, {Key: "contact", Choice: &email}}); err != nil {
			t.Fatal(err)
		}
		bad := map[string][]feedback.Answer{
			"rating above the scale":    {{Key: "on_time", Yes: &yes}, {Key: "helpful", Rating: &nine}},
			"option of another version": {{Key: "on_time", Yes: &yes}, {Key: "contact", Choice: &letter}},
			"required unanswered":       {{Key: "helpful", Rating: &four}},
			"wrong kind of answer":      {{Key: "on_time", Rating: &four}},
			"answered twice":            {{Key: "on_time", Yes: &yes}, {Key: "on_time", Yes: &yes}},
		}
		for name, as := range bad {
			if err := v1.ValidateAnswers(as); name != "option of another version" && care.ErrorCode(err) != care.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", name, err)
			}
		}
		if err := v1.ValidateAnswers(bad["option of another version"]); err != nil {
			t.Errorf("Letter is an option of v1: %v", err)
		}
		if err := v2.ValidateAnswers(bad["option of another version"]); care.ErrorCode(err) != care.EINVALID {
			t.Errorf("Letter against v2: err = %v, want EINVALID", err)
		}
	})
	t.Run("malformed questionnaires are refused", func(t *testing.T) {
		for name, q := range map[string]feedback.Questionnaire{
			"no title":      {Title: " ", Questions: v1.Questions},
			"no questions":  {Title: "x"},
			"bad key":       {Title: "x", Questions: []feedback.Question{{Key: "Bad Key", Text: "q", Kind: feedback.QuestionYesNo}}},
			"one option":    {Title: "x", Questions: []feedback.Question{{Key: "a", Text: "q", Kind: feedback.QuestionSingleChoice, Options: []string{"only"}}}},
			"duplicate key": {Title: "x", Questions: []feedback.Question{{Key: "a", Text: "q", Kind: feedback.QuestionYesNo}, {Key: "a", Text: "r", Kind: feedback.QuestionYesNo}}},
		} {
			if err := q.Validate(); care.ErrorCode(err) != care.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", name, err)
			}
		}
	})
}

func scored(n int, score float64, fft feedback.FFTAnswer, prac string) []feedback.Scored {
	out := make([]feedback.Scored, n)
	for i := range out {
		s := feedback.CAREScore{Scorable: true, Score: score}
		a := fft
		out[i] = feedback.Scored{PractitionerID: prac, Month: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), CARE: &s, FFT: &a}
	}
	return out
}

func TestSuppression(t *testing.T) {
	t.Parallel()
	t.Run("four responses: every figure suppressed", func(t *testing.T) {
		c := feedback.Summarise(scored(4, 40, feedback.FFTGood, "a"), "")
		if !c.Suppressed || c.Responses != nil || c.CAREMean != nil || c.FFTPercentPositive != nil || c.CAREDistribution != nil {
			t.Fatalf("cell of 4 not suppressed: %+v", c)
		}
	})
	t.Run("five responses: figures shown", func(t *testing.T) {
		c := feedback.Summarise(scored(5, 40, feedback.FFTGood, "a"), "")
		if c.Suppressed || *c.Responses != 5 || *c.CAREMean != 40 || *c.FFTPercentPositive != 100 {
			t.Fatalf("cell of 5: %+v", c)
		}
	})
	t.Run("CARE and FFT figures need five of their own", func(t *testing.T) {
		rs := scored(6, 40, feedback.FFTDontKnow, "a")
		rs[0].CARE, rs[1].CARE = nil, &feedback.CAREScore{Missing: 3} // not CARE / unscorable
		rs[5].FFT = ptr(feedback.FFTGood)
		c := feedback.Summarise(rs, feedback.DontKnowExclude)
		if c.Suppressed || !c.CARESuppressed || c.CAREMean != nil || !c.FFTSuppressed || c.FFTPercentPositive != nil {
			t.Fatalf("want CARE (4 scorable) and FFT (1 excluding don't know) suppressed: %+v", c)
		}
		if c := feedback.Summarise(rs, feedback.DontKnowInclude); c.FFTSuppressed || *c.FFTPercentPositive != 100.0/6 {
			t.Fatalf("with don't know included the FFT rests on 6: %+v", c)
		}
	})
	t.Run("distribution bands under five are suppressed, with a second band so they cannot be derived", func(t *testing.T) {
		rs := append(scored(10, 45, feedback.FFTGood, "a"), scored(6, 35, feedback.FFTGood, "a")...)
		rs = append(rs, scored(2, 15, feedback.FFTGood, "a")...)
		c := feedback.Summarise(rs, "")
		d := c.CAREDistribution
		if len(d) != 4 || !d[0].Suppressed || d[0].Count != nil || *d[1].Count != 0 || !d[2].Suppressed || d[2].Count != nil || *d[3].Count != 10 {
			t.Fatalf("distribution %+v", d)
		}
	})
	t.Run("breakdown rows: small rows suppressed and never derivable from the total", func(t *testing.T) {
		rs := append(scored(7, 40, feedback.FFTGood, "a"), scored(6, 30, feedback.FFTPoor, "b")...)
		rs = append(rs, scored(3, 20, feedback.FFTPoor, "c")...)
		rows, total := feedback.Breakdown(rs, feedback.ByPractitioner, "")
		if len(rows) != 3 || total.Suppressed || *total.Responses != 16 {
			t.Fatalf("rows %d total %+v", len(rows), total)
		}
		if rows[0].Key != "a" || rows[0].Cell.Suppressed || *rows[0].Cell.Responses != 7 {
			t.Fatalf("row a: %+v", rows[0])
		}
		if !rows[1].Cell.Suppressed || !rows[2].Cell.Suppressed {
			t.Fatalf("rows b (secondary) and c (3 responses) must be suppressed: %+v %+v", rows[1], rows[2])
		}
	})
	t.Run("breakdown by month, total of four suppressed", func(t *testing.T) {
		rows, total := feedback.Breakdown(scored(4, 40, feedback.FFTGood, "a"), feedback.ByMonth, "")
		if len(rows) != 1 || rows[0].Key != "2026-03" || !rows[0].Cell.Suppressed || !total.Suppressed {
			t.Fatalf("rows %+v total %+v", rows, total)
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestLinks(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	s, err := feedback.NewSigner([]byte(strings.Repeat("k", 32)))
	if err != nil {
		t.Fatal(err)
	}
	s.Now = func() time.Time { return now }
	claims := feedback.LinkClaims{ID: uuid.New(), OrganizationID: uuid.New(), SubjectKind: feedback.SubjectInteraction, SubjectID: uuid.New(),
		Instrument: feedback.InstrumentCARE, Expires: now.Add(time.Hour)}
	tok, err := s.Sign(claims)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("round trip", func(t *testing.T) {
		got, err := s.Verify(tok)
		if err != nil || got.ID != claims.ID || got.SubjectID != claims.SubjectID || got.Instrument != claims.Instrument {
			t.Fatalf("Verify = %+v, %v", got, err)
		}
	})
	t.Run("a CARE link may also ask the FFT; no other may", func(t *testing.T) {
		both := claims
		both.AlsoFFT = true
		tok, err := s.Sign(both)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := s.Verify(tok); err != nil || !got.AlsoFFT {
			t.Fatalf("Verify = %+v, %v; want AlsoFFT", got, err)
		}
		fft := both
		fft.Instrument = feedback.InstrumentFFT
		if _, err := s.Sign(fft); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("Sign(FFT with AlsoFFT) = %v; want EINVALID", err)
		}
	})
	t.Run("expired", func(t *testing.T) {
		late := *s
		late.Now = func() time.Time { return now.Add(time.Hour) }
		if _, err := late.Verify(tok); !errors.Is(err, feedback.ErrLinkExpired) {
			t.Fatalf("err = %v, want expired", err)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		payload, sig, _ := strings.Cut(tok, ".")
		other := claims
		other.SubjectID = uuid.New()
		otherTok, _ := s.Sign(other)
		otherPayload, _, _ := strings.Cut(otherTok, ".")
		flip := []byte(sig)
		flip[3] ^= 1
		for name, bad := range map[string]string{
			"payload swapped":   otherPayload + "." + sig,
			"signature changed": payload + "." + string(flip),
			"no signature":      payload,
			"garbage":           "not-a-token",
			"empty":             "",
		} {
			if _, err := s.Verify(bad); !errors.Is(err, feedback.ErrLinkTampered) {
				t.Errorf("%s: err = %v, want tampered", name, err)
			}
		}
		otherKey, _ := feedback.NewSigner([]byte(strings.Repeat("x", 32)))
		otherKey.Now = s.Now
		if _, err := otherKey.Verify(tok); !errors.Is(err, feedback.ErrLinkTampered) {
			t.Errorf("other key: err = %v", err)
		}
	})
	t.Run("short secrets and unusable claims are refused", func(t *testing.T) {
		if _, err := feedback.NewSigner([]byte("short")); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("short secret: %v", err)
		}
		past := claims
		past.Expires = now.Add(-time.Second)
		if _, err := s.Sign(past); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("past expiry: %v", err)
		}
		q := claims
		q.Instrument = feedback.InstrumentQuestionnaire
		if _, err := s.Sign(q); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("questionnaire without id: %v", err)
		}
	})
	t.Run("derived secrets differ from their source", func(t *testing.T) {
		src := []byte(strings.Repeat("j", 32))
		d := feedback.DeriveSecret(src)
		if len(d) < feedback.MinSecretSize || string(d) == string(src) {
			t.Fatal("bad derived secret")
		}
	})
}
