// Package demo generates a realistic, deterministic demo dataset — GP
// practices, their community nursing partners, patients, care relationships
// and a few years of interactions — for `rapport seed`, local development and
// benchmarks. Everything is invented; NHS numbers are valid (Modulus 11) and,
// for datasets of up to 400,000 patients, all in the 999 range that NHS England
// reserves for testing, so none belongs to a real person.
package demo

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// Options shape a generated dataset. Generate is deterministic: the same
// Options (Seed and Now included) always give the same dataset.
type Options struct {
	// Practices is how many GP practices; one community nursing organisation
	// partners every two of them.
	Practices int
	// PatientsPerPractice is how many patients each practice registers.
	PatientsPerPractice int
	// Months is the length of the window of interactions, ending at Now.
	Months int
	// Seed seeds the generator.
	Seed int64
	// Now is the end of the window; the zero value means ReferenceNow, so a
	// dataset generated without a clock is still reproducible.
	Now time.Time
}

// Presets.
var (
	// Small is the `make run` default: 2 practices of 300 patients, 24 months
	// (20,000 to 35,000 interactions, depending on the seed).
	Small = Options{Practices: 2, PatientsPerPractice: 300, Months: 24, Seed: 1}
	// Medium is 4 practices of 2,500 patients over 24 months (about 450,000
	// interactions).
	Medium = Options{Practices: 4, PatientsPerPractice: 2500, Months: 24, Seed: 1}
	// Large is one practice of 20,000 patients over 24 months, about 900,000
	// interactions: the continuity benchmarks' workload.
	Large = Options{Practices: 1, PatientsPerPractice: 20000, Months: 24, Seed: 1}
)

// testRangeLimit is how many NHS numbers are drawn from the 999 test range
// before moving on, so drawing an unused one stays quick.
const testRangeLimit = 400_000

// ReferenceNow is the end of the window when Options.Now is zero.
var ReferenceNow = time.Date(2025, time.January, 1, 12, 0, 0, 0, time.UTC)

// Well-known personas: records of the first practice and its nursing partner
// whose IDs are the same whatever the seed, so `make run` can mint tokens for
// them.
var (
	// PracticeID is the first GP practice.
	PracticeID = uuid.MustParse("01900000-0000-7000-8000-00000000a001")
	// GPID is a GP at PracticeID, usual GP of a share of its patients.
	GPID = uuid.MustParse("01900000-0000-7000-8000-00000000a002")
	// PracticeAdminID is the practice manager of PracticeID.
	PracticeAdminID = uuid.MustParse("01900000-0000-7000-8000-00000000a003")
	// NursingOrgID is the community nursing organisation partnering PracticeID.
	NursingOrgID = uuid.MustParse("01900000-0000-7000-8000-00000000b001")
	// NursingTeamID is the first district nursing team of NursingOrgID.
	NursingTeamID = uuid.MustParse("01900000-0000-7000-8000-00000000b002")
	// NurseID is a district nurse in NursingTeamID, named nurse of a share of
	// her team's patients (the first five of them, then 40%).
	NurseID = uuid.MustParse("01900000-0000-7000-8000-00000000b003")
)

// Generate builds the dataset o describes. It never fails: counts below 1 are
// treated as 1 (Months as 1), and the same o always yields the same dataset.
func Generate(o Options) *care.Dataset {
	o.Practices = max(o.Practices, 1)
	o.PatientsPerPractice = max(o.PatientsPerPractice, 1)
	o.Months = max(o.Months, 1)
	if o.Now.IsZero() {
		o.Now = ReferenceNow
	}
	now := o.Now.UTC().Truncate(time.Second)
	g := &gen{
		r:       rand.New(rand.NewPCG(uint64(o.Seed), uint64(o.Seed)^0x9e3779b97f4a7c15)),
		now:     now,
		start:   now.AddDate(0, -o.Months, 0),
		founded: now.AddDate(-20, 0, 0),
		d:       &care.Dataset{},
		ods:     map[string]bool{},
		nhs:     map[string]bool{},
	}
	g.d.Interactions = make([]care.Interaction, 0, o.Practices*o.PatientsPerPractice*expectedInteractionsPerPatientMonth*o.Months)

	nursing := make([]*nursingOrg, (o.Practices+1)/2)
	for i := range nursing {
		nursing[i] = g.nursingOrg(i)
	}
	practices := make([]*practice, o.Practices)
	for i := range practices {
		practices[i] = g.practice(i, nursing[i/2])
	}
	for _, p := range practices {
		for range o.PatientsPerPractice {
			g.patient(p)
		}
	}
	return g.d
}

