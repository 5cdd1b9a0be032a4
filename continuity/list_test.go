package continuity

import (
	"math"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

// assertRatio fails unless r is num/den (nil value when den is 0).
func assertRatio(t *testing.T, name string, r ListResult, num, den int) {
	t.Helper()
	if r.Numerator != num || r.Denominator != den {
		t.Errorf("%s = %d/%d, want %d/%d", name, r.Numerator, r.Denominator, num, den)
	}
	switch {
	case den == 0 && r.Value != nil:
		t.Errorf("%s value %v, want undefined", name, *r.Value)
	case den > 0 && (r.Value == nil || math.Abs(*r.Value-float64(num)/float64(den)) > 1e-12):
		t.Errorf("%s value %v, want %v", name, r.Value, float64(num)/float64(den))
	}
}

// monthPatient makes a patient on usualGP's list all month whose contacts are
// the letters of s, one a day from the 1st of March 2024.
func monthPatient(id, usualGP, s string) PatientMonth {
	p := PatientMonth{PatientID: id}
	if usualGP != "" {
		p.UsualGP = Assignments{{ProviderID: usualGP, Start: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}}
	}
	for i, r := range s {
		p.Contacts = append(p.Contacts, Contact{
			ID: id + "-" + string(rune('a'+i)), At: time.Date(2024, 3, 1+i, 10, 0, 0, 0, time.UTC),
			ProviderID: string(r), Mode: care.ModeClinic, Profession: care.ProfessionGP,
		})
	}
	return p
}

var march = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)

func TestSLICCAndOPRPublishedExample(t *testing.T) {
	// The worked example of BJGP 2023;73(731):279–282, Table 2: two list-holding
	// GPs, A and B; C, D, E are other GPs. Each letter is one appointment.
	//
	// A's list: A AA AB AAB ABC AABB AABC AAABBB AAAABBBB AAAABCDE
	//   appointments with A: 1+2+1+2+1+2+2+3+4+4 = 22; with any GP: 1+2+2+3+3+4+4+6+8+8 = 41
	//   SLICC(A) = 22/41 = 53.7%
	// B's list: B BB AC ABB ACC AABC ABBC AABBBC AAABBBBC AABBCCCC
	//   appointments with B: 1+2+0+2+0+1+2+3+4+2 = 17; with any GP: 41
	//   SLICC(B) = 17/41 = 41.5%
	// Practice SLICC = (22+17)/(41+41) = 39/82 = 47.6%
	//
	// OPR(A) = 22 own / (22 + A's with B's list: AC 1, ABB 1, ACC 1, AABC 2, ABBC 1,
	//   AABBBC 2, AAABBBBC 3, AABBCCCC 2 = 13) = 22/35 = 62.9%. (The paper prints
	//   63.9% beside the same 22/35: a slip in its arithmetic; every other figure
	//   matches.)
	// OPR(B) = 17 own / (17 + B's with A's list: AB 1, AAB 1, ABC 1, AABB 2, AABC 1, AAABBB 3, AAAABBBB 4, AAAABCDE 1 = 14) = 17/31 = 54.8%
	// Practice OPR over list-holders = (22+17)/(35+31) = 39/66 = 59.1%
	var patients []PatientMonth
	for i, s := range []string{"A", "AA", "AB", "AAB", "ABC", "AABB", "AABC", "AAABBB", "AAAABBBB", "AAAABCDE"} {
		patients = append(patients, monthPatient("a"+string(rune('0'+i)), "A", s))
	}
	for i, s := range []string{"B", "BB", "AC", "ABB", "ACC", "AABC", "ABBC", "AABBBC", "AAABBBBC", "AABBCCCC"} {
		patients = append(patients, monthPatient("b"+string(rune('0'+i)), "B", s))
	}
	t.Run("SLICC", func(t *testing.T) {
		r := SLICC(march, patients, Options{})
		if len(r.Lists) != 2 {
			t.Fatalf("lists %+v, want A and B", r.Lists)
		}
		assertRatio(t, "SLICC(A)", r.Lists[0], 22, 41)
		assertRatio(t, "SLICC(B)", r.Lists[1], 17, 41)
		assertRatio(t, "SLICC(practice)", r.Practice, 39, 82)
		if math.Round(*r.Practice.Value*1000)/10 != 47.6 {
			t.Errorf("practice SLICC %.4f, published 47.6%%", *r.Practice.Value)
		}
	})
	t.Run("OPR", func(t *testing.T) {
		r := OwnPatientRatio(march, patients, Options{})
		if len(r.GPs) != 2 || r.GPs[0].GP != "A" || r.GPs[1].GP != "B" {
			t.Fatalf("GPs %+v, want A and B (C, D, E hold no list)", r.GPs)
		}
		assertRatio(t, "OPR(A)", r.GPs[0], 22, 35)
		assertRatio(t, "OPR(B)", r.GPs[1], 17, 31)
		assertRatio(t, "OPR(practice)", r.Practice, 39, 66)
		if math.Round(*r.Practice.Value*1000)/10 != 59.1 {
			t.Errorf("practice OPR %.4f, published 59.1%%", *r.Practice.Value)
		}
	})
}

