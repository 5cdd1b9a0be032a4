package continuity

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
)

// undef marks an expected undefined (nil) value in the tables.
var undef = math.NaN()

var base = time.Date(2024, 1, 1, 10, 0, 0, 0, time.UTC)

// seq builds face-to-face GP contacts from a string, one letter a contact, one
// UTC day apart (so CountOnce never merges them): "ABA" is A, then B, then A.
// '?' is a contact with an unknown clinician.
func seq(s string) []Contact {
	cs := make([]Contact, 0, len(s))
	for i, r := range s {
		c := Contact{
			ID:         fmt.Sprintf("c%03d", i),
			At:         base.AddDate(0, 0, i),
			ProviderID: string(r),
			Mode:       care.ModeClinic,
			Profession: care.ProfessionGP,
		}
		if r == '?' {
			c.ProviderID = ""
		}
		cs = append(cs, c)
	}
	return cs
}

// assertValue fails unless got matches want (NaN meaning nil) to 1e-12.
func assertValue(t *testing.T, name string, got Result, want float64) {
	t.Helper()
	switch {
	case math.IsNaN(want) && got.Value != nil:
		t.Errorf("%s = %v, want undefined", name, *got.Value)
	case math.IsNaN(want) && got.Reason == "":
		t.Errorf("%s undefined without a reason", name)
	case !math.IsNaN(want) && got.Value == nil:
		t.Errorf("%s undefined (%q), want %v", name, got.Reason, want)
	case !math.IsNaN(want) && math.Abs(*got.Value-want) > 1e-12:
		t.Errorf("%s = %.15f, want %.15f", name, *got.Value, want)
	case !math.IsNaN(want) && got.Reason != "":
		t.Errorf("%s defined with a reason %q", name, got.Reason)
	}
}

