package feedback

import (
	"io"

	"github.com/rapportcare/rapport/care"
)

// The NHS Friends and Family Test, as revised by NHS England from April 2020:
// one question with six answers. Providers report the share of positive
// (very good + good) and negative (poor + very poor) answers.

// FFTQuestion is the 2020 wording of the FFT question.
const FFTQuestion = "Overall, how was your experience of our service?"

// FFTAnswer is one answer to the FFT question.
type FFTAnswer string

// FFT answers, in the order the question offers them.
const (
	FFTVeryGood FFTAnswer = "very_good"
	FFTGood     FFTAnswer = "good"
	FFTNeither  FFTAnswer = "neither" // "Neither good nor poor"
	FFTPoor     FFTAnswer = "poor"
	FFTVeryPoor FFTAnswer = "very_poor"
	FFTDontKnow FFTAnswer = "dont_know"
)

// FFTAnswers lists the answers in questionnaire order.
var FFTAnswers = []FFTAnswer{FFTVeryGood, FFTGood, FFTNeither, FFTPoor, FFTVeryPoor, FFTDontKnow}

// Label returns the answer as the questionnaire prints it.
func (a FFTAnswer) Label() string {
	switch a {
	case FFTVeryGood:
		return "Very good"
	case FFTGood:
		return "Good"
	case FFTNeither:
		return "Neither good nor poor"
	case FFTPoor:
		return "Poor"
	case FFTVeryPoor:
		return "Very poor"
	case FFTDontKnow:
		return "Don't know"
	}
	return string(a)
}

// Valid reports whether a is a known FFT answer.
func (a FFTAnswer) Valid() bool { return valid(FFTAnswers, a) }

// MarshalGQL writes the GraphQL enum name.
func (a FFTAnswer) MarshalGQL(w io.Writer) { care.MarshalEnum(w, a) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (a *FFTAnswer) UnmarshalGQL(v any) (err error) {
	*a, err = care.ParseEnum(FFTAnswers, "FFT answer", v)
	return err
}

// DontKnowPolicy says how "Don't know" answers enter the FFT percentages.
type DontKnowPolicy string

// Don't know policies.
const (
	// DontKnowExclude leaves "Don't know" out of the denominator (the default).
	DontKnowExclude DontKnowPolicy = "exclude"
	// DontKnowInclude counts "Don't know" in the denominator, so it lowers
	// both percentages.
	DontKnowInclude DontKnowPolicy = "include"
)

var dontKnowPolicies = []DontKnowPolicy{DontKnowExclude, DontKnowInclude}

// MarshalGQL writes the GraphQL enum name.
func (p DontKnowPolicy) MarshalGQL(w io.Writer) { care.MarshalEnum(w, p) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (p *DontKnowPolicy) UnmarshalGQL(v any) (err error) {
	*p, err = care.ParseEnum(dontKnowPolicies, "don't know policy", v)
	return err
}

// FFTCounts tallies FFT answers.
type FFTCounts map[FFTAnswer]int

// Total returns the number of answers of every kind.
func (c FFTCounts) Total() int {
	n := 0
	for _, v := range c {
		n += v
	}
	return n
}

// FFTResult is the FFT percentages for a set of answers.
type FFTResult struct {
	// Responses is every answer counted, "Don't know" included.
	Responses int
	// Denominator is what the percentages divide by (see DontKnowPolicy).
	Denominator int
	// PercentPositive and PercentNegative are nil when Denominator is 0.
	PercentPositive *float64
	PercentNegative *float64
}

// FFTPercentages computes % positive ((very good + good) / denominator × 100)
// and % negative ((poor + very poor) / denominator × 100). The denominator is
// every answer, less "Don't know" under DontKnowExclude (also the zero
// value's meaning).
func FFTPercentages(c FFTCounts, policy DontKnowPolicy) FFTResult {
	res := FFTResult{Responses: c.Total()}
	res.Denominator = res.Responses
	if policy != DontKnowInclude {
		res.Denominator -= c[FFTDontKnow]
	}
	if res.Denominator == 0 {
		return res
	}
	pos := 100 * float64(c[FFTVeryGood]+c[FFTGood]) / float64(res.Denominator)
	neg := 100 * float64(c[FFTPoor]+c[FFTVeryPoor]) / float64(res.Denominator)
	res.PercentPositive, res.PercentNegative = &pos, &neg
	return res
}