func TestSLICCSmallPractice(t *testing.T) {
	d := func(day int) time.Time { return time.Date(2024, 3, day, 10, 0, 0, 0, time.UTC) }
	c := func(id, gp string, at time.Time) Contact {
		return Contact{ID: id, At: at, ProviderID: gp, Mode: care.ModeClinic, Profession: care.ProfessionGP}
	}
	since := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	mar15 := time.Date(2024, 3, 15, 0, 0, 0, 0, time.UTC)
	phone := c("p2-phone", "G1", d(7))
	phone.Mode = care.ModePhone
	patients := []PatientMonth{
		// P1 on G1's list: G1, G1, locum L; plus an April contact that is not March's
		{PatientID: "P1", UsualGP: Assignments{{ProviderID: "G1", Start: since}},
			Contacts: []Contact{c("1", "G1", d(3)), c("2", "G1", d(10)), c("3", "L", d(17)), c("4", "G1", time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC))}},
		// P2 on G2's list: G1, G2, and a phone call with G1 that does not count
		{PatientID: "P2", UsualGP: Assignments{{ProviderID: "G2", Start: since}},
			Contacts: []Contact{c("5", "G1", d(5)), c("6", "G2", d(12)), phone}},
		// P3 has no usual GP: G2
		{PatientID: "P3", Contacts: []Contact{c("7", "G2", d(6))}},
		// P4 moves from G1's list to G2's on 15 March; sees G1 on the 4th and the 20th
		{PatientID: "P4", UsualGP: Assignments{{ProviderID: "G1", Start: since, End: mar15}, {ProviderID: "G2", Start: mar15}},
			Contacts: []Contact{c("8", "G1", d(4)), c("9", "G1", d(20))}},
		// P5 on G3's list, not seen this month
		{PatientID: "P5", UsualGP: Assignments{{ProviderID: "G3", Start: since}}},
		// P6 left G4's list in February: G4 holds no list in March
		{PatientID: "P6", UsualGP: Assignments{{ProviderID: "G4", Start: since, End: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)}}},
	}
	t.Run("SLICC", func(t *testing.T) {
		// G1's list: P1 G1,G1,L (2 of 3) + P4 on the 4th, G1 (1 of 1) → 3/4
		// G2's list: P2 G1,G2 (1 of 2) + P4 on the 20th, G1 (0 of 1) → 1/3
		// G3's list: nobody seen → 0/0, undefined
		// practice: (3+1+0)/(4+3+0) = 4/7; P3's contact is unassigned
		r := SLICC(d(20), patients, Options{})
		if !r.Month.Equal(march) {
			t.Errorf("month %v", r.Month)
		}
		if len(r.Lists) != 3 {
			t.Fatalf("lists %+v, want G1, G2, G3", r.Lists)
		}
		for i, gp := range []string{"G1", "G2", "G3"} {
			if r.Lists[i].GP != gp {
				t.Errorf("list %d is %q, want %q", i, r.Lists[i].GP, gp)
			}
		}
		assertRatio(t, "SLICC(G1)", r.Lists[0], 3, 4)
		assertRatio(t, "SLICC(G2)", r.Lists[1], 1, 3)
		assertRatio(t, "SLICC(G3)", r.Lists[2], 0, 0)
		assertRatio(t, "SLICC(practice)", r.Practice, 4, 7)
		if r.Unassigned != 1 {
			t.Errorf("unassigned %d, want 1", r.Unassigned)
		}
	})
	t.Run("OPR", func(t *testing.T) {
		// G1 saw P1 twice (own), P2 (not own), P4 on the 4th (own), P4 on the 20th
		// (not own: G2's by then) → 3/5
		// G2 saw P2 (own) and P3 (no usual GP: not own) → 1/2
		// G3 saw nobody → undefined; the locum holds no list and has no OPR
		// practice: (3+1+0)/(5+2+0) = 4/7
		r := OwnPatientRatio(d(1), patients, Options{})
		if len(r.GPs) != 3 {
			t.Fatalf("GPs %+v, want G1, G2, G3", r.GPs)
		}
		assertRatio(t, "OPR(G1)", r.GPs[0], 3, 5)
		assertRatio(t, "OPR(G2)", r.GPs[1], 1, 2)
		assertRatio(t, "OPR(G3)", r.GPs[2], 0, 0)
		assertRatio(t, "OPR(practice)", r.Practice, 4, 7)
	})
	t.Run("unknown clinician counted as distinct", func(t *testing.T) {
		// add an unknown-clinician contact for P1: G1's list becomes 3/5; OPR unchanged
		ps := append([]PatientMonth{}, patients...)
		ps[0].Contacts = append(append([]Contact{}, ps[0].Contacts...), c("u", "", d(25)))
		r := SLICC(march, ps, Options{UnknownProvider: CountAsDistinct})
		assertRatio(t, "SLICC(G1)", r.Lists[0], 3, 5)
		o := OwnPatientRatio(march, ps, Options{UnknownProvider: CountAsDistinct})
		assertRatio(t, "OPR(G1)", o.GPs[0], 3, 5)
		// excluded by default: back to 3/4
		assertRatio(t, "SLICC(G1) default", SLICC(march, ps, Options{}).Lists[0], 3, 4)
	})
	t.Run("empty month", func(t *testing.T) {
		r := SLICC(march, nil, Options{})
		if len(r.Lists) != 0 || r.Practice.Value != nil || r.Practice.Denominator != 0 {
			t.Errorf("got %+v", r)
		}
	})
}

