package continuity

import (
	"fmt"
	"slices"
	"time"
)

// Result is one index for one patient (or one group).
type Result struct {
	// Value is the index, in [0, 1]; nil when it is undefined, never 0 or 1 by
	// default.
	Value *float64
	// Contacts is the number of contacts the index counted.
	Contacts int
	// Providers is the number of distinct clinicians among them; each unknown
	// clinician counted under CountAsDistinct is one.
	Providers int
	// Reason says why Value is nil; "" when it is defined.
	Reason string
}

// Reasons an index is undefined. Fewer-than reasons are built by tooFew and
// read "fewer than K counted contacts".
const (
	ReasonNoContacts       = "no counted contacts"
	ReasonNoUsualProvider  = "no usual provider in force"
	reasonTooFewWithUsual  = "fewer than %d counted contacts with a usual provider in force"
	reasonTooFewCountedFmt = "fewer than %d counted contacts"
)

// ReasonTooFew returns the reason given when fewer than k contacts counted.
func ReasonTooFew(k int) string { return fmt.Sprintf(reasonTooFewCountedFmt, k) }

// providerKey identifies a clinician inside one computation. Known clinicians
// are keyed by ID; each unknown clinician counted under CountAsDistinct gets a
// key of its own (unknown = its position + 1), so it matches nothing else.
type providerKey struct {
	id      string
	unknown int
}

func keyOf(c Contact, i int) providerKey {
	if c.ProviderID == "" {
		return providerKey{unknown: i + 1}
	}
	return providerKey{id: c.ProviderID}
}

// sequence is a patient's counted contacts with their clinician keys and the
// number of contacts with each distinct key.
type sequence struct {
	contacts []Contact
	keys     []providerKey
	counts   []int
	min      int // effective MinContacts
}

func prepare(contacts []Contact, opts Options) sequence {
	return prepareCounted(Filter(contacts, opts), opts)
}

// prepareCounted is prepare for contacts Filter has already kept.
func prepareCounted(cs []Contact, opts Options) sequence {
	o := opts.withDefaults()
	s := sequence{contacts: cs, keys: make([]providerKey, len(cs)), min: o.MinContacts}
	for i, c := range cs {
		s.keys[i] = keyOf(c, i)
	}
	s.counts = providerCounts(cs, nil, &stringIndex{})
	return s
}

// manyProviders is how many strings a stringIndex compares by scanning
// before it builds a map: a patient's contacts are with a few clinicians.
const manyProviders = 32

// stringIndex finds strings among those added to it, by position: by
// scanning while they are few, through a map beyond manyProviders, so no
// input makes a lookup slow. Its storage is reused after reset.
type stringIndex struct {
	ids []string
	pos map[string]int
}

func (x *stringIndex) reset() { x.ids, x.pos = x.ids[:0], nil }

// find returns the position at which id was added.
func (x *stringIndex) find(id string) (int, bool) {
	if x.pos != nil {
		j, ok := x.pos[id]
		return j, ok
	}
	j := slices.Index(x.ids, id)
	return j, j >= 0
}

// add appends id.
func (x *stringIndex) add(id string) {
	x.ids = append(x.ids, id)
	switch {
	case x.pos != nil:
		x.pos[id] = len(x.ids) - 1
	case len(x.ids) > manyProviders:
		x.pos = make(map[string]int, 2*len(x.ids))
		for j, s := range x.ids {
			x.pos[s] = j
		}
	}
}

// providerCounts returns the number of contacts of cs with each distinct
// clinician key (an unknown clinician's contact is a key of its own, as for
// keyOf), in order of first appearance, reusing counts and idx as storage.
func providerCounts(cs []Contact, counts []int, idx *stringIndex) []int {
	counts = counts[:0]
	idx.reset()
	for _, c := range cs {
		if c.ProviderID != "" {
			if j, ok := idx.find(c.ProviderID); ok {
				counts[j]++
				continue
			}
		}
		idx.add(c.ProviderID) // "" is never looked up: each unknown is its own key
		counts = append(counts, 1)
	}
	return counts
}

// check returns an undefined Result when the sequence has fewer than the
// larger of MinContacts and need (what the index's definition requires).
func (s sequence) check(need int) (Result, bool) {
	r := Result{Contacts: len(s.contacts), Providers: len(s.counts)}
	if need < s.min {
		need = s.min
	}
	switch {
	case len(s.contacts) == 0:
		r.Reason = ReasonNoContacts
		return r, false
	case len(s.contacts) < need:
		r.Reason = ReasonTooFew(need)
		return r, false
	}
	return r, true
}

func defined(r Result, v float64) Result {
	r.Value = &v
	return r
}