// expectedInteractionsPerPatientMonth sizes the interactions slice up front.
const expectedInteractionsPerPatientMonth = 2

type gen struct {
	r       *rand.Rand
	now     time.Time // end of the window
	start   time.Time // start of the window
	founded time.Time // when the organisations' records begin
	d       *care.Dataset
	ods     map[string]bool
	nhs     map[string]bool
	// personaCaseload counts the patients NurseID is named nurse of.
	personaCaseload int
}

type practice struct {
	id         uuid.UUID
	gps        []uuid.UUID
	gpWeights  []float64 // relative list sizes
	nurse      uuid.UUID // the practice nurse
	continuity float64   // chance a GP contact is with the usual GP
	nursingOrg *nursingOrg
}

type nursingOrg struct {
	id    uuid.UUID
	teams []*team
}

type team struct {
	id     uuid.UUID
	nurses []uuid.UUID
}

// District nursing needs of a housebound patient.
const (
	needInsulin = iota
	needDressing
	needMonthly
)

// id returns a UUIDv7-shaped ID for a record created at t: its timestamp, then
// random bits from the seeded generator, so IDs are time-ordered like the ones
// devices mint, yet the same on every run.
func (g *gen) id(t time.Time) uuid.UUID {
	var u uuid.UUID
	binary.BigEndian.PutUint64(u[0:8], uint64(t.UnixMilli())<<16|g.r.Uint64()&0xffff)
	binary.BigEndian.PutUint64(u[8:16], g.r.Uint64())
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 4122 variant
	return u
}

// between returns a time uniformly in [a, b), or a when b is not after a.
func (g *gen) between(a, b time.Time) time.Time {
	n := int64(b.Sub(a) / time.Second)
	if n <= 0 {
		return a
	}
	return a.Add(time.Duration(g.r.Int64N(n)) * time.Second)
}

func (g *gen) pick(list []string) string { return list[g.r.IntN(len(list))] }

func (g *gen) chance(p float64) bool { return g.r.Float64() < p }

// odsCode returns an unused code: prefix followed by digits random digits.
func (g *gen) odsCode(prefix string, digits int) *string {
	for {
		s := prefix
		for range digits {
			s += string(rune('0' + g.r.IntN(10)))
		}
		if !g.ods[s] {
			g.ods[s] = true
			return &s
		}
	}
}

// nhsNumber returns an unused, valid NHS number: from the 999 range reserved
// for testing while it lasts (it holds about 900,000), then from the 9s.
func (g *gen) nhsNumber() string {
	first := 3
	if len(g.nhs) >= testRangeLimit {
		first = 1
	}
	for {
		var b [10]byte
		sum := 0
		for i := range first {
			b[i] = '9'
			sum += 9 * (10 - i)
		}
		for i := first; i < 9; i++ {
			d := g.r.IntN(10)
			b[i] = byte('0' + d)
			sum += d * (10 - i)
		}
		check := 11 - sum%11
		if check == 11 {
			check = 0
		}
		if check == 10 { // no valid number has these nine digits
			continue
		}
		b[9] = byte('0' + check)
		s := string(b[:])
		if !g.nhs[s] {
			g.nhs[s] = true
			return s
		}
	}
}

func (g *gen) organization(id uuid.UUID, name string, kind care.OrganizationKind, ods *string) {
	g.d.Organizations = append(g.d.Organizations, care.Organization{
		ID: id, Name: name, Kind: kind, ODSCode: ods,
		CreatedAt: g.founded, UpdatedAt: g.founded, Version: 1,
	})
}

