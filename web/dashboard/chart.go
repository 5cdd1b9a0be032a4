package dashboard

import (
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/rapportcare/rapport/spc"
)

// unit says how a measure's values are shown.
type unit int

const (
	percent unit = iota // a share 0–1, shown as 43.2%
	index               // an index 0–1, shown as 0.634
	number              // a count or mean, shown as 2.25
	score               // a CARE score 10–50, shown as 41.3
)

func (u unit) format(v float64) string {
	switch u {
	case percent:
		return fixed(v*100, 1) + "%"
	case index:
		return fixed(v, 3)
	case score:
		return fixed(v, 1)
	}
	return fixed(v, 2)
}

// fixed formats v with d decimals, rounding half away from zero as people
// (and spreadsheets) expect, not half to even as %f does: 56.25 is 56.3.
func fixed(v float64, d int) string {
	p := math.Pow10(d)
	return strconv.FormatFloat(math.Round(v*p)/p, 'f', d, 64)
}

func (u unit) bounded() bool { return u == percent || u == index }

// series is one monthly measure to chart.
type series struct {
	ID, Title string
	// About says what the measure is and which way is better, in words.
	About   string
	Unit    unit
	Improve spc.Direction
	Target  *float64
	Months  []time.Time
	Values  []*float64
	// Heads and Cells are extra table columns (e.g. numerator, denominator),
	// one row of Cells per month.
	Heads []string
	Cells [][]string
	// Gap says why a month has no value (e.g. "fewer than 5 responses").
	Gap string
}

// chartView is a series analysed and laid out for the template.
type chartView struct {
	ID, Title, About, Summary string
	W, H                      int
	Plot                      box
	Segments                  []string
	Points                    []pointView
	Mean, Upper, Lower        float64
	HasMean, HasLimits        bool
	Target                    float64
	HasTarget                 bool
	YTicks, XTicks            []tick
	Variation                 string
	VariationClass            string
	VariationLetter           string
	Assurance                 string
	AssuranceClass            string
	AssuranceLetter           string
	Heads                     []string
	Rows                      []rowView
	CSVName                   string
}

type box struct{ X, Y, W, H float64 }

type pointView struct {
	X, Y  float64
	Class string
	Label string
}

type tick struct {
	X, Y  float64
	Label string
}

type rowView struct {
	Month, Value string
	Cells        []string
	MovingRange  string
	Rule         string
	Class        string
}

const (
	chartW, chartH                    = 640, 240
	padLeft, padRight, padTop, padBot = 56, 16, 12, 30
)

// noValue is what a table shows for an undefined month.
const noValue = "no value"

