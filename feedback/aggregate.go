package feedback

import (
	"sort"
	"time"
)

// Aggregates are what practices see. Any figure made up of fewer than
// MinResponses responses is suppressed (nil, with Suppressed set): small
// numbers can identify the patient behind a response. Free text never enters
// an aggregate.

// MinResponses is the fewest responses a published figure may rest on.
const MinResponses = 5

// Scored is one response as aggregates see it: its scores and the
// dimensions it is grouped by. It carries no text and no identity.
type Scored struct {
	Month            time.Time // first day of the month it was given, UTC
	PractitionerID   string    // the practitioner the subject belongs to, "" if none
	TeamID           string    // the team the subject belongs to, "" if none
	RelationshipKind string    // the kind of the relationship the subject belongs to, "" if none
	CARE             *CAREScore
	FFT              *FFTAnswer
}

// CAREBand is one band of the CARE score distribution.
type CAREBand struct {
	From, To int // inclusive bounds of the score, e.g. 10–19
	// Count is nil when suppressed (1 to 4 responses, or needed to stop the
	// suppressed ones being worked out from the others).
	Count      *int
	Suppressed bool
}

// careBands are the distribution's score bands.
var careBands = [][2]int{{10, 19}, {20, 29}, {30, 39}, {40, 50}}

// Cell is the aggregate of a group of responses.
type Cell struct {
	// Suppressed is true when the group has fewer than MinResponses responses:
	// then every figure below is nil.
	Suppressed bool
	// Responses counts the group's responses (nil when suppressed).
	Responses *int
	// CAREResponses counts scorable CARE Measure responses; CAREMean is their
	// mean score. Both nil when there are fewer than MinResponses of them.
	CAREResponses *int
	CAREMean      *float64
	// CARESuppressed says the CARE figures were withheld for too few responses.
	CARESuppressed bool
	// CAREDistribution counts scorable CARE responses per score band; nil
	// when the CARE figures are suppressed.
	CAREDistribution []CAREBand
	// FFT percentages; nil when there are fewer than MinResponses FFT answers
	// in the denominator.
	FFTResponses       *int
	FFTPercentPositive *float64
	FFTPercentNegative *float64
	FFTSuppressed      bool
}

func intp(n int) *int { return &n }

// Summarise aggregates rs into one cell, applying the suppression rule to
// every figure.
func Summarise(rs []Scored, policy DontKnowPolicy) Cell {
	if len(rs) < MinResponses {
		return Cell{Suppressed: true, CARESuppressed: true, FFTSuppressed: true}
	}
	c := Cell{Responses: intp(len(rs))}
	var scores []float64
	counts := FFTCounts{}
	for _, r := range rs {
		if r.CARE != nil && r.CARE.Scorable {
			scores = append(scores, r.CARE.Score)
		}
		if r.FFT != nil {
			counts[*r.FFT]++
		}
	}
	if len(scores) >= MinResponses {
		sum := 0.0
		for _, s := range scores {
			sum += s
		}
		mean := sum / float64(len(scores))
		c.CAREResponses, c.CAREMean = intp(len(scores)), &mean
		c.CAREDistribution = distribution(scores)
	} else {
		c.CARESuppressed = true
	}
	fft := FFTPercentages(counts, policy)
	if fft.Denominator >= MinResponses {
		c.FFTResponses = intp(fft.Responses)
		c.FFTPercentPositive, c.FFTPercentNegative = fft.PercentPositive, fft.PercentNegative
	} else {
		c.FFTSuppressed = true
	}
	return c
}

// distribution bands scores, suppressing bands of 1 to 4; if exactly one band
// is suppressed (its count could be worked out from the total), the smallest
// other non-empty band is suppressed too.
func distribution(scores []float64) []CAREBand {
	n := make([]int, len(careBands))
	for _, s := range scores {
		for i, b := range careBands {
			if s >= float64(b[0]) && (s < float64(b[1]+1) || i == len(careBands)-1) {
				n[i]++
				break
			}
		}
	}
	out := make([]CAREBand, len(careBands))
	suppressed := 0
	for i, b := range careBands {
		out[i] = CAREBand{From: b[0], To: b[1]}
		if n[i] > 0 && n[i] < MinResponses {
			out[i].Suppressed = true
			suppressed++
		} else {
			out[i].Count = intp(n[i])
		}
	}
	if suppressed == 1 {
		best := -1
		for i := range out {
			if !out[i].Suppressed && n[i] > 0 && (best < 0 || n[i] < n[best]) {
				best = i
			}
		}
		if best >= 0 {
			out[best].Count, out[best].Suppressed = nil, true
		}
	}
	return out
}

// GroupBy is a dimension aggregates are broken down by.
type GroupBy string

// Dimensions.
const (
	ByPractitioner     GroupBy = "practitioner"
	ByTeam             GroupBy = "team"
	ByRelationshipKind GroupBy = "relationship_kind"
	ByMonth            GroupBy = "month"
)

// Row is the aggregate of one group.
type Row struct {
	Key  string // the practitioner or team id, relationship kind, or month (YYYY-MM)
	Cell Cell
}

// Breakdown groups rs by the dimension and summarises each group, plus the
// total over all of rs. Responses without a value for the dimension count in
// the total only. Rows are ordered by key. If exactly one row is suppressed
// while the total is not, the smallest other row is suppressed too, so the
// suppressed row cannot be worked out as total minus the rest.
func Breakdown(rs []Scored, by GroupBy, policy DontKnowPolicy) (rows []Row, total Cell) {
	groups := map[string][]Scored{}
	for _, r := range rs {
		var k string
		switch by {
		case ByPractitioner:
			k = r.PractitionerID
		case ByTeam:
			k = r.TeamID
		case ByRelationshipKind:
			k = r.RelationshipKind
		case ByMonth:
			if !r.Month.IsZero() {
				k = r.Month.UTC().Format("2006-01")
			}
		}
		if k != "" {
			groups[k] = append(groups[k], r)
		}
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	suppressed := 0
	for _, k := range keys {
		c := Summarise(groups[k], policy)
		if c.Suppressed {
			suppressed++
		}
		rows = append(rows, Row{Key: k, Cell: c})
	}
	total = Summarise(rs, policy)
	if suppressed == 1 && !total.Suppressed {
		best := -1
		for i, r := range rows {
			if !r.Cell.Suppressed && (best < 0 || len(groups[r.Key]) < len(groups[rows[best].Key])) {
				best = i
			}
		}
		if best >= 0 {
			rows[best].Cell = Cell{Suppressed: true, CARESuppressed: true, FFTSuppressed: true}
		}
	}
	return rows, total
}
