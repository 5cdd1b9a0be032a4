package fhir

import (
	"context"
	"strings"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres"
)

// resourceTypes is every type served, with its read, search, parameters and
// includes. The CapabilityStatement is built from this table, so it says
// exactly what is supported.
var resourceTypes map[string]resourceType

func init() {
	resourceTypes = map[string]resourceType{
		"Organization": {read: readOrganization, search: searchOrganizations,
			params: []string{"_id", "name", "identifier", "type"}},
		"Practitioner": {read: readPractitioner, search: searchPractitioners,
			params: []string{"_id", "name", "organization"}},
		"PractitionerRole": {read: readPractitionerRole, search: searchPractitionerRoles,
			params: []string{"_id", "practitioner", "organization", "role"}, includes: []string{"PractitionerRole:practitioner"}},
		"Group": {read: readGroup, search: searchGroups, params: []string{"_id", "name", "managing-entity"}},
		"Patient": {read: readPatient, search: searchPatients, patientData: true,
			params:   []string{"_id", "identifier", "name", "general-practitioner", "organization", "_lastUpdated"},
			includes: []string{"Patient:general-practitioner"}},
		"CareTeam": {read: readCareTeam, search: searchCareTeams, patientData: true,
			params: []string{"_id", "patient", "subject", "status"}},
		"EpisodeOfCare": {read: readEpisode, search: searchEpisodes, patientData: true,
			params:   []string{"_id", "patient", "care-manager", "organization", "type", "date", "_lastUpdated"},
			includes: []string{"EpisodeOfCare:patient", "EpisodeOfCare:care-manager"}},
		"Encounter": {read: readEncounter, search: searchEncounters, patientData: true,
			params:      []string{"_id", "patient", "subject", "practitioner", "participant", "date", "_lastUpdated"},
			includes:    []string{"Encounter:patient", "Encounter:subject", "Encounter:practitioner", "Encounter:participant"},
			revincludes: []string{"Provenance:target"}},
		"Provenance": {search: searchProvenance, patientData: true, params: []string{"target"}},
		"Questionnaire": {read: readQuestionnaire, search: searchQuestionnaires,
			params: []string{"_id"}},
		"QuestionnaireResponse": {read: readQuestionnaireResponse, search: searchQuestionnaireResponses, patientData: true,
			params: []string{"_id", "subject", "authored"}},
	}
}

// parseID returns the uuid in a read's id; ENOTFOUND when it is not one of ours.
func parseID(id, what string) (uuid.UUID, error) {
	u, err := uuid.Parse(id)
	if err != nil {
		return uuid.Nil, care.Errorf(care.ENOTFOUND, "no such %s", what)
	}
	return u, nil
}

// readOne reads the record id names with load (the store's audited,
// access-checked read) and maps it with entries; ENOTFOUND naming what when
// the id is not one of ours.
func readOne[T any](ctx context.Context, id, what string, load func(context.Context, uuid.UUID) (*T, error),
	entries func(context.Context, []*T) ([]entry, error)) (any, error) {
	u, err := parseID(id, what)
	if err != nil {
		return nil, err
	}
	x, err := load(ctx, u)
	if err != nil {
		return nil, err
	}
	e, err := entries(ctx, []*T{x})
	if err != nil {
		return nil, err
	}
	if len(e) == 0 {
		return nil, care.Errorf(care.ENOTFOUND, "no such %s", what)
	}
	return e[0].res, nil
}

// pure lifts a mapping that needs no further reads.
func pure[T any](f func([]*T) []entry) func(context.Context, []*T) ([]entry, error) {
	return func(_ context.Context, xs []*T) ([]entry, error) { return f(xs), nil }
}

func pageOf(p *params) (care.PageArgs, error) { return p.page() }

// ---- Organization

func readOrganization(ctx context.Context, h *Handler, id string) (any, error) {
	return readOne(ctx, id, "organization", h.cfg.DB.Organization, pure(orgEntries))
}

