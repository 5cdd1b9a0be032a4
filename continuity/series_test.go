package continuity

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
)

// A tiny practice worked by hand: GPs A and B, patients p1, p2, p3, January
// and February 2024, index window 2 months.
//
//	p1 on A's list throughout; p2 on B's list throughout; p3 on no list until
//	10 February, then on B's.
//
//	January contacts: p1 with A (5th), A (12th), B (20th), and a phone call
//	with B (25th) that the default options leave out; p2 with B (8th);
//	p3 with A (15th, before p3 had a usual GP).
//	February contacts: p1 with A (3rd); p2 with B (6th), A (14th);
//	p3 with A (5th, still no usual GP), B (20th, on B's list by then).
var (
	jan = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	feb = time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	mar = time.Date(2024, 3, 1, 0, 0, 0, 0, time.UTC)
)

type seriesPatient struct {
	id       string
	as       Assignments
	contacts []Contact
}

func seriesContact(id string, month time.Month, day int, gp string, mode care.InteractionMode) Contact {
	return Contact{ID: id, At: time.Date(2024, month, day, 10, 0, 0, 0, time.UTC), ProviderID: gp, Mode: mode, Profession: care.ProfessionGP}
}

func tinyPractice() []seriesPatient {
	since := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	return []seriesPatient{
		{"p1", Assignments{{ProviderID: "A", Start: since}}, []Contact{
			seriesContact("c01", time.January, 5, "A", care.ModeClinic),
			seriesContact("c02", time.January, 12, "A", care.ModeClinic),
			seriesContact("c03", time.January, 20, "B", care.ModeClinic),
			seriesContact("c04", time.January, 25, "B", care.ModePhone),
			seriesContact("c05", time.February, 3, "A", care.ModeClinic),
		}},
		{"p2", Assignments{{ProviderID: "B", Start: since}}, []Contact{
			seriesContact("c06", time.January, 8, "B", care.ModeClinic),
			seriesContact("c07", time.February, 6, "B", care.ModeClinic),
			seriesContact("c08", time.February, 14, "A", care.ModeClinic),
		}},
		{"p3", Assignments{{ProviderID: "B", Start: time.Date(2024, 2, 10, 0, 0, 0, 0, time.UTC)}}, []Contact{
			seriesContact("c09", time.January, 15, "A", care.ModeClinic),
			seriesContact("c10", time.February, 5, "A", care.ModeClinic),
			seriesContact("c11", time.February, 20, "B", care.ModeClinic),
		}},
	}
}

// runSeries builds a series over the patients and adds each of them.
func runSeries(t *testing.T, from, to time.Time, k int, list string, ps []seriesPatient, opts Options) []SeriesMonth {
	t.Helper()
	registered := make([]Assignments, len(ps))
	for i, p := range ps {
		registered[i] = p.as
	}
	s, err := NewSeries(from, to, k, list, registered, opts)
	if err != nil {
		t.Fatalf("NewSeries: %v", err)
	}
	for _, p := range ps {
		if err := s.AddPatient(p.id, p.as, p.contacts); err != nil {
			t.Fatalf("AddPatient(%s): %v", p.id, err)
		}
	}
	if s.IndexMonths() != k {
		t.Errorf("IndexMonths = %d, want %d", s.IndexMonths(), k)
	}
	return s.Months()
}

// assertMean fails unless m has the given value (nil for none), counts and
// reasons.
func assertMean(t *testing.T, name string, m Mean, want *float64, eligible, excluded int, reasons map[string]int) {
	t.Helper()
	switch {
	case want == nil && m.Value != nil:
		t.Errorf("%s = %v, want undefined", name, *m.Value)
	case want != nil && (m.Value == nil || math.Abs(*m.Value-*want) > 1e-12):
		t.Errorf("%s = %v, want %v", name, m.Value, *want)
	}
	if m.Eligible != eligible || m.Excluded != excluded {
		t.Errorf("%s eligible/excluded = %d/%d, want %d/%d", name, m.Eligible, m.Excluded, eligible, excluded)
	}
	if len(m.Reasons) != len(reasons) {
		t.Errorf("%s reasons = %v, want %v", name, m.Reasons, reasons)
	}
	for r, n := range reasons {
		if m.Reasons[r] != n {
			t.Errorf("%s reasons = %v, want %v", name, m.Reasons, reasons)
		}
	}
}

func ptr(v float64) *float64 { return &v }

