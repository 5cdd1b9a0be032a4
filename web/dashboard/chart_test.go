package dashboard

import (
	"strings"
	"testing"
	"time"

	"github.com/rapportcare/rapport/spc"
)

func TestChartGapsAndSpecialCauses(t *testing.T) {
	t.Parallel()
	f := func(v float64) *float64 { return &v }
	months := span{From: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2024, 11, 1, 0, 0, 0, 0, time.UTC)}.months()
	// Ten months; March undefined; October far above the rest.
	values := []*float64{f(.40), f(.42), nil, f(.41), f(.40), f(.42), f(.41), f(.40), f(.42), f(.95)}
	c := chart(series{ID: "x", Title: "X", Unit: percent, Improve: spc.Increase, Months: months, Values: values, Gap: "no counted contacts"})
	if len(c.Segments) != 2 {
		t.Fatalf("%d line segments, want 2 (a gap breaks the line)", len(c.Segments))
	}
	if len(c.Points) != 9 || c.Points[8].Class != "improvement" || c.Points[0].Class != "common" {
		t.Fatalf("points %+v", c.Points)
	}
	if c.Rows[2].Value != "no value (no counted contacts)" || c.Rows[9].Value != "95.0%" || c.Rows[9].Rule != string(spc.RuleAboveUpper) {
		t.Fatalf("rows %+v / %+v", c.Rows[2], c.Rows[9])
	}
	if c.VariationLetter != "H" || !strings.Contains(c.Summary, "latest month: special cause improvement (high)") {
		t.Fatalf("variation %q, summary %q", c.Variation, c.Summary)
	}
	for _, p := range c.Points {
		if p.Y < c.Plot.Y || p.Y > c.Plot.Y+c.Plot.H || p.X < c.Plot.X || p.X > c.Plot.X+c.Plot.W {
			t.Fatalf("point %+v outside the plot %+v", p, c.Plot)
		}
	}
}

func TestFixedRoundsHalfUp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		v    float64
		d    int
		want string
	}{{56.25, 1, "56.3"}, {0.5625 * 100, 1, "56.3"}, {0.1235, 3, "0.124"}, {2, 2, "2.00"}, {41.25, 1, "41.3"}} {
		if got := fixed(c.v, c.d); got != c.want {
			t.Errorf("fixed(%v, %d) = %s, want %s", c.v, c.d, got, c.want)
		}
	}
}