func TestPatientIndices(t *testing.T) {
	tests := []struct {
		name                       string
		contacts                   []Contact
		opts                       Options
		upc, coc, secon, mmci, hhi float64
		n, providers               int
		reason                     string // expected reason for the undefined ones, if any
	}{
		{
			// counts A=3, B=1, C=1; N=5, s=3
			// UPC   = 3/5 = 0.6
			// COC   = (3²+1²+1² − 5) / (5·4) = (9+1+1−5)/20 = 6/20 = 0.3
			// SECON = pairs AA,AB,BA,AC → 1+0+0+0 = 1, over N−1 = 4 → 0.25
			// MMCI  = (1 − 3/5.1) / (1 − 1/5.1) = (2.1/5.1)/(4.1/5.1) = 2.1/4.1 = 21/41
			// H     = 0.6² + 0.2² + 0.2² = 0.36+0.04+0.04 = 0.44
			name: "A,A,B,A,C", contacts: seq("AABAC"),
			upc: 0.6, coc: 0.3, secon: 0.25, mmci: 21.0 / 41, hhi: 0.44, n: 5, providers: 3,
		},
		{
			// A=1, B=1; N=2, s=2
			// UPC = 1/2; COC = (1+1−2)/(2·1) = 0; SECON = AB → 0/1 = 0
			// MMCI = (2−2+0.1)/(2−0.9) = 0.1/1.1 = 1/11; H = 0.25+0.25 = 0.5
			name: "tie A,B", contacts: seq("AB"),
			upc: 0.5, coc: 0, secon: 0, mmci: 1.0 / 11, hhi: 0.5, n: 2, providers: 2,
		},
		{
			// one contact: no index says anything with N=1 under the default minimum of 2
			name: "single contact", contacts: seq("A"),
			upc: undef, coc: undef, secon: undef, mmci: undef, hhi: undef, n: 1, providers: 1,
			reason: "fewer than 2 counted contacts",
		},
		{
			name: "zero contacts", contacts: nil,
			upc: undef, coc: undef, secon: undef, mmci: undef, hhi: undef,
			reason: ReasonNoContacts,
		},
		{
			// A=2, B=2; N=4, s=2
			// UPC = 2/4 = 0.5; COC = (4+4−4)/(4·3) = 4/12 = 1/3
			// SECON = AB,BA,AB → 0/3 = 0
			// MMCI = (4−2+0.1)/(4−0.9) = 2.1/3.1 = 21/31; H = 0.25+0.25 = 0.5
			name: "alternation A,B,A,B", contacts: seq("ABAB"),
			upc: 0.5, coc: 1.0 / 3, secon: 0, mmci: 21.0 / 31, hhi: 0.5, n: 4, providers: 2,
		},
		{
			// A=4; N=4, s=1
			// UPC = 4/4 = 1; COC = (16−4)/12 = 1; SECON = 3/3 = 1
			// MMCI = (4−1+0.1)/(4−0.9) = 3.1/3.1 = 1; H = 1
			name: "all same A,A,A,A", contacts: seq("AAAA"),
			upc: 1, coc: 1, secon: 1, mmci: 1, hhi: 1, n: 4, providers: 1,
		},
		{
			// MinContacts 1 lets UPC and H speak for one contact (both 1) but COC,
			// SECON and MMCI still need two by definition.
			name: "single contact with MinContacts 1", contacts: seq("A"), opts: Options{MinContacts: 1},
			upc: 1, coc: undef, secon: undef, mmci: undef, hhi: 1, n: 1, providers: 1,
		},
		{
			// MinContacts 3 makes a 2-contact sequence undefined everywhere.
			name: "MinContacts 3 with two contacts", contacts: seq("AA"), opts: Options{MinContacts: 3},
			upc: undef, coc: undef, secon: undef, mmci: undef, hhi: undef, n: 2, providers: 1,
			reason: "fewer than 3 counted contacts",
		},
		{
			// A,?,A,? with unknowns excluded (default) is A,A:
			// UPC 1, COC (4−2)/2 = 1, SECON 1/1, MMCI (2−1+0.1)/1.1 = 1, H 1
			name: "unknown clinicians excluded", contacts: seq("A?A?"),
			upc: 1, coc: 1, secon: 1, mmci: 1, hhi: 1, n: 2, providers: 1,
		},
		{
			// A,X1,A,X2 with each unknown a distinct clinician: A=2, X1=1, X2=1; N=4, s=3
			// UPC = 2/4 = 0.5; COC = (4+1+1−4)/12 = 2/12 = 1/6
			// SECON = AX1,X1A,AX2 → 0/3 = 0
			// MMCI = (4−3+0.1)/(4−0.9) = 1.1/3.1 = 11/31
			// H = 0.25 + 0.0625 + 0.0625 = 0.375
			name: "unknown clinicians counted as distinct", contacts: seq("A?A?"),
			opts: Options{UnknownProvider: CountAsDistinct},
			upc:  0.5, coc: 1.0 / 6, secon: 0, mmci: 11.0 / 31, hhi: 0.375, n: 4, providers: 3,
		},
		{
			// two adjacent unknowns are two different clinicians: X1,X2
			// UPC 1/2, COC (1+1−2)/2 = 0, SECON 0/1 = 0, MMCI 0.1/1.1, H 0.5
			name: "adjacent unknowns never continue a sequence", contacts: seq("??"),
			opts: Options{UnknownProvider: CountAsDistinct},
			upc:  0.5, coc: 0, secon: 0, mmci: 1.0 / 11, hhi: 0.5, n: 2, providers: 2,
		},
		{
			// all unknown and excluded: nothing counts
			name: "only unknown clinicians excluded", contacts: seq("???"),
			upc: undef, coc: undef, secon: undef, mmci: undef, hhi: undef,
			reason: ReasonNoContacts,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := PatientIndices(tt.contacts, nil, nil, tt.opts)
			assertValue(t, "UPC", s.UPC, tt.upc)
			assertValue(t, "COC", s.COC, tt.coc)
			assertValue(t, "SECON", s.SECON, tt.secon)
			assertValue(t, "MMCI", s.MMCI, tt.mmci)
			assertValue(t, "Herfindahl", s.Herfindahl, tt.hhi)
			for name, r := range map[string]Result{"UPC": s.UPC, "COC": s.COC, "SECON": s.SECON, "MMCI": s.MMCI, "Herfindahl": s.Herfindahl} {
				if r.Contacts != tt.n || r.Providers != tt.providers {
					t.Errorf("%s counted %d contacts, %d providers; want %d, %d", name, r.Contacts, r.Providers, tt.n, tt.providers)
				}
				if r.Value == nil && tt.reason != "" && r.Reason != tt.reason {
					t.Errorf("%s reason %q, want %q", name, r.Reason, tt.reason)
				}
			}
		})
	}
}

