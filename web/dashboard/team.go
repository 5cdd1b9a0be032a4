package dashboard

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/rapportcare/rapport/spc"
)

// teamQuery asks for the team's relational continuity: Team.continuity,
// the API's own measure, over the patients the caller may see.
const teamQuery = `query DashboardTeam($team: ID!, $from: Date!, $to: Date!) {
  node(id: $team) { ... on Team { continuity(from: $from, to: $to) {
    months { month patients patientsVisited visits byNamedNurse namedNurseShare meanNurses }
    patients {
      patient { id givenName familyName namedNurse { givenName familyName } }
      total { visits byNamedNurse namedNurseShare nurses }
      months { month onCaseload visits byNamedNurse namedNurseShare nurses }
    }
  } } }
}`

type visits struct {
	OnCaseload           bool
	Visits, ByNamedNurse int
	NamedNurseShare      *float64
	Nurses               int
}

type teamData struct {
	Node *struct {
		Continuity struct {
			Months []struct {
				Month                                           string
				Patients, PatientsVisited, Visits, ByNamedNurse int
				NamedNurseShare, MeanNurses                     *float64
			}
			Patients []struct {
				Patient struct {
					ID, GivenName, FamilyName string
					NamedNurse                *person
				}
				Total  visits
				Months []visits
			}
		}
	}
}

// teamPage is what team.html shows.
type teamPage struct {
	Team, From, To string
	Teams          []struct{ ID, Name string }
	TeamID         string
	Form           struct {
		Months int
		To     string
	}
	Charts   []chartView
	Months   []string
	Patients []teamPatient
	// NoTeam is set when the caller belongs to no team.
	NoTeam bool
}

type teamPatient struct {
	Name, NamedNurse string
	Visits, Nurses   int
	Share            *float64
	Monthly          []teamMonth
	sortKey          string
}

type teamMonth struct {
	Visits, Nurses int
	Share          *float64
}

// team builds the team view for a nursing team lead: her team's housebound
// caseload (patients with a relationship to the team), with the share of
// each patient's home visits made by her named nurse and the number of
// different nurses who visited her, by month.
func (d *dashboard) team(r *http.Request) (string, any, error) {
	q := r.URL.Query()
	sp, err := monthSpan(q, d.now(), 12, 3, 24)
	if err != nil {
		return "", nil, err
	}
	v, err := d.viewer(r)
	if err != nil {
		return "", nil, err
	}
	page := teamPage{From: sp.From.Format("January 2006"), To: sp.To.AddDate(0, 0, -1).Format("January 2006")}
	page.Form.Months, page.Form.To = len(sp.months()), sp.To.Format("2006-01")
	if v.Viewer.Practitioner == nil || len(v.Viewer.Practitioner.Teams) == 0 {
		page.NoTeam = true
		return "team.html", page, nil
	}
	page.Teams = v.Viewer.Practitioner.Teams
	page.TeamID, page.Team = page.Teams[0].ID, page.Teams[0].Name
	if id := q.Get("team"); id != "" {
		found := false
		for _, t := range page.Teams {
			if t.ID == id {
				page.TeamID, page.Team, found = t.ID, t.Name, true
			}
		}
		if !found {
			return "", nil, paramError("Choose one of your own teams.")
		}
	}

	months := sp.months()
	var td teamData
	if err := d.query(r, "DashboardTeam", teamQuery, map[string]any{"team": page.TeamID,
		"from": sp.From.Format(time.DateOnly), "to": sp.To.Format(time.DateOnly)}, &td); err != nil {
		return "", nil, err
	}
	if td.Node == nil {
		return "", nil, paramError("Choose one of your own teams.")
	}
	tc := td.Node.Continuity
	share := series{ID: "team-named-share", Title: "Visits by the named nurse", Unit: percent, Improve: spc.Increase, Months: months,
		About: "Of all nurses' home visits to the team's housebound patients in the month, the share made by the patient's named nurse in force at the visit. Higher is better.",
		Heads: []string{"Visits by the named nurse", "All visits"}, Gap: "no visits"}
	distinct := series{ID: "team-distinct-nurses", Title: "Different nurses per patient", Unit: number, Improve: spc.Decrease, Months: months,
		About: "Mean number of different nurses who visited each housebound patient visited in the month. Lower is better.",
		Heads: []string{"Patients visited", "Patients on the caseload"}, Gap: "no visits"}
	if len(tc.Months) != len(months) {
		return "", nil, fmt.Errorf("team continuity: %d months for %d", len(tc.Months), len(months))
	}
	for i, m := range tc.Months {
		share.Values = append(share.Values, m.NamedNurseShare)
		share.Cells = append(share.Cells, []string{fmt.Sprint(m.ByNamedNurse), fmt.Sprint(m.Visits)})
		distinct.Values = append(distinct.Values, m.MeanNurses)
		distinct.Cells = append(distinct.Cells, []string{fmt.Sprint(m.PatientsVisited), fmt.Sprint(m.Patients)})
		page.Months = append(page.Months, months[i].Format("2006-01"))
	}
	for _, p := range tc.Patients {
		tp := teamPatient{Name: p.Patient.GivenName + " " + p.Patient.FamilyName, sortKey: p.Patient.FamilyName + "\x00" + p.Patient.GivenName + "\x00" + p.Patient.ID,
			Visits: p.Total.Visits, Nurses: p.Total.Nurses, Share: p.Total.NamedNurseShare}
		if p.Patient.NamedNurse != nil {
			tp.NamedNurse = p.Patient.NamedNurse.Name()
		}
		for _, m := range p.Months {
			tp.Monthly = append(tp.Monthly, teamMonth{Visits: m.Visits, Nurses: m.Nurses, Share: m.NamedNurseShare})
		}
		page.Patients = append(page.Patients, tp)
	}
	sort.Slice(page.Patients, func(i, j int) bool { return page.Patients[i].sortKey < page.Patients[j].sortKey })
	page.Charts = []chartView{chart(share), chart(distinct)}
	return "team.html", page, nil
}