func (g *gen) practitioner(id, org uuid.UUID, prof care.Profession) uuid.UUID {
	if id == uuid.Nil {
		id = g.id(g.founded)
	}
	given := femaleNames
	if g.chance(0.4) {
		given = maleNames
	}
	g.d.Practitioners = append(g.d.Practitioners, care.Practitioner{
		ID: id, OrganizationID: org, GivenName: g.pick(given), FamilyName: g.pick(familyNames),
		Profession: prof, Active: true, CreatedAt: g.founded, UpdatedAt: g.founded, Version: 1,
	})
	return id
}

// relationship appends a relationship; end (if not nil) makes it ENDED.
func (g *gen) relationship(r care.CareRelationship, end *time.Time) {
	r.ID = g.id(r.PeriodStart)
	r.Status, r.CreatedAt, r.UpdatedAt, r.Version = care.RelationshipActive, r.PeriodStart, r.PeriodStart, 1
	if end != nil {
		r.Status, r.PeriodEnd, r.UpdatedAt, r.Version = care.RelationshipEnded, end, *end, 2
	}
	if r.Consent == "" {
		r.Consent = care.ConsentNotRecorded
	}
	if r.PatientPreference == "" {
		r.PatientPreference = care.PreferenceNotAsked
	}
	g.d.Relationships = append(g.d.Relationships, r)
}

func (g *gen) nursingOrg(i int) *nursingOrg {
	n := &nursingOrg{id: g.id(g.founded)}
	if i == 0 {
		n.id = NursingOrgID
	}
	area := areaNames[i%len(areaNames)]
	if i >= len(areaNames) {
		area = fmt.Sprintf("%s %d", area, i/len(areaNames)+1)
	}
	g.organization(n.id, area+" Community Nursing Service", care.OrgCommunityNursing, g.odsCode("R", 3))
	quarters := g.r.Perm(len(quarterNames))[:2+g.r.IntN(2)]
	for j, q := range quarters {
		t := &team{id: g.id(g.founded)}
		if i == 0 && j == 0 {
			t.id = NursingTeamID
		}
		g.d.Teams = append(g.d.Teams, care.Team{
			ID: t.id, OrganizationID: n.id, Name: area + " " + quarterNames[q] + " District Nursing Team",
			CreatedAt: g.founded, UpdatedAt: g.founded, Version: 1,
		})
		for k := range 3 + g.r.IntN(3) {
			var id uuid.UUID
			if i == 0 && j == 0 && k == 0 {
				id = NurseID
			}
			prof := care.ProfessionDistrictNurse
			if k > 0 && g.chance(0.25) {
				prof = care.ProfessionCommunityNurse
			}
			id = g.practitioner(id, n.id, prof)
			t.nurses = append(t.nurses, id)
			tm := t.id
			g.relationship(care.CareRelationship{
				Kind: care.KindTeamMember, OrganizationID: n.id, PractitionerID: &id, TeamID: &tm,
				PeriodStart: g.between(g.founded, g.start),
			}, nil)
		}
		n.teams = append(n.teams, t)
	}
	return n
}

func (g *gen) practice(i int, n *nursingOrg) *practice {
	p := &practice{id: g.id(g.founded), nursingOrg: n}
	if i == 0 {
		p.id = PracticeID
	}
	name := practiceNames[i%len(practiceNames)]
	if i >= len(practiceNames) {
		name = fmt.Sprintf("%s %d", name, i/len(practiceNames)+1)
	}
	g.organization(p.id, name, care.OrgGPPractice, g.odsCode("Y0", 4))
	// Continuity by design: the first practice keeps patients with their own
	// GP, the second does not, the rest fall in between.
	switch i {
	case 0:
		p.continuity = 0.75
	case 1:
		p.continuity = 0.35
	default:
		p.continuity = 0.4 + 0.3*g.r.Float64()
	}
	for k := range 4 + g.r.IntN(5) {
		var id uuid.UUID
		if i == 0 && k == 0 {
			id = GPID
		}
		p.gps = append(p.gps, g.practitioner(id, p.id, care.ProfessionGP))
		p.gpWeights = append(p.gpWeights, 0.5+g.r.Float64())
	}
	admin := uuid.Nil
	if i == 0 {
		admin = PracticeAdminID
	}
	g.practitioner(admin, p.id, care.ProfessionOther)
	p.nurse = g.practitioner(uuid.Nil, p.id, care.ProfessionPracticeNurse)
	partner := n.id
	g.relationship(care.CareRelationship{
		Kind: care.KindPartnership, OrganizationID: p.id, PartnerOrganizationID: &partner,
		PeriodStart: g.between(g.founded, g.start), Consent: care.ConsentNotRecorded,
	}, nil)
	return p
}