func TestMMCIPublishedForm(t *testing.T) {
	// The implementation uses (N − s + 0.1)/(N − 0.9); check it against the
	// published (1 − s/(N+0.1)) / (1 − 1/(N+0.1)) for every s ≤ N ≤ 12.
	for n := 2; n <= 12; n++ {
		for k := 1; k <= n; k++ {
			s := make([]byte, n)
			for i := range s {
				s[i] = 'A' + byte(min(i, k-1))
			}
			got := MMCI(seq(string(s)), Options{})
			want := (1 - float64(k)/(float64(n)+0.1)) / (1 - 1/(float64(n)+0.1))
			assertValue(t, fmt.Sprintf("MMCI(N=%d,s=%d)", n, k), got, want)
		}
	}
}

func TestFilterModes(t *testing.T) {
	cs := seq("AABA")
	// A clinic, A phone, B clinic, A home visit, then A by message
	cs[1].Mode = care.ModePhone
	cs[3].Mode = care.ModeHomeVisit
	msg := Contact{ID: "m", At: base.AddDate(0, 0, 10), ProviderID: "A", Mode: care.ModeMessage, Profession: care.ProfessionGP}
	cs = append(cs, msg)

	t.Run("phone and message excluded by default", func(t *testing.T) {
		// counted: A(clinic), B, A(home) → UPC 2/3; SECON AB,BA → 0
		assertValue(t, "UPC", UPC(cs, DefaultOptions()), 2.0/3)
		assertValue(t, "SECON", SECON(cs, DefaultOptions()), 0)
		if got := len(Filter(cs, DefaultOptions())); got != 3 {
			t.Errorf("Filter kept %d contacts, want 3", got)
		}
	})
	t.Run("FaceToFaceAndRemote counts phone but not message", func(t *testing.T) {
		o := DefaultOptions()
		o.Modes = FaceToFaceAndRemote()
		// counted: A, A(phone), B, A(home) → UPC 3/4; SECON AA,AB,BA → 1/3
		assertValue(t, "UPC", UPC(cs, o), 0.75)
		assertValue(t, "SECON", SECON(cs, o), 1.0/3)
	})
	t.Run("zero Options equal DefaultOptions", func(t *testing.T) {
		a, b := Filter(cs, Options{}), Filter(cs, DefaultOptions())
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("zero options kept %v, defaults kept %v", a, b)
		}
	})
}

func TestFilterProfessions(t *testing.T) {
	cs := seq("ANA")
	cs[1].Profession = care.ProfessionDistrictNurse
	t.Run("GP only by default", func(t *testing.T) {
		// counted: A, A → UPC 1, SECON 1
		assertValue(t, "UPC", UPC(cs, Options{}), 1)
		assertValue(t, "SECON", SECON(cs, Options{}), 1)
	})
	t.Run("GP and district nurse", func(t *testing.T) {
		o := Options{Professions: []care.Profession{care.ProfessionGP, care.ProfessionDistrictNurse}}
		// counted: A, N, A → UPC 2/3; SECON AN,NA → 0; COC (4+1−3)/6 = 1/3
		assertValue(t, "UPC", UPC(cs, o), 2.0/3)
		assertValue(t, "SECON", SECON(cs, o), 0)
		assertValue(t, "COC", COC(cs, o), 1.0/3)
	})
	t.Run("nurses only", func(t *testing.T) {
		o := Options{Professions: []care.Profession{care.ProfessionDistrictNurse}}
		r := UPC(cs, o)
		assertValue(t, "UPC", r, undef)
		if r.Reason != "fewer than 2 counted contacts" {
			t.Errorf("reason %q", r.Reason)
		}
	})
}