// UPC returns the Usual Provider of Care index (Breslau and Reeb 1975):
//
//	UPC = n_max / N
//
// where N is the number of counted contacts and n_max the number with the
// most-seen clinician. Defined for N ≥ max(1, MinContacts); nil Value with a
// Reason otherwise. The clinician is the most-seen one, not a designated one;
// for the designated usual GP see UsualProviderShare.
func UPC(contacts []Contact, opts Options) Result { return upcOf(prepare(contacts, opts)) }

func upcOf(s sequence) Result {
	r, ok := s.check(1)
	if !ok {
		return r
	}
	most := 0
	for _, n := range s.counts {
		most = max(most, n)
	}
	return defined(r, float64(most)/float64(len(s.contacts)))
}

// COC returns the Bice–Boxerman Continuity of Care index (Bice and Boxerman
// 1977):
//
//	COC = (Σ_j n_j² − N) / (N (N − 1))
//
// where n_j is the number of counted contacts with clinician j and N their
// total. It needs N ≥ 2 by definition (and N ≥ MinContacts); nil Value with a
// Reason otherwise. 1 when every contact was with one clinician, 0 when each
// was with a different one.
func COC(contacts []Contact, opts Options) Result { return cocOf(prepare(contacts, opts)) }

func cocOf(s sequence) Result {
	r, ok := s.check(2)
	if !ok {
		return r
	}
	n := len(s.contacts)
	sum := 0
	for _, nj := range s.counts {
		sum += nj * nj
	}
	return defined(r, float64(sum-n)/float64(n*(n-1)))
}

// SECON returns the Sequential Continuity index (Steinwachs 1979):
//
//	SECON = Σ_{i=1}^{N−1} c_i / (N − 1)
//
// where c_i is 1 when counted contacts i and i+1 (ordered by time, then ID)
// were with the same clinician and 0 otherwise. It needs N ≥ 2 by definition
// (and N ≥ MinContacts); nil Value with a Reason otherwise.
func SECON(contacts []Contact, opts Options) Result {
	s := prepare(contacts, opts)
	r, ok := s.check(2)
	if !ok {
		return r
	}
	same := 0
	for i := 1; i < len(s.keys); i++ {
		if s.keys[i] == s.keys[i-1] {
			same++
		}
	}
	return defined(r, float64(same)/float64(len(s.keys)-1))
}

// MMCI returns the Modified Modified Continuity Index (Magill and Senf 1987):
//
//	MMCI = (1 − s/(N + 0.1)) / (1 − 1/(N + 0.1)) = (N − s + 0.1) / (N − 0.9)
//
// where s is the number of distinct clinicians and N the number of counted
// contacts. It needs N ≥ 2 (and N ≥ MinContacts); nil Value with a Reason
// otherwise. 1 when one clinician saw every contact; when every contact was
// with a different clinician it is 0.1/(N − 0.9), small but not 0, as
// published.
func MMCI(contacts []Contact, opts Options) Result {
	s := prepare(contacts, opts)
	r, ok := s.check(2)
	if !ok {
		return r
	}
	n := float64(len(s.contacts))
	k := float64(len(s.counts))
	// The right-hand form equals the published one (multiply numerator and
	// denominator by N + 0.1) and rounds less.
	return defined(r, (n-k+0.1)/(n-0.9))
}

// Herfindahl returns the Herfindahl concentration index of the contacts over
// clinicians (used for continuity by Pollack et al. 2016):
//
//	H = Σ_j (n_j / N)²
//
// Defined for N ≥ max(1, MinContacts); nil Value with a Reason otherwise. It
// ranges from 1/s (s clinicians seen equally) to 1 (one clinician).
func Herfindahl(contacts []Contact, opts Options) Result {
	s := prepare(contacts, opts)
	r, ok := s.check(1)
	if !ok {
		return r
	}
	n := float64(len(s.contacts))
	h := 0.0
	for _, nj := range s.counts {
		p := float64(nj) / n
		h += p * p
	}
	return defined(r, h)
}

// UsualProviderShare returns the patient-level reading of SLICC: the share of
// counted contacts that were with the patient's usual clinician (usual GP,
// named nurse) in force at each contact's time, as usualProviderAt reports it
// ("" when none was in force). A past month is thus measured against the
// relationship in force then, not today's.
//
// Contacts made while no usual clinician was in force are not counted: they
// can be neither with nor without one. Value is nil, with a Reason, when there
// are fewer than MinContacts counted contacts, when usualProviderAt is nil or
// reports nobody for every contact, or when fewer than MinContacts contacts
// remain to judge. An unknown clinician never matches.
func UsualProviderShare(contacts []Contact, usualProviderAt func(time.Time) string, opts Options) Result {
	s := prepare(contacts, opts)
	r, ok := s.check(1)
	if !ok {
		return r
	}
	judged, with := 0, 0
	providers := make(map[providerKey]bool)
	if usualProviderAt != nil {
		for i, c := range s.contacts {
			usual := usualProviderAt(c.At)
			if usual == "" {
				continue
			}
			judged++
			providers[s.keys[i]] = true
			if c.ProviderID == usual {
				with++
			}
		}
	}
	r.Contacts, r.Providers = judged, len(providers)
	switch {
	case judged == 0:
		r.Reason = ReasonNoUsualProvider
		return r
	case judged < s.min:
		r.Reason = fmt.Sprintf(reasonTooFewWithUsual, s.min)
		return r
	}
	return defined(r, float64(with)/float64(judged))
}

