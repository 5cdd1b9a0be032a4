package feedback

import (
	"io"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// A practice-defined questionnaire is versioned: every change makes a new
// version and versions are never edited, so a response (which records the
// version it answered) is always read against the questions it was given.

// QuestionKind is the kind of answer a question takes.
type QuestionKind string

// Question kinds.
const (
	QuestionRating       QuestionKind = "rating"        // 1..ScaleMax
	QuestionSingleChoice QuestionKind = "single_choice" // one of Options
	QuestionYesNo        QuestionKind = "yes_no"
	QuestionFreeText     QuestionKind = "free_text" // stored, never aggregated
)

var questionKinds = []QuestionKind{QuestionRating, QuestionSingleChoice, QuestionYesNo, QuestionFreeText}

// Valid reports whether k is a known question kind.
func (k QuestionKind) Valid() bool { return valid(questionKinds, k) }

// MarshalGQL writes the GraphQL enum name.
func (k QuestionKind) MarshalGQL(w io.Writer) { care.MarshalEnum(w, k) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (k *QuestionKind) UnmarshalGQL(v any) (err error) {
	*k, err = care.ParseEnum(questionKinds, "question kind", v)
	return err
}

// Limits on questionnaires.
const (
	MaxQuestions     = 50
	MaxOptions       = 20
	MaxQuestionText  = 500
	MaxRatingScale   = 10
	DefaultScaleMax  = 5
	MaxQuestionTitle = 200
)

// Question is one question of a questionnaire.
type Question struct {
	// Key names the question within the questionnaire across versions
	// (lower-case letters, digits, underscores), e.g. "waiting_time".
	Key      string
	Text     string
	Kind     QuestionKind
	Options  []string // single choice only
	ScaleMax int      // rating only: 1..ScaleMax (default 5)
	Required bool
}

// Questionnaire is one version of a practice-defined questionnaire.
type Questionnaire struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	Version        int
	Title          string
	Questions      []Question
}

var keyRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// Validate normalises q (trims text, defaults ScaleMax) and checks it. It
// returns EINVALID naming the first problem.
func (q *Questionnaire) Validate() error {
	q.Title = strings.TrimSpace(q.Title)
	if q.Title == "" || len(q.Title) > MaxQuestionTitle {
		return care.Errorf(care.EINVALID, "a questionnaire needs a title of 1 to %d characters", MaxQuestionTitle)
	}
	if len(q.Questions) == 0 || len(q.Questions) > MaxQuestions {
		return care.Errorf(care.EINVALID, "a questionnaire has 1 to %d questions", MaxQuestions)
	}
	seen := map[string]bool{}
	for i := range q.Questions {
		x := &q.Questions[i]
		x.Text = strings.TrimSpace(x.Text)
		if !keyRE.MatchString(x.Key) {
			return care.Errorf(care.EINVALID, "question %d: key must be lower-case letters, digits and underscores, starting with a letter", i+1)
		}
		if seen[x.Key] {
			return care.Errorf(care.EINVALID, "question key %q is used twice", x.Key)
		}
		seen[x.Key] = true
		if x.Text == "" || len(x.Text) > MaxQuestionText {
			return care.Errorf(care.EINVALID, "question %q needs text of 1 to %d characters", x.Key, MaxQuestionText)
		}
		if !x.Kind.Valid() {
			return care.Errorf(care.EINVALID, "question %q has an unknown kind", x.Key)
		}
		if x.Kind == QuestionSingleChoice {
			if len(x.Options) < 2 || len(x.Options) > MaxOptions {
				return care.Errorf(care.EINVALID, "question %q needs 2 to %d options", x.Key, MaxOptions)
			}
			for j, o := range x.Options {
				x.Options[j] = strings.TrimSpace(o)
				if x.Options[j] == "" {
					return care.Errorf(care.EINVALID, "question %q has an empty option", x.Key)
				}
			}
		} else if len(x.Options) > 0 {
			return care.Errorf(care.EINVALID, "question %q: only single-choice questions have options", x.Key)
		}
		if x.Kind == QuestionRating {
			if x.ScaleMax == 0 {
				x.ScaleMax = DefaultScaleMax
			}
			if x.ScaleMax < 2 || x.ScaleMax > MaxRatingScale {
				return care.Errorf(care.EINVALID, "question %q: rating scale must be 2 to %d", x.Key, MaxRatingScale)
			}
		} else {
			x.ScaleMax = 0
		}
	}
	return nil
}

// Revise returns the next version of q with new title and questions, or
// EINVALID if they do not validate. q itself is unchanged.
func (q Questionnaire) Revise(title string, questions []Question) (Questionnaire, error) {
	next := Questionnaire{ID: q.ID, OrganizationID: q.OrganizationID, Version: q.Version + 1, Title: title,
		Questions: append([]Question(nil), questions...)}
	if err := next.Validate(); err != nil {
		return Questionnaire{}, err
	}
	return next, nil
}

// Answer is the answer to one question. Exactly the field matching the
// question's kind is set.
type Answer struct {
	Key    string
	Rating *int    // rating
	Choice *string // single choice: one of the options, verbatim
	Yes    *bool   // yes/no
	Text   *string // free text
}

// ValidateAnswers checks answers against this version of the questionnaire:
// every key known, each answer of its question's kind and in range, each
// question answered at most once, required ones answered. Free text is
// trimmed; an empty one counts as unanswered. It returns EINVALID naming the
// first problem.
func (q *Questionnaire) ValidateAnswers(answers []Answer) error {
	byKey := make(map[string]*Question, len(q.Questions))
	for i := range q.Questions {
		byKey[q.Questions[i].Key] = &q.Questions[i]
	}
	got := map[string]bool{}
	for i := range answers {
		a := &answers[i]
		x, ok := byKey[a.Key]
		if !ok {
			return care.Errorf(care.EINVALID, "question %q is not in version %d of this questionnaire", a.Key, q.Version)
		}
		if got[a.Key] {
			return care.Errorf(care.EINVALID, "question %q is answered twice", a.Key)
		}
		set := 0
		for _, p := range []bool{a.Rating != nil, a.Choice != nil, a.Yes != nil, a.Text != nil} {
			if p {
				set++
			}
		}
		if set != 1 {
			return care.Errorf(care.EINVALID, "question %q needs exactly one answer", a.Key)
		}
		switch x.Kind {
		case QuestionRating:
			if a.Rating == nil || *a.Rating < 1 || *a.Rating > x.ScaleMax {
				return care.Errorf(care.EINVALID, "question %q takes a rating from 1 to %d", a.Key, x.ScaleMax)
			}
		case QuestionSingleChoice:
			if a.Choice == nil || !contains(x.Options, *a.Choice) {
				return care.Errorf(care.EINVALID, "question %q takes one of its options", a.Key)
			}
		case QuestionYesNo:
			if a.Yes == nil {
				return care.Errorf(care.EINVALID, "question %q takes yes or no", a.Key)
			}
		case QuestionFreeText:
			if a.Text == nil {
				return care.Errorf(care.EINVALID, "question %q takes text", a.Key)
			}
			t := strings.TrimSpace(*a.Text)
			if len(t) > MaxFreeTextLen {
				return care.Errorf(care.EINVALID, "question %q: text is longer than %d characters", a.Key, MaxFreeTextLen)
			}
			a.Text = &t
			if t == "" {
				continue
			}
		}
		got[a.Key] = true
	}
	for _, x := range q.Questions {
		if x.Required && !got[x.Key] {
			return care.Errorf(care.EINVALID, "question %q must be answered", x.Key)
		}
	}
	return nil
}

// Question returns the question with key in this version, or nil.
func (q *Questionnaire) Question(key string) *Question {
	for i := range q.Questions {
		if q.Questions[i].Key == key {
			return &q.Questions[i]
		}
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
