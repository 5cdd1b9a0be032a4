package continuity

import (
	"fmt"
	"slices"
	"time"

	"github.com/rapportcare/rapport/care"
)

// A monthly series folds a stream of patients, one at a time, into each
// month's SLICC and OPR counts per list and mean UPC and COC, so that a
// practice's contacts never need to be in memory at once. The list-level
// measures are sums of per-patient counts, so each patient's SLICC and OPR
// counts are added into the month's totals; the means are accumulated exactly
// as MeanIndex defines them without keeping every patient's Result.

// SeriesSpan returns the half-open interval [start, end) of contact times a
// series of the months overlapping [from, to) with a trailing index window of
// indexMonths months reads: from indexMonths−1 months before the first month
// to the end of the last. Both are zero when to is not after from.
func SeriesSpan(from, to time.Time, indexMonths int) (start, end time.Time) {
	months := Months(from, to)
	if len(months) == 0 {
		return time.Time{}, time.Time{}
	}
	return months[0].AddDate(0, -(indexMonths - 1), 0), months[len(months)-1].AddDate(0, 1, 0)
}

// Series accumulates a monthly series of list-level and mean patient-level
// continuity over one scope (a practice, or one GP's list). Build it with
// NewSeries, feed it every patient with AddPatient, then read Months. It is
// not safe for concurrent use.
type Series struct {
	months      []*monthAcc
	list        string
	indexMonths int
	opts        Options
	minContacts int // opts' effective MinContacts
	// counts and clinicians are providerCounts' storage, reused from
	// patient to patient.
	counts     []int
	clinicians stringIndex
}

// monthAcc is one month of a series being summed.
type monthAcc struct {
	// month is the month's first instant, end the next month's, and window
	// the first instant of the month's index window.
	month, end, window time.Time
	// holders are the list holders in force at some time in the month, in
	// SLICC's order (by ID); the counts below are aligned with them.
	holders              []string
	sliccNum, sliccDen   []int
	oprNum, oprDen       []int
	unassigned, listSize int
	upc, coc             meanAcc
	// holderIndex maps a holder to its position in holders.
	holderIndex map[string]int
}

// meanAcc accumulates the mean of one index over patients exactly as
// MeanIndex defines it.
type meanAcc struct {
	sum      float64
	eligible int
	excluded int
	reasons  map[string]int
}

func (m *meanAcc) add(r Result) {
	if r.Value == nil {
		m.excluded++
		if m.reasons == nil {
			m.reasons = make(map[string]int)
		}
		m.reasons[r.Reason]++
		return
	}
	m.eligible++
	m.sum += *r.Value
}

// mean returns the accumulated Mean, equal to MeanIndex over the same results.
func (m *meanAcc) mean() Mean {
	out := Mean{Eligible: m.eligible, Excluded: m.excluded, Reasons: make(map[string]int, len(m.reasons))}
	for reason, n := range m.reasons {
		out.Reasons[reason] = n
	}
	if m.eligible > 0 {
		v := m.sum / float64(m.eligible)
		out.Value = &v
	}
	return out
}