// weightedGP picks a GP of p in proportion to list size, other than not.
func (g *gen) weightedGP(p *practice, not uuid.UUID) uuid.UUID {
	for {
		total := 0.0
		for _, w := range p.gpWeights {
			total += w
		}
		x := g.r.Float64() * total
		for k, w := range p.gpWeights {
			if x -= w; x < 0 || k == len(p.gps)-1 {
				if p.gps[k] != not || len(p.gps) == 1 {
					return p.gps[k]
				}
				break
			}
		}
	}
}

// sampleAge draws an age in years from a list skewed older than England's.
func (g *gen) sampleAge() int {
	x := g.r.Float64()
	switch {
	case x < 0.17:
		return g.r.IntN(18)
	case x < 0.47:
		return 18 + g.r.IntN(27)
	case x < 0.72:
		return 45 + g.r.IntN(20)
	case x < 0.85:
		return 65 + g.r.IntN(10)
	case x < 0.95:
		return 75 + g.r.IntN(10)
	default:
		return 85 + g.r.IntN(16)
	}
}

// spell is a period during which gp was the patient's usual GP.
type spell struct {
	from, to time.Time
	gp       uuid.UUID
}

type patientPlan struct {
	id, practiceID uuid.UUID
	age            int
	registered     time.Time
	usual          []spell
	housebound     bool
	houseboundFrom time.Time
	team           *team
	namedNurse     uuid.UUID
	need           int
}