func TestSameDay(t *testing.T) {
	day := time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	cs := []Contact{
		{ID: "1", At: day.Add(9 * time.Hour), ProviderID: "A"},
		{ID: "2", At: day.Add(11 * time.Hour), ProviderID: "A"}, // same day, same GP
		{ID: "3", At: day.Add(11 * time.Hour), ProviderID: "B"}, // same day, other GP: always counts
		{ID: "4", At: day.Add(34 * time.Hour), ProviderID: "A"}, // next day
	}
	for i := range cs {
		cs[i].Mode, cs[i].Profession = care.ModeClinic, care.ProfessionGP
	}
	t.Run("CountOnce merges same GP same day", func(t *testing.T) {
		// counted: A(1), B(3), A(4) → N=3
		// SECON AB,BA → 0/2 = 0; COC (4+1−3)/(3·2) = 2/6 = 1/3; UPC 2/3
		o := Options{SameDay: CountOnce}
		got := Filter(cs, o)
		if len(got) != 3 || got[0].ID != "1" || got[1].ID != "3" || got[2].ID != "4" {
			t.Fatalf("kept %v, want contacts 1, 3, 4", got)
		}
		assertValue(t, "SECON", SECON(cs, o), 0)
		assertValue(t, "COC", COC(cs, o), 1.0/3)
		assertValue(t, "UPC", UPC(cs, o), 2.0/3)
	})
	t.Run("CountEach counts every contact", func(t *testing.T) {
		// counted: A(1), A(2), B(3), A(4) → N=4
		// ordered by time then ID: 2 and 3 share 11:00, "2" < "3"
		// SECON AA,AB,BA → 1/3; COC (9+1−4)/(4·3) = 6/12 = 0.5; UPC 3/4
		o := Options{SameDay: CountEach}
		assertValue(t, "SECON", SECON(cs, o), 1.0/3)
		assertValue(t, "COC", COC(cs, o), 0.5)
		assertValue(t, "UPC", UPC(cs, o), 0.75)
	})
	t.Run("days are UTC days", func(t *testing.T) {
		// 23:30 UTC and 00:30 UTC the next day are two days: both count.
		two := []Contact{
			{ID: "x", At: time.Date(2024, 3, 4, 23, 30, 0, 0, time.UTC), ProviderID: "A", Mode: care.ModeClinic, Profession: care.ProfessionGP},
			{ID: "y", At: time.Date(2024, 3, 5, 0, 30, 0, 0, time.UTC), ProviderID: "A", Mode: care.ModeClinic, Profession: care.ProfessionGP},
		}
		if got := len(Filter(two, Options{})); got != 2 {
			t.Errorf("kept %d, want 2", got)
		}
		// 00:30+01:00 on 5 March is 23:30 UTC on 4 March: same UTC day as 22:00 UTC.
		loc := time.FixedZone("CET", 3600)
		same := []Contact{
			{ID: "x", At: time.Date(2024, 3, 4, 22, 0, 0, 0, time.UTC), ProviderID: "A", Mode: care.ModeClinic, Profession: care.ProfessionGP},
			{ID: "y", At: time.Date(2024, 3, 5, 0, 30, 0, 0, loc), ProviderID: "A", Mode: care.ModeClinic, Profession: care.ProfessionGP},
		}
		if got := len(Filter(same, Options{})); got != 1 {
			t.Errorf("kept %d, want 1", got)
		}
	})
	t.Run("unknown clinicians never merged", func(t *testing.T) {
		unk := []Contact{
			{ID: "1", At: day.Add(9 * time.Hour), Mode: care.ModeClinic, Profession: care.ProfessionGP},
			{ID: "2", At: day.Add(10 * time.Hour), Mode: care.ModeClinic, Profession: care.ProfessionGP},
		}
		if got := len(Filter(unk, Options{UnknownProvider: CountAsDistinct})); got != 2 {
			t.Errorf("kept %d, want 2", got)
		}
	})
}

