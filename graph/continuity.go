package graph

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/continuity"
	"github.com/rapportcare/rapport/graph/model"
	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres"
)

// Continuity of care: the resolvers behind Patient.continuity,
// Practitioner.continuity, Query.practiceContinuity and
// Query.continuityAtRisk. The store authorises and streams the data
// (postgres/continuity.go); the measures are continuity's pure functions,
// called one patient at a time so that a practice's contacts are never all
// in memory at once. The list-level measures are sums of per-patient counts,
// so each patient's SLICC and OPR counts are added into the month's totals.

// Limits and defaults of the continuity fields (documented in schema.graphql).
const (
	maxSeriesMonths        = 60
	maxIndexMonths         = 36
	defaultIndexMonths     = 12
	defaultWindowMonths    = 12
	knownProviderLookback  = 12 // months of history KnownProvider may look back on
	defaultAtRiskContacts  = 6
	defaultAtRiskPageSize  = 20
	minAtRiskContacts      = 2
	maxAtRiskPageSize      = care.MaxPageSize
	continuityReasonFormat = "%s %.2f is below %.2f over %d counted contacts"
)

// continuityOptions turns the GraphQL options into continuity.Options and the
// usual-clinician relationship kind, filling the documented defaults.
// EINVALID for a minContacts below 1, an empty list or another kind.
func continuityOptions(in *model.ContinuityOptions) (continuity.Options, care.RelationshipKind, error) {
	o := continuity.DefaultOptions()
	kind := care.KindUsualGP
	if in == nil {
		return o, kind, nil
	}
	if in.MinContacts != nil {
		if *in.MinContacts < 1 {
			return o, kind, care.Errorf(care.EINVALID, "minContacts must be at least 1")
		}
		o.MinContacts = *in.MinContacts
	}
	if in.Modes != nil {
		if len(in.Modes) == 0 {
			return o, kind, care.Errorf(care.EINVALID, "modes must not be empty")
		}
		o.Modes = slices.Compact(slices.Sorted(slices.Values(in.Modes)))
	}
	if in.Professions != nil {
		if len(in.Professions) == 0 {
			return o, kind, care.Errorf(care.EINVALID, "professions must not be empty")
		}
		o.Professions = slices.Compact(slices.Sorted(slices.Values(in.Professions)))
	}
	if in.SameDay != nil && *in.SameDay == model.ContinuitySameDayCountEach {
		o.SameDay = continuity.CountEach
	}
	if in.UsualRelationship != nil {
		kind = *in.UsualRelationship
		if kind != care.KindUsualGP && kind != care.KindNamedNurse {
			return o, kind, care.Errorf(care.EINVALID, "usualRelationship must be USUAL_GP or NAMED_NURSE")
		}
	}
	return o, kind, nil
}

// continuityWindow returns the window asked for, or the 12 months up to now.
// EINVALID when it does not end after it starts.
func (r *Resolver) continuityWindow(w *model.ContinuityWindow) (time.Time, time.Time, error) {
	if w == nil {
		to := r.now().UTC()
		return to.AddDate(0, -defaultWindowMonths, 0), to, nil
	}
	if !w.To.After(w.From) {
		return time.Time{}, time.Time{}, care.Errorf(care.EINVALID, "window.to must be after window.from")
	}
	return w.From.UTC(), w.To.UTC(), nil
}

// contactsOf converts the store's rows into continuity contacts. The IDs are
// the canonical UUID strings, whose order is the database's UUID order, so
// SECON's tie-break is the ORDER BY's.
func contactsOf(cs []postgres.ContinuityContact) []continuity.Contact {
	out := make([]continuity.Contact, len(cs))
	for i, c := range cs {
		out[i] = continuity.Contact{ID: c.ID.String(), At: c.At, ProviderID: c.PractitionerID.String(), Mode: c.Mode, Profession: c.Profession}
	}
	return out
}

func continuityQuery(from, to time.Time, o continuity.Options, kind care.RelationshipKind) postgres.ContinuityQuery {
	return postgres.ContinuityQuery{From: from, To: to, Modes: o.Modes, Professions: o.Professions, Kind: kind}
}

func indexOf(r continuity.Result) *model.ContinuityIndex {
	out := &model.ContinuityIndex{Value: r.Value, Contacts: r.Contacts, Clinicians: r.Providers}
	if r.Value == nil && r.Reason != "" {
		reason := r.Reason
		out.Reason = &reason
	}
	return out
}

