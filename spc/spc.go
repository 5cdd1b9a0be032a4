// Package spc computes statistical process control (XmR) charts the way NHS
// England's "Making Data Count" (MDC) programme publishes them, for the
// dashboard's monthly measures. It is pure: functions over values, standard
// library only.
//
// Sources, followed exactly:
//
//   - NHS England and NHS Improvement, "Making Data Count: Getting started"
//     (2019) and "Making Data Count: Strengthening your decisions" (2019,
//     revised 2021): the XmR chart, its process limits, the four special-cause
//     rules and the variation and assurance icons.
//   - The NHS-R Community's NHSRplotthedots R package ("Plot the Dots"), the
//     reference implementation supporting the programme, whose rule details
//     (strict inequalities, precedence, what a point on the mean does) are
//     matched here where the MDC guides leave them implicit.
//
// The chart (MDC "Getting started", the XmR chart):
//
//   - mean: the arithmetic mean of the points;
//   - moving range: |x_i − x_(i−1)| between consecutive points;
//   - process limits: mean ± 2.66 × mean moving range (2.66 = 3 / d2, d2 =
//     1.128 for ranges of two points, i.e. three sigma);
//   - "close to the limits": beyond mean ± (2/3) × 2.66 × mean moving range,
//     i.e. beyond two sigma.
//
// Special-cause rules (MDC "Strengthening your decisions", p. 11), applied in
// this order of precedence when a point meets several:
//
//  1. a single point outside the process limits (strictly above the upper or
//     below the lower limit);
//  2. a trend: seven or more consecutive points all increasing, or all
//     decreasing (a repeated value breaks it); every point of the run is marked;
//  3. two out of three consecutive points close to a process limit: between
//     the two-sigma line and the limit (inclusive of the limit), with all three
//     points on that side of the mean; the close points are marked;
//  4. a shift: seven or more consecutive points all above, or all below, the
//     mean (a point on the mean breaks it); every point of the run is marked.
//
// Some publications use runs of 6 or 8; MDC uses 7 and so does this package.
//
// Undefined months are gaps, never zeros: a nil point takes no part in the
// mean or the moving ranges, has no moving range with either neighbour, and
// breaks every run (trend, two in three, shift) it falls in.
//
// Icons (MDC "Strengthening your decisions", p. 15): the variation icon
// describes the latest point — common cause, special cause of improvement or of
// concern (high or low), or, when no direction is better, neutral high or low.
// The assurance icon, shown only when a target is set and improvement has a
// direction, compares the target with the process limits: the process will
// consistently pass (target beyond the limit on the worse side), consistently
// fail (target beyond the limit on the better side), or hit and miss (target
// within the limits).
package spc

import "math"

// Limit is the XmR constant: 3 / d2 with d2 = 1.128 for moving ranges of two
// points (MDC, "Getting started"), rounded to 2.66 as published.
const Limit = 2.66

// RunLength is the number of consecutive points that make a trend or a shift
// in the Making Data Count rules.
const RunLength = 7

// Direction says which way is better for a measure.
type Direction int

// Directions of improvement.
const (
	// Neutral: neither way is better; special causes are neutral.
	Neutral Direction = 0
	// Increase: higher is better (e.g. continuity).
	Increase Direction = 1
	// Decrease: lower is better (e.g. distinct nurses per patient).
	Decrease Direction = -1
)

// Rule names the special-cause rule a point meets ("" for common cause).
type Rule string

// The Making Data Count special-cause rules.
const (
	RuleNone        Rule = ""
	RuleAboveUpper  Rule = "above upper process limit"
	RuleBelowLower  Rule = "below lower process limit"
	RuleTrendUp     Rule = "7 point trend increasing"
	RuleTrendDown   Rule = "7 point trend decreasing"
	RuleTwoOfThreeH Rule = "2 of 3 points close to upper limit"
	RuleTwoOfThreeL Rule = "2 of 3 points close to lower limit"
	RuleShiftAbove  Rule = "7 points above mean"
	RuleShiftBelow  Rule = "7 points below mean"
)

// high reports whether r points upwards (above, increasing).
func (r Rule) high() bool {
	return r == RuleAboveUpper || r == RuleTrendUp || r == RuleTwoOfThreeH || r == RuleShiftAbove
}

// Variation is the MDC variation icon, or a point's classification.
type Variation string

// Variation icons (MDC "Strengthening your decisions").
const (
	CommonCause     Variation = "common cause"
	ImprovementHigh Variation = "special cause improvement (high)"
	ImprovementLow  Variation = "special cause improvement (low)"
	ConcernHigh     Variation = "special cause concern (high)"
	ConcernLow      Variation = "special cause concern (low)"
	NeutralHigh     Variation = "special cause neutral (high)"
	NeutralLow      Variation = "special cause neutral (low)"
	// NoVariation: too few points to compute limits.
	NoVariation Variation = ""
)