func TestSECONOrder(t *testing.T) {
	at := base
	mk := func(id, provider string, t time.Time) Contact {
		return Contact{ID: id, At: t, ProviderID: provider, Mode: care.ModeClinic, Profession: care.ProfessionGP}
	}
	t.Run("equal timestamps ordered by ID", func(t *testing.T) {
		// "a"(A) and "b"(B) share a timestamp; "c"(A) is a day later.
		// order a,b,c = A,B,A → SECON AB,BA = 0/2 = 0, whatever the input order
		cs := []Contact{mk("b", "B", at), mk("c", "A", at.AddDate(0, 0, 1)), mk("a", "A", at)}
		assertValue(t, "SECON", SECON(cs, Options{}), 0)
		rev := []Contact{cs[2], cs[1], cs[0]}
		assertValue(t, "SECON reversed input", SECON(rev, Options{}), 0)
	})
	t.Run("swapping the IDs changes the sequence", func(t *testing.T) {
		// now "a" is B and "b" is A: order B,A,A → SECON BA,AA = 1/2
		cs := []Contact{mk("b", "A", at), mk("c", "A", at.AddDate(0, 0, 1)), mk("a", "B", at)}
		assertValue(t, "SECON", SECON(cs, Options{}), 0.5)
	})
	t.Run("time beats input order", func(t *testing.T) {
		// input C,B,A in reverse time; sequence by time is A(day0),A(day1),B(day2)
		cs := []Contact{mk("z", "B", at.AddDate(0, 0, 2)), mk("y", "A", at.AddDate(0, 0, 1)), mk("x", "A", at)}
		// SECON AA,AB = 1/2
		assertValue(t, "SECON", SECON(cs, Options{}), 0.5)
	})
}

func TestUsualProviderShare(t *testing.T) {
	feb15 := time.Date(2024, 2, 15, 0, 0, 0, 0, time.UTC)
	usual := Assignments{
		{ProviderID: "G1", Start: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), End: feb15},
		{ProviderID: "G2", Start: feb15},
	}
	mk := func(id, provider string, t time.Time) Contact {
		return Contact{ID: id, At: t, ProviderID: provider, Mode: care.ModeClinic, Profession: care.ProfessionGP}
	}
	cs := []Contact{
		mk("0", "G1", time.Date(2023, 12, 20, 10, 0, 0, 0, time.UTC)), // no usual GP yet: not judged
		mk("1", "G1", time.Date(2024, 1, 10, 10, 0, 0, 0, time.UTC)),  // usual G1: with
		mk("2", "G1", time.Date(2024, 1, 20, 10, 0, 0, 0, time.UTC)),  // usual G1: with
		mk("3", "G2", time.Date(2024, 2, 20, 10, 0, 0, 0, time.UTC)),  // usual G2: with
		mk("4", "G1", time.Date(2024, 2, 25, 10, 0, 0, 0, time.UTC)),  // usual G2: not with
	}
	t.Run("usual GP changing mid-window", func(t *testing.T) {
		// judged 4 contacts, 3 with the GP in force then → 3/4
		r := UsualProviderShare(cs, usual.At, Options{})
		assertValue(t, "share", r, 0.75)
		if r.Contacts != 4 || r.Providers != 2 {
			t.Errorf("counted %d contacts, %d providers; want 4, 2", r.Contacts, r.Providers)
		}
	})
	t.Run("today's usual GP would give another answer", func(t *testing.T) {
		// all five judged against G2: only contact 3 → 1/5
		r := UsualProviderShare(cs, func(time.Time) string { return "G2" }, Options{})
		assertValue(t, "share", r, 0.2)
	})
	t.Run("no usual GP", func(t *testing.T) {
		r := UsualProviderShare(cs, nil, Options{})
		assertValue(t, "share", r, undef)
		if r.Reason != ReasonNoUsualProvider {
			t.Errorf("reason %q", r.Reason)
		}
	})
	t.Run("too few judged", func(t *testing.T) {
		// only contact 0 and 1 count; only 1 is judged
		r := UsualProviderShare(cs[:2], usual.At, Options{})
		assertValue(t, "share", r, undef)
		if r.Reason != "fewer than 2 counted contacts with a usual provider in force" {
			t.Errorf("reason %q", r.Reason)
		}
	})
	t.Run("unknown clinician never matches", func(t *testing.T) {
		u := append([]Contact{}, cs[1:3]...)
		u = append(u, mk("5", "", time.Date(2024, 1, 25, 10, 0, 0, 0, time.UTC)))
		// G1, G1, unknown; all under usual G1 → 2/3
		assertValue(t, "share", UsualProviderShare(u, usual.At, Options{UnknownProvider: CountAsDistinct}), 2.0/3)
	})
}

