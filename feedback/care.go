package feedback

import (
	"github.com/rapportcare/rapport/care"
)

// The CARE Measure (Consultation and Relational Empathy; Mercer, Maxwell,
// Heaney and Watt, Family Practice 2004;21:699–705): ten items, each rated
// Poor (1), Fair (2), Good (3), Very good (4) or Excellent (5), or "Does not
// apply". Scoring (the measure's published guidance): the item ratings are
// summed, giving 10–50; up to two "does not apply" or missing items are
// replaced by the mean of the items answered; a response with more than two
// is unscorable and left out of analysis.

// CAREItemCount is the number of CARE Measure items.
const CAREItemCount = 10

// CAREMaxMissing is the most "does not apply"/missing items a scorable
// response may have.
const CAREMaxMissing = 2

// CARE Measure item ratings. CARENotApplicable ("Does not apply") and a
// missing answer are both stored as 0.
const (
	CARENotApplicable = 0
	CAREPoor          = 1
	CAREFair          = 2
	CAREGood          = 3
	CAREVeryGood      = 4
	CAREExcellent     = 5
)

// CARERatingLabels names the ratings 1..5 as the questionnaire prints them.
var CARERatingLabels = [6]string{"Does not apply", "Poor", "Fair", "Good", "Very good", "Excellent"}

// CAREStem is the question every item completes.
const CAREStem = "How was the practitioner at…"

// CAREItems are the ten items in questionnaire order.
var CAREItems = [CAREItemCount]string{
	"Making you feel at ease (introducing themselves, explaining their position, being friendly and warm towards you, treating you with respect; not cold or abrupt)",
	"Letting you tell your \"story\" (giving you time to fully describe your condition in your own words; not interrupting, rushing or diverting you)",
	"Really listening (paying close attention to what you were saying; not looking at notes or the computer as you were talking)",
	"Being interested in you as a whole person (asking or knowing relevant details about your life, your situation; not treating you as \"just a number\")",
	"Fully understanding your concerns (communicating that your concerns were accurately understood; not overlooking or dismissing anything)",
	"Showing care and compassion (seeming genuinely concerned, connecting with you on a human level; not being indifferent or \"detached\")",
	"Being positive (having a positive approach and a positive attitude; being honest but not negative about your problems)",
	"Explaining things clearly (fully answering your questions, explaining clearly, giving you adequate information; not being vague)",
	"Helping you to take control (exploring with you what you can do to improve your health yourself; encouraging rather than \"lecturing\" you)",
	"Making a plan of action with you (discussing the options, involving you in decisions as much as you want to be involved; not ignoring your views)",
}

// CAREScore is a scored CARE Measure response.
type CAREScore struct {
	// Scorable is false when more than CAREMaxMissing items are not applicable or missing.
	Scorable bool
	// Score is the total, 10–50, with missing items replaced by the mean of
	// the answered ones; 0 when not scorable.
	Score float64
	// Missing counts the "does not apply" and missing items.
	Missing int
}

// ValidateCARE checks a response's ratings: exactly CAREItemCount of them,
// each 0 (does not apply / missing) or 1..5. It returns EINVALID otherwise.
func ValidateCARE(ratings []int) error {
	if len(ratings) != CAREItemCount {
		return care.Errorf(care.EINVALID, "the CARE Measure has %d items, got %d answers", CAREItemCount, len(ratings))
	}
	for i, r := range ratings {
		if r < CARENotApplicable || r > CAREExcellent {
			return care.Errorf(care.EINVALID, "CARE Measure item %d: rating must be 1 (poor) to 5 (excellent) or 0 (does not apply), got %d", i+1, r)
		}
	}
	return nil
}

// ScoreCARE scores a CARE Measure response by the published rule. It returns
// EINVALID if the ratings are malformed (see ValidateCARE); an unscorable
// response (more than two items missing) is not an error.
func ScoreCARE(ratings []int) (CAREScore, error) {
	if err := ValidateCARE(ratings); err != nil {
		return CAREScore{}, err
	}
	sum, answered := 0, 0
	for _, r := range ratings {
		if r != CARENotApplicable {
			sum += r
			answered++
		}
	}
	missing := CAREItemCount - answered
	if missing > CAREMaxMissing {
		return CAREScore{Missing: missing}, nil
	}
	mean := float64(sum) / float64(answered)
	// sum + missing*mean, computed as mean*10 would round differently for
	// some inputs; keep the published form.
	return CAREScore{Scorable: true, Score: float64(sum) + float64(missing)*mean, Missing: missing}, nil
}
