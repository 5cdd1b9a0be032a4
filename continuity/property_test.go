package continuity

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
)

// randomContacts draws a random history: up to 14 contacts over up to 5
// clinicians (or an unknown one), some same-day, in a few modes, shuffled.
func randomContacts(r *rand.Rand) []Contact {
	n := r.IntN(15)
	modes := []care.InteractionMode{care.ModeClinic, care.ModeHomeVisit, care.ModePhone}
	cs := make([]Contact, n)
	for i := range cs {
		p := string(rune('A' + r.IntN(6)))
		if p == "F" {
			p = ""
		}
		cs[i] = Contact{
			ID:         string(rune('a'+i)) + "x",
			At:         base.AddDate(0, 0, r.IntN(10)).Add(time.Duration(r.IntN(8)) * time.Hour),
			ProviderID: p,
			Mode:       modes[r.IntN(len(modes))],
			Profession: care.ProfessionGP,
		}
	}
	r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
	return cs
}

func TestProperties(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	optionSets := []Options{
		{},
		{SameDay: CountEach},
		{UnknownProvider: CountAsDistinct},
		{SameDay: CountEach, UnknownProvider: CountAsDistinct, Modes: FaceToFaceAndRemote(), MinContacts: 1},
	}
	const eps = 1e-12
	checked := 0
	for iter := 0; iter < 3000; iter++ {
		cs := randomContacts(r)
		o := optionSets[iter%len(optionSets)]
		s := PatientIndices(cs, func(time.Time) string { return "A" }, nil, o)
		all := map[string]Result{"UPC": s.UPC, "COC": s.COC, "SECON": s.SECON, "MMCI": s.MMCI, "H": s.Herfindahl, "UPS": s.UsualProviderShare, "KPC": s.KnownProvider}
		for name, res := range all {
			if res.Value == nil {
				if res.Reason == "" {
					t.Fatalf("%s undefined without a reason for %v", name, cs)
				}
				continue
			}
			if v := *res.Value; v < 0 || v > 1 || math.IsNaN(v) {
				t.Fatalf("%s = %v outside [0,1] for %v", name, v, cs)
			}
		}
		if s.UPC.Value == nil || s.COC.Value == nil {
			continue
		}
		checked++
		n, k := float64(s.UPC.Contacts), float64(s.UPC.Providers)
		upc, coc, secon, mmci, h := *s.UPC.Value, *s.COC.Value, *s.SECON.Value, *s.MMCI.Value, *s.Herfindahl.Value
		// COC is an affine function of H: Σn_j² = N²H, so COC = (N·H − 1)/(N − 1).
		if math.Abs(coc-(n*h-1)/(n-1)) > eps {
			t.Fatalf("COC %v != (NH−1)/(N−1) %v for %v", coc, (n*h-1)/(n-1), cs)
		}
		// COC ≤ H (as H ≤ 1) and H ≤ UPC (Σp_j² ≤ p_max·Σp_j), UPC² ≤ H, H ≥ 1/s.
		if coc > h+eps || h > upc+eps || upc*upc > h+eps || h < 1/k-eps {
			t.Fatalf("bounds broken: COC %v H %v UPC %v s %v for %v", coc, h, upc, k, cs)
		}
		// Each change of clinician starts a run and there are at least s runs, so
		// SECON ≤ (N − s)/(N − 1) ≤ MMCI = (N − s + 0.1)/(N − 0.9).
		if secon > (n-k)/(n-1)+eps || (n-k)/(n-1) > mmci+eps {
			t.Fatalf("SECON %v, (N−s)/(N−1) %v, MMCI %v for %v", secon, (n-k)/(n-1), mmci, cs)
		}
		// Input order never matters, even for SECON.
		rev := slices.Clone(cs)
		slices.Reverse(rev)
		s2 := PatientIndices(rev, func(time.Time) string { return "A" }, nil, o)
		if *s2.SECON.Value != secon || *s2.COC.Value != coc || s2.UsualProvider != s.UsualProvider {
			t.Fatalf("result depends on input order for %v", cs)
		}
	}
	if checked < 1500 {
		t.Errorf("only %d random histories had defined indices; the properties were barely exercised", checked)
	}
}

// TestManyClinicians checks Filter's same-day rule and the per-clinician
// counts behind UPC and COC against plain maps when a patient's contacts are
// with more clinicians than are compared by scanning (manyProviders): a day
// of hundreds of contacts with a hundred clinicians, some unknown.
func TestManyClinicians(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for iter := range 50 {
		var cs []Contact
		for i := range 50 + r.IntN(400) {
			p := fmt.Sprintf("gp%03d", r.IntN(100))
			if r.IntN(10) == 0 {
				p = ""
			}
			cs = append(cs, Contact{ID: fmt.Sprintf("c%04d", i), At: base.AddDate(0, 0, r.IntN(3)).Add(time.Duration(r.IntN(600)) * time.Minute),
				ProviderID: p, Mode: care.ModeClinic, Profession: care.ProfessionGP})
		}
		opts := Options{UnknownProvider: CountAsDistinct}
		got := Filter(cs, opts)
		// The rule, with a map: the earliest contact per known clinician per day.
		want := slices.Clone(cs)
		sortContacts(want)
		seen := map[string]bool{}
		want = slices.DeleteFunc(want, func(c Contact) bool {
			k := c.ProviderID + dayOf(c.At).String()
			if c.ProviderID == "" {
				return false
			}
			defer func() { seen[k] = true }()
			return seen[k]
		})
		if !slices.Equal(got, want) {
			t.Fatalf("iteration %d: Filter kept %d contacts, want %d", iter, len(got), len(want))
		}
		counts := map[string]int{}
		unknown := 0
		for _, c := range got {
			if c.ProviderID == "" {
				unknown++
			} else {
				counts[c.ProviderID]++
			}
		}
		most, sq := 0, 0
		for _, n := range counts {
			most, sq = max(most, n), sq+n*n
		}
		most, sq = max(most, min(unknown, 1)), sq+unknown
		n := len(got)
		upc, coc := UPC(cs, opts), COC(cs, opts)
		if upc.Providers != len(counts)+unknown || *upc.Value != float64(most)/float64(n) {
			t.Fatalf("iteration %d: UPC %v over %d clinicians, want %v over %d", iter, *upc.Value, upc.Providers, float64(most)/float64(n), len(counts)+unknown)
		}
		if w := float64(sq-n) / float64(n*(n-1)); math.Abs(*coc.Value-w) > 1e-12 {
			t.Fatalf("iteration %d: COC %v, want %v", iter, *coc.Value, w)
		}
	}
}