func TestKnownProvider(t *testing.T) {
	mk := func(id, provider string, t time.Time, mode care.InteractionMode) Contact {
		return Contact{ID: id, At: t, ProviderID: provider, Mode: mode, Profession: care.ProfessionGP}
	}
	d := func(m time.Month, day int) time.Time { return time.Date(2024, m, day, 10, 0, 0, 0, time.UTC) }
	window := []Contact{
		mk("1", "A", d(1, 5), care.ModeClinic),
		mk("2", "B", d(1, 10), care.ModeClinic),
		mk("3", "B", d(1, 20), care.ModeClinic),
		mk("4", "C", d(1, 25), care.ModeClinic),
		mk("5", "A", d(1, 28), care.ModeClinic),
	}
	history := []Contact{mk("h1", "A", time.Date(2023, 12, 1, 10, 0, 0, 0, time.UTC), care.ModeClinic)}
	t.Run("with history", func(t *testing.T) {
		// A known (history), B new, B known, C new, A known → 3/5
		assertValue(t, "KPC", KnownProvider(window, history, Options{}), 0.6)
	})
	t.Run("without history", func(t *testing.T) {
		// A new, B new, B known, C new, A known → 2/5
		assertValue(t, "KPC", KnownProvider(window, nil, Options{}), 0.4)
	})
	t.Run("history filtered like the window", func(t *testing.T) {
		// a phone contact does not count, so A on 5 Jan is new → 2/5
		h := []Contact{mk("h1", "A", time.Date(2023, 12, 1, 10, 0, 0, 0, time.UTC), care.ModePhone)}
		assertValue(t, "KPC", KnownProvider(window, h, Options{}), 0.4)
	})
	t.Run("history copy of a window contact is ignored", func(t *testing.T) {
		// history carries contact 4 (C) again, shifted earlier by a bad copy:
		// it must not make C known → 2/5
		h := []Contact{mk("4", "C", d(1, 1), care.ModeClinic)}
		assertValue(t, "KPC", KnownProvider(window, h, Options{}), 0.4)
	})
	t.Run("same instant is not before", func(t *testing.T) {
		same := []Contact{mk("a", "A", d(2, 1), care.ModeClinic), mk("b", "A", d(2, 1), care.ModeClinic)}
		// CountEach keeps both; neither was seen strictly before → 0/2
		assertValue(t, "KPC", KnownProvider(same, nil, Options{SameDay: CountEach}), 0)
	})
	t.Run("unknown clinicians are never known", func(t *testing.T) {
		u := []Contact{mk("a", "", d(2, 1), care.ModeClinic), mk("b", "", d(2, 2), care.ModeClinic), mk("c", "A", d(2, 3), care.ModeClinic)}
		h := []Contact{mk("h", "A", d(1, 1), care.ModeClinic)}
		// ?, ?, A(known) → 1/3
		assertValue(t, "KPC", KnownProvider(u, h, Options{UnknownProvider: CountAsDistinct}), 1.0/3)
	})
	t.Run("one contact is undefined by default", func(t *testing.T) {
		assertValue(t, "KPC", KnownProvider(window[:1], history, Options{}), undef)
	})
}