func ratioOf(num, den int) *model.ContinuityRatio {
	out := &model.ContinuityRatio{Numerator: num, Denominator: den}
	if den > 0 {
		v := float64(num) / float64(den)
		out.Value = &v
	}
	return out
}

// patientContinuity computes every patient-level index for p over the window.
func (r *Resolver) patientContinuity(ctx context.Context, p *care.Patient, w *model.ContinuityWindow, in *model.ContinuityOptions) (*model.PatientContinuity, error) {
	opts, kind, err := continuityOptions(in)
	if err != nil {
		return nil, err
	}
	from, to, err := r.continuityWindow(w)
	if err != nil {
		return nil, err
	}
	scope := postgres.ContinuityScope{Patient: p.ID}
	cq := continuityQuery(from.AddDate(0, -knownProviderLookback, 0), to, opts, kind)
	rels, err := r.DB.ContinuityRelationships(ctx, scope, cq)
	if err != nil {
		return nil, err
	}
	var window, history []continuity.Contact
	err = r.DB.StreamContinuityContacts(ctx, scope, cq, func(_ uuid.UUID, cs []postgres.ContinuityContact) error {
		for _, c := range contactsOf(cs) {
			if c.At.Before(from) {
				history = append(history, c)
			} else {
				window = append(window, c)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s := continuity.PatientIndices(window, continuity.AssignmentsFrom(rels[p.ID], kind).At, history, opts)
	out := &model.PatientContinuity{
		From: from, To: to, Contacts: s.UPC.Contacts, Clinicians: s.UPC.Providers,
		Upc: indexOf(s.UPC), Coc: indexOf(s.COC), Secon: indexOf(s.SECON), Mmci: indexOf(s.MMCI),
		Herfindahl: indexOf(s.Herfindahl), UsualProviderShare: indexOf(s.UsualProviderShare), KnownProvider: indexOf(s.KnownProvider),
	}
	if s.HasUsualProvider {
		id, err := uuid.Parse(s.UsualProvider)
		if err != nil {
			return nil, fmt.Errorf("usual provider id: %w", err)
		}
		if out.UsualProvider, err = loadOpt(ctx, r.loaders(ctx).Practitioner, &id); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// meanAcc accumulates the mean of one index over patients exactly as
// continuity.MeanIndex defines it (defined values averaged, undefined ones
// counted by reason), without keeping every patient's Result.
type meanAcc struct {
	sum      float64
	eligible int
	excluded int
	reasons  map[string]int
}

func (m *meanAcc) add(r continuity.Result) {
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

func (m *meanAcc) model() *model.ContinuityMean {
	out := &model.ContinuityMean{Eligible: m.eligible, Excluded: m.excluded, Exclusions: []model.ContinuityExclusion{}}
	if m.eligible > 0 {
		v := m.sum / float64(m.eligible)
		out.Value = &v
	}
	for reason, n := range m.reasons {
		out.Exclusions = append(out.Exclusions, model.ContinuityExclusion{Reason: reason, Patients: n})
	}
	slices.SortFunc(out.Exclusions, func(a, b model.ContinuityExclusion) int { return strings.Compare(a.Reason, b.Reason) })
	return out
}

// monthAcc is one month of a series being summed.
type monthAcc struct {
	month, end time.Time
	// holders are the list holders in force at some time in the month, in
	// continuity's order (by ID); the counts below are aligned with them.
	holders              []string
	sliccNum, sliccDen   []int
	oprNum, oprDen       []int
	unassigned, listSize int
	upc, coc             meanAcc
	// everyHolder is a patient with no contacts whose assignments make every
	// holder a list holder, added to each one-patient call so that the
	// measures' per-GP counts line up with holders.
	everyHolder continuity.PatientMonth
}

// series is a monthly series computed over one scope.
type series struct {
	months []*monthAcc
	// list is the practitioner whose list the means are over (uuid.Nil: every
	// patient in scope).
	list        string
	indexMonths int
}

// computeSeries streams the scope's contacts into the continuity measures,
// one patient at a time, for the months overlapping [from, to).
func (r *Resolver) computeSeries(ctx context.Context, scope postgres.ContinuityScope, from, to time.Time, indexMonths *int, in *model.ContinuityOptions) (*series, error) {
	opts, kind, err := continuityOptions(in)
	if err != nil {
		return nil, err
	}
	k := defaultIndexMonths
	if indexMonths != nil {
		k = *indexMonths
	}
	if k < 1 || k > maxIndexMonths {
		return nil, care.Errorf(care.EINVALID, "indexMonths must be between 1 and %d", maxIndexMonths)
	}
	months := continuity.Months(from, to)
	switch {
	case len(months) == 0:
		return nil, care.Errorf(care.EINVALID, "to must be after from")
	case len(months) > maxSeriesMonths:
		return nil, care.Errorf(care.ELIMIT, "a series spans at most %d months", maxSeriesMonths)
	}
	s := &series{indexMonths: k}
	if scope.List != uuid.Nil {
		s.list = scope.List.String()
	}
	start, end := months[0].AddDate(0, -(k-1), 0), months[len(months)-1].AddDate(0, 1, 0)
	cq := continuityQuery(start, end, opts, kind)
	rels, err := r.DB.ContinuityRelationships(ctx, scope, cq)
	if err != nil {
		return nil, err
	}
	assignments := make(map[uuid.UUID]continuity.Assignments, len(rels))
	everyone := make([]continuity.PatientMonth, 0, len(rels))
	for pid, rs := range rels {
		as := continuity.AssignmentsFrom(rs, kind)
		assignments[pid] = as
		everyone = append(everyone, continuity.PatientMonth{UsualGP: as})
	}
	for _, m := range months {
		acc := &monthAcc{month: m, end: m.AddDate(0, 1, 0)}
		for _, l := range continuity.SLICC(m, everyone, opts).Lists {
			acc.holders = append(acc.holders, l.GP)
			acc.everyHolder.UsualGP = append(acc.everyHolder.UsualGP, continuity.Assignment{ProviderID: l.GP, Start: acc.month, End: acc.end})
		}
		n := len(acc.holders)
		acc.sliccNum, acc.sliccDen, acc.oprNum, acc.oprDen = make([]int, n), make([]int, n), make([]int, n), make([]int, n)
		s.months = append(s.months, acc)
	}
	if s.list != "" {
		for _, as := range assignments {
			for _, acc := range s.months {
				if s.onList(acc, as) {
					acc.listSize++
				}
			}
		}
	}
	err = r.DB.StreamContinuityContacts(ctx, scope, cq, func(pid uuid.UUID, rows []postgres.ContinuityContact) error {
		return s.addPatient(pid, assignments[pid], contactsOf(rows), opts)
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// onList reports whether the series' practitioner held the list the patient
// was on at some time in acc's month (continuity.SLICC names a month's list
// holders from their assignments).
func (s *series) onList(acc *monthAcc, as continuity.Assignments) bool {
	if len(as) == 0 {
		return false
	}
	for _, l := range continuity.SLICC(acc.month, []continuity.PatientMonth{{UsualGP: as}}, continuity.Options{}).Lists {
		if l.GP == s.list {
			return true
		}
	}
	return false
}

// firstAtOrAfter returns the index of the first contact at or after t in cs,
// which is ordered by time.
func firstAtOrAfter(cs []continuity.Contact, t time.Time) int {
	return sort.Search(len(cs), func(i int) bool { return !cs[i].At.Before(t) })
}

// addPatient adds one patient's contacts (ordered by time) to every month.
func (s *series) addPatient(pid uuid.UUID, as continuity.Assignments, cs []continuity.Contact, opts continuity.Options) error {
	// A window holding the same contacts as the month before gives the same
	// UPC and COC: most patients' windows change in few months, so the
	// indices are computed only when the window's contacts change.
	lastLo, lastHi := -1, -1
	var upc, coc continuity.Result
	for _, acc := range s.months {
		lo := firstAtOrAfter(cs, acc.month)
		hi := firstAtOrAfter(cs, acc.end)
		if month := cs[lo:hi]; len(month) > 0 {
			pm := []continuity.PatientMonth{{PatientID: pid.String(), UsualGP: as, Contacts: month}, acc.everyHolder}
			sl := continuity.SLICC(acc.month, pm, opts)
			op := continuity.OwnPatientRatio(acc.month, pm, opts)
			if len(sl.Lists) != len(acc.holders) || len(op.GPs) != len(acc.holders) {
				return fmt.Errorf("continuity series: patient %s names a list holder outside the month's %d", pid, len(acc.holders))
			}
			for j := range acc.holders {
				acc.sliccNum[j] += sl.Lists[j].Numerator
				acc.sliccDen[j] += sl.Lists[j].Denominator
				acc.oprNum[j] += op.GPs[j].Numerator
				acc.oprDen[j] += op.GPs[j].Denominator
			}
			acc.unassigned += sl.Unassigned
		}
		wlo := firstAtOrAfter(cs, acc.month.AddDate(0, -(s.indexMonths-1), 0))
		if wlo == hi || (s.list != "" && !s.onList(acc, as)) {
			continue
		}
		if wlo != lastLo || hi != lastHi {
			upc, coc = continuity.UPC(cs[wlo:hi], opts), continuity.COC(cs[wlo:hi], opts)
			lastLo, lastHi = wlo, hi
		}
		acc.upc.add(upc)
		acc.coc.add(coc)
	}
	return nil
}

// practiceContinuity serves Query.practiceContinuity.
func (r *Resolver) practiceContinuity(ctx context.Context, practiceID string, from, to time.Time, in *model.ContinuityOptions, indexMonths *int) (*model.PracticeContinuity, error) {
	id, err := scalar.UnmarshalUUID(practiceID)
	if err != nil {
		return nil, err
	}
	s, err := r.computeSeries(ctx, postgres.ContinuityScope{Aggregate: true, Practice: id}, from, to, indexMonths, in)
	if err != nil {
		return nil, err
	}
	l := r.loaders(ctx)
	practice, err := loadReq(ctx, l.Organization, id, "organization")
	if err != nil {
		return nil, err
	}
	var ids []uuid.UUID
	for _, acc := range s.months {
		for _, h := range acc.holders {
			gp, err := uuid.Parse(h)
			if err != nil {
				return nil, fmt.Errorf("list holder id: %w", err)
			}
			ids = append(ids, gp)
		}
	}
	slices.SortFunc(ids, func(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) })
	ids = slices.Compact(ids)
	ps, err := l.Practitioner.LoadAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]*care.Practitioner, len(ps))
	for _, p := range ps {
		if p != nil {
			byID[p.ID.String()] = p
		}
	}
	out := &model.PracticeContinuity{Practice: practice, IndexMonths: s.indexMonths, Months: make([]model.PracticeContinuityMonth, 0, len(s.months))}
	for _, acc := range s.months {
		m := model.PracticeContinuityMonth{
			Month: acc.month, UnassignedContacts: acc.unassigned, Lists: make([]model.ListContinuity, 0, len(acc.holders)),
			MeanUpc: acc.upc.model(), MeanCoc: acc.coc.model(),
		}
		var sn, sd, on, od int
		for j, h := range acc.holders {
			p := byID[h]
			if p == nil {
				return nil, notFound("practitioner")
			}
			m.Lists = append(m.Lists, model.ListContinuity{
				Practitioner: p, Slicc: ratioOf(acc.sliccNum[j], acc.sliccDen[j]), Opr: ratioOf(acc.oprNum[j], acc.oprDen[j]),
			})
			sn, sd, on, od = sn+acc.sliccNum[j], sd+acc.sliccDen[j], on+acc.oprNum[j], od+acc.oprDen[j]
		}
		m.Slicc, m.Opr = ratioOf(sn, sd), ratioOf(on, od)
		out.Months = append(out.Months, m)
	}
	return out, nil
}

// practitionerContinuity serves Practitioner.continuity: her list's series.
func (r *Resolver) practitionerContinuity(ctx context.Context, p *care.Practitioner, from, to time.Time, in *model.ContinuityOptions, indexMonths *int) ([]model.PractitionerContinuityMonth, error) {
	s, err := r.computeSeries(ctx, postgres.ContinuityScope{Aggregate: true, List: p.ID}, from, to, indexMonths, in)
	if err != nil {
		return nil, err
	}
	out := make([]model.PractitionerContinuityMonth, 0, len(s.months))
	for _, acc := range s.months {
		m := model.PractitionerContinuityMonth{
			Month: acc.month, ListSize: acc.listSize, Slicc: ratioOf(0, 0), Opr: ratioOf(0, 0),
			MeanUpc: acc.upc.model(), MeanCoc: acc.coc.model(),
		}
		if j := slices.Index(acc.holders, s.list); j >= 0 {
			m.Slicc, m.Opr = ratioOf(acc.sliccNum[j], acc.sliccDen[j]), ratioOf(acc.oprNum[j], acc.oprDen[j])
		}
		out = append(out, m)
	}
	return out, nil
}

// atRiskArgs are Query.continuityAtRisk's arguments.
type atRiskArgs struct {
	practiceID, practitionerID          *string
	window                              *model.ContinuityWindow
	minContacts                         *int
	upcBelow, cocBelow, usualShareBelow *float64
	options                             *model.ContinuityOptions
	first                               *int
}

// atRisk is one patient found at risk.
type atRisk struct {
	patient         uuid.UUID
	upc, coc, share continuity.Result
	reasons         []string
}

// continuityAtRisk serves Query.continuityAtRisk.
func (r *Resolver) continuityAtRisk(ctx context.Context, a atRiskArgs) (*model.ContinuityAtRisk, error) {
	opts, kind, err := continuityOptions(a.options)
	if err != nil {
		return nil, err
	}
	from, to, err := r.continuityWindow(a.window)
	if err != nil {
		return nil, err
	}
	var scope postgres.ContinuityScope
	switch {
	case (a.practiceID == nil) == (a.practitionerID == nil):
		return nil, care.Errorf(care.EINVALID, "give exactly one of practiceId and practitionerId")
	case a.practiceID != nil:
		if scope.Practice, err = scalar.UnmarshalUUID(*a.practiceID); err != nil {
			return nil, err
		}
	default:
		if scope.Caseload, err = scalar.UnmarshalUUID(*a.practitionerID); err != nil {
			return nil, err
		}
	}
	minContacts, first := defaultAtRiskContacts, defaultAtRiskPageSize
	if a.minContacts != nil {
		minContacts = *a.minContacts
	}
	if minContacts < minAtRiskContacts {
		return nil, care.Errorf(care.EINVALID, "minContacts must be at least %d", minAtRiskContacts)
	}
	if a.first != nil {
		first = *a.first
	}
	if first < 0 || first > maxAtRiskPageSize {
		return nil, care.Errorf(care.ELIMIT, "first must be between 0 and %d", maxAtRiskPageSize)
	}
	type threshold struct {
		name  string
		below *float64
		value func(*atRisk) continuity.Result
	}
	thresholds := []threshold{
		{"UPC", a.upcBelow, func(x *atRisk) continuity.Result { return x.upc }},
		{"COC", a.cocBelow, func(x *atRisk) continuity.Result { return x.coc }},
		{"Usual provider share", a.usualShareBelow, func(x *atRisk) continuity.Result { return x.share }},
	}
	cq := continuityQuery(from, to, opts, kind)
	rels, err := r.DB.ContinuityRelationships(ctx, scope, cq)
	if err != nil {
		return nil, err
	}
	var found []*atRisk
	err = r.DB.StreamContinuityContacts(ctx, scope, cq, func(pid uuid.UUID, rows []postgres.ContinuityContact) error {
		cs := contactsOf(rows)
		x := &atRisk{patient: pid, upc: continuity.UPC(cs, opts), coc: continuity.COC(cs, opts),
			share: continuity.UsualProviderShare(cs, continuity.AssignmentsFrom(rels[pid], kind).At, opts)}
		if x.upc.Contacts < minContacts {
			return nil
		}
		for _, t := range thresholds {
			v := t.value(x)
			if t.below != nil && v.Value != nil && *v.Value < *t.below {
				x.reasons = append(x.reasons, fmt.Sprintf(continuityReasonFormat, t.name, *v.Value, *t.below, v.Contacts))
			}
		}
		if len(x.reasons) > 0 {
			found = append(found, x)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(found, func(a, b *atRisk) int {
		if c := cmpValue(a.upc.Value, b.upc.Value); c != 0 {
			return c
		}
		if a.upc.Contacts != b.upc.Contacts {
			return b.upc.Contacts - a.upc.Contacts
		}
		return strings.Compare(a.patient.String(), b.patient.String())
	})
	out := &model.ContinuityAtRisk{From: from, To: to, TotalCount: len(found), Patients: []model.ContinuityAtRiskPatient{}}
	found = found[:min(first, len(found))]
	ids := make([]uuid.UUID, len(found))
	for i, x := range found {
		ids[i] = x.patient
	}
	ps, err := r.loaders(ctx).Patient.LoadAll(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i, x := range found {
		if ps[i] == nil {
			continue // invisible since the stream: never shown
		}
		out.Patients = append(out.Patients, model.ContinuityAtRiskPatient{
			Patient: ps[i], Contacts: x.upc.Contacts, Clinicians: x.upc.Providers,
			Upc: indexOf(x.upc), Coc: indexOf(x.coc), UsualProviderShare: indexOf(x.share), Reasons: x.reasons,
		})
	}
	return out, nil
}

// cmpValue orders index values ascending with undefined ones last.
func cmpValue(a, b *float64) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	case *a < *b:
		return -1
	case *a > *b:
		return 1
	}
	return 0
}