// chart analyses s by the Making Data Count rules and lays it out.
func chart(s series) chartView {
	c := spc.Analyse(s.Values, s.Improve, s.Target)
	v := chartView{ID: s.ID, Title: s.Title, About: s.About, W: chartW, H: chartH,
		Plot:    box{padLeft, padTop, chartW - padLeft - padRight, chartH - padTop - padBot},
		Heads:   s.Heads,
		CSVName: s.ID + ".csv",
	}
	v.Variation, v.VariationClass, v.VariationLetter = variationIcon(c)
	v.Assurance, v.AssuranceClass, v.AssuranceLetter = assuranceIcon(c.Assurance)

	// The y domain covers the values, the mean, the limits and the target;
	// shares and indices stay within 0–1.
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(x float64) {
		if !math.IsNaN(x) && !math.IsInf(x, 0) {
			lo, hi = math.Min(lo, x), math.Max(hi, x)
		}
	}
	for _, p := range s.Values {
		if p != nil {
			see(*p)
		}
	}
	see(c.Mean)
	see(c.Upper)
	see(c.Lower)
	if s.Target != nil {
		see(*s.Target)
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	if s.Unit.bounded() {
		lo, hi = math.Max(lo, 0), math.Min(hi, 1)
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
		if s.Unit.bounded() {
			lo, hi = math.Max(lo, 0), math.Min(hi, 1)
		}
	}
	pad := (hi - lo) * 0.05
	lo, hi = lo-pad, hi+pad
	if s.Unit.bounded() {
		lo, hi = math.Max(lo, 0), math.Min(hi, 1)
	}
	y := func(x float64) float64 {
		x = math.Max(lo, math.Min(hi, x))
		return round1(v.Plot.Y + v.Plot.H*(hi-x)/(hi-lo))
	}
	n := len(s.Values)
	x := func(i int) float64 {
		if n <= 1 {
			return round1(v.Plot.X + v.Plot.W/2)
		}
		return round1(v.Plot.X + v.Plot.W*float64(i)/float64(n-1))
	}
	for i := range 5 {
		t := lo + (hi-lo)*float64(i)/4
		v.YTicks = append(v.YTicks, tick{Y: y(t), Label: s.Unit.format(t)})
	}
	step := max(1, (n+5)/6)
	for i := 0; i < n; i += step {
		v.XTicks = append(v.XTicks, tick{X: x(i), Label: s.Months[i].Format("Jan 06")})
	}

	var seg []string
	flush := func() {
		if len(seg) > 1 {
			v.Segments = append(v.Segments, strings.Join(seg, " "))
		}
		seg = nil
	}
	specials := 0
	for i, p := range c.Points {
		row := rowView{Month: s.Months[i].Format("2006-01"), Value: noValue}
		if i < len(s.Cells) {
			row.Cells = s.Cells[i]
		}
		if p.Value == nil {
			flush()
			if s.Gap != "" {
				row.Value = noValue + " (" + s.Gap + ")"
			}
			v.Rows = append(v.Rows, row)
			continue
		}
		seg = append(seg, fmt.Sprintf("%g,%g", x(i), y(*p.Value)))
		class := pointClass(p.Variation)
		row.Value, row.Class = s.Unit.format(*p.Value), class
		if p.MovingRange != nil {
			row.MovingRange = s.Unit.format(*p.MovingRange)
		}
		row.Rule = "common cause"
		if p.Rule != spc.RuleNone {
			row.Rule = string(p.Rule)
			specials++
		}
		v.Points = append(v.Points, pointView{X: x(i), Y: y(*p.Value), Class: class,
			Label: row.Month + ": " + row.Value + " (" + row.Rule + ")"})
		v.Rows = append(v.Rows, row)
	}
	flush()
	if c.Defined > 0 {
		v.Mean, v.HasMean = y(c.Mean), true
	}
	if c.HasLimits() {
		v.Upper, v.Lower, v.HasLimits = y(c.Upper), y(c.Lower), true
	}
	if s.Target != nil {
		v.Target, v.HasTarget = y(*s.Target), true
	}
	v.Summary = summary(s, c, specials)
	return v
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// summary is the chart's text alternative: what it shows, in one sentence.
func summary(s series, c spc.Chart, specials int) string {
	if c.Defined == 0 {
		return fmt.Sprintf("%s: no month has a value.", s.Title)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s over %d months (%d with a value): mean %s", s.Title, len(s.Values), c.Defined, s.Unit.format(c.Mean))
	if c.HasLimits() {
		fmt.Fprintf(&b, ", process limits %s to %s", s.Unit.format(c.Lower), s.Unit.format(c.Upper))
	}
	fmt.Fprintf(&b, "; %d month(s) show special cause variation", specials)
	if c.Variation != spc.NoVariation {
		fmt.Fprintf(&b, "; latest month: %s", c.Variation)
	}
	if c.Assurance != spc.NoAssurance {
		fmt.Fprintf(&b, "; against the target the process will %s", c.Assurance)
	}
	b.WriteString(".")
	return b.String()
}

func pointClass(v spc.Variation) string {
	switch {
	case v.Improvement():
		return "improvement"
	case v.Concern():
		return "concern"
	case v == spc.NeutralHigh || v == spc.NeutralLow:
		return "neutral"
	}
	return "common"
}

// variationIcon names the MDC variation icon of c: its words, its class
// (colour) and its letter (H high, L low, blank for common cause).
func variationIcon(c spc.Chart) (string, string, string) {
	switch c.Variation {
	case spc.NoVariation:
		return "too few months to judge", "none", ""
	case spc.CommonCause:
		return "common cause variation", "common", ""
	case spc.ImprovementHigh, spc.ConcernHigh, spc.NeutralHigh:
		return string(c.Variation), pointClass(c.Variation), "H"
	}
	return string(c.Variation), pointClass(c.Variation), "L"
}

// assuranceIcon names the MDC assurance icon: P consistently passes, F
// consistently fails, ? hits and misses.
func assuranceIcon(a spc.Assurance) (string, string, string) {
	switch a {
	case spc.ConsistentlyPass:
		return "will consistently pass the target", "improvement", "P"
	case spc.ConsistentlyFail:
		return "will consistently fail the target", "concern", "F"
	case spc.HitAndMiss:
		return "will hit and miss the target", "common", "?"
	}
	return "", "", ""
}

// orNoValue formats an optional figure in u, or says there is none.
func orNoValue(u unit) func(*float64) string {
	return func(v *float64) string {
		if v == nil {
			return noValue
		}
		return u.format(*v)
	}
}

var funcs = template.FuncMap{
	"pct": orNoValue(percent),
	"idx": orNoValue(index),
	"scr": orNoValue(score),
	// pct100 shows a percentage the API gives as 0–100.
	"pct100": func(v *float64) string {
		if v == nil {
			return noValue
		}
		return fixed(*v, 1) + "%"
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[fmt.Sprint(kv[i])] = kv[i+1]
		}
		return m
	},
	"count": func(v *int) string {
		if v == nil {
			return noValue
		}
		return fmt.Sprint(*v)
	},
}