func TestAssignmentsFrom(t *testing.T) {
	id := func(s string) *uuid.UUID { u := uuid.NewSHA1(uuid.NameSpaceOID, []byte(s)); return &u }
	at := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	ptr := func(t time.Time) *time.Time { return &t }
	old, cur, prop, lost, nurse := id("old"), id("cur"), id("prop"), id("lost"), id("nurse")
	rels := []care.CareRelationship{
		{Kind: care.KindUsualGP, Status: care.RelationshipEnded, PractitionerID: old, PeriodStart: at(2024, 1, 1), PeriodEnd: ptr(at(2024, 2, 15))},
		{Kind: care.KindUsualGP, Status: care.RelationshipActive, PractitionerID: cur, PeriodStart: at(2024, 2, 15)},
		{Kind: care.KindUsualGP, Status: care.RelationshipProposed, PractitionerID: prop, PeriodStart: at(2023, 1, 1)},
		{Kind: care.KindUsualGP, Status: care.RelationshipEnded, PractitionerID: lost, PeriodStart: at(2023, 1, 1)},
		{Kind: care.KindNamedNurse, Status: care.RelationshipActive, PractitionerID: nurse, PeriodStart: at(2023, 1, 1)},
		{Kind: care.KindUsualGP, Status: care.RelationshipActive, PeriodStart: at(2023, 1, 1)}, // a team, not a practitioner
	}
	as := AssignmentsFrom(rels, care.KindUsualGP)
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"before any", at(2023, 6, 1), ""},
		{"ended relationship in force then", at(2024, 1, 10), old.String()},
		{"end is exclusive", at(2024, 2, 15), cur.String()},
		{"active relationship", at(2025, 1, 1), cur.String()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := as.At(tc.at); got != tc.want {
				t.Errorf("At(%v) = %q, want %q", tc.at, got, tc.want)
			}
		})
	}
	t.Run("overlap: latest start wins", func(t *testing.T) {
		ov := Assignments{{ProviderID: "X", Start: at(2024, 1, 1)}, {ProviderID: "Y", Start: at(2024, 3, 1)}}
		if got := ov.At(at(2024, 4, 1)); got != "Y" {
			t.Errorf("At = %q, want Y", got)
		}
	})
	if n := len(AssignmentsFrom(rels, care.KindNamedNurse)); n != 1 {
		t.Errorf("named-nurse assignments %d, want 1", n)
	}
}

func TestSLICCMonthBoundaries(t *testing.T) {
	c := func(id string, at time.Time) Contact {
		return Contact{ID: id, At: at, ProviderID: "G1", Mode: care.ModeClinic, Profession: care.ProfessionGP}
	}
	p := PatientMonth{PatientID: "P", UsualGP: Assignments{{ProviderID: "G1", Start: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)}},
		Contacts: []Contact{
			c("feb-last", time.Date(2024, 2, 29, 23, 59, 59, 0, time.UTC)), // February: out
			c("mar-first", time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)),    // March: in
			c("mar-last", time.Date(2024, 3, 31, 23, 59, 59, 0, time.UTC)), // March: in
			c("apr-first", time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC)),    // April: out
		}}
	assertRatio(t, "SLICC(March)", SLICC(march, []PatientMonth{p}, Options{}).Practice, 2, 2)
	assertRatio(t, "SLICC(April)", SLICC(time.Date(2024, 4, 30, 0, 0, 0, 0, time.UTC), []PatientMonth{p}, Options{}).Practice, 1, 1)
}
