package graph

import (
	"context"
	"fmt"
	"slices"
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
// (postgres/continuity.go); the measures, the monthly series
// (continuity.Series) and the at-risk selection (continuity.AtRisk) are
// continuity's pure code, fed one patient at a time so that a practice's
// contacts are never all in memory at once. This file decodes the arguments,
// calls the store and converts continuity's results to the GraphQL types.

// Limits and defaults of the continuity fields (documented in schema.graphql).
const (
	maxSeriesMonths       = 60
	maxIndexMonths        = 36
	defaultIndexMonths    = 12
	defaultWindowMonths   = 12
	knownProviderLookback = 12 // months of history KnownProvider may look back on
	defaultAtRiskContacts = 6
	defaultAtRiskPageSize = 20
	minAtRiskContacts     = 2
	maxAtRiskPageSize     = care.MaxPageSize
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
	var cv contactConverter
	return cv.of(cs)
}

// contactConverter is contactsOf for a stream of patients: the slice
// returned is reused by the next call and, given names, each clinician's ID
// is written out once.
type contactConverter struct {
	names map[uuid.UUID]string // nil: no cache
	buf   []continuity.Contact
}

func (cv *contactConverter) of(cs []postgres.ContinuityContact) []continuity.Contact {
	cv.buf = slices.Grow(cv.buf[:0], len(cs))
	for _, c := range cs {
		name, ok := cv.names[c.PractitionerID]
		if !ok {
			name = c.PractitionerID.String()
			if cv.names != nil {
				cv.names[c.PractitionerID] = name
			}
		}
		cv.buf = append(cv.buf, continuity.Contact{ID: c.ID.String(), At: c.At, ProviderID: name, Mode: c.Mode, Profession: c.Profession})
	}
	return cv.buf
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

// meanOf converts a mean to its GraphQL type, exclusions ordered by reason.
func meanOf(m continuity.Mean) *model.ContinuityMean {
	out := &model.ContinuityMean{Value: m.Value, Eligible: m.Eligible, Excluded: m.Excluded, Exclusions: []model.ContinuityExclusion{}}
	for reason, n := range m.Reasons {
		out.Exclusions = append(out.Exclusions, model.ContinuityExclusion{Reason: reason, Patients: n})
	}
	slices.SortFunc(out.Exclusions, func(a, b model.ContinuityExclusion) int { return strings.Compare(a.Reason, b.Reason) })
	return out
}

// listRatio converts one of continuity's ratios to its GraphQL type.
func listRatio(r continuity.ListResult) *model.ContinuityRatio {
	return &model.ContinuityRatio{Numerator: r.Numerator, Denominator: r.Denominator, Value: r.Value}
}

// computeSeries streams the scope's contacts into a continuity.Series, one
// patient at a time, for the months overlapping [from, to).
func (r *Resolver) computeSeries(ctx context.Context, scope postgres.ContinuityScope, from, to time.Time, indexMonths *int, in *model.ContinuityOptions) (*continuity.Series, error) {
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
	switch n := len(continuity.Months(from, to)); {
	case n == 0:
		return nil, care.Errorf(care.EINVALID, "to must be after from")
	case n > maxSeriesMonths:
		return nil, care.Errorf(care.ELIMIT, "a series spans at most %d months", maxSeriesMonths)
	}
	start, end := continuity.SeriesSpan(from, to, k)
	cq := continuityQuery(start, end, opts, kind)
	var list string
	if scope.List != uuid.Nil {
		list = scope.List.String()
	}
	var (
		s           *continuity.Series
		assignments map[uuid.UUID]continuity.Assignments
	)
	// AddPatient keeps nothing of the contacts: one slice serves every patient.
	cv := contactConverter{names: map[uuid.UUID]string{}}
	err = r.DB.ContinuityData(ctx, scope, cq, func(rels map[uuid.UUID][]care.CareRelationship) error {
		assignments = make(map[uuid.UUID]continuity.Assignments, len(rels))
		registered := make([]continuity.Assignments, 0, len(rels))
		for pid, rs := range rels {
			as := continuity.AssignmentsFrom(rs, kind)
			assignments[pid] = as
			registered = append(registered, as)
		}
		var err error
		s, err = continuity.NewSeries(from, to, k, list, registered, opts)
		return err
	}, func(pid uuid.UUID, rows []postgres.ContinuityContact) error {
		return s.AddPatient(pid.String(), assignments[pid], cv.of(rows))
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// practiceContinuity serves Query.practiceContinuity.
func (r *Resolver) practiceContinuity(ctx context.Context, practiceID string, from, to time.Time, in *model.ContinuityOptions, indexMonths *int) (*model.PracticeContinuity, error) {
	id, err := scalar.ParseID(practiceID, "Organization")
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
	months := s.Months()
	var ids []uuid.UUID
	for _, m := range months {
		for _, l := range m.Lists {
			gp, err := uuid.Parse(l.GP)
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
	out := &model.PracticeContinuity{Practice: practice, IndexMonths: s.IndexMonths(), Months: make([]model.PracticeContinuityMonth, 0, len(months))}
	for _, sm := range months {
		m := model.PracticeContinuityMonth{
			Month: sm.Month, UnassignedContacts: sm.Unassigned, Lists: make([]model.ListContinuity, 0, len(sm.Lists)),
			Slicc: listRatio(sm.SLICC), Opr: listRatio(sm.OPR), MeanUpc: meanOf(sm.MeanUPC), MeanCoc: meanOf(sm.MeanCOC),
		}
		for _, lm := range sm.Lists {
			p := byID[lm.GP]
			if p == nil {
				return nil, notFound("practitioner")
			}
			m.Lists = append(m.Lists, model.ListContinuity{Practitioner: p, Slicc: listRatio(lm.SLICC), Opr: listRatio(lm.OPR)})
		}
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
	months := s.Months()
	out := make([]model.PractitionerContinuityMonth, 0, len(months))
	for _, sm := range months {
		m := model.PractitionerContinuityMonth{
			Month: sm.Month, ListSize: sm.ListSize, Slicc: listRatio(continuity.ListResult{}), Opr: listRatio(continuity.ListResult{}),
			MeanUpc: meanOf(sm.MeanUPC), MeanCoc: meanOf(sm.MeanCOC),
		}
		if lm, ok := sm.List(p.ID.String()); ok {
			m.Slicc, m.Opr = listRatio(lm.SLICC), listRatio(lm.OPR)
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
		if scope.Practice, err = scalar.ParseID(*a.practiceID, "Organization"); err != nil {
			return nil, err
		}
	default:
		if scope.Caseload, err = scalar.ParseID(*a.practitionerID, "Practitioner"); err != nil {
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
	th := continuity.AtRiskThresholds{MinContacts: minContacts, UPCBelow: a.upcBelow, COCBelow: a.cocBelow, UsualProviderShareBelow: a.usualShareBelow}
	cq := continuityQuery(from, to, opts, kind)
	var rels map[uuid.UUID][]care.CareRelationship
	var found []continuity.AtRiskPatient
	err = r.DB.ContinuityData(ctx, scope, cq, func(rs map[uuid.UUID][]care.CareRelationship) error {
		rels = rs
		return nil
	}, func(pid uuid.UUID, rows []postgres.ContinuityContact) error {
		if x, ok := continuity.AtRisk(pid.String(), contactsOf(rows), continuity.AssignmentsFrom(rels[pid], kind).At, th, opts); ok {
			found = append(found, x)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	continuity.SortAtRisk(found)
	out := &model.ContinuityAtRisk{From: from, To: to, TotalCount: len(found), Patients: []model.ContinuityAtRiskPatient{}}
	found = found[:min(first, len(found))]
	ids := make([]uuid.UUID, len(found))
	for i, x := range found {
		if ids[i], err = uuid.Parse(x.PatientID); err != nil {
			return nil, fmt.Errorf("at-risk patient id: %w", err)
		}
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
			Patient: ps[i], Contacts: x.UPC.Contacts, Clinicians: x.UPC.Providers,
			Upc: indexOf(x.UPC), Coc: indexOf(x.COC), UsualProviderShare: indexOf(x.UsualProviderShare), Reasons: x.Reasons,
		})
	}
	return out, nil
}