func orgEntries(os []*care.Organization) []entry {
	var out []entry
	for _, o := range os {
		if o != nil {
			out = append(out, entry{"Organization", o.ID.String(), NewOrganization(o)})
		}
	}
	return out
}

func searchOrganizations(ctx context.Context, h *Handler, p *params) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	if ids := p.ids(); ids != nil {
		os, err := h.cfg.DB.OrganizationsByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		e := orgEntries(os)
		return &result{matches: e, total: len(e)}, nil
	}
	ods, err := p.token("identifier", SystemODSCode)
	if err != nil {
		return nil, err
	}
	if ods != "" {
		o, err := h.cfg.DB.OrganizationByODS(ctx, ods)
		if care.ErrorCode(err) == care.ENOTFOUND {
			return &result{total: 0}, nil
		} else if err != nil {
			return nil, err
		}
		return &result{matches: orgEntries([]*care.Organization{o}), total: 1}, nil
	}
	var f care.OrganizationFilter
	if f.Name, err = p.str("name"); err != nil {
		return nil, err
	}
	if f.Kind, err = enumParam(p, "type", SystemOrgKind, care.OrganizationKind.Valid); err != nil {
		return nil, err
	}
	page, err := h.cfg.DB.Organizations(ctx, f, pa)
	if err != nil {
		return nil, err
	}
	return &result{matches: orgEntries(nodesOf(page)), total: page.TotalCount, next: nextCursor(page)}, nil
}

// ---- Practitioner and PractitionerRole

func readPractitioner(ctx context.Context, h *Handler, id string) (any, error) {
	return readOne(ctx, id, "practitioner", h.cfg.DB.Practitioner,
		pure(func(ps []*care.Practitioner) []entry { return practitionerEntries(ps, false) }))
}

func readPractitionerRole(ctx context.Context, h *Handler, id string) (any, error) {
	return readOne(ctx, id, "practitioner role", h.cfg.DB.Practitioner,
		pure(func(ps []*care.Practitioner) []entry { return practitionerEntries(ps, true) }))
}

func practitionerEntries(ps []*care.Practitioner, role bool) []entry {
	var out []entry
	for _, p := range ps {
		switch {
		case p == nil:
		case role:
			out = append(out, entry{"PractitionerRole", p.ID.String(), NewPractitionerRole(p)})
		default:
			out = append(out, entry{"Practitioner", p.ID.String(), NewPractitioner(p)})
		}
	}
	return out
}

