package graph_test

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// continuityWorld is a small practice whose continuity is worked out by hand
// in the tests below. Practice A has three GPs: gpA (the world's), gpC and a
// locum gpL who holds no list. All times are 2024, UTC.
//
// Usual GP relationships (USUAL_GP):
//
//	p1: gpA from 2023-01-01 (active)
//	p2: gpA from 2023-01-01, ENDED 2024-02-15 12:00; gpC from then (active)
//	p3: gpC from 2023-01-01 (active)
//	p4: none
//
// p1's named nurse is the world's nurse (so p1 alone is in her caseload).
//
// Contacts (CLINIC unless marked):
//
//	January:  p1 gpA 3rd 10:00, gpA 3rd 15:00 (same day: counted once by
//	          default), gpC 10th, gpA 31st 23:59:59 (still January);
//	          nurse HOME_VISIT 15th (not a GP: not counted by default)
//	          p2 gpA 5th, gpL 20th, gpA PHONE 22nd (not face to face)
//	          p3 gpC 8th, gpC 9th
//	          p4 gpA 12th
//	February: p1 gpA 1st 00:00:00 (February), gpA 20th
//	          p2 gpA 10th (gpA still her usual GP), gpC 20th and gpA 25th
//	          (after the change: gpC is her usual GP)
//	          p3 gpA 6th
type continuityWorld struct {
	*world
	gpC, gpL       uuid.UUID
	p1, p2, p3, p4 *care.Patient
}

func day(m time.Month, d, h, min, s int) time.Time {
	return time.Date(2024, m, d, h, min, s, 0, time.UTC)
}