func TestSeriesByHand(t *testing.T) {
	tooFew := map[string]int{ReasonTooFew(2): 2}

	t.Run("practice: SLICC, OPR and means per month", func(t *testing.T) {
		months := runSeries(t, jan, mar, 2, "", tinyPractice(), Options{})
		if len(months) != 2 || !months[0].Month.Equal(jan) || !months[1].Month.Equal(feb) {
			t.Fatalf("months = %+v, want January and February", months)
		}
		j, f := months[0], months[1]
		for _, m := range months {
			if len(m.Lists) != 2 || m.Lists[0].GP != "A" || m.Lists[1].GP != "B" {
				t.Fatalf("%v lists = %+v, want A then B", m.Month, m.Lists)
			}
			if m.ListSize != 0 {
				t.Errorf("%v list size = %d, want 0 without a list", m.Month, m.ListSize)
			}
		}

		// January SLICC. A's list (p1): A, A, B = 2/3 (the phone call does
		// not count). B's list (p2): B = 1/1. p3's contact with A has no list:
		// unassigned 1. Practice (2+1)/(3+1) = 3/4.
		assertRatio(t, "Jan SLICC A", j.Lists[0].SLICC, 2, 3)
		assertRatio(t, "Jan SLICC B", j.Lists[1].SLICC, 1, 1)
		assertRatio(t, "Jan SLICC", j.SLICC, 3, 4)
		if j.Unassigned != 1 {
			t.Errorf("Jan unassigned = %d, want 1", j.Unassigned)
		}
		// January OPR. A saw p1, p1, p3: own list p1 twice = 2/3. B saw p2
		// and p1: own list p2 = 1/2. Practice (2+1)/(3+2) = 3/5.
		assertRatio(t, "Jan OPR A", j.Lists[0].OPR, 2, 3)
		assertRatio(t, "Jan OPR B", j.Lists[1].OPR, 1, 2)
		assertRatio(t, "Jan OPR", j.OPR, 3, 5)

		// February SLICC. A's list (p1): A = 1/1. B's list: p2 B, A and p3 B
		// (20th, on B's list by then) = 2/3. p3 with A on the 5th, before
		// joining B's list: unassigned 1. Practice 3/4.
		assertRatio(t, "Feb SLICC A", f.Lists[0].SLICC, 1, 1)
		assertRatio(t, "Feb SLICC B", f.Lists[1].SLICC, 2, 3)
		assertRatio(t, "Feb SLICC", f.SLICC, 3, 4)
		if f.Unassigned != 1 {
			t.Errorf("Feb unassigned = %d, want 1", f.Unassigned)
		}
		// February OPR. A saw p1 (own), p3 (no list), p2 (B's) = 1/3. B saw
		// p2 and p3, both on her list then = 2/2. Practice 3/5.
		assertRatio(t, "Feb OPR A", f.Lists[0].OPR, 1, 3)
		assertRatio(t, "Feb OPR B", f.Lists[1].OPR, 2, 2)
		assertRatio(t, "Feb OPR", f.OPR, 3, 5)

		// January means, window December–January. p1: A, A, B, N = 3,
		// UPC 2/3, COC (2²+1²−3)/(3·2) = 1/3. p2 and p3 have one contact
		// each: undefined, fewer than 2.
		assertMean(t, "Jan mean UPC", j.MeanUPC, ptr(2.0/3), 1, 2, tooFew)
		assertMean(t, "Jan mean COC", j.MeanCOC, ptr(1.0/3), 1, 2, tooFew)
		// February means, window January–February.
		//   p1: A, A, B, A: UPC 3/4, COC (3²+1²−4)/(4·3) = 1/2.
		//   p2: B, B, A:    UPC 2/3, COC (2²+1²−3)/(3·2) = 1/3.
		//   p3: A, A, B:    UPC 2/3, COC 1/3.
		// mean UPC (3/4 + 2/3 + 2/3)/3 = 25/36; mean COC (1/2 + 1/3 + 1/3)/3 = 7/18.
		assertMean(t, "Feb mean UPC", f.MeanUPC, ptr(25.0/36), 3, 0, nil)
		assertMean(t, "Feb mean COC", f.MeanCOC, ptr(7.0/18), 3, 0, nil)
	})

	t.Run("B's list: list size and means over her list only", func(t *testing.T) {
		months := runSeries(t, jan, mar, 2, "B", tinyPractice(), Options{})
		j, f := months[0], months[1]
		// January: only p2 is on B's list (p3 joins on 10 Feb). p2's window
		// holds one contact: the means have nothing defined.
		if j.ListSize != 1 || f.ListSize != 2 {
			t.Errorf("list sizes = %d, %d, want 1, 2", j.ListSize, f.ListSize)
		}
		assertMean(t, "Jan mean UPC", j.MeanUPC, nil, 0, 1, map[string]int{ReasonTooFew(2): 1})
		// February: p2 and p3, UPC 2/3 each, COC 1/3 each.
		assertMean(t, "Feb mean UPC", f.MeanUPC, ptr(2.0/3), 2, 0, nil)
		assertMean(t, "Feb mean COC", f.MeanCOC, ptr(1.0/3), 2, 0, nil)
		// The list-level counts are the practice's; List picks B's.
		b, ok := f.List("B")
		if !ok {
			t.Fatal("February has no list B")
		}
		assertRatio(t, "Feb SLICC B", b.SLICC, 2, 3)
		assertRatio(t, "Feb OPR B", b.OPR, 2, 2)
		if _, ok := f.List("C"); ok {
			t.Error("List(C) found a list C never held")
		}
	})

	t.Run("a one-month window and remote contacts", func(t *testing.T) {
		// Counting phone calls adds p1's call with B on 25 Jan: A's list
		// 2/4, B's OPR 1/3. Index window of 1 month: January p1 has A, A, B,
		// B: UPC 2/4 = 1/2.
		opts := Options{Modes: FaceToFaceAndRemote()}
		months := runSeries(t, jan, feb, 1, "", tinyPractice(), opts)
		if len(months) != 1 {
			t.Fatalf("months = %d, want 1", len(months))
		}
		j := months[0]
		assertRatio(t, "Jan SLICC A", j.Lists[0].SLICC, 2, 4)
		assertRatio(t, "Jan OPR B", j.Lists[1].OPR, 1, 3)
		assertMean(t, "Jan mean UPC", j.MeanUPC, ptr(0.5), 1, 2, tooFew)
	})

	t.Run("a window a month into the series reads the month before", func(t *testing.T) {
		// February alone, window 2 months: the means are February's above.
		months := runSeries(t, feb, mar, 2, "", tinyPractice(), Options{})
		if len(months) != 1 {
			t.Fatalf("months = %d, want 1", len(months))
		}
		assertMean(t, "Feb mean UPC", months[0].MeanUPC, ptr(25.0/36), 3, 0, nil)
	})

	t.Run("contacts out of time order give the same series", func(t *testing.T) {
		want := runSeries(t, jan, mar, 2, "", tinyPractice(), Options{})
		ps := tinyPractice()
		for _, p := range ps {
			slices.Reverse(p.contacts)
		}
		got := runSeries(t, jan, mar, 2, "", ps, Options{})
		assertSameSeries(t, got, want)
		if ps[0].contacts[0].ID != "c05" {
			t.Error("AddPatient reordered the caller's contacts")
		}
	})
}