// Improvement reports whether v is an improvement icon.
func (v Variation) Improvement() bool { return v == ImprovementHigh || v == ImprovementLow }

// Concern reports whether v is a concern icon.
func (v Variation) Concern() bool { return v == ConcernHigh || v == ConcernLow }

// Assurance is the MDC assurance icon.
type Assurance string

// Assurance icons (MDC "Strengthening your decisions").
const (
	// NoAssurance: no target, a neutral direction, or no limits.
	NoAssurance      Assurance = ""
	ConsistentlyPass Assurance = "consistently pass"
	ConsistentlyFail Assurance = "consistently fail"
	HitAndMiss       Assurance = "hit and miss"
)

// Point is one point of a chart as analysed.
type Point struct {
	// Value is the measure; nil is a gap (undefined month).
	Value *float64
	// MovingRange is |x_i − x_(i−1)|; nil for the first point and next to a gap.
	MovingRange *float64
	// Rule is the special-cause rule the point meets, by precedence.
	Rule Rule
	// Variation classifies the point (common cause, improvement, concern, neutral).
	Variation Variation
}

// Chart is an XmR chart of a series.
type Chart struct {
	// Points, in order; as many as the values given.
	Points []Point
	// Defined is how many points have a value.
	Defined int
	// Mean of the defined points; NaN when there are none.
	Mean float64
	// MeanMovingRange is the mean of the moving ranges; NaN when there are none.
	MeanMovingRange float64
	// Upper and Lower are the process limits; NaN without moving ranges.
	Upper, Lower float64
	// UpperTwoSigma and LowerTwoSigma bound the "close to the limits" zone.
	UpperTwoSigma, LowerTwoSigma float64
	// Variation is the variation icon: the latest defined point's classification.
	Variation Variation
	// Assurance is the assurance icon (NoAssurance without a target).
	Assurance Assurance
}

// HasLimits reports whether the chart has process limits (at least one moving range).
func (c Chart) HasLimits() bool { return !math.IsNaN(c.Upper) }

// Analyse builds the XmR chart of values (nil = gap) and marks every point by
// the Making Data Count rules. improve says which way is better; target, if not
// nil and improve is not Neutral, gives the assurance icon. It never fails:
// with no defined points every figure is NaN and the icons are empty; with
// one defined point there are no limits and no special causes.
func Analyse(values []*float64, improve Direction, target *float64) Chart {
	c := Chart{Points: make([]Point, len(values)), Mean: math.NaN(), MeanMovingRange: math.NaN(),
		Upper: math.NaN(), Lower: math.NaN(), UpperTwoSigma: math.NaN(), LowerTwoSigma: math.NaN()}
	var sum, mrSum float64
	var mrs int
	for i, v := range values {
		c.Points[i].Value = v
		if v == nil {
			continue
		}
		c.Defined++
		sum += *v
		if i > 0 && values[i-1] != nil {
			mr := math.Abs(*v - *values[i-1])
			c.Points[i].MovingRange = &mr
			mrSum += mr
			mrs++
		}
	}
	if c.Defined == 0 {
		return c
	}
	c.Mean = sum / float64(c.Defined)
	if mrs == 0 {
		return c
	}
	c.MeanMovingRange = mrSum / float64(mrs)
	c.Upper = c.Mean + Limit*c.MeanMovingRange
	c.Lower = c.Mean - Limit*c.MeanMovingRange
	c.UpperTwoSigma = c.Mean + 2*Limit/3*c.MeanMovingRange
	c.LowerTwoSigma = c.Mean - 2*Limit/3*c.MeanMovingRange

	outside := c.outside()
	trend := trends(values)
	two := c.twoOfThree()
	shift := c.shifts()
	for i := range c.Points {
		switch {
		case outside[i] != RuleNone:
			c.Points[i].Rule = outside[i]
		case trend[i] != RuleNone:
			c.Points[i].Rule = trend[i]
		case two[i] != RuleNone:
			c.Points[i].Rule = two[i]
		case shift[i] != RuleNone:
			c.Points[i].Rule = shift[i]
		}
		if values[i] != nil {
			c.Points[i].Variation = classify(c.Points[i].Rule, improve)
		}
	}
	for i := len(values) - 1; i >= 0; i-- {
		if values[i] != nil {
			c.Variation = c.Points[i].Variation
			break
		}
	}
	c.Assurance = assurance(c, improve, target)
	return c
}

// classify turns a point's rule into its variation, given the better direction
// (NHSRplotthedots ptd_point_type).
func classify(r Rule, improve Direction) Variation {
	if r == RuleNone {
		return CommonCause
	}
	high := r.high()
	switch {
	case improve == Neutral && high:
		return NeutralHigh
	case improve == Neutral:
		return NeutralLow
	case high && improve == Increase:
		return ImprovementHigh
	case high:
		return ConcernHigh
	case improve == Decrease:
		return ImprovementLow
	default:
		return ConcernLow
	}
}

