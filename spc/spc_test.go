package spc_test

import (
	"math"
	"testing"

	"github.com/rapportcare/rapport/spc"
)

func vals(xs ...float64) []*float64 {
	out := make([]*float64, len(xs))
	for i := range xs {
		out[i] = &xs[i]
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func rules(c spc.Chart) []spc.Rule {
	out := make([]spc.Rule, len(c.Points))
	for i, p := range c.Points {
		out[i] = p.Rule
	}
	return out
}

func repeat(r spc.Rule, n int) []spc.Rule {
	out := make([]spc.Rule, n)
	for i := range out {
		out[i] = r
	}
	return out
}

func join(parts ...[]spc.Rule) []spc.Rule {
	var out []spc.Rule
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestLimitsOfThePublishedExample(t *testing.T) {
	t.Parallel()
	// Neave's worked example (see TestRules), worked out by hand: mean 80.67,
	// limits 67.71 to 93.62.
	c := spc.Analyse(vals(82, 81, 82, 81, 91, 85, 76, 84, 81, 80, 80, 82, 82, 85, 86, 88, 78, 89, 81, 87, 76, 66, 69, 64), spc.Neutral, nil)
	if math.Abs(c.Mean-80.667) > 1e-3 || math.Abs(c.MeanMovingRange-4.870) > 1e-3 || math.Abs(c.Upper-93.620) > 1e-3 || math.Abs(c.Lower-67.714) > 1e-3 {
		t.Fatalf("mean %v mr %v limits %v..%v", c.Mean, c.MeanMovingRange, c.Lower, c.Upper)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	// 10, 12, 11, 13, 12: mean 11.6; moving ranges 2, 1, 2, 1, mean 1.5;
	// limits 11.6 ± 2.66 × 1.5 = 11.6 ± 3.99; two sigma 11.6 ± 2.66.
	c := spc.Analyse(vals(10, 12, 11, 13, 12), spc.Increase, nil)
	if !near(c.Mean, 11.6) || !near(c.MeanMovingRange, 1.5) || !near(c.Upper, 15.59) || !near(c.Lower, 7.61) ||
		!near(c.UpperTwoSigma, 14.26) || !near(c.LowerTwoSigma, 8.94) {
		t.Fatalf("mean %v mr %v limits %v..%v two sigma %v..%v", c.Mean, c.MeanMovingRange, c.Lower, c.Upper, c.LowerTwoSigma, c.UpperTwoSigma)
	}
	if c.Points[0].MovingRange != nil || *c.Points[1].MovingRange != 2 || *c.Points[4].MovingRange != 1 {
		t.Fatal("moving ranges")
	}
	if c.Variation != spc.CommonCause || c.Assurance != spc.NoAssurance {
		t.Fatalf("icons %q %q", c.Variation, c.Assurance)
	}
}

func TestGaps(t *testing.T) {
	t.Parallel()
	t.Run("a gap has no moving range with either neighbour and is not a zero", func(t *testing.T) {
		t.Parallel()
		v := vals(10, 12, 0, 11, 13)
		v[2] = nil
		c := spc.Analyse(v, spc.Increase, nil)
		// mean (10+12+11+13)/4 = 11.5; moving ranges 2 and 2 only.
		if c.Defined != 4 || !near(c.Mean, 11.5) || !near(c.MeanMovingRange, 2) {
			t.Fatalf("defined %d mean %v mr %v", c.Defined, c.Mean, c.MeanMovingRange)
		}
		if c.Points[2].MovingRange != nil || c.Points[3].MovingRange != nil || c.Points[2].Variation != spc.NoVariation {
			t.Fatal("gap took part")
		}
	})
	t.Run("no defined points: NaN, no icons", func(t *testing.T) {
		t.Parallel()
		c := spc.Analyse([]*float64{nil, nil}, spc.Increase, new(0.5))
		if !math.IsNaN(c.Mean) || c.HasLimits() || c.Variation != spc.NoVariation || c.Assurance != spc.NoAssurance {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("one point: a mean, no limits", func(t *testing.T) {
		t.Parallel()
		c := spc.Analyse(vals(0.7), spc.Increase, new(0.5))
		if !near(c.Mean, 0.7) || c.HasLimits() || c.Assurance != spc.NoAssurance {
			t.Fatalf("%+v", c)
		}
	})
	t.Run("a gap breaks a shift", func(t *testing.T) {
		t.Parallel()
		v := vals(1, 3, 1, 3, 1, 3, 1, 5, 7, 5, 7, 5, 7, 5)
		v[3] = nil
		c := spc.Analyse(v, spc.Increase, nil)
		for i := range 7 {
			if c.Points[i].Rule != spc.RuleNone {
				t.Fatalf("point %d: %q", i, c.Points[i].Rule)
			}
		}
	})
}

func TestRules(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		values  []float64
		improve spc.Direction
		want    []spc.Rule
		icon    spc.Variation
	}{
		{
			// mean 12.7, mean MR 53/9 = 5.89, upper limit 28.36: 30 is above it.
			name:   "a single point above the upper limit",
			values: []float64{9, 13, 9, 13, 9, 13, 9, 13, 9, 30}, improve: spc.Increase,
			want: join(repeat(spc.RuleNone, 9), []spc.Rule{spc.RuleAboveUpper}), icon: spc.ImprovementHigh,
		},
		{
			name:   "the same point is a concern when lower is better",
			values: []float64{9, 13, 9, 13, 9, 13, 9, 13, 9, 30}, improve: spc.Decrease,
			want: join(repeat(spc.RuleNone, 9), []spc.Rule{spc.RuleAboveUpper}), icon: spc.ConcernHigh,
		},
		{
			name:   "and neutral when neither is better",
			values: []float64{9, 13, 9, 13, 9, 13, 9, 13, 9, 30}, improve: spc.Neutral,
			want: join(repeat(spc.RuleNone, 9), []spc.Rule{spc.RuleAboveUpper}), icon: spc.NeutralHigh,
		},
		{
			// mean 54/14 = 3.857, mean MR 28/13, limits -1.87..9.59, two sigma 0.04..7.68.
			name:   "seven points below then seven above the mean are two shifts",
			values: []float64{1, 3, 1, 3, 1, 3, 1, 5, 7, 5, 7, 5, 7, 5}, improve: spc.Increase,
			want: join(repeat(spc.RuleShiftBelow, 7), repeat(spc.RuleShiftAbove, 7)), icon: spc.ImprovementHigh,
		},
		{
			// mean 4, limits -1.32..9.32, two sigma 0.45..7.55: runs of six only.
			name:   "six points on one side are not a shift (MDC uses 7)",
			values: []float64{1, 3, 1, 3, 1, 3, 5, 7, 5, 7, 5, 7}, improve: spc.Increase,
			want: repeat(spc.RuleNone, 12), icon: spc.CommonCause,
		},
		{
			// mean 50/13 = 3.85, mean MR 26/12, limits -1.92..9.61; 1..7 rise.
			name:   "seven increasing points are a trend",
			values: []float64{5, 1, 5, 1, 2, 3, 4, 5, 6, 7, 3, 5, 3}, improve: spc.Increase,
			want: join(repeat(spc.RuleNone, 3), repeat(spc.RuleTrendUp, 7), repeat(spc.RuleNone, 3)), icon: spc.CommonCause,
		},
		{
			name:   "seven decreasing points are a trend, a concern when higher is better",
			values: []float64{3, 5, 3, 7, 6, 5, 4, 3, 2, 1, 5, 1, 5}, improve: spc.Increase,
			want: join(repeat(spc.RuleNone, 3), repeat(spc.RuleTrendDown, 7), repeat(spc.RuleNone, 3)), icon: spc.CommonCause,
		},
		{
			name:   "six rising points are not a trend",
			values: []float64{5, 1, 5, 1, 2, 3, 4, 5, 6, 3, 5, 3}, improve: spc.Increase,
			want: repeat(spc.RuleNone, 12), icon: spc.CommonCause,
		},
		{
			name:   "a repeated value breaks a trend",
			values: []float64{5, 1, 5, 1, 2, 3, 3, 4, 5, 6, 7, 3, 5, 3}, improve: spc.Increase,
			want: repeat(spc.RuleNone, 14), icon: spc.CommonCause,
		},
		{
			// mean 0, mean MR 43.5/15 = 2.9, limits ±7.71, two sigma ±5.14:
			// 5.5 and -5.5 are both close to a limit, but on opposite sides
			// (NHSRplotthedots' own test of this rule, issue #143).
			name:   "two points close to opposite limits are common cause",
			values: []float64{1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 1, -1, 5.5, -5.5}, improve: spc.Increase,
			want: repeat(spc.RuleNone, 16), icon: spc.CommonCause,
		},
		{
			// mean 157/13 = 12.08, mean MR 31/12 = 2.58, upper limit 18.95, upper
			// two sigma 16.66: 17, 13, 17 are all above the mean and two of them
			// close to the upper limit. The first ten are all below the mean: a shift.
			name:   "two of three points close to the upper limit",
			values: []float64{10, 12, 10, 12, 10, 12, 10, 12, 10, 12, 17, 13, 17}, improve: spc.Increase,
			want: join(repeat(spc.RuleShiftBelow, 10), []spc.Rule{spc.RuleTwoOfThreeH, spc.RuleNone, spc.RuleTwoOfThreeH}), icon: spc.ImprovementHigh,
		},
		{
			// mean 12.08, upper two sigma 17.69, upper limit 20.5: both 18s are
			// close, but the 11 between them is below the mean, so the three are
			// not all on one side (NHSRplotthedots ptd_two_in_three).
			name:   "two close points with the third across the mean are common cause",
			values: []float64{10, 12, 10, 12, 10, 12, 10, 12, 10, 12, 18, 11, 18}, improve: spc.Increase,
			want: join(repeat(spc.RuleShiftBelow, 10), repeat(spc.RuleNone, 3)), icon: spc.CommonCause,
		},
		{
			// The 24 daily readings of the worked XmR example in Neave H,
			// "Understanding variation – the springboard for process
			// improvement" (The Deming Forum); worked out by hand from them:
			// mean 1936/24 = 80.67, mean moving range 112/23 = 4.87, limits
			// 67.71 to 93.62. Only the 66
			// and the 64 lie outside; the 69 between them is close to the
			// lower limit, but alone (the 66 and 64 are beyond it, not close).
			name:    "a published worked example: two readings below the lower limit",
			values:  []float64{82, 81, 82, 81, 91, 85, 76, 84, 81, 80, 80, 82, 82, 85, 86, 88, 78, 89, 81, 87, 76, 66, 69, 64},
			improve: spc.Neutral,
			want:    join(repeat(spc.RuleNone, 21), []spc.Rule{spc.RuleBelowLower, spc.RuleNone, spc.RuleBelowLower}), icon: spc.NeutralLow,
		},
		{
			name:   "outside the limits takes precedence over a trend",
			values: []float64{1, 2, 3, 4, 5, 6, 7}, improve: spc.Increase,
			// mean 4, mean MR 1, limits 1.34..6.66: 1 and 7 are outside.
			want: join([]spc.Rule{spc.RuleBelowLower}, repeat(spc.RuleTrendUp, 5), []spc.Rule{spc.RuleAboveUpper}), icon: spc.ImprovementHigh,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := spc.Analyse(vals(tc.values...), tc.improve, nil)
			got := rules(c)
			for i := range tc.want {
				if got[i] != tc.want[i] {
					t.Fatalf("point %d (%v): got %q, want %q\nall: %q\nmean %.3f limits %.3f..%.3f two sigma %.3f..%.3f",
						i, tc.values[i], got[i], tc.want[i], got, c.Mean, c.Lower, c.Upper, c.LowerTwoSigma, c.UpperTwoSigma)
				}
			}
			if c.Variation != tc.icon {
				t.Fatalf("variation %q, want %q", c.Variation, tc.icon)
			}
		})
	}
}

func TestAssurance(t *testing.T) {
	t.Parallel()
	// mean 11.6, limits 7.61..15.59.
	v := vals(10, 12, 11, 13, 12)
	cases := []struct {
		name    string
		improve spc.Direction
		target  *float64
		want    spc.Assurance
	}{
		{"higher is better, target below the lower limit: consistently pass", spc.Increase, new(7.0), spc.ConsistentlyPass},
		{"higher is better, target above the upper limit: consistently fail", spc.Increase, new(16.0), spc.ConsistentlyFail},
		{"higher is better, target within the limits: hit and miss", spc.Increase, new(12.0), spc.HitAndMiss},
		{"lower is better, target above the upper limit: consistently pass", spc.Decrease, new(16.0), spc.ConsistentlyPass},
		{"lower is better, target below the lower limit: consistently fail", spc.Decrease, new(7.0), spc.ConsistentlyFail},
		{"no target, no assurance", spc.Increase, nil, spc.NoAssurance},
		{"neutral direction, no assurance", spc.Neutral, new(12.0), spc.NoAssurance},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := spc.Analyse(v, tc.improve, tc.target).Assurance; got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