// listPractitioners runs a Practitioner or PractitionerRole search.
func listPractitioners(ctx context.Context, h *Handler, p *params, role bool) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	ids := p.ids()
	if role {
		id, err := p.ref("practitioner", "Practitioner")
		if err != nil {
			return nil, err
		}
		if id != nil {
			ids = append(ids, *id)
		}
	}
	var res *result
	if ids != nil {
		ps, err := h.cfg.DB.PractitionersByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		e := practitionerEntries(ps, role)
		res = &result{matches: e, total: len(e)}
	} else {
		var f care.PractitionerFilter
		if f.OrganizationID, err = p.ref("organization", "Organization"); err != nil {
			return nil, err
		}
		if !role {
			f.Name, err = p.str("name")
		} else {
			f.Profession, err = enumParam(p, "role", SystemProfession, care.Profession.Valid)
		}
		if err != nil {
			return nil, err
		}
		page, err := h.cfg.DB.Practitioners(ctx, f, pa)
		if err != nil {
			return nil, err
		}
		res = &result{matches: practitionerEntries(nodesOf(page), role), total: page.TotalCount, next: nextCursor(page)}
	}
	if role {
		inc, err := p.includes("_include", resourceTypes["PractitionerRole"].includes...)
		if err != nil {
			return nil, err
		}
		if inc["PractitionerRole:practitioner"] {
			var ids []uuid.UUID
			for _, m := range res.matches {
				ids = append(ids, uuid.MustParse(m.id))
			}
			if err := h.include(ctx, res, nil, ids, nil); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

func searchPractitioners(ctx context.Context, h *Handler, p *params) (*result, error) {
	if _, err := p.includes("_include"); err != nil {
		return nil, err
	}
	return listPractitioners(ctx, h, p, false)
}

func searchPractitionerRoles(ctx context.Context, h *Handler, p *params) (*result, error) {
	return listPractitioners(ctx, h, p, true)
}

// ---- Group (a team)

func (h *Handler) groups(ctx context.Context, teams []*care.Team) ([]entry, error) {
	var out []entry
	first := care.MaxPageSize
	kind := care.KindTeamMember
	for _, t := range teams {
		if t == nil {
			continue
		}
		page, err := h.cfg.DB.CareRelationships(ctx, care.RelationshipFilter{TeamID: &t.ID, Kind: &kind}, care.PageArgs{First: &first})
		if err != nil {
			return nil, err
		}
		out = append(out, entry{"Group", t.ID.String(), NewGroup(t, nodesOf(page), h.cfg.Now())})
	}
	return out, nil
}

func readGroup(ctx context.Context, h *Handler, id string) (any, error) {
	return readOne(ctx, id, "group", h.cfg.DB.Team, h.groups)
}

func searchGroups(ctx context.Context, h *Handler, p *params) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	if ids := p.ids(); ids != nil {
		ts, err := h.cfg.DB.TeamsByID(ctx, ids)
		if err != nil {
			return nil, err
		}
		e, err := h.groups(ctx, ts)
		if err != nil {
			return nil, err
		}
		return &result{matches: e, total: len(e)}, nil
	}
	var f care.TeamFilter
	if f.Name, err = p.str("name"); err != nil {
		return nil, err
	}
	if f.OrganizationID, err = p.ref("managing-entity", "Organization"); err != nil {
		return nil, err
	}
	page, err := h.cfg.DB.Teams(ctx, f, pa)
	if err != nil {
		return nil, err
	}
	e, err := h.groups(ctx, nodesOf(page))
	if err != nil {
		return nil, err
	}
	return &result{matches: e, total: page.TotalCount, next: nextCursor(page)}, nil
}

// ---- Patient

// patientEntries maps patients with their usual GPs (one query).
func (h *Handler) patientEntries(ctx context.Context, ps []*care.Patient) ([]entry, map[uuid.UUID]uuid.UUID, error) {
	var ids []uuid.UUID
	for _, p := range ps {
		if p != nil {
			ids = append(ids, p.ID)
		}
	}
	gps := map[uuid.UUID]uuid.UUID{}
	if len(ids) > 0 {
		var err error
		if gps, err = h.cfg.DB.CurrentPractitioners(ctx, care.KindUsualGP, ids); err != nil {
			return nil, nil, err
		}
	}
	var out []entry
	for _, p := range ps {
		if p != nil {
			out = append(out, entry{"Patient", p.ID.String(), NewPatient(p, gps[p.ID])})
		}
	}
	return out, gps, nil
}

func readPatient(ctx context.Context, h *Handler, id string) (any, error) {
	return readOne(ctx, id, "patient", h.cfg.DB.Patient, func(ctx context.Context, ps []*care.Patient) ([]entry, error) {
		e, _, err := h.patientEntries(ctx, ps)
		return e, err
	})
}

func searchPatients(ctx context.Context, h *Handler, p *params) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	inc, err := p.includes("_include", resourceTypes["Patient"].includes...)
	if err != nil {
		return nil, err
	}
	var f care.PatientFilter
	if f.Name, err = p.str("name"); err != nil {
		return nil, err
	}
	if nhs, err := p.token("identifier", SystemNHSNumber); err != nil {
		return nil, err
	} else if nhs != "" {
		f.NHSNumber = &nhs
	}
	if f.PractitionerID, err = p.ref("general-practitioner", "Practitioner"); err != nil {
		return nil, err
	}
	if f.RegisteredPracticeID, err = p.ref("organization", "Organization"); err != nil {
		return nil, err
	}
	x := postgres.Search{IDs: p.ids()}
	if x.Updated, err = p.dates("_lastUpdated"); err != nil {
		return nil, err
	}
	if x.Updated.Empty() {
		return &result{total: 0}, nil
	}
	page, err := h.cfg.DB.SearchPatients(ctx, f, x, pa)
	if err != nil {
		return nil, err
	}
	e, gps, err := h.patientEntries(ctx, nodesOf(page))
	if err != nil {
		return nil, err
	}
	res := &result{matches: e, total: page.TotalCount, next: nextCursor(page)}
	if inc["Patient:general-practitioner"] {
		var orgs, pracs []uuid.UUID
		for _, pt := range nodesOf(page) {
			orgs = append(orgs, pt.RegisteredPracticeID)
			if gp, ok := gps[pt.ID]; ok {
				pracs = append(pracs, gp)
			}
		}
		if err := h.include(ctx, res, orgs, pracs, nil); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// include adds the organisations, practitioners and patients named to
// res.includes (patients through the access rule, audited).
func (h *Handler) include(ctx context.Context, res *result, orgs, pracs, patients []uuid.UUID) error {
	if len(orgs) > 0 {
		os, err := h.cfg.DB.OrganizationsByID(ctx, uniq(orgs))
		if err != nil {
			return err
		}
		res.includes = append(res.includes, orgEntries(os)...)
	}
	if len(pracs) > 0 {
		ps, err := h.cfg.DB.PractitionersByID(ctx, uniq(pracs))
		if err != nil {
			return err
		}
		res.includes = append(res.includes, practitionerEntries(ps, false)...)
	}
	if len(patients) > 0 {
		ps, err := h.cfg.DB.PatientsByID(ctx, uniq(patients))
		if err != nil {
			return err
		}
		e, _, err := h.patientEntries(ctx, ps)
		if err != nil {
			return err
		}
		res.includes = append(res.includes, e...)
	}
	return nil
}

func uniq(ids []uuid.UUID) []uuid.UUID {
	seen := map[uuid.UUID]bool{}
	var out []uuid.UUID
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// ---- CareTeam (a patient's relationships in force)

func (h *Handler) teamNames(ctx context.Context, rels []*care.CareRelationship) (map[uuid.UUID]string, error) {
	var ids []uuid.UUID
	for _, r := range rels {
		if r.TeamID != nil {
			ids = append(ids, *r.TeamID)
		}
	}
	out := map[uuid.UUID]string{}
	if len(ids) == 0 {
		return out, nil
	}
	ts, err := h.cfg.DB.TeamsByID(ctx, uniq(ids))
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if t != nil {
			out[t.ID] = t.Name
		}
	}
	return out, nil
}

func (h *Handler) careTeams(ctx context.Context, ps []*care.Patient) ([]entry, error) {
	var ids []uuid.UUID
	for _, p := range ps {
		ids = append(ids, p.ID)
	}
	if len(ids) == 0 {
		return nil, nil
	}
	active := true
	first := care.MaxPageSize
	byPatient, err := h.cfg.DB.RelationshipsForPatients(ctx, ids, care.RelationshipFilter{Active: &active}, care.PageArgs{First: &first})
	if err != nil {
		return nil, err
	}
	var all []*care.CareRelationship
	for _, pg := range byPatient {
		all = append(all, nodesOf(pg)...)
	}
	teams, err := h.teamNames(ctx, all)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, p := range ps {
		var rels []*care.CareRelationship
		if pg := byPatient[p.ID]; pg != nil {
			rels = nodesOf(pg)
		}
		out = append(out, entry{"CareTeam", p.ID.String(), NewCareTeam(p, rels, teams)})
	}
	return out, nil
}

func readCareTeam(ctx context.Context, h *Handler, id string) (any, error) {
	load := func(ctx context.Context, u uuid.UUID) (*care.Patient, error) {
		p, err := h.cfg.DB.Patient(ctx, u)
		if care.ErrorCode(err) == care.ENOTFOUND {
			return nil, care.Errorf(care.ENOTFOUND, "no such care team")
		}
		return p, err
	}
	return readOne(ctx, id, "care team", load, h.careTeams)
}

func searchCareTeams(ctx context.Context, h *Handler, p *params) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	if s, err := p.one("status"); err != nil {
		return nil, err
	} else if s != "" && s != "active" {
		return &result{total: 0}, nil // only the care team in force is kept
	}
	x := postgres.Search{IDs: p.ids()}
	for _, name := range []string{"patient", "subject"} {
		id, err := p.ref(name, "Patient")
		if err != nil {
			return nil, err
		}
		if id != nil {
			x.IDs = append(x.IDs, *id)
		}
	}
	page, err := h.cfg.DB.SearchPatients(ctx, care.PatientFilter{}, x, pa)
	if err != nil {
		return nil, err
	}
	e, err := h.careTeams(ctx, nodesOf(page))
	if err != nil {
		return nil, err
	}
	return &result{matches: e, total: page.TotalCount, next: nextCursor(page)}, nil
}

// ---- EpisodeOfCare (one patient relationship)

func (h *Handler) episodes(ctx context.Context, rels []*care.CareRelationship) ([]entry, error) {
	teams, err := h.teamNames(ctx, rels)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, r := range rels {
		if r != nil && r.PatientID != nil {
			out = append(out, entry{"EpisodeOfCare", r.ID.String(), NewEpisodeOfCare(r, teams)})
		}
	}
	return out, nil
}

func readEpisode(ctx context.Context, h *Handler, id string) (any, error) {
	load := func(ctx context.Context, u uuid.UUID) (*care.CareRelationship, error) {
		r, err := h.cfg.DB.CareRelationship(ctx, u)
		if err == nil && r.PatientID == nil {
			return nil, care.Errorf(care.ENOTFOUND, "no such episode of care")
		}
		return r, err
	}
	return readOne(ctx, id, "episode of care", load, h.episodes)
}

func searchEpisodes(ctx context.Context, h *Handler, p *params) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	inc, err := p.includes("_include", resourceTypes["EpisodeOfCare"].includes...)
	if err != nil {
		return nil, err
	}
	var f care.RelationshipFilter
	if f.PatientID, err = p.ref("patient", "Patient"); err != nil {
		return nil, err
	}
	if f.PractitionerID, err = p.ref("care-manager", "Practitioner"); err != nil {
		return nil, err
	}
	if f.OrganizationID, err = p.ref("organization", "Organization"); err != nil {
		return nil, err
	}
	if t, err := p.token("type", SystemRelationship); err != nil {
		return nil, err
	} else if t != "" {
		k := care.RelationshipKind(t)
		if !k.IsPatientKind() {
			return nil, care.Errorf(care.EINVALID, "type: not a patient relationship kind")
		}
		f.Kind = &k
	}
	x := postgres.Search{IDs: p.ids()}
	if x.Updated, err = p.dates("_lastUpdated"); err != nil {
		return nil, err
	}
	if x.Date, err = p.dates("date"); err != nil {
		return nil, err
	}
	if x.Updated.Empty() || x.Date.Empty() {
		return &result{total: 0}, nil
	}
	page, err := h.cfg.DB.SearchRelationships(ctx, f, x, true, pa)
	if err != nil {
		return nil, err
	}
	rels := nodesOf(page)
	e, err := h.episodes(ctx, rels)
	if err != nil {
		return nil, err
	}
	res := &result{matches: e, total: page.TotalCount, next: nextCursor(page)}
	var patients, pracs []uuid.UUID
	for _, r := range rels {
		if inc["EpisodeOfCare:patient"] {
			patients = append(patients, *r.PatientID)
		}
		if inc["EpisodeOfCare:care-manager"] && r.PractitionerID != nil {
			pracs = append(pracs, *r.PractitionerID)
		}
	}
	return res, h.include(ctx, res, nil, pracs, patients)
}

