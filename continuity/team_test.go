package continuity

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

func visit(id, nurse string, at time.Time) Contact {
	return Contact{ID: id, At: at, ProviderID: nurse, Mode: care.ModeHomeVisit, Profession: care.ProfessionDistrictNurse}
}

func day(m time.Month, d int) time.Time { return time.Date(2024, m, d, 10, 0, 0, 0, time.UTC) }

func nursingOptions() Options {
	return Options{Modes: []care.InteractionMode{care.ModeHomeVisit}, SameDay: CountEach,
		Professions: []care.Profession{care.ProfessionDistrictNurse, care.ProfessionCommunityNurse}}
}

func TestNamedNurseVisits(t *testing.T) {
	t.Parallel()
	months := []time.Time{MonthOf(day(1, 1)), MonthOf(day(2, 1)), MonthOf(day(3, 1)), MonthOf(day(4, 1))}
	// Named nurse A until 15 February, then B. On the caseload from 1 January
	// to 1 April (so April is off the caseload).
	named := Assignments{{ProviderID: "A", Start: day(1, 1).AddDate(-1, 0, 0), End: day(2, 15)}, {ProviderID: "B", Start: day(2, 15)}}
	caseload := Assignments{{ProviderID: "team", Start: MonthOf(day(1, 1)), End: MonthOf(day(4, 1))}}
	contacts := []Contact{
		visit("1", "A", day(1, 3)), visit("2", "A", day(1, 10)), visit("3", "C", day(1, 17)), visit("4", "A", day(1, 17)),
		visit("5", "A", day(2, 3)), visit("6", "A", day(2, 20)), visit("7", "B", day(2, 21)),
		// March: nobody visited.
		visit("8", "B", day(4, 2)), // off the caseload: not counted
		{ID: "9", At: day(1, 4), ProviderID: "A", Mode: care.ModePhone, Profession: care.ProfessionDistrictNurse}, // a call, not a visit
		{ID: "10", At: day(1, 5), ProviderID: "G", Mode: care.ModeHomeVisit, Profession: care.ProfessionGP},       // a GP, not a nurse
	}
	per, total := NamedNurseVisits(contacts, named.At, caseload, months, nursingOptions())
	want := []VisitMonth{
		{Month: months[0], OnCaseload: true, Visits: 4, ByNamedNurse: 3, Nurses: 2},
		// A's visit after 15 February is not by the named nurse then (B).
		{Month: months[1], OnCaseload: true, Visits: 3, ByNamedNurse: 2, Nurses: 2},
		{Month: months[2], OnCaseload: true},
		{Month: months[3]},
	}
	for i := range want {
		if per[i] != want[i] {
			t.Errorf("month %d: got %+v, want %+v", i, per[i], want[i])
		}
	}
	if (total != VisitMonth{OnCaseload: true, Visits: 7, ByNamedNurse: 5, Nurses: 3}) {
		t.Errorf("total %+v", total)
	}
	if s := per[0].NamedNurseShare(); s == nil || *s != 0.75 {
		t.Errorf("January share %v, want 0.75", s)
	}
	if per[2].NamedNurseShare() != nil {
		t.Error("a month without visits has a share: undefined is not zero")
	}

	t.Run("same-day visits by one nurse count once under CountOnce", func(t *testing.T) {
		t.Parallel()
		o := nursingOptions()
		o.SameDay = CountOnce
		per, _ := NamedNurseVisits([]Contact{visit("1", "A", day(1, 3)), visit("2", "A", day(1, 3).Add(8*time.Hour))}, named.At, caseload, months[:1], o)
		if per[0].Visits != 1 {
			t.Fatalf("visits %d", per[0].Visits)
		}
	})
	t.Run("no named nurse in force: visits count, none by her", func(t *testing.T) {
		t.Parallel()
		per, _ := NamedNurseVisits(contacts[:4], Assignments{}.At, caseload, months[:1], nursingOptions())
		if per[0].Visits != 4 || per[0].ByNamedNurse != 0 {
			t.Fatalf("%+v", per[0])
		}
	})
}

func TestPoolTeam(t *testing.T) {
	t.Parallel()
	months := []time.Time{MonthOf(day(1, 1)), MonthOf(day(2, 1))}
	patients := [][]VisitMonth{
		{{OnCaseload: true, Visits: 4, ByNamedNurse: 3, Nurses: 2}, {OnCaseload: true}},
		{{OnCaseload: true, Visits: 2, ByNamedNurse: 0, Nurses: 2}, {OnCaseload: true, Visits: 1, ByNamedNurse: 1, Nurses: 1}},
		{{}, {}}, // not on the caseload
	}
	got := PoolTeam(months, patients)
	if got[0].Patients != 2 || got[0].PatientsVisited != 2 || got[0].Visits != 6 || got[0].ByNamedNurse != 3 || got[0].NursesSum != 4 {
		t.Fatalf("January %+v", got[0])
	}
	if s := got[0].NamedNurseShare(); s == nil || *s != 0.5 {
		t.Fatalf("pooled share %v, want 0.5 (3 of 6 visits)", s)
	}
	if n := got[0].MeanNurses(); n == nil || *n != 2 {
		t.Fatalf("mean nurses %v", n)
	}
	if got[1].Patients != 2 || got[1].PatientsVisited != 1 || *got[1].MeanNurses() != 1 {
		t.Fatalf("February %+v", got[1])
	}
	if empty := PoolTeam(months, nil); empty[0].NamedNurseShare() != nil || empty[0].MeanNurses() != nil {
		t.Fatal("no patients: undefined, not zero")
	}
}

func TestCaseloadFrom(t *testing.T) {
	t.Parallel()
	team, other := uuid.New(), uuid.New()
	end := day(3, 1)
	rels := []care.CareRelationship{
		{Kind: care.KindCareCoordinator, TeamID: &team, Status: care.RelationshipEnded, PeriodStart: day(1, 1), PeriodEnd: &end},
		{Kind: care.KindKeyWorker, TeamID: &team, Status: care.RelationshipActive, PeriodStart: day(5, 1)},
		{Kind: care.KindCareCoordinator, TeamID: &other, Status: care.RelationshipActive, PeriodStart: day(1, 1)},
		{Kind: care.KindCareCoordinator, TeamID: &team, Status: care.RelationshipProposed, PeriodStart: day(3, 1)},
	}
	as := CaseloadFrom(rels, team)
	for _, c := range []struct {
		at   time.Time
		want bool
	}{{day(2, 1), true}, {day(4, 1), false}, {day(6, 1), true}} {
		if got := as.At(c.at) == team.String(); got != c.want {
			t.Errorf("on the caseload on %s: %v, want %v", c.at.Format(time.DateOnly), got, c.want)
		}
	}
}
