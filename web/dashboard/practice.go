package dashboard

import (
	"errors"
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/rapportcare/rapport/spc"
)

// The practice view's queries: the public API's own fields, nothing more.
const (
	viewerQuery = `query DashboardViewer {
  viewer { role practitioner { id givenName familyName teams { id name } } organization { id name kind } }
}`
	practiceQuery = `query DashboardPractice($practice: ID!, $from: Date!, $to: Date!) {
  practiceContinuity(practiceId: $practice, from: $from, to: $to) {
    indexMonths
    practice { name }
    months {
      month
      slicc { value numerator denominator }
      opr { value numerator denominator }
      meanUPC { value eligible excluded }
      meanCOC { value eligible excluded }
      lists { practitioner { id givenName familyName } slicc { value numerator denominator } opr { value numerator denominator } }
    }
  }
}`
	atRiskQuery = `query DashboardAtRisk($practice: ID!, $window: ContinuityWindow!, $minContacts: Int!, $upcBelow: Float, $cocBelow: Float, $usualBelow: Float) {
  continuityAtRisk(practiceId: $practice, window: $window, minContacts: $minContacts, upcBelow: $upcBelow,
      cocBelow: $cocBelow, usualProviderShareBelow: $usualBelow, first: 100) {
    totalCount
    patients {
      patient { id givenName familyName nhsNumber }
      contacts clinicians
      upc { value } coc { value } usualProviderShare { value }
      reasons
    }
  }
}`
)

type viewerData struct {
	Viewer struct {
		Role         string
		Practitioner *struct {
			ID, GivenName, FamilyName string
			Teams                     []struct{ ID, Name string }
		}
		Organization struct{ ID, Name, Kind string }
	}
}

type ratio struct {
	Value                  *float64
	Numerator, Denominator int
}

type meanIdx struct {
	Value              *float64
	Eligible, Excluded int
}

type person struct{ ID, GivenName, FamilyName string }

func (p person) Name() string { return p.GivenName + " " + p.FamilyName }

type practiceData struct {
	PracticeContinuity struct {
		IndexMonths int
		Practice    struct{ Name string }
		Months      []struct {
			Month            string
			Slicc, Opr       ratio
			MeanUPC, MeanCOC meanIdx
			Lists            []struct {
				Practitioner person
				Slicc, Opr   ratio
			}
		}
	}
}

type atRiskData struct {
	ContinuityAtRisk struct {
		TotalCount int
		Patients   []struct {
			Patient              struct{ ID, GivenName, FamilyName, NhsNumber string }
			Contacts, Clinicians int
			Upc, Coc             struct{ Value *float64 }
			UsualProviderShare   struct{ Value *float64 }
			Reasons              []string
		}
	}
}

// practicePage is what practice.html shows.
type practicePage struct {
	Practice    string
	From, To    string
	IndexMonths int
	Form        practiceForm
	Charts      []chartView
	Lists       []listCharts
	AtRisk      *atRiskData
	AtRiskFrom  string
	// AtRiskHidden is set when the caller's role may not see patients.
	AtRiskHidden bool
}

type listCharts struct {
	Name       string
	SLICC, OPR chartView
}

// practiceForm echoes the settings the view was built with.
type practiceForm struct {
	Months, MinContacts         int
	UPC, COC, Usual, Target, To string
}

func pctField(v *float64) string {
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%g", *v*100)
}

