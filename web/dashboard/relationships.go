package dashboard

import (
	"fmt"
	"net/http"
	"time"

	"github.com/rapportcare/rapport/spc"
)

// feedbackQuery asks for the caller's feedback aggregates by month,
// practitioner and team over one span. Suppression (fewer than 5) is the
// API's: a withheld figure arrives as null and is shown as withheld.
const feedbackQuery = `query DashboardFeedback($filter: FeedbackFilter!) {
  byMonth: feedbackSummary(filter: $filter, groupBy: MONTH) { rows { key cell { ...Cell } } total { ...Cell } }
  byPractitioner: feedbackSummary(filter: $filter, groupBy: PRACTITIONER) { rows { key cell { ...Cell } } }
  byTeam: feedbackSummary(filter: $filter, groupBy: TEAM) { rows { key cell { ...Cell } } }
}
fragment Cell on FeedbackCell {
  suppressed responses
  careSuppressed careResponses careMean careDistribution { from to count suppressed }
  fftSuppressed fftResponses fftPercentPositive fftPercentNegative
}`

const namesQuery = `query DashboardNames($ids: [ID!]!) {
  nodes(ids: $ids) { __typename ... on Practitioner { id givenName familyName } ... on Team { id name } }
}`

type feedbackCell struct {
	Suppressed       bool
	Responses        *int
	CareSuppressed   bool
	CareResponses    *int
	CareMean         *float64
	CareDistribution []struct {
		From, To   int
		Count      *int
		Suppressed bool
	}
	FftSuppressed      bool
	FftResponses       *int
	FftPercentPositive *float64
	FftPercentNegative *float64
}

type summaryRow struct {
	Key  string
	Cell feedbackCell
	Name string
}

type feedbackData struct {
	ByMonth struct {
		Rows  []summaryRow
		Total feedbackCell
	}
	ByPractitioner, ByTeam struct{ Rows []summaryRow }
}

// relationshipsPage is what relationships.html shows.
type relationshipsPage struct {
	From, To string
	Form     struct {
		Months int
		To     string
	}
	Charts        []chartView
	Total         feedbackCell
	Practitioners []summaryRow
	Teams         []summaryRow
}

// relationships builds the relationships view: feedback on care
// relationships (CARE Measure and FFT) per month, practitioner and team.
func (d *dashboard) relationships(r *http.Request) (string, any, error) {
	sp, err := monthSpan(r.URL.Query(), d.now(), 12, 3, 60)
	if err != nil {
		return "", nil, err
	}
	var fd feedbackData
	if err := d.query(r, "DashboardFeedback", feedbackQuery, map[string]any{"filter": map[string]any{
		"from": sp.From.Format(time.DateOnly), "to": sp.To.Format(time.DateOnly)}}, &fd); err != nil {
		return "", nil, err
	}
	page := relationshipsPage{From: sp.From.Format("January 2006"), To: sp.To.AddDate(0, 0, -1).Format("January 2006"),
		Total: fd.ByMonth.Total, Practitioners: fd.ByPractitioner.Rows, Teams: fd.ByTeam.Rows}
	page.Form.Months, page.Form.To = len(sp.months()), sp.To.Format("2006-01")

	if err := d.name(r, page.Practitioners, page.Teams); err != nil {
		return "", nil, err
	}
	byKey := map[string]feedbackCell{}
	for _, row := range fd.ByMonth.Rows {
		byKey[row.Key] = row.Cell
	}
	months := sp.months()
	careS := series{ID: "feedback-care-mean", Title: "CARE Measure, mean score", Unit: score, Improve: spc.Increase, Months: months,
		About: "Mean CARE Measure score (10 to 50) of the month's scorable responses; months with fewer than 5 are withheld. Higher is better.",
		Heads: []string{"Scorable responses"}, Gap: "fewer than 5 responses, or none"}
	fftS := series{ID: "feedback-fft-positive", Title: "Friends and Family Test, % positive", Unit: percent, Improve: spc.Increase, Months: months,
		About: "Share of the month's FFT answers that were very good or good; months with fewer than 5 are withheld. Higher is better.",
		Heads: []string{"FFT answers"}, Gap: "fewer than 5 answers, or none"}
	for _, m := range months {
		c := byKey[m.Format("2006-01")]
		careS.Values = append(careS.Values, c.CareMean)
		careS.Cells = append(careS.Cells, []string{countOrWithheld(c.CareResponses, c.CareSuppressed)})
		var pos *float64
		if c.FftPercentPositive != nil {
			pos = new(*c.FftPercentPositive / 100)
		}
		fftS.Values = append(fftS.Values, pos)
		fftS.Cells = append(fftS.Cells, []string{countOrWithheld(c.FftResponses, c.FftSuppressed)})
	}
	page.Charts = []chartView{chart(careS), chart(fftS)}
	return "relationships.html", page, nil
}

// countOrWithheld shows a count, or says it is withheld.
func countOrWithheld(n *int, suppressed bool) string {
	if n == nil {
		if suppressed {
			return "fewer than 5"
		}
		return "0"
	}
	return fmt.Sprint(*n)
}

// name fills in the names of the practitioners and teams the rows are keyed by.
func (d *dashboard) name(r *http.Request, groups ...[]summaryRow) error {
	var ids []string
	for _, g := range groups {
		for _, row := range g {
			ids = append(ids, row.Key)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	var out struct {
		Nodes []*struct {
			ID, GivenName, FamilyName, Name string
		}
	}
	if err := d.query(r, "DashboardNames", namesQuery, map[string]any{"ids": ids}, &out); err != nil {
		return err
	}
	names := map[string]string{}
	for _, n := range out.Nodes {
		if n == nil {
			continue
		}
		names[n.ID] = n.Name
		if n.Name == "" {
			names[n.ID] = n.GivenName + " " + n.FamilyName
		}
	}
	for _, g := range groups {
		for i := range g {
			g[i].Name = names[g[i].Key]
			if g[i].Name == "" {
				g[i].Name = "(not visible to you)"
			}
		}
	}
	return nil
}