func (g *gen) patient(p *practice) {
	age := g.sampleAge()
	birth := time.Date(g.now.Year()-age, g.now.Month(), g.now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1-g.r.IntN(364))
	var registered time.Time
	if g.chance(0.85) { // most registered before the window, some during it
		registered = g.between(g.founded, g.start)
	} else {
		registered = g.between(g.start, g.now.AddDate(0, -1, 0))
	}
	if registered.Before(birth) {
		registered = g.between(birth.Add(24*time.Hour), g.now)
	}
	pl := &patientPlan{id: g.id(registered), practiceID: p.id, age: age, registered: registered}
	given := femaleNames
	if g.chance(0.48) {
		given = maleNames
	}
	family := g.pick(familyNames)
	g.d.Patients = append(g.d.Patients, care.Patient{
		ID: pl.id, NHSNumber: g.nhsNumber(), GivenName: g.pick(given), FamilyName: family,
		BirthDate: birth, RegisteredPracticeID: p.id,
		CreatedAt: registered, UpdatedAt: registered, Version: 1,
	})
	pid := pl.id

	// Usual GP: most have one; some changed GP during the window.
	if g.chance(0.93) {
		gp := g.weightedGP(p, uuid.Nil)
		from := g.between(registered, minTime(registered.AddDate(0, 0, 30), g.now))
		if lo := maxTime(from, g.start).AddDate(0, 1, 0); g.chance(0.12) && lo.Before(g.now.AddDate(0, -1, 0)) {
			change := g.between(lo, g.now.AddDate(0, -1, 0))
			old := gp
			g.relationship(care.CareRelationship{
				Kind: care.KindUsualGP, OrganizationID: p.id, PatientID: &pid, PractitionerID: &old,
				PeriodStart: from, Consent: care.ConsentGiven, PatientPreference: care.PreferenceAccepted,
			}, &change)
			pl.usual = append(pl.usual, spell{from, change, old})
			gp, from = g.weightedGP(p, old), change
		}
		pref := []care.PatientPreference{care.PreferencePreferred, care.PreferenceAccepted, care.PreferenceNotAsked}[g.r.IntN(3)]
		consent := care.ConsentNotRecorded
		if g.chance(0.6) {
			consent = care.ConsentGiven
		}
		cur := gp
		g.relationship(care.CareRelationship{
			Kind: care.KindUsualGP, OrganizationID: p.id, PatientID: &pid, PractitionerID: &cur,
			PeriodStart: from, Consent: consent, PatientPreference: pref,
		}, nil)
		pl.usual = append(pl.usual, spell{from, farFuture, gp})
	}

	// Housebound: mostly the oldest, cared for by a district nursing team.
	var hb float64
	switch {
	case age >= 85:
		hb = 0.6
	case age >= 75:
		hb = 0.35
	case age >= 65:
		hb = 0.12
	case age >= 18:
		hb = 0.02
	}
	if g.chance(hb) {
		pl.housebound = true
		pl.houseboundFrom = maxTime(registered, g.between(g.start.AddDate(-2, 0, 0), g.now.AddDate(0, 0, -14)))
		pl.team = p.nursingOrg.teams[g.r.IntN(len(p.nursingOrg.teams))]
		pl.namedNurse = pl.team.nurses[g.r.IntN(len(pl.team.nurses))]
		if pl.team.id == NursingTeamID && (g.personaCaseload < 5 || g.chance(0.4)) {
			pl.namedNurse = NurseID // the persona has a caseload to show
			g.personaCaseload++
		}
		x := g.r.Float64()
		switch {
		case x < 0.25:
			pl.need = needInsulin
		case x < 0.7:
			pl.need = needDressing
		default:
			pl.need = needMonthly
		}
		tm, nurse := pl.team.id, pl.namedNurse
		g.relationship(care.CareRelationship{
			Kind: care.KindCareCoordinator, OrganizationID: p.nursingOrg.id, PatientID: &pid, TeamID: &tm,
			PeriodStart: pl.houseboundFrom, Consent: care.ConsentGiven,
		}, nil)
		g.relationship(care.CareRelationship{
			Kind: care.KindNamedNurse, OrganizationID: p.nursingOrg.id, PatientID: &pid, PractitionerID: &nurse,
			PeriodStart: pl.houseboundFrom, Consent: care.ConsentGiven, PatientPreference: care.PreferencePreferred,
		}, nil)
	}

	// Carers and family, named but not practitioners.
	carer := 0.02
	switch {
	case pl.housebound:
		carer = 0.4
	case age >= 75:
		carer = 0.1
	}
	if g.chance(carer) {
		kind := care.KindFamily
		if pl.housebound && g.chance(0.6) {
			kind = care.KindCarer
		}
		gv := femaleNames
		if g.chance(0.4) {
			gv = maleNames
		}
		fam := family
		if g.chance(0.3) {
			fam = g.pick(familyNames)
		}
		name := fmt.Sprintf("%s %s (%s)", g.pick(gv), fam, g.pick(carerRoles))
		g.relationship(care.CareRelationship{
			Kind: kind, OrganizationID: p.id, PatientID: &pid, RelatedPersonName: &name,
			PeriodStart: maxTime(registered, g.between(g.start.AddDate(-3, 0, 0), g.now.AddDate(0, -1, 0))),
			Consent:     care.ConsentGiven,
		}, nil)
	}

	g.interactions(p, pl)
}

var farFuture = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// rate draws a yearly contact rate: mean scaled by a log-normal factor with
// spread sigma, so most patients sit near or below the mean and a few far above.
func (g *gen) rate(mean, sigma float64) float64 {
	return mean * math.Exp(sigma*g.r.NormFloat64()-sigma*sigma/2)
}

// events returns the times of a Poisson process of perYear events a year over
// [from, g.now), each moved into working hours; weekdays only unless weekends.
func (g *gen) events(from time.Time, perYear float64, weekends bool, out []time.Time) []time.Time {
	out = out[:0]
	if perYear <= 0 {
		return out
	}
	meanGap := 365.25 * 24 * float64(time.Hour) / perYear
	for t := from.Add(time.Duration(g.r.ExpFloat64() * meanGap)); t.Before(g.now); t = t.Add(time.Duration(g.r.ExpFloat64() * meanGap)) {
		day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		if !weekends {
			switch day.Weekday() {
			case time.Saturday:
				day = day.AddDate(0, 0, 2)
			case time.Sunday:
				day = day.AddDate(0, 0, 1)
			}
		}
		at := day.Add(8*time.Hour + time.Duration(g.r.IntN(126))*5*time.Minute) // 08:00-18:25
		if at.Before(from) || !at.Before(g.now) {
			continue
		}
		out = append(out, at)
	}
	return out
}