// NewSeries returns an empty series of the calendar months overlapping
// [from, to). Mean UPC and COC in each month are over the indexMonths months
// ending with it (the month itself when indexMonths is 1).
//
// registered holds the usual-clinician assignments of every patient in scope,
// contacts or not: a month's list holders are the clinicians with an
// assignment overlapping it (as SLICC names them), whether or not their
// patients were seen. list, when not "", is the clinician whose list the series
// is about: the means are then over the patients on her list at some time in
// each month, and each month's ListSize counts them. opts says which contacts
// count, as for every index.
//
// It returns an EINVALID error when to is not after from or indexMonths is
// below 1. Callers set their own upper limits on both.
func NewSeries(from, to time.Time, indexMonths int, list string, registered []Assignments, opts Options) (*Series, error) {
	if indexMonths < 1 {
		return nil, care.Errorf(care.EINVALID, "indexMonths must be at least 1")
	}
	months := Months(from, to)
	if len(months) == 0 {
		return nil, care.Errorf(care.EINVALID, "to must be after from")
	}
	everyone := make([]PatientMonth, len(registered))
	for i, as := range registered {
		everyone[i] = PatientMonth{UsualGP: as}
	}
	s := &Series{list: list, indexMonths: indexMonths, opts: opts, minContacts: opts.withDefaults().MinContacts, months: make([]*monthAcc, 0, len(months))}
	for _, m := range months {
		acc := &monthAcc{month: m, end: m.AddDate(0, 1, 0), window: m.AddDate(0, -(indexMonths - 1), 0)}
		acc.holders = listHolders(everyone, acc.month, acc.end)
		acc.holderIndex = make(map[string]int, len(acc.holders))
		for j, gp := range acc.holders {
			acc.holderIndex[gp] = j
		}
		n := len(acc.holders)
		acc.sliccNum, acc.sliccDen, acc.oprNum, acc.oprDen = make([]int, n), make([]int, n), make([]int, n), make([]int, n)
		if list != "" {
			for _, as := range registered {
				if onList(list, acc, as) {
					acc.listSize++
				}
			}
		}
		s.months = append(s.months, acc)
	}
	return s, nil
}

// onList reports whether list held the list the patient was on at some time
// in acc's month.
// addMonth adds one patient's counted contacts of the month (Filter's, all
// inside it) to the month's SLICC and OPR: exactly what SLICC and OwnPatientRatio count for a
// practice of this patient and every list holder, without building their
// maps and holder lists for each patient (the series' hot path). It returns
// an error when the patient names a list holder outside the month's.
func (acc *monthAcc) addMonth(patientID string, as Assignments, counted []Contact) error {
	for _, a := range as {
		if _, ok := acc.holderIndex[a.ProviderID]; a.overlaps(acc.month, acc.end) && !ok {
			return fmt.Errorf("continuity series: patient %s names a list holder outside the month's %d", patientID, len(acc.holders))
		}
	}
	for _, c := range counted {
		gp := as.At(c.At)
		if gp == "" {
			acc.unassigned++
		} else if j, ok := acc.holderIndex[gp]; ok {
			acc.sliccDen[j]++
			if c.ProviderID == gp {
				acc.sliccNum[j]++
			}
		}
		if j, ok := acc.holderIndex[c.ProviderID]; ok && c.ProviderID != "" {
			acc.oprDen[j]++
			if gp == c.ProviderID {
				acc.oprNum[j]++
			}
		}
	}
	return nil
}

func onList(list string, acc *monthAcc, as Assignments) bool {
	for _, a := range as {
		if a.ProviderID == list && a.overlaps(acc.month, acc.end) {
			return true
		}
	}
	return false
}

// atOrAfter returns the index of the first contact at or after t in cs,
// which is ordered by time, starting the search at i (no contact before i is
// at or after t): the series' boundaries only move forward.
func atOrAfter(cs []Contact, i int, t time.Time) int {
	for i < len(cs) && cs[i].At.Before(t) {
		i++
	}
	return i
}