// ---- Encounter (an interaction) and Provenance (its amendments)

func (h *Handler) encounters(ctx context.Context, is []*care.Interaction) ([]entry, error) {
	var ids []uuid.UUID
	for _, i := range is {
		if i != nil {
			ids = append(ids, i.ID)
		}
	}
	imported, err := h.cfg.DB.ImportedSources(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, i := range is {
		if i == nil {
			continue
		}
		var src *Imported
		if s, ok := imported[i.ID]; ok {
			src = &Imported{System: s.System, Value: s.Value}
		}
		out = append(out, entry{"Encounter", i.ID.String(), NewEncounter(i, src)})
	}
	return out, nil
}

func readEncounter(ctx context.Context, h *Handler, id string) (any, error) {
	return readOne(ctx, id, "encounter", h.cfg.DB.Interaction, h.encounters)
}

func searchEncounters(ctx context.Context, h *Handler, p *params) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	rt := resourceTypes["Encounter"]
	inc, err := p.includes("_include", rt.includes...)
	if err != nil {
		return nil, err
	}
	rev, err := p.includes("_revinclude", rt.revincludes...)
	if err != nil {
		return nil, err
	}
	var f care.InteractionFilter
	for _, name := range []string{"patient", "subject"} {
		if id, err := p.ref(name, "Patient"); err != nil {
			return nil, err
		} else if id != nil {
			f.PatientID = id
		}
	}
	for _, name := range []string{"practitioner", "participant"} {
		if id, err := p.ref(name, "Practitioner"); err != nil {
			return nil, err
		} else if id != nil {
			f.PractitionerID = id
		}
	}
	x := postgres.Search{IDs: p.ids()}
	if x.Updated, err = p.dates("_lastUpdated"); err != nil {
		return nil, err
	}
	if x.Date, err = p.dates("date"); err != nil {
		return nil, err
	}
	if x.Updated.Empty() || x.Date.Empty() {
		return &result{total: 0}, nil
	}
	page, err := h.cfg.DB.SearchInteractions(ctx, f, x, pa)
	if err != nil {
		return nil, err
	}
	is := nodesOf(page)
	e, err := h.encounters(ctx, is)
	if err != nil {
		return nil, err
	}
	res := &result{matches: e, total: page.TotalCount, next: nextCursor(page)}
	var patients, pracs, ids []uuid.UUID
	for _, i := range is {
		ids = append(ids, i.ID)
		if inc["Encounter:patient"] || inc["Encounter:subject"] {
			patients = append(patients, i.PatientID)
		}
		if inc["Encounter:practitioner"] || inc["Encounter:participant"] {
			pracs = append(append(pracs, i.PractitionerID), i.ParticipantIDs...)
		}
	}
	if err := h.include(ctx, res, nil, pracs, patients); err != nil {
		return nil, err
	}
	if rev["Provenance:target"] && len(ids) > 0 {
		am, err := h.cfg.DB.AmendmentsOf(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			for _, m := range am[id] {
				res.includes = append(res.includes, entry{"Provenance", m.ID.String(), NewProvenance(m)})
			}
		}
	}
	return res, nil
}