func newContinuityWorld(t *testing.T) *continuityWorld {
	t.Helper()
	db := postgrestest.New(t)
	w := &continuityWorld{world: newWorld(t, db)}
	gp := func(given string) uuid.UUID {
		return must(db.CreatePractitioner(sysCtx, care.CreatePractitionerInput{
			OrganizationID: w.practiceA, GivenName: given, FamilyName: "Locke", Profession: care.ProfessionGP,
		})).get(t).ID
	}
	w.gpC, w.gpL = gp("Cara"), gp("Lou")
	patient := func(family string) *care.Patient {
		return must(db.CreatePatient(sysCtx, care.CreatePatientInput{
			NHSNumber: nhsNumber(), GivenName: "Pat", FamilyName: family,
			BirthDate: time.Date(1940, 3, 4, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: w.practiceA,
		})).get(t)
	}
	w.p1, w.p2, w.p3, w.p4 = patient("One"), patient("Two"), patient("Three"), patient("Four")
	since := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	rel := func(kind care.RelationshipKind, p *care.Patient, who uuid.UUID, start time.Time) uuid.UUID {
		return must(db.StartRelationship(sysCtx, care.StartRelationshipInput{
			Kind: kind, PatientID: &p.ID, PractitionerID: &who, PeriodStart: &start,
		})).get(t).ID
	}
	rel(care.KindUsualGP, w.p1, w.gpA, since)
	change := day(time.February, 15, 12, 0, 0)
	old := rel(care.KindUsualGP, w.p2, w.gpA, since)
	must(db.EndRelationship(sysCtx, care.EndRelationshipInput{ID: old, EndedAt: &change})).get(t)
	rel(care.KindUsualGP, w.p2, w.gpC, change)
	rel(care.KindUsualGP, w.p3, w.gpC, since)
	rel(care.KindNamedNurse, w.p1, w.nurse, since)

	contact := func(by uuid.UUID, org uuid.UUID, role care.Role, p *care.Patient, mode care.InteractionMode, at time.Time) {
		ctx := care.NewContextWithActor(context.Background(), w.actor(role, by, org))
		must(db.CreateInteraction(ctx, care.CreateInteractionInput{
			PatientID: p.ID, Mode: mode, OccurredAt: at, Purpose: "review", Notes: "seen",
		})).get(t)
	}
	g := func(by uuid.UUID, p *care.Patient, at time.Time) {
		contact(by, w.practiceA, care.RoleGP, p, care.ModeClinic, at)
	}
	g(w.gpA, w.p1, day(time.January, 3, 10, 0, 0))
	g(w.gpA, w.p1, day(time.January, 3, 15, 0, 0))
	g(w.gpC, w.p1, day(time.January, 10, 9, 0, 0))
	g(w.gpA, w.p1, day(time.January, 31, 23, 59, 59))
	contact(w.nurse, w.orgN, care.RoleNurse, w.p1, care.ModeHomeVisit, day(time.January, 15, 11, 0, 0))
	g(w.gpA, w.p2, day(time.January, 5, 9, 0, 0))
	g(w.gpL, w.p2, day(time.January, 20, 9, 0, 0))
	contact(w.gpA, w.practiceA, care.RoleGP, w.p2, care.ModePhone, day(time.January, 22, 9, 0, 0))
	g(w.gpC, w.p3, day(time.January, 8, 9, 0, 0))
	g(w.gpC, w.p3, day(time.January, 9, 9, 0, 0))
	g(w.gpA, w.p4, day(time.January, 12, 9, 0, 0))
	g(w.gpA, w.p1, day(time.February, 1, 0, 0, 0))
	g(w.gpA, w.p1, day(time.February, 20, 9, 0, 0))
	g(w.gpA, w.p2, day(time.February, 10, 9, 0, 0))
	g(w.gpC, w.p2, day(time.February, 20, 9, 0, 0))
	g(w.gpA, w.p2, day(time.February, 25, 9, 0, 0))
	g(w.gpA, w.p3, day(time.February, 6, 9, 0, 0))
	return w
}

// Decoded shapes.
type cIndex struct {
	Value      *float64
	Contacts   int
	Clinicians int
	Reason     *string
}

type cRatio struct {
	Value                  *float64
	Numerator, Denominator int
}

type cMean struct {
	Value              *float64
	Eligible, Excluded int
	Exclusions         []struct {
		Reason   string
		Patients int
	}
}

type cMonth struct {
	Month              string
	Slicc, Opr         cRatio
	UnassignedContacts int
	ListSize           int
	Lists              []struct {
		Practitioner struct{ ID string }
		Slicc, Opr   cRatio
	}
	MeanUPC, MeanCOC cMean
}

const (
	ratioFields = `{ value numerator denominator }`
	meanFields  = `{ value eligible excluded exclusions { reason patients } }`
	indexFields = `{ value contacts clinicians reason }`
)

const practiceSeriesQuery = `query S($practice: ID!, $k: Int) {
	practiceContinuity(practiceId: $practice, from: "2024-01-01", to: "2024-03-01", indexMonths: $k) {
		indexMonths
		practice { id }
		months { month unassignedContacts slicc ` + ratioFields + ` opr ` + ratioFields + `
			lists { practitioner { id } slicc ` + ratioFields + ` opr ` + ratioFields + ` }
			meanUPC ` + meanFields + ` meanCOC ` + meanFields + ` }
	}
}`

const patientContinuityQuery = `query P($id: ID!, $from: DateTime!, $to: DateTime!, $options: ContinuityOptions) {
	node(id: $id) { ... on Patient { continuity(window: {from: $from, to: $to}, options: $options) {
		from to contacts clinicians
		upc ` + indexFields + ` coc ` + indexFields + ` secon ` + indexFields + ` mmci ` + indexFields + `
		herfindahl ` + indexFields + ` usualProviderShare ` + indexFields + ` knownProvider ` + indexFields + `
		usualProvider { id }
	} } }
}`

type patientContinuity struct {
	Node struct {
		Continuity struct {
			Contacts, Clinicians              int
			UPC, COC, SECON, MMCI, Herfindahl cIndex
			UsualProviderShare, KnownProvider cIndex
			UsualProvider                     *struct{ ID string }
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func wantValue(t *testing.T, what string, got *float64, want float64) {
	t.Helper()
	if got == nil || !near(*got, want) {
		t.Errorf("%s = %v, want %.6f", what, deref(got), want)
	}
}

func deref(p *float64) any {
	if p == nil {
		return "null"
	}
	return *p
}

func wantRatio(t *testing.T, what string, got cRatio, num, den int) {
	t.Helper()
	if got.Numerator != num || got.Denominator != den {
		t.Errorf("%s = %d/%d, want %d/%d", what, got.Numerator, got.Denominator, num, den)
	}
	wantValue(t, what, got.Value, float64(num)/float64(den))
}

func wantNull(t *testing.T, what string, got cIndex, reason string) {
	t.Helper()
	if got.Value != nil || got.Reason == nil || *got.Reason != reason {
		t.Errorf("%s = %v (reason %v), want null because %q", what, deref(got.Value), got.Reason, reason)
	}
}

func (w *continuityWorld) adminActor() *care.Actor {
	return w.actor(care.RolePracticeAdmin, w.adminA, w.practiceA)
}

func (w *continuityWorld) series(t *testing.T, c *gql, k int) []cMonth {
	t.Helper()
	var out struct {
		PracticeContinuity struct {
			IndexMonths int
			Practice    struct{ ID string }
			Months      []cMonth
		}
	}
	c.ok(practiceSeriesQuery, map[string]any{"practice": gid("Organization", w.practiceA), "k": k}, &out)
	pc := out.PracticeContinuity
	if pc.IndexMonths != k || pc.Practice.ID != gid("Organization", w.practiceA) || len(pc.Months) != 2 {
		t.Fatalf("series header: indexMonths %d, practice %s, %d months", pc.IndexMonths, pc.Practice.ID, len(pc.Months))
	}
	return pc.Months
}

func TestPracticeContinuity(t *testing.T) {
	t.Parallel()
	w := newContinuityWorld(t)
	admin := newClient(t, w.db, w.adminActor(), graph.Limits{})
	// The list holders of both months are gpA (p1, p2 until 15 Feb) and gpC
	// (p3, p2 from 15 Feb), in ID order; the locum gpL holds no list.
	holders := []uuid.UUID{w.gpA, w.gpC}
	slices.SortFunc(holders, func(a, b uuid.UUID) int { return compareStrings(a.String(), b.String()) })
	list := func(t *testing.T, m cMonth, gp uuid.UUID) (cRatio, cRatio) {
		t.Helper()
		if len(m.Lists) != 2 || m.Lists[0].Practitioner.ID != gid("Practitioner", holders[0]) || m.Lists[1].Practitioner.ID != gid("Practitioner", holders[1]) {
			t.Fatalf("%s lists = %+v, want gpA and gpC by ID", m.Month, m.Lists)
		}
		for _, l := range m.Lists {
			if l.Practitioner.ID == gid("Practitioner", gp) {
				return l.Slicc, l.Opr
			}
		}
		t.Fatalf("no list for %s", gp)
		return cRatio{}, cRatio{}
	}

	t.Run("January SLICC and OPR by hand", func(t *testing.T) {
		t.Parallel()
		jan := w.series(t, admin, 1)[0]
		if jan.Month != "2024-01-01" {
			t.Fatalf("first month %s", jan.Month)
		}
		// Counted January contacts (face to face, GP, same day once):
		// p1: gpA 3rd, gpC 10th, gpA 31st      -> gpA's list: 2 of 3 with gpA
		// p2: gpA 5th, gpL 20th (phone ignored) -> gpA's list: 1 of 2 with gpA
		// p3: gpC 8th, gpC 9th                  -> gpC's list: 2 of 2 with gpC
		// p4: gpA 12th, no usual GP             -> unassigned
		slicc, opr := list(t, jan, w.gpA)
		wantRatio(t, "SLICC gpA", slicc, 2+1, 3+2) // 3/5
		// gpA saw p1 twice, p2 once (own list) and p4 once: 3/4.
		wantRatio(t, "OPR gpA", opr, 3, 4)
		slicc, opr = list(t, jan, w.gpC)
		wantRatio(t, "SLICC gpC", slicc, 2, 2)
		// gpC saw p3 twice (own) and p1 once (gpA's list): 2/3.
		wantRatio(t, "OPR gpC", opr, 2, 3)
		wantRatio(t, "practice SLICC", jan.Slicc, 3+2, 5+2) // 5/7
		wantRatio(t, "practice OPR", jan.Opr, 3+2, 4+3)     // 5/7; the locum is in no denominator
		if jan.UnassignedContacts != 1 {
			t.Errorf("unassigned = %d, want 1 (p4)", jan.UnassignedContacts)
		}
	})
	t.Run("February follows the relationship in force at each contact", func(t *testing.T) {
		t.Parallel()
		feb := w.series(t, admin, 1)[1]
		// p1: gpA 1st 00:00 (a February contact), gpA 20th -> gpA's list 2/2
		// p2: gpA 10th while on gpA's list               -> gpA's list 1/1
		//     gpC 20th, gpA 25th while on gpC's list     -> gpC's list 1/2
		// p3: gpA 6th                                     -> gpC's list 0/1
		slicc, opr := list(t, feb, w.gpA)
		wantRatio(t, "SLICC gpA", slicc, 3, 3)
		// gpA saw p1 twice and p2 on the 10th (own), p2 on the 25th and p3 (not): 3/5.
		wantRatio(t, "OPR gpA", opr, 3, 5)
		slicc, opr = list(t, feb, w.gpC)
		wantRatio(t, "SLICC gpC", slicc, 1, 3)
		wantRatio(t, "OPR gpC", opr, 1, 1) // gpC saw only p2, on the 20th, her own by then
		wantRatio(t, "practice SLICC", feb.Slicc, 4, 6)
		wantRatio(t, "practice OPR", feb.Opr, 4, 6)
		if feb.UnassignedContacts != 0 {
			t.Errorf("unassigned = %d, want 0", feb.UnassignedContacts)
		}
	})
	t.Run("mean UPC and COC over one month, undefined ones excluded with the reason", func(t *testing.T) {
		t.Parallel()
		months := w.series(t, admin, 1)
		jan, feb := months[0], months[1]
		// January: p1 A,C,A: UPC 2/3, COC (2²+1²-3)/(3·2) = 1/3
		//          p2 A,L:   UPC 1/2, COC (1+1-2)/(2·1) = 0
		//          p3 C,C:   UPC 1,   COC (4-2)/(2·1) = 1
		//          p4 one contact: undefined, excluded
		wantValue(t, "Jan mean UPC", jan.MeanUPC.Value, (2.0/3+1.0/2+1)/3) // 13/18
		wantValue(t, "Jan mean COC", jan.MeanCOC.Value, (1.0/3+0+1)/3)     // 4/9
		for _, m := range []cMean{jan.MeanUPC, jan.MeanCOC} {
			if m.Eligible != 3 || m.Excluded != 1 || len(m.Exclusions) != 1 ||
				m.Exclusions[0].Reason != "fewer than 2 counted contacts" || m.Exclusions[0].Patients != 1 {
				t.Errorf("Jan mean counts = %+v, want 3 eligible, p4 excluded for too few contacts", m)
			}
		}
		// February: p1 A,A: UPC 1, COC 1; p2 A,C,A: UPC 2/3, COC 1/3; p3 one contact: excluded.
		wantValue(t, "Feb mean UPC", feb.MeanUPC.Value, (1+2.0/3)/2) // 5/6
		wantValue(t, "Feb mean COC", feb.MeanCOC.Value, (1+1.0/3)/2) // 2/3
		if feb.MeanUPC.Eligible != 2 || feb.MeanUPC.Excluded != 1 {
			t.Errorf("Feb mean UPC counts = %+v, want 2 eligible, 1 excluded", feb.MeanUPC)
		}
	})
	t.Run("a two-month index window reaches back into January", func(t *testing.T) {
		t.Parallel()
		months := w.series(t, admin, 2)
		// January's window (Dec-Jan) holds January's contacts only: as above.
		wantValue(t, "Jan mean UPC", months[0].MeanUPC.Value, 13.0/18)
		// February's window is January and February:
		// p1 A,C,A,A,A:  UPC 4/5, COC (16+1-5)/(5·4) = 3/5
		// p2 A,L,A,C,A:  UPC 3/5, COC (9+1+1-5)/20 = 3/10
		// p3 C,C,A:      UPC 2/3, COC (4+1-3)/6 = 1/3
		// p4 one contact: excluded
		wantValue(t, "Feb mean UPC", months[1].MeanUPC.Value, (4.0/5+3.0/5+2.0/3)/3)  // 31/45
		wantValue(t, "Feb mean COC", months[1].MeanCOC.Value, (3.0/5+3.0/10+1.0/3)/3) // 37/90
		if m := months[1].MeanUPC; m.Eligible != 3 || m.Excluded != 1 {
			t.Errorf("Feb mean UPC counts = %+v, want 3 eligible, 1 excluded", m)
		}
	})
	t.Run("options: remote contacts and same-day repeats", func(t *testing.T) {
		t.Parallel()
		const q = `query S($practice: ID!) { practiceContinuity(practiceId: $practice, from: "2024-01-01", to: "2024-02-01", indexMonths: 1,
			options: {modes: [CLINIC, HOME_VISIT, PHONE, VIDEO], sameDay: COUNT_EACH}) {
			months { slicc ` + ratioFields + ` } } }`
		var out struct{ PracticeContinuity struct{ Months []cMonth } }
		admin.ok(q, map[string]any{"practice": gid("Organization", w.practiceA)}, &out)
		// Adds p2's phone call with gpA (on gpA's list) and p1's second
		// contact on 3 January with gpA: lists 3/5 + 2/2 become 5/7 + 2/2.
		wantRatio(t, "practice SLICC", out.PracticeContinuity.Months[0].Slicc, 7, 9)
	})
	t.Run("bad arguments are BAD_USER_INPUT", func(t *testing.T) {
		t.Parallel()
		p := gid("Organization", w.practiceA)
		admin.fails(`query S($p: ID!) { practiceContinuity(practiceId: $p, from: "2024-03-01", to: "2024-01-01") { indexMonths } }`,
			map[string]any{"p": p}, graph.CodeBadUserInput)
		admin.fails(`query S($p: ID!) { practiceContinuity(practiceId: $p, from: "2024-01-01", to: "2024-03-01", indexMonths: 0) { indexMonths } }`,
			map[string]any{"p": p}, graph.CodeBadUserInput)
		admin.fails(`query S($p: ID!) { practiceContinuity(practiceId: $p, from: "2024-01-01", to: "2024-03-01", options: {modes: []}) { indexMonths } }`,
			map[string]any{"p": p}, graph.CodeBadUserInput)
		admin.fails(`query S($p: ID!) { practiceContinuity(practiceId: $p, from: "2024-01-01", to: "2024-03-01", options: {usualRelationship: CARER}) { indexMonths } }`,
			map[string]any{"p": p}, graph.CodeBadUserInput)
	})
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func TestPatientContinuity(t *testing.T) {
	t.Parallel()
	w := newContinuityWorld(t)
	gp := newClient(t, w.db, w.gpAActor(), graph.Limits{})
	window := map[string]any{"from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}
	vars := func(p *care.Patient, extra map[string]any) map[string]any {
		v := map[string]any{"id": gid("Patient", p.ID)}
		for k, x := range window {
			v[k] = x
		}
		for k, x := range extra {
			v[k] = x
		}
		return v
	}

	t.Run("every index by hand, relationship change mid-window", func(t *testing.T) {
		t.Parallel()
		var out patientContinuity
		gp.ok(patientContinuityQuery, vars(w.p2, nil), &out)
		c := out.Node.Continuity
		// p2's counted contacts: A 5 Jan, L 20 Jan, A 10 Feb, C 20 Feb, A 25 Feb
		// (the phone call is not face to face). N = 5, n_A = 3, n_L = n_C = 1.
		if c.Contacts != 5 || c.Clinicians != 3 {
			t.Fatalf("contacts %d clinicians %d, want 5 and 3", c.Contacts, c.Clinicians)
		}
		wantValue(t, "UPC", c.UPC.Value, 3.0/5)                 // n_max/N
		wantValue(t, "COC", c.COC.Value, (9.0+1+1-5)/(5*4))     // 6/20
		wantValue(t, "SECON", c.SECON.Value, 0)                 // A-L, L-A, A-C, C-A: no pair repeats
		wantValue(t, "MMCI", c.MMCI.Value, (5-3+0.1)/(5-0.9))   // 2.1/4.1
		wantValue(t, "Herfindahl", c.Herfindahl.Value, 11.0/25) // (3/5)²+(1/5)²+(1/5)²
		// Usual GP at each contact: gpA, gpA, gpA, gpC, gpC; with them: A yes,
		// L no, A yes, C yes, A no -> 3/5.
		wantValue(t, "usual provider share", c.UsualProviderShare.Value, 3.0/5)
		// Seen before: A 10 Feb and A 25 Feb -> 2/5 (no history before January).
		wantValue(t, "known provider", c.KnownProvider.Value, 2.0/5)
		if c.UsualProvider == nil || c.UsualProvider.ID != gid("Practitioner", w.gpA) {
			t.Errorf("usual provider %+v, want gpA", c.UsualProvider)
		}
	})
	t.Run("documented options change what counts", func(t *testing.T) {
		t.Parallel()
		var out patientContinuity
		gp.ok(patientContinuityQuery, vars(w.p2, map[string]any{"options": map[string]any{"modes": []string{"CLINIC", "HOME_VISIT", "PHONE", "VIDEO"}}}), &out)
		// The phone call with gpA now counts: N = 6, n_A = 4.
		if c := out.Node.Continuity; c.Contacts != 6 || c.UPC.Value == nil || !near(*c.UPC.Value, 4.0/6) {
			t.Errorf("with remote contacts: %d contacts, UPC %v; want 6 and 2/3", c.Contacts, deref(c.UPC.Value))
		}
		gp.ok(patientContinuityQuery, vars(w.p1, map[string]any{"options": map[string]any{"sameDay": "COUNT_EACH"}}), &out)
		// p1: A, A (same day), C, A, A, A -> N = 6, n_A = 5.
		if c := out.Node.Continuity; c.Contacts != 6 || c.UPC.Value == nil || !near(*c.UPC.Value, 5.0/6) {
			t.Errorf("count each: %d contacts, UPC %v; want 6 and 5/6", c.Contacts, deref(c.UPC.Value))
		}
		gp.ok(patientContinuityQuery, vars(w.p1, nil), &out)
		// Default: the second 3 January contact is dropped: N = 5, n_A = 4.
		if c := out.Node.Continuity; c.Contacts != 5 || c.UPC.Value == nil || !near(*c.UPC.Value, 4.0/5) {
			t.Errorf("count once: %d contacts, UPC %v; want 5 and 4/5", c.Contacts, deref(c.UPC.Value))
		}
		gp.ok(patientContinuityQuery, vars(w.p1, map[string]any{"options": map[string]any{
			"professions": []string{"DISTRICT_NURSE"}, "usualRelationship": "NAMED_NURSE", "minContacts": 1}}), &out)
		// Only the nurse's visit counts, with the named nurse: UPC 1/1, share 1/1.
		c := out.Node.Continuity
		if c.Contacts != 1 || c.UPC.Value == nil || *c.UPC.Value != 1 || c.UsualProviderShare.Value == nil || *c.UsualProviderShare.Value != 1 {
			t.Errorf("named-nurse continuity: %+v", c)
		}
		wantNull(t, "COC with one contact", c.COC, "fewer than 2 counted contacts")
	})
	t.Run("undefined indices are null with their reason", func(t *testing.T) {
		t.Parallel()
		var out patientContinuity
		gp.ok(patientContinuityQuery, vars(w.p4, nil), &out)
		c := out.Node.Continuity
		if c.Contacts != 1 {
			t.Fatalf("p4 contacts %d, want 1", c.Contacts)
		}
		for name, ix := range map[string]cIndex{"UPC": c.UPC, "COC": c.COC, "SECON": c.SECON, "MMCI": c.MMCI, "Herfindahl": c.Herfindahl, "KnownProvider": c.KnownProvider, "UsualProviderShare": c.UsualProviderShare} {
			wantNull(t, name, ix, "fewer than 2 counted contacts")
		}
		gp.ok(patientContinuityQuery, map[string]any{"id": gid("Patient", w.p3.ID), "from": "2024-03-01T00:00:00Z", "to": "2024-04-01T00:00:00Z"}, &out)
		c = out.Node.Continuity
		if c.Contacts != 0 || c.UsualProvider != nil {
			t.Errorf("empty window: %+v", c)
		}
		wantNull(t, "UPC of no contacts", c.UPC, "no counted contacts")
		// p4 has two contacts if remote ones count? No: only one ever. With
		// minContacts 1 its UPC is defined (1) but no usual GP was in force.
		gp.ok(patientContinuityQuery, vars(w.p4, map[string]any{"options": map[string]any{"minContacts": 1}}), &out)
		c = out.Node.Continuity
		wantValue(t, "UPC with minContacts 1", c.UPC.Value, 1)
		wantNull(t, "usual share without a usual GP", c.UsualProviderShare, "no usual provider in force")
	})
	t.Run("month boundaries: 23:59:59 on the 31st is January, 00:00 on the 1st February", func(t *testing.T) {
		t.Parallel()
		var out patientContinuity
		gp.ok(patientContinuityQuery, map[string]any{"id": gid("Patient", w.p1.ID), "from": "2024-01-01T00:00:00Z", "to": "2024-02-01T00:00:00Z"}, &out)
		if c := out.Node.Continuity; c.Contacts != 3 { // A 3rd, C 10th, A 31st 23:59:59
			t.Errorf("January contacts %d, want 3", c.Contacts)
		}
		gp.ok(patientContinuityQuery, map[string]any{"id": gid("Patient", w.p1.ID), "from": "2024-02-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}, &out)
		if c := out.Node.Continuity; c.Contacts != 2 { // A 1st 00:00, A 20th
			t.Errorf("February contacts %d, want 2", c.Contacts)
		}
	})
	t.Run("the read is audited", func(t *testing.T) {
		t.Parallel()
		gp.ok(patientContinuityQuery, vars(w.p3, nil), nil)
		entries := must(w.db.AuditEntries(sysCtx, w.p3.ID)).get(t)
		found := false
		for _, e := range entries {
			if e.Entity == "Continuity" && e.Action == care.AuditRead && e.ActorID == w.gpA {
				found = true
			}
		}
		if !found {
			t.Errorf("no Continuity read by gpA in p3's audit trail: %+v", entries)
		}
	})
	t.Run("a bad window is BAD_USER_INPUT", func(t *testing.T) {
		t.Parallel()
		gp.fails(patientContinuityQuery, map[string]any{"id": gid("Patient", w.p1.ID), "from": "2024-03-01T00:00:00Z", "to": "2024-01-01T00:00:00Z"}, graph.CodeBadUserInput)
	})
}

func TestPractitionerContinuity(t *testing.T) {
	t.Parallel()
	w := newContinuityWorld(t)
	const q = `query L($id: ID!) { node(id: $id) { ... on Practitioner { continuity(from: "2024-01-01", to: "2024-03-01", indexMonths: 1) {
		month listSize slicc ` + ratioFields + ` opr ` + ratioFields + ` meanUPC ` + meanFields + ` meanCOC ` + meanFields + ` } } } }`
	var out struct{ Node struct{ Continuity []cMonth } }
	newClient(t, w.db, w.gpAActor(), graph.Limits{}).ok(q, map[string]any{"id": gid("Practitioner", w.gpA)}, &out)
	ms := out.Node.Continuity
	if len(ms) != 2 {
		t.Fatalf("%d months, want 2", len(ms))
	}
	t.Run("her list's SLICC and OPR match the practice's entries", func(t *testing.T) {
		wantRatio(t, "Jan SLICC", ms[0].Slicc, 3, 5)
		wantRatio(t, "Jan OPR", ms[0].Opr, 3, 4)
		wantRatio(t, "Feb SLICC", ms[1].Slicc, 3, 3)
		wantRatio(t, "Feb OPR", ms[1].Opr, 3, 5)
	})
	t.Run("list size and means are over her list only", func(t *testing.T) {
		// p1 all along and p2 until 15 February.
		if ms[0].ListSize != 2 || ms[1].ListSize != 2 {
			t.Errorf("list sizes %d, %d; want 2, 2", ms[0].ListSize, ms[1].ListSize)
		}
		// January: p1 UPC 2/3, p2 UPC 1/2; February: p1 1, p2 2/3 (p3, p4 not hers).
		wantValue(t, "Jan mean UPC", ms[0].MeanUPC.Value, (2.0/3+1.0/2)/2)
		wantValue(t, "Feb mean UPC", ms[1].MeanUPC.Value, (1+2.0/3)/2)
		if ms[0].MeanUPC.Eligible != 2 || ms[0].MeanUPC.Excluded != 0 {
			t.Errorf("Jan counts %+v, want 2 eligible", ms[0].MeanUPC)
		}
	})
	t.Run("another practice's GP and a nurse may not read it", func(t *testing.T) {
		for _, a := range []*care.Actor{w.gpBActor(), w.nurseActor()} {
			newClient(t, w.db, a, graph.Limits{}).fails(q, map[string]any{"id": gid("Practitioner", w.gpA)}, graph.CodeForbidden)
		}
	})
}

func TestContinuityAtRisk(t *testing.T) {
	t.Parallel()
	w := newContinuityWorld(t)
	const q = `query R($practice: ID, $practitioner: ID, $upc: Float) {
		continuityAtRisk(practiceId: $practice, practitionerId: $practitioner, minContacts: 3, upcBelow: $upc,
			window: {from: "2024-01-01T00:00:00Z", to: "2024-03-01T00:00:00Z"}) {
			totalCount patients { patient { id } contacts clinicians upc { value } reasons }
		}
	}`
	type risk struct {
		ContinuityAtRisk struct {
			TotalCount int
			Patients   []struct {
				Patient    struct{ ID string }
				Contacts   int
				Clinicians int
				UPC        struct{ Value *float64 }
				Reasons    []string
			}
		}
	}
	ids := func(r risk) []string {
		var out []string
		for _, p := range r.ContinuityAtRisk.Patients {
			out = append(out, p.Patient.ID)
		}
		return out
	}
	t.Run("practice: patients below the threshold, lowest UPC first, with the reason", func(t *testing.T) {
		t.Parallel()
		var out risk
		newClient(t, w.db, w.gpAActor(), graph.Limits{}).ok(q, map[string]any{"practice": gid("Organization", w.practiceA), "upc": 0.7}, &out)
		// Over January and February: p1 UPC 4/5 (not at risk), p2 3/5 over 5
		// contacts, p3 2/3 over 3, p4 one contact (too few to consider).
		want := []string{gid("Patient", w.p2.ID), gid("Patient", w.p3.ID)}
		if got := ids(out); !slices.Equal(got, want) || out.ContinuityAtRisk.TotalCount != 2 {
			t.Fatalf("at risk %v (total %d), want p2, p3", got, out.ContinuityAtRisk.TotalCount)
		}
		p2 := out.ContinuityAtRisk.Patients[0]
		if p2.Contacts != 5 || p2.Clinicians != 3 || !slices.Equal(p2.Reasons, []string{"UPC 0.60 is below 0.70 over 5 counted contacts"}) {
			t.Errorf("p2 = %+v", p2)
		}
	})
	t.Run("a nurse's caseload holds only her patients", func(t *testing.T) {
		t.Parallel()
		var out risk
		nurse := newClient(t, w.db, w.nurseActor(), graph.Limits{})
		nurse.ok(q, map[string]any{"practitioner": gid("Practitioner", w.nurse), "upc": 0.9}, &out)
		if got := ids(out); !slices.Equal(got, []string{gid("Patient", w.p1.ID)}) {
			t.Errorf("caseload at risk %v, want p1 only", got)
		}
		// Asking about the whole practice shows her no one else's patients.
		nurse.ok(q, map[string]any{"practice": gid("Organization", w.practiceA), "upc": 0.9}, &out)
		if got := ids(out); !slices.Equal(got, []string{gid("Patient", w.p1.ID)}) {
			t.Errorf("practice at risk through the nurse %v, want p1 only", got)
		}
	})
	t.Run("exactly one scope", func(t *testing.T) {
		t.Parallel()
		newClient(t, w.db, w.gpAActor(), graph.Limits{}).fails(q, map[string]any{"upc": 0.5}, graph.CodeBadUserInput)
	})
}

func TestContinuityAccess(t *testing.T) {
	t.Parallel()
	w := newContinuityWorld(t)
	analytics := w.actor(care.RoleIntegration, uuid.Nil, w.practiceA, care.ScopeAnalyticsRead)
	p := map[string]any{"practice": gid("Organization", w.practiceA), "k": 1}

	t.Run("a nurse cannot read continuity of a patient outside her caseload", func(t *testing.T) {
		t.Parallel()
		nurse := newClient(t, w.db, w.nurseActor(), graph.Limits{})
		v := map[string]any{"id": gid("Patient", w.p2.ID), "from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"}
		res := nurse.fails(patientContinuityQuery, v, graph.CodeNotFound)
		if string(res.Data) != "" && string(res.Data) != `{"node":null}` {
			t.Errorf("data leaked: %s", res.Data)
		}
		v["id"] = gid("Patient", w.p1.ID)
		var out patientContinuity
		nurse.ok(patientContinuityQuery, v, &out)
		if out.Node.Continuity.Contacts != 5 {
			t.Errorf("own patient p1: %d contacts, want 5", out.Node.Continuity.Contacts)
		}
	})
	t.Run("a nurse, another practice's GP and other integrations get no practice aggregates", func(t *testing.T) {
		t.Parallel()
		for name, a := range map[string]*care.Actor{
			"nurse":                   w.nurseActor(),
			"practice B GP":           w.gpBActor(),
			"patients:read only":      w.actor(care.RoleIntegration, uuid.Nil, w.practiceA, care.ScopePatientsRead),
			"analytics of practice B": w.actor(care.RoleIntegration, uuid.Nil, w.practiceB, care.ScopeAnalyticsRead),
		} {
			res := newClient(t, w.db, a, graph.Limits{}).fails(practiceSeriesQuery, p, graph.CodeForbidden)
			if res.Errors[0].code() != graph.CodeForbidden {
				t.Errorf("%s: %+v", name, res.Errors)
			}
		}
	})
	t.Run("an analytics integration reads the practice's aggregates", func(t *testing.T) {
		t.Parallel()
		months := w.series(t, newClient(t, w.db, analytics, graph.Limits{}), 1)
		wantRatio(t, "Jan practice SLICC", months[0].Slicc, 5, 7)
	})
	t.Run("an analytics integration gets no patient-level data", func(t *testing.T) {
		t.Parallel()
		c := newClient(t, w.db, analytics, graph.Limits{})
		c.fails(`query R($p: ID) { continuityAtRisk(practiceId: $p) { totalCount patients { patient { id } } } }`,
			map[string]any{"p": gid("Organization", w.practiceA)}, graph.CodeForbidden)
		c.fails(patientContinuityQuery, map[string]any{"id": gid("Patient", w.p1.ID), "from": "2024-01-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"},
			graph.CodeNotFound, graph.CodeForbidden)
		var out patientsPage
		c.ok(`{ patients(first: 100) { totalCount edges { node { id } } } }`, nil, &out)
		if out.Patients.TotalCount != 0 {
			t.Errorf("analytics integration sees %d patients", out.Patients.TotalCount)
		}
	})
}