// AddPatient adds one patient to every month of the series: her contacts
// inside each month to the SLICC and OPR counts (judged against the
// assignments in force at each contact's time), and her UPC and COC over each
// month's index window to the means. contacts need not be filtered; they are
// read in time order (sorted here when they are not). Each patient must be
// added once; patients in scope without contacts need not be added.
//
// It returns an error, and adds nothing further, when the patient's
// assignments name a list holder that was not among the registered
// assignments given to NewSeries.
func (s *Series) AddPatient(patientID string, as Assignments, contacts []Contact) error {
	cs := contacts
	if !slices.IsSortedFunc(cs, func(a, b Contact) int { return a.At.Compare(b.At) }) {
		cs = slices.Clone(contacts)
		sortContacts(cs)
	}
	// A window holding the same contacts as the month before gives the same
	// UPC and COC: most patients' windows change in few months, so the
	// indices are computed only when the window's contacts change.
	// Counted contacts are filtered once: months and index windows start at
	// UTC midnight, so no window splits a day and filtering a window's
	// contacts keeps exactly the counted contacts that fall in it.
	// Months, their ends and their windows' starts all ascend, so each
	// boundary below is found by moving forward from where it was.
	counted := Filter(cs, s.opts)
	var lo, hi, clo, chi, wlo, cwlo int
	lastLo, lastHi := -1, -1
	var upc, coc Result
	for _, acc := range s.months {
		lo, clo = atOrAfter(cs, lo, acc.month), atOrAfter(counted, clo, acc.month)
		hi, chi = atOrAfter(cs, max(hi, lo), acc.end), atOrAfter(counted, max(chi, clo), acc.end)
		if lo < hi {
			if err := acc.addMonth(patientID, as, counted[clo:chi]); err != nil {
				return err
			}
		}
		wlo, cwlo = atOrAfter(cs, wlo, acc.window), atOrAfter(counted, cwlo, acc.window)
		if wlo == hi || (s.list != "" && !onList(s.list, acc, as)) {
			continue
		}
		if wlo != lastLo || hi != lastHi {
			s.counts = providerCounts(counted[cwlo:chi], s.counts, &s.clinicians)
			seq := sequence{contacts: counted[cwlo:chi], counts: s.counts, min: s.minContacts}
			upc, coc = upcOf(seq), cocOf(seq)
			lastLo, lastHi = wlo, hi
		}
		acc.upc.add(upc)
		acc.coc.add(coc)
	}
	return nil
}

// IndexMonths returns the length in months of the window the means' UPC and
// COC are computed over.
func (s *Series) IndexMonths() int { return s.indexMonths }

// ListMonth is one list holder's SLICC and OPR in one month.
type ListMonth struct {
	// GP is the list-holding clinician.
	GP string
	// SLICC is the share of her list's counted contacts that were with her.
	SLICC ListResult
	// OPR is the share of her counted contacts that were with her own list.
	OPR ListResult
}

// SeriesMonth is one month of a series.
type SeriesMonth struct {
	// Month is the first instant (UTC) of the month.
	Month time.Time
	// Lists has one entry per list holder in the month, ordered by GP ID, as
	// SLICCResult.Lists.
	Lists []ListMonth
	// SLICC and OPR are the sums over Lists: numerators over denominators.
	SLICC, OPR ListResult
	// Unassigned is the number of counted contacts made while the patient had
	// no usual clinician in force (left out of SLICC).
	Unassigned int
	// ListSize is the number of registered patients on the series' list at
	// some time in the month; 0 for a series without a list.
	ListSize int
	// MeanUPC and MeanCOC are the means over the patients with a counted
	// contact in the month's index window (on the list, for a list's series).
	MeanUPC, MeanCOC Mean
}

// List returns the entry of gp among m.Lists, and false when gp held no list
// in the month.
func (m SeriesMonth) List(gp string) (ListMonth, bool) {
	for _, l := range m.Lists {
		if l.GP == gp {
			return l, true
		}
	}
	return ListMonth{}, false
}

// Months returns the series so far, oldest month first. The result shares
// nothing with the series.
func (s *Series) Months() []SeriesMonth {
	out := make([]SeriesMonth, 0, len(s.months))
	for _, acc := range s.months {
		m := SeriesMonth{
			Month: acc.month, Unassigned: acc.unassigned, ListSize: acc.listSize,
			Lists:   make([]ListMonth, 0, len(acc.holders)),
			MeanUPC: acc.upc.mean(), MeanCOC: acc.coc.mean(),
		}
		var sn, sd, on, od int
		for j, gp := range acc.holders {
			m.Lists = append(m.Lists, ListMonth{
				GP:    gp,
				SLICC: ratio(gp, acc.sliccNum[j], acc.sliccDen[j]),
				OPR:   ratio(gp, acc.oprNum[j], acc.oprDen[j]),
			})
			sn, sd, on, od = sn+acc.sliccNum[j], sd+acc.sliccDen[j], on+acc.oprNum[j], od+acc.oprDen[j]
		}
		m.SLICC, m.OPR = ratio("", sn, sd), ratio("", on, od)
		out = append(out, m)
	}
	return out
}