func searchProvenance(ctx context.Context, h *Handler, p *params) (*result, error) {
	if _, err := pageOf(p); err != nil {
		return nil, err
	}
	id, err := p.ref("target", "Encounter")
	if err != nil {
		return nil, err
	}
	if id == nil {
		return nil, care.Errorf(care.EINVALID, "Provenance is searched by target=Encounter/[id]")
	}
	am, err := h.cfg.DB.AmendmentsOf(ctx, []uuid.UUID{*id})
	if err != nil {
		return nil, err
	}
	res := &result{}
	for _, m := range am[*id] {
		res.matches = append(res.matches, entry{"Provenance", m.ID.String(), NewProvenance(m)})
	}
	res.total = len(res.matches)
	return res, nil
}

// ---- Questionnaire and QuestionnaireResponse

func readQuestionnaire(ctx context.Context, h *Handler, id string) (any, error) {
	switch id {
	case CAREMeasureID:
		return CAREMeasure(), nil
	case FFTID:
		return FFT(), nil
	}
	u, err := parseID(id, "questionnaire")
	if err != nil {
		return nil, err
	}
	q, err := h.cfg.DB.Questionnaire(ctx, u, 0)
	if err != nil {
		return nil, err
	}
	return NewQuestionnaire(q), nil
}

