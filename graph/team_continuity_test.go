package graph_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

const teamContinuityQuery = `query T($team: ID!, $from: Date!, $to: Date!) {
  node(id: $team) { ... on Team { continuity(from: $from, to: $to) {
    from to
    months { month patients patientsVisited visits byNamedNurse namedNurseShare meanNurses }
    patients { patient { id } total { month onCaseload visits byNamedNurse namedNurseShare nurses }
      months { month onCaseload visits byNamedNurse namedNurseShare nurses } }
  } } }
}`

type teamVisits struct {
	Month           *string
	OnCaseload      bool
	Visits          int
	ByNamedNurse    int
	NamedNurseShare *float64
	Nurses          int
}

type teamContinuityOut struct {
	Node *struct {
		Continuity struct {
			From, To string
			Months   []struct {
				Month                                           string
				Patients, PatientsVisited, Visits, ByNamedNurse int
				NamedNurseShare, MeanNurses                     *float64
			}
			Patients []struct {
				Patient struct{ ID string }
				Total   teamVisits
				Months  []teamVisits
			}
		}
	}
}

// TestTeamContinuity works a nursing team's relational continuity out by
// hand. The team has two nurses (the world's nurse and her colleague). In
// January to March 2024:
//
//	p1: named nurse = nurse, on the team's caseload since 2023;
//	    January: nurse, nurse, colleague; February: nurse
//	p2: named nurse = colleague, on the caseload since 2023, registered at
//	    another practice (B);
//	    January: colleague, nurse
//	p3: the nurse's named patient, not on the team's caseload: January nurse
//
// January: 5 visits, 3 by the named nurse (60%), 2 different nurses each;
// February: 1 visit, by the named nurse; March: no visit (undefined, not 0).
func TestTeamContinuity(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	w := newWorld(t, db)
	since := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	must(db.StartRelationship(sysCtx, care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: &w.colleague, TeamID: &w.team, PeriodStart: &since})).get(t)
	onTeam := func(p *care.Patient) {
		must(db.StartRelationship(sysCtx, care.StartRelationshipInput{Kind: care.KindCareCoordinator, PatientID: &p.ID, TeamID: &w.team, PeriodStart: &since})).get(t)
	}
	patient := func(practice, gp uuid.UUID, family string, named uuid.UUID) *care.Patient {
		p := w.patient(t, practice, gp, uuid.Nil, family)
		must(db.StartRelationship(sysCtx, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &p.ID, PractitionerID: &named, PeriodStart: &since})).get(t)
		return p
	}
	p1, p2, p3 := patient(w.practiceA, w.gpA, "One", w.nurse), patient(w.practiceB, w.gpB, "Two", w.colleague), patient(w.practiceA, w.gpA, "Three", w.nurse)
	onTeam(p1)
	onTeam(p2)
	nurse, colleague := w.nurseActor(), w.actor(care.RoleNurse, w.colleague, w.orgN)
	jan := func(d int) time.Time { return time.Date(2024, time.January, d, 10, 0, 0, 0, time.UTC) }
	w.interaction(t, nurse, p1.ID, jan(3))
	w.interaction(t, nurse, p1.ID, jan(10))
	w.interaction(t, colleague, p1.ID, jan(17))
	w.interaction(t, nurse, p1.ID, jan(40)) // 9 February
	w.interaction(t, colleague, p2.ID, jan(5))
	w.interaction(t, nurse, p2.ID, jan(6))
	w.interaction(t, nurse, p3.ID, jan(7))

	vars := map[string]any{"team": gid("Team", w.team), "from": "2024-01-01", "to": "2024-04-01"}
	var out teamContinuityOut
	newClient(t, db, nurse, graph.Limits{}).ok(teamContinuityQuery, vars, &out)
	tc := out.Node.Continuity
	if tc.From != "2024-01-01" || tc.To != "2024-04-01" || len(tc.Months) != 3 {
		t.Fatalf("range %s–%s, %d months", tc.From, tc.To, len(tc.Months))
	}
	type month struct{ patients, visited, visits, named int }
	for i, want := range []month{{2, 2, 5, 3}, {2, 1, 1, 1}, {2, 0, 0, 0}} {
		m := tc.Months[i]
		if m.Patients != want.patients || m.PatientsVisited != want.visited || m.Visits != want.visits || m.ByNamedNurse != want.named {
			t.Errorf("%s: %+v, want %+v", m.Month, m, want)
		}
	}
	if s := tc.Months[0].NamedNurseShare; s == nil || *s != 0.6 {
		t.Errorf("January named-nurse share %v, want 0.6", s)
	}
	if n := tc.Months[0].MeanNurses; n == nil || *n != 2 {
		t.Errorf("January different nurses %v, want 2", n)
	}
	if tc.Months[2].NamedNurseShare != nil || tc.Months[2].MeanNurses != nil {
		t.Error("March had no visit: its figures must be null, not 0")
	}
	if len(tc.Patients) != 2 {
		t.Fatalf("%d patients listed, want p1 and p2 (p3 is not on the team's caseload)", len(tc.Patients))
	}
	byID := map[string]int{}
	for i, p := range tc.Patients {
		byID[p.Patient.ID] = i
	}
	one := tc.Patients[byID[gid("Patient", p1.ID)]]
	if one.Total.Visits != 4 || one.Total.ByNamedNurse != 3 || one.Total.Nurses != 2 || one.Total.Month != nil {
		t.Errorf("p1 over the range: %+v", one.Total)
	}
	if m := one.Months[0]; m.Visits != 3 || m.ByNamedNurse != 2 || m.Nurses != 2 || m.Month == nil || *m.Month != "2024-01-01" {
		t.Errorf("p1 in January: %+v", m)
	}

	t.Run("the reads are audited", func(t *testing.T) {
		admin := w.actor(care.RolePracticeAdmin, w.adminA, w.practiceA)
		entries := must(db.AuditEntries(care.NewContextWithActor(context.Background(), admin), p1.ID)).get(t)
		for _, e := range entries {
			if e.Entity == "Continuity" && e.ActorID == w.nurse && e.Action == care.AuditRead {
				return
			}
		}
		t.Fatal("no Continuity read by the nurse in p1's audit trail")
	})
	t.Run("only patients the caller may see count", func(t *testing.T) {
		t.Parallel()
		var other teamContinuityOut
		// Practice B's GP sees p2 alone (registered at B): two January visits.
		newClient(t, db, w.gpBActor(), graph.Limits{}).ok(teamContinuityQuery, vars, &other)
		if other.Node == nil || len(other.Node.Continuity.Patients) != 1 || other.Node.Continuity.Patients[0].Patient.ID != gid("Patient", p2.ID) ||
			other.Node.Continuity.Months[0].Visits != 2 || other.Node.Continuity.Months[0].Patients != 1 {
			t.Fatalf("practice B's GP: %+v", other.Node)
		}
		// A GP of practice A sees the team (its partner's) and p1, not p2
		// (registered at practice B): p1 alone counts.
		var gp teamContinuityOut
		newClient(t, db, w.gpAActor(), graph.Limits{}).ok(teamContinuityQuery, vars, &gp)
		if gp.Node == nil || len(gp.Node.Continuity.Patients) != 1 || gp.Node.Continuity.Months[0].Visits != 3 || gp.Node.Continuity.Months[0].Patients != 1 {
			t.Fatalf("practice A's GP: %+v", gp.Node)
		}
	})
	t.Run("an integration without patients:read is refused", func(t *testing.T) {
		t.Parallel()
		a := w.actor(care.RoleIntegration, uuid.Nil, w.orgN, care.ScopeAnalyticsRead)
		newClient(t, db, a, graph.Limits{}).fails(teamContinuityQuery, vars, "FORBIDDEN")
	})
	t.Run("bad ranges are refused", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, db, nurse, graph.Limits{})
		c.fails(teamContinuityQuery, map[string]any{"team": vars["team"], "from": "2024-04-01", "to": "2024-01-01"}, "BAD_USER_INPUT")
		c.fails(teamContinuityQuery, map[string]any{"team": vars["team"], "from": "2022-01-01", "to": "2024-02-01"}, "BAD_USER_INPUT")
	})
}