func (p *patientPlan) usualGPAt(t time.Time) uuid.UUID {
	for _, s := range p.usual {
		if !t.Before(s.from) && t.Before(s.to) {
			return s.gp
		}
	}
	return uuid.Nil
}

// interactions generates pl's contacts over the window.
func (g *gen) interactions(p *practice, pl *patientPlan) {
	from := maxTime(pl.registered, g.start)
	child := pl.age < 16
	var times []time.Time

	// GP contacts: many patients 0-3 a year, the elderly 10-25.
	var mean, sigma float64 = 2.5, 0.9
	switch {
	case pl.housebound:
		mean, sigma = 20, 0.35
	case pl.age >= 75:
		mean, sigma = 17, 0.4
	case pl.age >= 65:
		mean, sigma = 10, 0.6
	case pl.age >= 45:
		mean = 5
	case pl.age >= 18:
		mean = 3
	}
	times = g.events(from, g.rate(mean, sigma), false, times)
	for _, at := range times {
		gp := pl.usualGPAt(at)
		if gp == uuid.Nil || !g.chance(p.continuity) {
			gp = g.weightedGP(p, gp)
		}
		mode := care.ModeClinic
		topics := gpTopics
		switch x := g.r.Float64(); {
		case pl.housebound && x < 0.4:
			mode, topics = care.ModeHomeVisit, gpHomeTopics
		case pl.housebound:
			mode = care.ModePhone
		case x < 0.55:
		case x < 0.90:
			mode = care.ModePhone
		case x < 0.95:
			mode = care.ModeVideo
		case x < 0.98:
			mode = care.ModeMessage
		default:
			mode, topics = care.ModeHomeVisit, gpHomeTopics
		}
		if child && mode != care.ModeHomeVisit {
			topics = gpChildTopics
		}
		var participants []uuid.UUID
		if mode == care.ModeHomeVisit && g.chance(0.1) {
			participants = []uuid.UUID{p.nurse}
		}
		g.interaction(pl, gp, p.id, mode, at, topics[g.r.IntN(len(topics))], participants, child)
	}

	// Practice nurse: vaccinations, bloods, reviews.
	mean = 2
	switch {
	case pl.housebound:
		mean = 0.5
	case pl.age >= 65:
		mean = 5
	case child:
		mean = 1.5
	}
	times = g.events(from, g.rate(mean, 0.7), false, times)
	for _, at := range times {
		mode := care.ModeClinic
		if g.chance(0.1) {
			mode = care.ModePhone
		}
		topics := practiceNurseTopics
		if child {
			topics = practiceNurseChildTopics
		}
		g.interaction(pl, p.nurse, p.id, mode, at, topics[g.r.IntN(len(topics))], nil, child)
	}

	// District nursing for the housebound: insulin once or twice a day,
	// dressings three times a week, monthly checks; mostly the named nurse,
	// else another nurse of her team.
	if !pl.housebound {
		return
	}
	switch pl.need {
	case needInsulin:
		mean = 550
	case needDressing:
		mean = 150
	default:
		mean = 30
	}
	times = g.events(maxTime(from, pl.houseboundFrom), g.rate(mean, 0.3), true, times)
	topics := nursingTopics[pl.need]
	for _, at := range times {
		nurse := pl.namedNurse
		if len(pl.team.nurses) > 1 && g.chance(0.4) {
			nurse = pl.team.nurses[g.r.IntN(len(pl.team.nurses))]
		}
		mode := care.ModeHomeVisit
		if g.chance(0.08) {
			mode = care.ModePhone
		}
		var participants []uuid.UUID
		if mode == care.ModeHomeVisit && g.chance(0.04) {
			if other := pl.team.nurses[g.r.IntN(len(pl.team.nurses))]; other != nurse {
				participants = []uuid.UUID{other}
			}
		}
		g.interaction(pl, nurse, p.nursingOrg.id, mode, at, topics[g.r.IntN(len(topics))], participants, false)
	}
}