func TestSeriesErrors(t *testing.T) {
	t.Run("bad arguments are EINVALID", func(t *testing.T) {
		for name, c := range map[string]struct {
			from, to time.Time
			k        int
		}{
			"to before from":    {feb, jan, 1},
			"empty window":      {jan, jan, 1},
			"index months zero": {jan, mar, 0},
		} {
			_, err := NewSeries(c.from, c.to, c.k, "", nil, Options{})
			if care.ErrorCode(err) != care.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", name, err)
			}
		}
	})
	t.Run("a patient naming an unregistered list holder", func(t *testing.T) {
		s, err := NewSeries(jan, feb, 1, "", []Assignments{{{ProviderID: "A", Start: jan}}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		err = s.AddPatient("p9", Assignments{{ProviderID: "Z", Start: jan}}, []Contact{seriesContact("c", time.January, 3, "Z", care.ModeClinic)})
		if err == nil {
			t.Fatal("AddPatient accepted a list holder outside the month's")
		}
	})
	t.Run("SeriesSpan reaches back indexMonths−1 months", func(t *testing.T) {
		start, end := SeriesSpan(time.Date(2024, 2, 15, 0, 0, 0, 0, time.UTC), time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC), 3)
		if want := time.Date(2023, 12, 1, 0, 0, 0, 0, time.UTC); !start.Equal(want) {
			t.Errorf("start = %v, want %v", start, want)
		}
		if want := time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC); !end.Equal(want) {
			t.Errorf("end = %v, want %v", end, want)
		}
		if s, e := SeriesSpan(feb, jan, 1); !s.IsZero() || !e.IsZero() {
			t.Errorf("reversed span = %v, %v, want zero", s, e)
		}
	})
}