func (d *dashboard) viewer(r *http.Request) (*viewerData, error) {
	var v viewerData
	if err := d.query(r, "DashboardViewer", viewerQuery, nil, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

func ratioCells(r ratio) []string {
	return []string{fmt.Sprint(r.Numerator), fmt.Sprint(r.Denominator)}
}

// practice builds the practice view: the practice's monthly continuity as
// SPC charts, each list's SLICC and OPR, and the patients at risk.
func (d *dashboard) practice(r *http.Request) (string, any, error) {
	q := r.URL.Query()
	sp, err := monthSpan(q, d.now(), 24, 3, 60)
	if err != nil {
		return "", nil, err
	}
	minContacts, err := intParam(q, "minContacts", 6, 2, 1000)
	if err != nil {
		return "", nil, err
	}
	half := 0.5
	upc, err := shareParam(q, "upcBelow", &half)
	if err != nil {
		return "", nil, err
	}
	coc, err := shareParam(q, "cocBelow", nil)
	if err != nil {
		return "", nil, err
	}
	usual, err := shareParam(q, "usualBelow", nil)
	if err != nil {
		return "", nil, err
	}
	target, err := shareParam(q, "target", nil)
	if err != nil {
		return "", nil, err
	}
	v, err := d.viewer(r)
	if err != nil {
		return "", nil, err
	}
	org := v.Viewer.Organization.ID

	var pd practiceData
	if err := d.query(r, "DashboardPractice", practiceQuery, map[string]any{
		"practice": org, "from": sp.From.Format(time.DateOnly), "to": sp.To.Format(time.DateOnly),
	}, &pd); err != nil {
		return "", nil, err
	}
	pc := pd.PracticeContinuity
	page := practicePage{Practice: pc.Practice.Name, IndexMonths: pc.IndexMonths,
		From: sp.From.Format("January 2006"), To: sp.To.AddDate(0, 0, -1).Format("January 2006"),
		Form: practiceForm{Months: len(sp.months()), MinContacts: minContacts, UPC: pctField(upc), COC: pctField(coc),
			Usual: pctField(usual), Target: pctField(target), To: sp.To.Format("2006-01")}}

	months := make([]time.Time, len(pc.Months))
	slicc := series{ID: "practice-slicc", Title: "Practice SLICC", Unit: percent, Improve: spc.Increase, Target: target,
		About: "Share of GP contacts that were with the patient's own usual GP (St Leonard's Index). Higher is better.",
		Heads: []string{"Contacts with own GP", "All GP contacts"}, Gap: "no counted contacts"}
	opr := series{ID: "practice-opr", Title: "Practice Own Patient Ratio", Unit: percent, Improve: spc.Increase,
		About: "Share of list-holding GPs' contacts that were with patients on their own list. Higher is better.",
		Heads: []string{"Contacts with own patients", "All contacts"}, Gap: "no counted contacts"}
	upcS := series{ID: "practice-upc", Title: "Mean UPC", Unit: index, Improve: spc.Increase,
		About: fmt.Sprintf("Mean Usual Provider of Care index over patients with at least 2 GP contacts in the %d months ending each month. Higher is better.", pc.IndexMonths),
		Heads: []string{"Patients with a value", "Patients left out"}, Gap: "no eligible patients"}
	cocS := series{ID: "practice-coc", Title: "Mean COC", Unit: index, Improve: spc.Increase,
		About: fmt.Sprintf("Mean Bice-Boxerman Continuity of Care index over the same patients and %d-month windows. Higher is better.", pc.IndexMonths),
		Heads: []string{"Patients with a value", "Patients left out"}, Gap: "no eligible patients"}
	type listSeries struct {
		who        person
		slicc, opr []*float64
		sc, oc     [][]string
	}
	lists := map[string]*listSeries{}
	for i, m := range pc.Months {
		t, err := time.Parse(time.DateOnly, m.Month)
		if err != nil {
			return "", nil, fmt.Errorf("practice month %q: %w", m.Month, err)
		}
		months[i] = t
		slicc.Values = append(slicc.Values, m.Slicc.Value)
		slicc.Cells = append(slicc.Cells, ratioCells(m.Slicc))
		opr.Values = append(opr.Values, m.Opr.Value)
		opr.Cells = append(opr.Cells, ratioCells(m.Opr))
		upcS.Values = append(upcS.Values, m.MeanUPC.Value)
		upcS.Cells = append(upcS.Cells, []string{fmt.Sprint(m.MeanUPC.Eligible), fmt.Sprint(m.MeanUPC.Excluded)})
		cocS.Values = append(cocS.Values, m.MeanCOC.Value)
		cocS.Cells = append(cocS.Cells, []string{fmt.Sprint(m.MeanCOC.Eligible), fmt.Sprint(m.MeanCOC.Excluded)})
		for _, l := range m.Lists {
			ls := lists[l.Practitioner.ID]
			if ls == nil {
				n := len(pc.Months)
				ls = &listSeries{who: l.Practitioner, slicc: make([]*float64, n), opr: make([]*float64, n),
					sc: make([][]string, n), oc: make([][]string, n)}
				for j := range n {
					ls.sc[j], ls.oc[j] = []string{"0", "0"}, []string{"0", "0"}
				}
				lists[l.Practitioner.ID] = ls
			}
			ls.slicc[i], ls.opr[i] = l.Slicc.Value, l.Opr.Value
			ls.sc[i], ls.oc[i] = ratioCells(l.Slicc), ratioCells(l.Opr)
		}
	}
	for _, s := range []*series{&slicc, &opr, &upcS, &cocS} {
		s.Months = months
		page.Charts = append(page.Charts, chart(*s))
	}
	ordered := make([]*listSeries, 0, len(lists))
	for _, ls := range lists {
		ordered = append(ordered, ls)
	}
	sort.Slice(ordered, func(i, j int) bool {
		a, b := ordered[i].who, ordered[j].who
		if a.FamilyName != b.FamilyName {
			return a.FamilyName < b.FamilyName
		}
		return a.ID < b.ID
	})
	for i, ls := range ordered {
		name := ls.who.Name()
		page.Lists = append(page.Lists, listCharts{Name: name,
			SLICC: chart(series{ID: fmt.Sprintf("list-%d-slicc", i+1), Title: "SLICC, " + name + "'s list", Unit: percent,
				Improve: spc.Increase, Target: target, Months: months, Values: ls.slicc, Cells: ls.sc,
				Heads: []string{"Contacts with " + name, "All GP contacts of the list"}, Gap: "no list or no contacts",
				About: "Share of the GP contacts of " + name + "'s list patients that were with " + name + ". Higher is better."}),
			OPR: chart(series{ID: fmt.Sprintf("list-%d-opr", i+1), Title: "Own Patient Ratio, " + name, Unit: percent,
				Improve: spc.Increase, Months: months, Values: ls.opr, Cells: ls.oc,
				Heads: []string{"Contacts with own patients", "All of " + name + "'s contacts"}, Gap: "no list or no contacts",
				About: "Share of " + name + "'s contacts that were with patients on " + name + "'s own list. Higher is better."}),
		})
	}

	// Patients at risk: over the 12 months ending with the view, for those who
	// may see patients. The API decides who may; its refusal hides the table.
	window := map[string]any{"from": sp.To.AddDate(-1, 0, 0).Format(time.RFC3339), "to": sp.To.Format(time.RFC3339)}
	page.AtRiskFrom = sp.To.AddDate(-1, 0, 0).Format("January 2006")
	var ar atRiskData
	err = d.query(r, "DashboardAtRisk", atRiskQuery, map[string]any{"practice": org, "window": window,
		"minContacts": minContacts, "upcBelow": upc, "cocBelow": coc, "usualBelow": usual}, &ar)
	var ae *apiError
	switch {
	case errors.As(err, &ae) && ae.Code == "FORBIDDEN":
		page.AtRiskHidden = true
	case err != nil:
		return "", nil, err
	default:
		page.AtRisk = &ar
	}
	return "practice.html", page, nil
}