// KnownProvider returns the known-provider share: of the counted contacts, the
// share with a clinician the patient had seen before that contact. "Before"
// means at a strictly earlier instant, among the counted contacts of the window
// and of history, a lookback the caller supplies (for example the twelve
// months before the window). history is filtered with the same options; a
// history contact with the same ID as a window contact is ignored. Two
// contacts at the same instant do not make each other known. An unknown
// clinician is never known.
//
// Value is nil, with a Reason, when fewer than MinContacts contacts count in
// the window. Without history the first contact of the window is never known,
// so a short lookback biases the share downwards.
func KnownProvider(contacts []Contact, history []Contact, opts Options) Result {
	s := prepare(contacts, opts)
	r, ok := s.check(1)
	if !ok {
		return r
	}
	inWindow := make(map[string]bool, len(s.contacts))
	for _, c := range s.contacts {
		inWindow[c.ID] = true
	}
	// first[p] is the earliest time clinician p was seen.
	first := make(map[string]time.Time)
	see := func(c Contact) {
		if c.ProviderID == "" {
			return
		}
		if t, ok := first[c.ProviderID]; !ok || c.At.Before(t) {
			first[c.ProviderID] = c.At
		}
	}
	for _, c := range Filter(history, opts) {
		if c.ID != "" && inWindow[c.ID] {
			continue
		}
		see(c)
	}
	for _, c := range s.contacts {
		see(c)
	}
	known := 0
	for _, c := range s.contacts {
		if t, ok := first[c.ProviderID]; ok && c.ProviderID != "" && t.Before(c.At) {
			known++
		}
	}
	return defined(r, float64(known)/float64(len(s.contacts)))
}

// UsualProvider returns the most-seen clinician among the counted contacts and
// true, or "" and false when no counted contact names a clinician. Ties are
// broken by the most recent contact (the clinician whose latest counted
// contact is later wins), then by the smaller provider ID, so the answer never
// depends on input order. Unknown clinicians are never returned. MinContacts
// does not apply: one contact names a most-seen clinician.
func UsualProvider(contacts []Contact, opts Options) (string, bool) {
	type tally struct {
		n    int
		last time.Time
	}
	tallies := make(map[string]*tally)
	for _, c := range Filter(contacts, opts) {
		if c.ProviderID == "" {
			continue
		}
		t := tallies[c.ProviderID]
		if t == nil {
			t = &tally{}
			tallies[c.ProviderID] = t
		}
		t.n++
		if c.At.After(t.last) {
			t.last = c.At
		}
	}
	best, bestT := "", (*tally)(nil)
	for id, t := range tallies {
		switch {
		case bestT == nil,
			t.n > bestT.n,
			t.n == bestT.n && t.last.After(bestT.last),
			t.n == bestT.n && t.last.Equal(bestT.last) && id < best:
			best, bestT = id, t
		}
	}
	return best, bestT != nil
}

// PatientSummary bundles every patient-level index over one window.
type PatientSummary struct {
	UPC                Result
	COC                Result
	SECON              Result
	MMCI               Result
	Herfindahl         Result
	UsualProviderShare Result
	KnownProvider      Result
	// UsualProvider is the most-seen clinician (see UsualProvider); "" with
	// HasUsualProvider false when there is none.
	UsualProvider    string
	HasUsualProvider bool
}

// PatientIndices computes every patient-level index for one patient's
// contacts in a window, with usualAt reporting the usual clinician in force at
// a time (nil: none known) and history the contacts before the window that
// KnownProvider may look back on.
func PatientIndices(contacts []Contact, usualAt func(time.Time) string, history []Contact, opts Options) PatientSummary {
	s := PatientSummary{
		UPC:                UPC(contacts, opts),
		COC:                COC(contacts, opts),
		SECON:              SECON(contacts, opts),
		MMCI:               MMCI(contacts, opts),
		Herfindahl:         Herfindahl(contacts, opts),
		UsualProviderShare: UsualProviderShare(contacts, usualAt, opts),
		KnownProvider:      KnownProvider(contacts, history, opts),
	}
	s.UsualProvider, s.HasUsualProvider = UsualProvider(contacts, opts)
	return s
}