// assurance compares the target with the process limits (MDC; NHSRplotthedots
// ptd_calculate_assurance_type): a target beyond the upper limit is always
// failed when higher is better and always met when lower is better, and the
// mirror below the lower limit; otherwise the process hits and misses.
func assurance(c Chart, improve Direction, target *float64) Assurance {
	if target == nil || improve == Neutral || !c.HasLimits() {
		return NoAssurance
	}
	t := *target
	switch {
	case t > c.Upper && improve == Increase, t < c.Lower && improve == Decrease:
		return ConsistentlyFail
	case t > c.Upper, t < c.Lower:
		return ConsistentlyPass
	}
	return HitAndMiss
}

// outside marks points strictly beyond the process limits (rule 1).
func (c Chart) outside() []Rule {
	out := make([]Rule, len(c.Points))
	for i, p := range c.Points {
		switch {
		case p.Value == nil:
		case *p.Value > c.Upper:
			out[i] = RuleAboveUpper
		case *p.Value < c.Lower:
			out[i] = RuleBelowLower
		}
	}
	return out
}

// side is +1 above the mean, −1 below, 0 on it or for a gap.
func (c Chart) side(i int) int {
	v := c.Points[i].Value
	switch {
	case v == nil:
		return 0
	case *v > c.Mean:
		return 1
	case *v < c.Mean:
		return -1
	}
	return 0
}

// runs marks every point of each maximal run of at least RunLength
// consecutive indices whose key is the same non-zero value: +1 runs get up,
// −1 runs get down. key(i) == 0 breaks a run.
func runs(n int, key func(i int) int, up, down Rule) []Rule {
	out := make([]Rule, n)
	for a := 0; a < n; {
		b := a
		for b+1 < n && key(b+1) == key(a) {
			b++
		}
		if k := key(a); k != 0 && b-a+1 >= RunLength {
			for j := a; j <= b; j++ {
				out[j] = pick(k, up, down)
			}
		}
		a = b + 1
	}
	return out
}

// pick returns up for a positive k, down otherwise.
func pick(k int, up, down Rule) Rule {
	if k > 0 {
		return up
	}
	return down
}

// shifts marks runs of RunLength or more points on one side of the mean (rule 4).
func (c Chart) shifts() []Rule {
	return runs(len(c.Points), c.side, RuleShiftAbove, RuleShiftBelow)
}

// trends marks runs of RunLength or more points each higher (or each lower)
// than the one before (rule 2): RunLength points make RunLength−1 steps, all
// in the same direction. A gap or a repeated value breaks the run.
func trends(values []*float64) []Rule {
	n := len(values)
	// step(i) is the direction from point i to point i+1 (0: none).
	step := func(i int) int {
		if i+1 >= n || values[i] == nil || values[i+1] == nil {
			return 0
		}
		switch d := *values[i+1] - *values[i]; {
		case d > 0:
			return 1
		case d < 0:
			return -1
		}
		return 0
	}
	out := make([]Rule, n)
	for a := 0; a+1 < n; {
		b := a
		for b+1 < n-1 && step(b+1) == step(a) {
			b++
		}
		// steps a..b share a direction: they join points a..b+1.
		if k := step(a); k != 0 && b-a+2 >= RunLength {
			for j := a; j <= b+1; j++ {
				out[j] = pick(k, RuleTrendUp, RuleTrendDown)
			}
		}
		a = b + 1
	}
	return out
}

// twoOfThree marks points in the two-sigma zone (beyond two sigma, within the
// limits) that belong to some three consecutive points all on the same side of
// the mean of which at least two are in that zone on that side (rule 3). A gap
// inside the three breaks it.
func (c Chart) twoOfThree() []Rule {
	n := len(c.Points)
	near := make([]int, n)
	for i, p := range c.Points {
		switch {
		case p.Value == nil:
		case *p.Value > c.UpperTwoSigma && *p.Value <= c.Upper:
			near[i] = 1
		case *p.Value < c.LowerTwoSigma && *p.Value >= c.Lower:
			near[i] = -1
		}
	}
	out := make([]Rule, n)
	for s := 0; s+2 < n; s++ {
		side := c.side(s)
		if side == 0 || c.side(s+1) != side || c.side(s+2) != side {
			continue
		}
		k := 0
		for j := s; j < s+3; j++ {
			if near[j] == side {
				k++
			}
		}
		if k < 2 {
			continue
		}
		r := RuleTwoOfThreeH
		if side < 0 {
			r = RuleTwoOfThreeL
		}
		for j := s; j < s+3; j++ {
			if near[j] == side {
				out[j] = r
			}
		}
	}
	return out
}
