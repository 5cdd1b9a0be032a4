package dashboard

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/rapportcare/rapport/spc"
)

// teamOptions count nurses' home visits, and name a patient's usual
// clinician by her NAMED_NURSE relationship in force at each visit; one
// visit is enough for a month's share to be defined.
var teamOptions = map[string]any{
	"modes":             []string{"HOME_VISIT"},
	"professions":       []string{"DISTRICT_NURSE", "COMMUNITY_NURSE", "PRACTICE_NURSE"},
	"usualRelationship": "NAMED_NURSE",
	"minContacts":       1,
}

// teamPageSize keeps one page of the team query within the API's complexity
// limit whatever the number of months (each month is one continuity field
// per patient).
const teamPageSize = 20

// teamQuery asks, for one page of the team's caseload, each patient's named
// nurse and her home visits over the whole span and in each month: how many,
// by how many different nurses, and what share by her named nurse.
func teamQuery(months int) string {
	var vars, fields strings.Builder
	for i := range months {
		fmt.Fprintf(&vars, ", $w%d: ContinuityWindow!", i)
		fmt.Fprintf(&fields, "\n        m%d: continuity(window: $w%d, options: $opts) { contacts clinicians usualProviderShare { value } }", i, i)
	}
	return `query DashboardTeam($team: ID!, $first: Int!, $after: String, $opts: ContinuityOptions!, $all: ContinuityWindow!` + vars.String() + `) {
  patients(filter: {teamId: $team}, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
        id givenName familyName
        namedNurse { id givenName familyName }
        all: continuity(window: $all, options: $opts) { contacts clinicians usualProviderShare { value } }` + fields.String() + `
    } }
  }
}`
}

type visits struct {
	Contacts, Clinicians int
	UsualProviderShare   struct{ Value *float64 }
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
	vars := map[string]any{"team": page.TeamID, "first": teamPageSize, "opts": teamOptions,
		"all": map[string]any{"from": sp.From.Format(time.RFC3339), "to": sp.To.Format(time.RFC3339)}}
	for i, m := range months {
		vars[fmt.Sprintf("w%d", i)] = map[string]any{"from": m.Format(time.RFC3339), "to": m.AddDate(0, 1, 0).Format(time.RFC3339)}
	}
	query := teamQuery(len(months))
	// Per month: visits by the named nurse, all visits, and the distinct
	// nurses summed over visited patients, for the team-level charts.
	named, all, nurses, visited := make([]int, len(months)), make([]int, len(months)), make([]int, len(months)), make([]int, len(months))
	for after := ""; ; {
		if after != "" {
			vars["after"] = after
		}
		var out struct {
			Patients struct {
				PageInfo struct {
					HasNextPage bool
					EndCursor   string
				}
				Edges []struct {
					Node map[string]jsonRaw
				}
			}
		}
		if err := d.query(r, "DashboardTeam", query, vars, &out); err != nil {
			return "", nil, err
		}
		for _, e := range out.Patients.Edges {
			p, err := teamPatientOf(e.Node, len(months))
			if err != nil {
				return "", nil, err
			}
			for i, m := range p.Monthly {
				if m.Visits == 0 {
					continue
				}
				all[i] += m.Visits
				visited[i]++
				nurses[i] += m.Nurses
				if m.Share != nil {
					named[i] += int(math.Round(*m.Share * float64(m.Visits)))
				}
			}
			page.Patients = append(page.Patients, p)
		}
		if !out.Patients.PageInfo.HasNextPage {
			break
		}
		after = out.Patients.PageInfo.EndCursor
	}

	share := series{ID: "team-named-share", Title: "Visits by the named nurse", Unit: percent, Improve: spc.Increase, Months: months,
		About: "Of all nurses' home visits to the team's housebound patients in the month, the share made by the patient's named nurse in force at the visit. Higher is better.",
		Heads: []string{"Visits by the named nurse", "All visits"}, Gap: "no visits"}
	distinct := series{ID: "team-distinct-nurses", Title: "Different nurses per patient", Unit: number, Improve: spc.Decrease, Months: months,
		About: "Mean number of different nurses who visited each housebound patient visited in the month. Lower is better.",
		Heads: []string{"Sum of different nurses", "Patients visited"}, Gap: "no visits"}
	for i := range months {
		var s, n *float64
		if all[i] > 0 {
			s = new(float64(named[i]) / float64(all[i]))
		}
		if visited[i] > 0 {
			n = new(float64(nurses[i]) / float64(visited[i]))
		}
		share.Values = append(share.Values, s)
		share.Cells = append(share.Cells, []string{fmt.Sprint(named[i]), fmt.Sprint(all[i])})
		distinct.Values = append(distinct.Values, n)
		distinct.Cells = append(distinct.Cells, []string{fmt.Sprint(nurses[i]), fmt.Sprint(visited[i])})
		page.Months = append(page.Months, months[i].Format("2006-01"))
	}
	page.Charts = []chartView{chart(share), chart(distinct)}
	return "team.html", page, nil
}

type jsonRaw = json.RawMessage

// teamPatientOf decodes one patient of the team query: its fields and the
// aliases all, m0 … m(n−1).
func teamPatientOf(node map[string]jsonRaw, n int) (teamPatient, error) {
	var who person
	var nurse *person
	var whole visits
	for k, dst := range map[string]any{"givenName": &who.GivenName, "familyName": &who.FamilyName, "namedNurse": &nurse, "all": &whole} {
		if err := json.Unmarshal(node[k], dst); err != nil {
			return teamPatient{}, fmt.Errorf("team patient %s: %w", k, err)
		}
	}
	p := teamPatient{Name: who.Name(), Visits: whole.Contacts, Nurses: whole.Clinicians, Share: whole.UsualProviderShare.Value}
	if nurse != nil {
		p.NamedNurse = nurse.Name()
	}
	for i := range n {
		var m visits
		if err := json.Unmarshal(node[fmt.Sprintf("m%d", i)], &m); err != nil {
			return teamPatient{}, fmt.Errorf("team patient month %d: %w", i, err)
		}
		p.Monthly = append(p.Monthly, teamMonth{Visits: m.Contacts, Nurses: m.Clinicians, Share: m.UsualProviderShare.Value})
	}
	return p, nil
}