func TestUsualProvider(t *testing.T) {
	tests := []struct {
		name     string
		contacts []Contact
		opts     Options
		want     string
		ok       bool
	}{
		{"most seen", seq("AAB"), Options{}, "A", true},
		{"tie broken by most recent contact", seq("ABAB"), Options{}, "B", true},
		{"tie broken by most recent contact, other way", seq("BABA"), Options{}, "A", true},
		{"unknowns never chosen", seq("???A"), Options{UnknownProvider: CountAsDistinct}, "A", true},
		{"only unknowns", seq("??"), Options{UnknownProvider: CountAsDistinct}, "", false},
		{"no contacts", nil, Options{}, "", false},
		{"one contact is enough", seq("C"), Options{}, "C", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := UsualProvider(tt.contacts, tt.opts)
			if got != tt.want || ok != tt.ok {
				t.Errorf("UsualProvider = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
	t.Run("tie at the same instant broken by provider ID", func(t *testing.T) {
		cs := []Contact{
			{ID: "1", At: base, ProviderID: "Z", Mode: care.ModeClinic, Profession: care.ProfessionGP},
			{ID: "2", At: base, ProviderID: "M", Mode: care.ModeClinic, Profession: care.ProfessionGP},
		}
		if got, _ := UsualProvider(cs, Options{}); got != "M" {
			t.Errorf("UsualProvider = %q, want M", got)
		}
	})
}

func TestPatientIndicesBundle(t *testing.T) {
	cs := seq("AABAC")
	usual := func(time.Time) string { return "A" }
	s := PatientIndices(cs, usual, nil, Options{})
	assertValue(t, "UPC", s.UPC, 0.6)
	// usual A in force throughout: 3 of 5
	assertValue(t, "UsualProviderShare", s.UsualProviderShare, 0.6)
	// A new, A known, B new, A known, C new → 2/5
	assertValue(t, "KnownProvider", s.KnownProvider, 0.4)
	if s.UsualProvider != "A" || !s.HasUsualProvider {
		t.Errorf("UsualProvider = %q, %v", s.UsualProvider, s.HasUsualProvider)
	}
}

func TestFromInteraction(t *testing.T) {
	in := care.Interaction{Mode: care.ModeHomeVisit, OccurredAt: base}
	c := FromInteraction(in, care.ProfessionDistrictNurse)
	if c.ProviderID != "" || c.Mode != care.ModeHomeVisit || !c.At.Equal(base) || c.Profession != care.ProfessionDistrictNurse {
		t.Errorf("FromInteraction = %+v", c)
	}
}

func TestMeanIndex(t *testing.T) {
	// GP A's list from the worked example in BJGP 2023;73(731):279–282, Table 2.
	// UPC per patient: A → undefined; AA 1; AB 1/2; AAB 2/3; ABC 1/3; AABB 1/2;
	// AABC 1/2; AAABBB 1/2; AAAABBBB 1/2; AAAABCDE 1/2.
	// Sum of the nine defined = 1 + 0.5 + 2/3 + 1/3 + 5·0.5 = 5 → mean 5/9 ≈ 0.56.
	// COC per patient: AA 1; AB 0; AAB (4+1−3)/6 = 1/3; ABC 0; AABB (4+4−4)/12 = 1/3;
	// AABC (4+1+1−4)/12 = 1/6; AAABBB (9+9−6)/30 = 2/5; AAAABBBB (16+16−8)/56 = 3/7;
	// AAAABCDE (16+1+1+1+1−8)/56 = 3/14. Sum = 604/210 → mean 604/1890 ≈ 0.32.
	list := []string{"A", "AA", "AB", "AAB", "ABC", "AABB", "AABC", "AAABBB", "AAAABBBB", "AAAABCDE"}
	var upc, coc []Result
	for _, p := range list {
		upc = append(upc, UPC(seq(p), Options{}))
		coc = append(coc, COC(seq(p), Options{}))
	}
	for _, tc := range []struct {
		name string
		rs   []Result
		want float64
	}{{"UPC", upc, 5.0 / 9}, {"COC", coc, 604.0 / 1890}} {
		t.Run(tc.name, func(t *testing.T) {
			m := MeanIndex(tc.rs)
			if m.Value == nil || math.Abs(*m.Value-tc.want) > 1e-12 {
				t.Fatalf("mean = %v, want %v", m.Value, tc.want)
			}
			if m.Eligible != 9 || m.Excluded != 1 || m.Reasons["fewer than 2 counted contacts"] != 1 || len(m.Reasons) != 1 {
				t.Errorf("eligible %d excluded %d reasons %v", m.Eligible, m.Excluded, m.Reasons)
			}
		})
	}
	t.Run("nothing defined", func(t *testing.T) {
		m := MeanIndex([]Result{UPC(nil, Options{}), UPC(seq("A"), Options{})})
		if m.Value != nil || m.Eligible != 0 || m.Excluded != 2 || m.Reasons[ReasonNoContacts] != 1 {
			t.Errorf("got %+v", m)
		}
	})
}
