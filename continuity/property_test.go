package continuity

import (
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
