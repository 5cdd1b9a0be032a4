package continuity

import (
	"slices"
	"testing"
	"time"
)

func TestAtRisk(t *testing.T) {
	usualA := func(time.Time) string { return "A" }
	// "AABB": UPC 2/4 = 0.50; COC (2²+2²−4)/(4·3) = 4/12 = 0.33; share of
	// contacts with the usual GP A = 2/4 = 0.50.
	// "AAAB": UPC 3/4 = 0.75; COC (3²+1²−4)/12 = 0.50; usual share 0.75.
	// "A":    one contact, all indices undefined (fewer than 2).
	tests := []struct {
		name        string
		seq         string
		th          AtRiskThresholds
		wantAtRisk  bool
		wantReasons []string
	}{
		{"below the UPC threshold", "AABB", AtRiskThresholds{MinContacts: 2, UPCBelow: ptr(0.6)}, true,
			[]string{"UPC 0.50 is below 0.60 over 4 counted contacts"}},
		{"every threshold crossed, in order UPC, COC, share", "AABB",
			AtRiskThresholds{MinContacts: 2, UPCBelow: ptr(0.6), COCBelow: ptr(0.4), UsualProviderShareBelow: ptr(0.9)}, true,
			[]string{"UPC 0.50 is below 0.60 over 4 counted contacts", "COC 0.33 is below 0.40 over 4 counted contacts", "Usual provider share 0.50 is below 0.90 over 4 counted contacts"}},
		{"equal to the threshold is not below it", "AABB", AtRiskThresholds{MinContacts: 2, UPCBelow: ptr(0.5)}, false, nil},
		{"above every threshold", "AAAB", AtRiskThresholds{MinContacts: 2, UPCBelow: ptr(0.6), COCBelow: ptr(0.4)}, false, nil},
		{"only the share threshold crossed", "AAAB", AtRiskThresholds{MinContacts: 2, UPCBelow: ptr(0.6), UsualProviderShareBelow: ptr(0.8)}, true,
			[]string{"Usual provider share 0.75 is below 0.80 over 4 counted contacts"}},
		{"fewer contacts than the minimum are not judged", "AABB", AtRiskThresholds{MinContacts: 5, UPCBelow: ptr(0.6)}, false, nil},
		{"no threshold set", "AABB", AtRiskThresholds{MinContacts: 2}, false, nil},
		{"undefined indices cross nothing", "A", AtRiskThresholds{UPCBelow: ptr(1), COCBelow: ptr(1), UsualProviderShareBelow: ptr(1)}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, ok := AtRisk("p1", seq(tt.seq), usualA, tt.th, Options{})
			if ok != tt.wantAtRisk {
				t.Errorf("at risk = %v, want %v (reasons %q)", ok, tt.wantAtRisk, x.Reasons)
			}
			if !slices.Equal(x.Reasons, tt.wantReasons) {
				t.Errorf("reasons = %q, want %q", x.Reasons, tt.wantReasons)
			}
			if x.PatientID != "p1" || x.UPC.Contacts != len(tt.seq) {
				t.Errorf("patient %q with %d contacts, want p1 with %d", x.PatientID, x.UPC.Contacts, len(tt.seq))
			}
		})
	}
}

func TestSortAtRisk(t *testing.T) {
	p := func(id string, upc *float64, contacts int) AtRiskPatient {
		return AtRiskPatient{PatientID: id, UPC: Result{Value: upc, Contacts: contacts}}
	}
	ps := []AtRiskPatient{
		p("undefined", nil, 9),
		p("high", ptr(0.8), 3),
		p("low-few", ptr(0.2), 3),
		p("low-many-b", ptr(0.2), 7),
		p("low-many-a", ptr(0.2), 7),
		p("undefined-b", nil, 9),
	}
	SortAtRisk(ps)
	var got []string
	for _, x := range ps {
		got = append(got, x.PatientID)
	}
	// Lowest UPC first; among equal UPC more contacts first, then by ID;
	// undefined UPC last.
	want := []string{"low-many-a", "low-many-b", "low-few", "high", "undefined", "undefined-b"}
	if !slices.Equal(got, want) {
		t.Errorf("order = %q, want %q", got, want)
	}
}