func searchQuestionnaires(ctx context.Context, h *Handler, p *params) (*result, error) {
	if _, err := pageOf(p); err != nil {
		return nil, err
	}
	qs, err := h.cfg.DB.Questionnaires(ctx)
	if err != nil {
		return nil, err
	}
	all := []*Questionnaire{CAREMeasure(), FFT()}
	for _, q := range qs {
		all = append(all, NewQuestionnaire(q))
	}
	want := map[string]bool{}
	for _, v := range p.q["_id"] {
		for _, s := range strings.Split(v, ",") {
			want[s] = true
		}
	}
	res := &result{}
	for _, q := range all {
		if len(want) == 0 || want[q.ID] {
			res.matches = append(res.matches, entry{"Questionnaire", q.ID, q})
		}
	}
	res.total = len(res.matches)
	return res, nil
}

func responseEntries(rs []*feedback.Response) []entry {
	var out []entry
	for _, r := range rs {
		if r != nil {
			out = append(out, entry{"QuestionnaireResponse", r.ID.String(), NewQuestionnaireResponse(r)})
		}
	}
	return out
}

func readQuestionnaireResponse(ctx context.Context, h *Handler, id string) (any, error) {
	u, err := parseID(id, "questionnaire response")
	if err != nil {
		return nil, err
	}
	rs, err := h.cfg.DB.IdentifiedFeedback(ctx, postgres.FeedbackFilter{}, []uuid.UUID{u}, 1, nil)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		return nil, care.Errorf(care.ENOTFOUND, "no such questionnaire response")
	}
	return NewQuestionnaireResponse(rs[0]), nil
}