// assertSameSeries fails unless got and want are equal month by month.
func assertSameSeries(t *testing.T, got, want []SeriesMonth) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("months = %d, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		if len(g.Lists) != len(w.Lists) {
			t.Fatalf("%v: %d lists, want %d", w.Month, len(g.Lists), len(w.Lists))
		}
		for j := range w.Lists {
			assertRatio(t, "SLICC "+w.Lists[j].GP, g.Lists[j].SLICC, w.Lists[j].SLICC.Numerator, w.Lists[j].SLICC.Denominator)
			assertRatio(t, "OPR "+w.Lists[j].GP, g.Lists[j].OPR, w.Lists[j].OPR.Numerator, w.Lists[j].OPR.Denominator)
		}
		if g.Unassigned != w.Unassigned || g.ListSize != w.ListSize {
			t.Errorf("%v: unassigned/list size %d/%d, want %d/%d", w.Month, g.Unassigned, g.ListSize, w.Unassigned, w.ListSize)
		}
		assertMean(t, "mean UPC", g.MeanUPC, w.MeanUPC.Value, w.MeanUPC.Eligible, w.MeanUPC.Excluded, w.MeanUPC.Reasons)
		assertMean(t, "mean COC", g.MeanCOC, w.MeanCOC.Value, w.MeanCOC.Eligible, w.MeanCOC.Excluded, w.MeanCOC.Reasons)
	}
}

// TestSeriesMatchesWholeMonth checks the streamed, one-patient-at-a-time
// series against the measures computed over every patient at once: SLICC and
// OwnPatientRatio over the month, MeanIndex over each patient's UPC and COC in
// the month's one-month window.
func TestSeriesMatchesWholeMonth(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for iter := range 200 {
		var ps []seriesPatient
		var all []PatientMonth
		for i := range 1 + r.IntN(6) {
			p := seriesPatient{id: string(rune('p' + i)), contacts: randomContacts(r)}
			if gp := r.IntN(4); gp < 3 {
				p.as = Assignments{{ProviderID: string(rune('A' + gp)), Start: base.AddDate(0, 0, r.IntN(6))}}
			}
			ps = append(ps, p)
			all = append(all, PatientMonth{PatientID: p.id, UsualGP: p.as, Contacts: p.contacts})
		}
		months := runSeries(t, jan, feb, 1, "", ps, Options{})
		sl, op := SLICC(jan, all, Options{}), OwnPatientRatio(jan, all, Options{})
		m := months[0]
		if len(m.Lists) != len(sl.Lists) {
			t.Fatalf("iteration %d: %d lists, want %d", iter, len(m.Lists), len(sl.Lists))
		}
		for j := range sl.Lists {
			assertRatio(t, "SLICC", m.Lists[j].SLICC, sl.Lists[j].Numerator, sl.Lists[j].Denominator)
			assertRatio(t, "OPR", m.Lists[j].OPR, op.GPs[j].Numerator, op.GPs[j].Denominator)
		}
		assertRatio(t, "practice SLICC", m.SLICC, sl.Practice.Numerator, sl.Practice.Denominator)
		assertRatio(t, "practice OPR", m.OPR, op.Practice.Numerator, op.Practice.Denominator)
		if m.Unassigned != sl.Unassigned {
			t.Errorf("iteration %d: unassigned %d, want %d", iter, m.Unassigned, sl.Unassigned)
		}
		var upcs, cocs []Result
		for _, p := range ps {
			if len(p.contacts) > 0 {
				upcs, cocs = append(upcs, UPC(p.contacts, Options{})), append(cocs, COC(p.contacts, Options{}))
			}
		}
		want := MeanIndex(upcs)
		assertMean(t, "mean UPC", m.MeanUPC, want.Value, want.Eligible, want.Excluded, want.Reasons)
		want = MeanIndex(cocs)
		assertMean(t, "mean COC", m.MeanCOC, want.Value, want.Eligible, want.Excluded, want.Reasons)
	}
}