// interaction appends one contact, signed unless recent (or, rarely, left
// unsigned), and now and then amended after signing.
func (g *gen) interaction(pl *patientPlan, by, org uuid.UUID, mode care.InteractionMode, at time.Time, tp topic, participants []uuid.UUID, child bool) {
	var dur *int
	var minutes int
	switch mode {
	case care.ModeClinic:
		minutes = 8 + g.r.IntN(13)
	case care.ModePhone:
		minutes = 4 + g.r.IntN(11)
	case care.ModeVideo:
		minutes = 8 + g.r.IntN(10)
	case care.ModeMessage:
		minutes = 2 + g.r.IntN(5)
	case care.ModeHomeVisit:
		minutes = 15 + g.r.IntN(40)
	}
	if !g.chance(0.03) {
		dur = &minutes
	}
	var others []string
	switch {
	case child && g.chance(0.85):
		others = []string{g.pick(companionsChild)}
	case mode == care.ModeHomeVisit && g.chance(0.25), mode == care.ModeClinic && pl.age >= 80 && g.chance(0.3):
		others = []string{g.pick(companionsAdult)}
	}
	created := at.Add(time.Duration(minutes+1+g.r.IntN(20)) * time.Minute)
	if created.After(g.now) {
		created = g.now
	}
	in := care.Interaction{
		ID: g.id(at), PatientID: pl.id, PractitionerID: by, OrganizationID: org, Mode: mode,
		OccurredAt: at, DurationMinutes: dur, ParticipantIDs: participants, OtherPresent: others,
		Purpose: tp.purpose, Notes: tp.notes, Status: care.InteractionDraft,
		CreatedAt: created, UpdatedAt: created, Version: 1,
	}
	age := g.now.Sub(at)
	draft := 0.02 // the odd note left unsigned
	switch {
	case age < 3*24*time.Hour:
		draft = 0.8
	case age < 14*24*time.Hour:
		draft = 0.15
	}
	signed := created.Add(time.Duration(g.r.IntN(6*60)) * time.Minute)
	if g.chance(draft) || !signed.Before(g.now) {
		g.d.Interactions = append(g.d.Interactions, in)
		return
	}
	signer := by
	in.Status, in.SignedAt, in.SignedByID, in.UpdatedAt, in.Version = care.InteractionSigned, &signed, &signer, signed, 2
	if age > 3*24*time.Hour && g.chance(0.001) {
		g.amend(&in, signed)
	}
	g.d.Interactions = append(g.d.Interactions, in)
}

// amend corrects a signed interaction some time after signing: in ends up with
// the corrected content and an amendment keeps what it replaced.
func (g *gen) amend(in *care.Interaction, signed time.Time) {
	at := g.between(signed.Add(time.Hour), minTime(signed.Add(10*24*time.Hour), g.now))
	a := care.InteractionAmendment{
		ID: g.id(at), InteractionID: in.ID, AmendedByID: in.PractitionerID, AmendedAt: at,
		Before: care.InteractionContent{Purpose: in.Purpose, Notes: in.Notes, DurationMinutes: in.DurationMinutes},
	}
	a.After = a.Before
	switch g.r.IntN(3) {
	case 0:
		d := 10 + g.r.IntN(30)
		if in.DurationMinutes != nil {
			d += *in.DurationMinutes
		}
		a.Reason, a.After.DurationMinutes = "Duration recorded incorrectly", &d
	case 1:
		a.Reason, a.After.Notes = "Information received after signing", in.Notes+" Addendum: results received, plan unchanged."
	default:
		a.Reason, a.Before.Purpose = "Wrong purpose selected", "Telephone consultation"
	}
	in.Purpose, in.Notes, in.DurationMinutes = a.After.Purpose, a.After.Notes, a.After.DurationMinutes
	in.Status, in.UpdatedAt, in.Version = care.InteractionAmended, at, in.Version+1
	g.d.Amendments = append(g.d.Amendments, a)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