func searchQuestionnaireResponses(ctx context.Context, h *Handler, p *params) (*result, error) {
	pa, err := pageOf(p)
	if err != nil {
		return nil, err
	}
	var before *uuid.UUID
	if pa.After != nil {
		u, err := uuid.Parse(*pa.After)
		if err != nil {
			return nil, care.Errorf(care.EINVALID, "the cursor is not valid for this list")
		}
		before = &u
	}
	var f postgres.FeedbackFilter
	if v, err := p.one("subject"); err != nil {
		return nil, err
	} else if v != "" {
		typ, id, _ := strings.Cut(v, "/")
		u, err := uuid.Parse(id)
		kinds := map[string]feedback.SubjectKind{"Encounter": feedback.SubjectInteraction, "EpisodeOfCare": feedback.SubjectRelationship,
			"Practitioner": feedback.SubjectPractitioner, "Group": feedback.SubjectTeam}
		k, ok := kinds[typ]
		if err != nil || !ok {
			return nil, care.Errorf(care.EINVALID, "subject must be Encounter/, EpisodeOfCare/, Practitioner/ or Group/[id]")
		}
		f.SubjectKind, f.SubjectID = &k, &u
	}
	authored, err := p.dates("authored")
	if err != nil {
		return nil, err
	}
	if authored.Empty() {
		return &result{total: 0}, nil
	}
	f.From, f.To = authored.From, authored.To
	n := *pa.First
	if n == 0 {
		return &result{total: -1}, nil
	}
	rs, err := h.cfg.DB.IdentifiedFeedback(ctx, f, p.ids(), n+1, before)
	if err != nil {
		return nil, err
	}
	res := &result{total: -1}
	if len(rs) > n {
		rs = rs[:n]
		res.next = rs[n-1].ID.String()
	}
	res.matches = responseEntries(rs)
	return res, nil
}