// TestSeriesMatchesEveryWindow checks the series over several months with a
// trailing index window, for a practice and for one list, against the
// measures computed from scratch for each month: SLICC and OwnPatientRatio
// over the month, and MeanIndex over the UPC and COC of every patient (on the
// list at some time in the month, for a list's series) with a contact in the
// month's window. Contacts are spread over the months before and inside the
// series, with same-day repeats and unknown clinicians, under each option set.
func TestSeriesMatchesEveryWindow(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	start := time.Date(2023, 9, 1, 0, 0, 0, 0, time.UTC)
	from, to := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 7, 1, 0, 0, 0, 0, time.UTC)
	optionSets := []Options{{}, {SameDay: CountEach}, {UnknownProvider: CountAsDistinct, MinContacts: 3}, {Modes: FaceToFaceAndRemote()}}
	modes := []care.InteractionMode{care.ModeClinic, care.ModeHomeVisit, care.ModePhone}
	for iter := range 300 {
		opts := optionSets[iter%len(optionSets)]
		k := 1 + r.IntN(4)
		var ps []seriesPatient
		for i := range 1 + r.IntN(8) {
			p := seriesPatient{id: "p" + string(rune('a'+i))}
			for range r.IntN(4) {
				s := start.AddDate(0, 0, r.IntN(300))
				a := Assignment{ProviderID: string(rune('A' + r.IntN(3))), Start: s}
				if r.IntN(2) == 0 {
					e := s.AddDate(0, 0, 1+r.IntN(90))
					a.End = e
				}
				p.as = append(p.as, a)
			}
			slices.SortFunc(p.as, func(a, b Assignment) int { return a.Start.Compare(b.Start) })
			for j := range r.IntN(40) {
				gp := string(rune('A' + r.IntN(5)))
				if gp == "E" {
					gp = ""
				}
				at := start.AddDate(0, 0, r.IntN(320)).Add(time.Duration(r.IntN(3)) * time.Hour)
				p.contacts = append(p.contacts, Contact{ID: p.id + string(rune('a'+j%26)) + string(rune('a'+j/26)), At: at,
					ProviderID: gp, Mode: modes[r.IntN(len(modes))], Profession: care.ProfessionGP})
			}
			r.Shuffle(len(p.contacts), func(i, j int) { p.contacts[i], p.contacts[j] = p.contacts[j], p.contacts[i] })
			ps = append(ps, p)
		}
		list := ""
		if r.IntN(2) == 0 {
			list = string(rune('A' + r.IntN(3)))
		}
		months := runSeries(t, from, to, k, list, ps, opts)
		for mi, month := range Months(from, to) {
			end := month.AddDate(0, 1, 0)
			wfrom := month.AddDate(0, -(k - 1), 0)
			var all []PatientMonth
			var upcs, cocs []Result
			for _, p := range ps {
				all = append(all, PatientMonth{PatientID: p.id, UsualGP: p.as, Contacts: p.contacts})
				var window []Contact
				for _, c := range p.contacts {
					if !c.At.Before(wfrom) && c.At.Before(end) {
						window = append(window, c)
					}
				}
				onList := list == ""
				for _, a := range p.as {
					onList = onList || (a.ProviderID == list && a.overlaps(month, end))
				}
				if len(window) > 0 && onList {
					upcs, cocs = append(upcs, UPC(window, opts)), append(cocs, COC(window, opts))
				}
			}
			m := months[mi]
			sl, op := SLICC(month, all, opts), OwnPatientRatio(month, all, opts)
			if len(m.Lists) != len(sl.Lists) {
				t.Fatalf("iteration %d month %d: %d lists, want %d", iter, mi, len(m.Lists), len(sl.Lists))
			}
			for j := range sl.Lists {
				assertRatio(t, "SLICC", m.Lists[j].SLICC, sl.Lists[j].Numerator, sl.Lists[j].Denominator)
				assertRatio(t, "OPR", m.Lists[j].OPR, op.GPs[j].Numerator, op.GPs[j].Denominator)
			}
			if m.Unassigned != sl.Unassigned {
				t.Errorf("iteration %d month %d: unassigned %d, want %d", iter, mi, m.Unassigned, sl.Unassigned)
			}
			want := MeanIndex(upcs)
			assertMean(t, "mean UPC", m.MeanUPC, want.Value, want.Eligible, want.Excluded, want.Reasons)
			want = MeanIndex(cocs)
			assertMean(t, "mean COC", m.MeanCOC, want.Value, want.Eligible, want.Excluded, want.Reasons)
			if t.Failed() {
				t.Fatalf("iteration %d month %d (k %d, list %q, options %+v)", iter, mi, k, list, opts)
			}
		}
	}
}
