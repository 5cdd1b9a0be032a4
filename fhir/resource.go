package fhir

import (
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// Code systems and identifier systems Rapport's resources use.
const (
	SystemNHSNumber   = "https://fhir.nhs.uk/Id/nhs-number"
	SystemODSCode     = "https://fhir.nhs.uk/Id/ods-organization-code"
	systemOrgType     = "http://terminology.hl7.org/CodeSystem/organization-type"
	systemActCode     = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
	systemParticipant = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
	systemDataOp      = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
	systemUCUM        = "http://unitsofmeasure.org"
	// Rapport's own code systems: the enum values of schema.graphql, lower case.
	systemBase         = "https://rapport.care/fhir/CodeSystem/"
	SystemOrgKind      = systemBase + "organization-kind"
	SystemProfession   = systemBase + "profession"
	SystemRelationship = systemBase + "relationship-kind"
	SystemMode         = systemBase + "interaction-mode"
	SystemDocStatus    = systemBase + "interaction-status"
	SystemImported     = systemBase + "provenance-tag"
	SystemRating       = systemBase + "care-measure-rating"
	SystemFFT          = systemBase + "fft-answer"
	questionnaireBase  = "https://rapport.care/fhir/Questionnaire/"
)

// Fixed ids of the validated instruments' Questionnaires.
const (
	CAREMeasureID = "care-measure"
	FFTID         = "fft"
)

// Meta is a resource's meta element.
type Meta struct {
	VersionID   string   `json:"versionId,omitempty"`
	LastUpdated string   `json:"lastUpdated,omitempty"`
	Tag         []Coding `json:"tag,omitempty"`
}

// Coding is a code in a system.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is codings and/or text.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a business identifier.
type Identifier struct {
	Use    string `json:"use,omitempty"`
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"`
}

// Reference points at another resource (or only describes it).
type Reference struct {
	Reference string `json:"reference,omitempty"`
	Display   string `json:"display,omitempty"`
}

// Period is a start and an optional end.
type Period struct {
	Start string `json:"start,omitempty"`
	End   string `json:"end,omitempty"`
}

// HumanName is a person's name.
type HumanName struct {
	Use    string   `json:"use,omitempty"`
	Family string   `json:"family,omitempty"`
	Given  []string `json:"given,omitempty"`
}

// Duration is a length of time in UCUM units.
type Duration struct {
	Value  int    `json:"value"`
	Unit   string `json:"unit"`
	System string `json:"system"`
	Code   string `json:"code"`
}

func ref(typ string, id uuid.UUID) *Reference {
	return &Reference{Reference: typ + "/" + id.String()}
}

func instant(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func meta(version int64, updated time.Time) *Meta {
	return &Meta{VersionID: strconv.FormatInt(version, 10), LastUpdated: instant(updated)}
}

func code(system, c, display string) CodeableConcept {
	return CodeableConcept{Coding: []Coding{{System: system, Code: c, Display: display}}}
}

// Organization is FHIR Organization.
type Organization struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Meta         *Meta             `json:"meta,omitempty"`
	Identifier   []Identifier      `json:"identifier,omitempty"`
	Active       bool              `json:"active"`
	Type         []CodeableConcept `json:"type,omitempty"`
	Name         string            `json:"name"`
}

// orgTypes maps an organisation kind onto HL7's organization-type.
var orgTypes = map[care.OrganizationKind]Coding{
	care.OrgGPPractice:       {System: systemOrgType, Code: "prov", Display: "Healthcare Provider"},
	care.OrgCommunityNursing: {System: systemOrgType, Code: "prov", Display: "Healthcare Provider"},
	care.OrgHospital:         {System: systemOrgType, Code: "prov", Display: "Healthcare Provider"},
	care.OrgSocialCare:       {System: systemOrgType, Code: "other", Display: "Other"},
	care.OrgVoluntary:        {System: systemOrgType, Code: "cg", Display: "Community Group"},
}

// NewOrganization maps an organisation.
func NewOrganization(o *care.Organization) *Organization {
	r := &Organization{ResourceType: "Organization", ID: o.ID.String(), Meta: meta(o.Version, o.UpdatedAt), Active: true, Name: o.Name,
		Type: []CodeableConcept{{Coding: []Coding{orgTypes[o.Kind], {System: SystemOrgKind, Code: string(o.Kind)}}}}}
	if o.ODSCode != nil {
		r.Identifier = []Identifier{{System: SystemODSCode, Value: *o.ODSCode}}
	}
	return r
}

// Practitioner is FHIR Practitioner.
type Practitioner struct {
	ResourceType string      `json:"resourceType"`
	ID           string      `json:"id"`
	Meta         *Meta       `json:"meta,omitempty"`
	Active       bool        `json:"active"`
	Name         []HumanName `json:"name"`
}

// NewPractitioner maps a practitioner; a departed one is active false.
func NewPractitioner(p *care.Practitioner) *Practitioner {
	return &Practitioner{ResourceType: "Practitioner", ID: p.ID.String(), Meta: meta(p.Version, p.UpdatedAt), Active: p.Active,
		Name: []HumanName{{Use: "official", Family: p.FamilyName, Given: []string{p.GivenName}}}}
}

// PractitionerRole is FHIR PractitionerRole: a practitioner's profession at
// their organisation. Its id is the practitioner's.
type PractitionerRole struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Meta         *Meta             `json:"meta,omitempty"`
	Active       bool              `json:"active"`
	Practitioner *Reference        `json:"practitioner"`
	Organization *Reference        `json:"organization"`
	Code         []CodeableConcept `json:"code"`
}

// NewPractitionerRole maps a practitioner's employment and profession.
func NewPractitionerRole(p *care.Practitioner) *PractitionerRole {
	return &PractitionerRole{ResourceType: "PractitionerRole", ID: p.ID.String(), Meta: meta(p.Version, p.UpdatedAt), Active: p.Active,
		Practitioner: ref("Practitioner", p.ID), Organization: ref("Organization", p.OrganizationID),
		Code: []CodeableConcept{code(SystemProfession, string(p.Profession), "")}}
}

// Group is FHIR Group: a team of practitioners, its members from TEAM_MEMBER
// relationships with their periods.
type Group struct {
	ResourceType   string        `json:"resourceType"`
	ID             string        `json:"id"`
	Meta           *Meta         `json:"meta,omitempty"`
	Type           string        `json:"type"`
	Actual         bool          `json:"actual"`
	Name           string        `json:"name"`
	ManagingEntity *Reference    `json:"managingEntity"`
	Quantity       int           `json:"quantity"`
	Member         []GroupMember `json:"member,omitempty"`
}

// GroupMember is one membership.
type GroupMember struct {
	Entity   *Reference `json:"entity"`
	Period   *Period    `json:"period,omitempty"`
	Inactive bool       `json:"inactive"`
}

// NewGroup maps a team and its memberships (TEAM_MEMBER relationships).
func NewGroup(t *care.Team, members []*care.CareRelationship, now time.Time) *Group {
	g := &Group{ResourceType: "Group", ID: t.ID.String(), Meta: meta(t.Version, t.UpdatedAt), Type: "practitioner", Actual: true,
		Name: t.Name, ManagingEntity: ref("Organization", t.OrganizationID)}
	for _, m := range members {
		if m.PractitionerID == nil {
			continue
		}
		active := m.ActiveAt(now)
		if active {
			g.Quantity++
		}
		g.Member = append(g.Member, GroupMember{Entity: ref("Practitioner", *m.PractitionerID), Period: period(m.PeriodStart, m.PeriodEnd), Inactive: !active})
	}
	return g
}

func period(start time.Time, end *time.Time) *Period {
	p := &Period{Start: instant(start)}
	if end != nil {
		p.End = instant(*end)
	}
	return p
}

// Patient is FHIR Patient (UK Core identifiers).
type Patient struct {
	ResourceType         string       `json:"resourceType"`
	ID                   string       `json:"id"`
	Meta                 *Meta        `json:"meta,omitempty"`
	Identifier           []Identifier `json:"identifier"`
	Name                 []HumanName  `json:"name"`
	BirthDate            string       `json:"birthDate"`
	GeneralPractitioner  []Reference  `json:"generalPractitioner,omitempty"`
	ManagingOrganization *Reference   `json:"managingOrganization"`
}

// NewPatient maps a patient; usualGP, when not uuid.Nil, is their active
// USUAL_GP practitioner, listed after the registered practice.
func NewPatient(p *care.Patient, usualGP uuid.UUID) *Patient {
	r := &Patient{ResourceType: "Patient", ID: p.ID.String(), Meta: meta(p.Version, p.UpdatedAt),
		Identifier:           []Identifier{{Use: "official", System: SystemNHSNumber, Value: p.NHSNumber}},
		Name:                 []HumanName{{Use: "official", Family: p.FamilyName, Given: []string{p.GivenName}}},
		BirthDate:            p.BirthDate.Format("2006-01-02"),
		GeneralPractitioner:  []Reference{*ref("Organization", p.RegisteredPracticeID)},
		ManagingOrganization: ref("Organization", p.RegisteredPracticeID)}
	if usualGP != uuid.Nil {
		r.GeneralPractitioner = append(r.GeneralPractitioner, *ref("Practitioner", usualGP))
	}
	return r
}

// relationshipKindDisplay names each relationship kind.
var relationshipKindDisplay = map[care.RelationshipKind]string{
	care.KindUsualGP: "Usual GP", care.KindNamedNurse: "Named nurse", care.KindKeyWorker: "Key worker",
	care.KindCareCoordinator: "Care coordinator", care.KindCarer: "Carer", care.KindFamily: "Family",
}

// member returns who a patient relationship links the patient to.
func member(r *care.CareRelationship, teams map[uuid.UUID]string) *Reference {
	switch {
	case r.PractitionerID != nil:
		return ref("Practitioner", *r.PractitionerID)
	case r.TeamID != nil:
		return &Reference{Reference: "Group/" + r.TeamID.String(), Display: teams[*r.TeamID]}
	case r.RelatedPersonName != nil:
		return &Reference{Display: *r.RelatedPersonName}
	}
	return nil
}

// CareTeam is FHIR CareTeam: a patient's care team, from the relationships in
// force. Its id is the patient's.
type CareTeam struct {
	ResourceType string        `json:"resourceType"`
	ID           string        `json:"id"`
	Meta         *Meta         `json:"meta,omitempty"`
	Status       string        `json:"status"`
	Name         string        `json:"name"`
	Subject      *Reference    `json:"subject"`
	Participant  []Participant `json:"participant,omitempty"`
}

// Participant is a CareTeam member with a role and period.
type Participant struct {
	Role   []CodeableConcept `json:"role"`
	Member *Reference        `json:"member,omitempty"`
	Period *Period           `json:"period,omitempty"`
}

// NewCareTeam maps a patient's care relationships in force (rels) onto their
// care team; its meta is the newest of the patient's and the relationships'.
func NewCareTeam(p *care.Patient, rels []*care.CareRelationship, teams map[uuid.UUID]string) *CareTeam {
	updated, version := p.UpdatedAt, p.Version
	ct := &CareTeam{ResourceType: "CareTeam", ID: p.ID.String(), Status: "active", Name: "Care team", Subject: ref("Patient", p.ID)}
	for _, r := range rels {
		if r.UpdatedAt.After(updated) {
			updated = r.UpdatedAt
		}
		version += r.Version
		ct.Participant = append(ct.Participant, Participant{
			Role:   []CodeableConcept{code(SystemRelationship, string(r.Kind), relationshipKindDisplay[r.Kind])},
			Member: member(r, teams), Period: period(r.PeriodStart, r.PeriodEnd)})
	}
	ct.Meta = meta(version, updated)
	return ct
}

// EpisodeOfCare is FHIR EpisodeOfCare: one care relationship of a patient
// (with a practitioner, a team or a named person), with its period.
type EpisodeOfCare struct {
	ResourceType         string            `json:"resourceType"`
	ID                   string            `json:"id"`
	Meta                 *Meta             `json:"meta,omitempty"`
	Status               string            `json:"status"`
	Type                 []CodeableConcept `json:"type"`
	Patient              *Reference        `json:"patient"`
	ManagingOrganization *Reference        `json:"managingOrganization"`
	Period               *Period           `json:"period"`
	CareManager          *Reference        `json:"careManager,omitempty"`
	Team                 []Reference       `json:"team,omitempty"`
}

// episodeStatus maps a relationship status.
var episodeStatus = map[care.RelationshipStatus]string{
	care.RelationshipProposed: "planned", care.RelationshipActive: "active", care.RelationshipEnded: "finished",
}

// NewEpisodeOfCare maps a patient's care relationship. The party is the
// careManager (a practitioner), or the team (as the patient's CareTeam; the
// team itself is the Group in type's text), or, for carers and family, the
// type's text.
func NewEpisodeOfCare(r *care.CareRelationship, teams map[uuid.UUID]string) *EpisodeOfCare {
	e := &EpisodeOfCare{ResourceType: "EpisodeOfCare", ID: r.ID.String(), Meta: meta(r.Version, r.UpdatedAt), Status: episodeStatus[r.Status],
		Type:                 []CodeableConcept{code(SystemRelationship, string(r.Kind), relationshipKindDisplay[r.Kind])},
		Patient:              ref("Patient", *r.PatientID),
		ManagingOrganization: ref("Organization", r.OrganizationID), Period: period(r.PeriodStart, r.PeriodEnd)}
	switch {
	case r.PractitionerID != nil:
		e.CareManager = ref("Practitioner", *r.PractitionerID)
	case r.TeamID != nil:
		e.Type[0].Text = "Team: " + teams[*r.TeamID] + " (Group/" + r.TeamID.String() + ")"
		e.Team = []Reference{*ref("CareTeam", *r.PatientID)}
	case r.RelatedPersonName != nil:
		e.Type[0].Text = relationshipKindDisplay[r.Kind] + ": " + *r.RelatedPersonName
	}
	return e
}

// Encounter is FHIR Encounter: one interaction. Clinical notes are not part of
// R4 Encounter and are not emitted.
type Encounter struct {
	ResourceType    string                 `json:"resourceType"`
	ID              string                 `json:"id"`
	Meta            *Meta                  `json:"meta,omitempty"`
	Identifier      []Identifier           `json:"identifier,omitempty"`
	Status          string                 `json:"status"`
	Class           Coding                 `json:"class"`
	Type            []CodeableConcept      `json:"type"`
	Subject         *Reference             `json:"subject"`
	Participant     []EncounterParticipant `json:"participant"`
	Period          *Period                `json:"period"`
	Length          *Duration              `json:"length,omitempty"`
	ReasonCode      []CodeableConcept      `json:"reasonCode,omitempty"`
	ServiceProvider *Reference             `json:"serviceProvider"`
}

// EncounterParticipant is who took part.
type EncounterParticipant struct {
	Type       []CodeableConcept `json:"type"`
	Individual *Reference        `json:"individual"`
}

// modeClass maps an interaction mode onto the v3 ActCode encounter class.
var modeClass = map[care.InteractionMode]Coding{
	care.ModeHomeVisit: {System: systemActCode, Code: "HH", Display: "home health"},
	care.ModeClinic:    {System: systemActCode, Code: "AMB", Display: "ambulatory"},
	care.ModePhone:     {System: systemActCode, Code: "VR", Display: "virtual"},
	care.ModeVideo:     {System: systemActCode, Code: "VR", Display: "virtual"},
	care.ModeMessage:   {System: systemActCode, Code: "VR", Display: "virtual"},
}

// Imported says where an imported interaction came from.
type Imported struct {
	System, Value string
}

// NewEncounter maps an interaction; imported, when set, adds its source
// identifier and the "imported" tag.
func NewEncounter(i *care.Interaction, imported *Imported) *Encounter {
	status := "finished"
	if i.Status == care.InteractionDraft {
		status = "in-progress"
	}
	e := &Encounter{ResourceType: "Encounter", ID: i.ID.String(), Meta: meta(i.Version, i.UpdatedAt), Status: status,
		Class:   modeClass[i.Mode],
		Type:    []CodeableConcept{{Coding: []Coding{{System: SystemMode, Code: string(i.Mode)}}}},
		Subject: ref("Patient", i.PatientID), ServiceProvider: ref("Organization", i.OrganizationID),
		Period: &Period{Start: instant(i.OccurredAt)}}
	e.Meta.Tag = []Coding{{System: SystemDocStatus, Code: string(i.Status)}}
	if imported != nil {
		e.Identifier = []Identifier{{Use: "secondary", System: imported.System, Value: imported.Value}}
		e.Meta.Tag = append(e.Meta.Tag, Coding{System: SystemImported, Code: "imported", Display: "Imported contact history"})
	}
	e.Participant = []EncounterParticipant{{Type: []CodeableConcept{code(systemParticipant, "PPRF", "primary performer")}, Individual: ref("Practitioner", i.PractitionerID)}}
	for _, p := range i.ParticipantIDs {
		e.Participant = append(e.Participant, EncounterParticipant{Type: []CodeableConcept{code(systemParticipant, "PART", "Participation")}, Individual: ref("Practitioner", p)})
	}
	for _, o := range i.OtherPresent {
		e.Participant = append(e.Participant, EncounterParticipant{Type: []CodeableConcept{code(systemParticipant, "PART", "Participation")}, Individual: &Reference{Display: o}})
	}
	if i.DurationMinutes != nil {
		e.Period.End = instant(i.OccurredAt.Add(time.Duration(*i.DurationMinutes) * time.Minute))
		e.Length = &Duration{Value: *i.DurationMinutes, Unit: "min", System: systemUCUM, Code: "min"}
	}
	if i.Purpose != "" {
		e.ReasonCode = []CodeableConcept{{Text: i.Purpose}}
	}
	return e
}

// Provenance is FHIR Provenance: one amendment of a signed interaction. The
// values it replaced stay in Rapport (GraphQL Interaction.amendments).
type Provenance struct {
	ResourceType string            `json:"resourceType"`
	ID           string            `json:"id"`
	Target       []Reference       `json:"target"`
	Recorded     string            `json:"recorded"`
	Activity     *CodeableConcept  `json:"activity"`
	Reason       []CodeableConcept `json:"reason"`
	Agent        []ProvenanceAgent `json:"agent"`
}

// ProvenanceAgent is who amended.
type ProvenanceAgent struct {
	Who *Reference `json:"who"`
}

// NewProvenance maps an amendment.
func NewProvenance(m *care.InteractionAmendment) *Provenance {
	act := code(systemDataOp, "UPDATE", "revise")
	return &Provenance{ResourceType: "Provenance", ID: m.ID.String(), Target: []Reference{*ref("Encounter", m.InteractionID)},
		Recorded: instant(m.AmendedAt), Activity: &act, Reason: []CodeableConcept{{Text: m.Reason}},
		Agent: []ProvenanceAgent{{Who: ref("Practitioner", m.AmendedByID)}}}
}

// Questionnaire is FHIR Questionnaire.
type Questionnaire struct {
	ResourceType string              `json:"resourceType"`
	ID           string              `json:"id"`
	URL          string              `json:"url"`
	Version      string              `json:"version,omitempty"`
	Title        string              `json:"title"`
	Status       string              `json:"status"`
	Item         []QuestionnaireItem `json:"item"`
}

// QuestionnaireItem is one question.
type QuestionnaireItem struct {
	LinkID       string   `json:"linkId"`
	Text         string   `json:"text"`
	Type         string   `json:"type"`
	Required     bool     `json:"required,omitempty"`
	AnswerOption []Answer `json:"answerOption,omitempty"`
}

// Answer is an answerOption or an answer value.
type Answer struct {
	ValueCoding  *Coding `json:"valueCoding,omitempty"`
	ValueString  *string `json:"valueString,omitempty"`
	ValueInteger *int    `json:"valueInteger,omitempty"`
	ValueBoolean *bool   `json:"valueBoolean,omitempty"`
}

// CAREMeasure returns the CARE Measure as a Questionnaire: ten items rated
// 0 (does not apply) to 5 (excellent).
func CAREMeasure() *Questionnaire {
	q := &Questionnaire{ResourceType: "Questionnaire", ID: CAREMeasureID, URL: questionnaireBase + CAREMeasureID, Title: "CARE Measure", Status: "active"}
	var opts []Answer
	for v, label := range feedback.CARERatingLabels {
		opts = append(opts, Answer{ValueCoding: &Coding{System: SystemRating, Code: strconv.Itoa(v), Display: label}})
	}
	for i, text := range feedback.CAREItems {
		q.Item = append(q.Item, QuestionnaireItem{LinkID: fmt.Sprintf("care-%d", i+1), Text: feedback.CAREStem + " " + text, Type: "choice", AnswerOption: opts})
	}
	q.Item = append(q.Item, QuestionnaireItem{LinkID: "comment", Text: "Comment", Type: "text"})
	return q
}

// FFT returns the NHS Friends and Family Test as a Questionnaire.
func FFT() *Questionnaire {
	q := &Questionnaire{ResourceType: "Questionnaire", ID: FFTID, URL: questionnaireBase + FFTID, Title: "Friends and Family Test", Status: "active"}
	var opts []Answer
	for _, a := range feedback.FFTAnswers {
		opts = append(opts, Answer{ValueCoding: &Coding{System: SystemFFT, Code: string(a), Display: a.Label()}})
	}
	q.Item = []QuestionnaireItem{{LinkID: "fft", Text: feedback.FFTQuestion, Type: "choice", Required: true, AnswerOption: opts},
		{LinkID: "comment", Text: "Comment", Type: "text"}}
	return q
}

// questionType maps a practice question kind onto a FHIR item type.
var questionType = map[feedback.QuestionKind]string{
	feedback.QuestionRating: "integer", feedback.QuestionSingleChoice: "choice",
	feedback.QuestionYesNo: "boolean", feedback.QuestionFreeText: "text",
}

// NewQuestionnaire maps one version of a practice questionnaire.
func NewQuestionnaire(pq *feedback.Questionnaire) *Questionnaire {
	q := &Questionnaire{ResourceType: "Questionnaire", ID: pq.ID.String(), URL: questionnaireBase + pq.ID.String(),
		Version: strconv.Itoa(pq.Version), Title: pq.Title, Status: "active"}
	for _, x := range pq.Questions {
		it := QuestionnaireItem{LinkID: x.Key, Text: x.Text, Type: questionType[x.Kind], Required: x.Required}
		for _, o := range x.Options {
			it.AnswerOption = append(it.AnswerOption, Answer{ValueString: &o})
		}
		q.Item = append(q.Item, it)
	}
	return q
}

// QuestionnaireResponse is FHIR QuestionnaireResponse (identified responses only).
type QuestionnaireResponse struct {
	ResourceType  string       `json:"resourceType"`
	ID            string       `json:"id"`
	Meta          *Meta        `json:"meta,omitempty"`
	Questionnaire string       `json:"questionnaire"`
	Status        string       `json:"status"`
	Subject       *Reference   `json:"subject,omitempty"`
	Authored      string       `json:"authored"`
	Author        *Reference   `json:"author,omitempty"`
	Item          []AnswerItem `json:"item,omitempty"`
}

// AnswerItem is one answered question.
type AnswerItem struct {
	LinkID string   `json:"linkId"`
	Answer []Answer `json:"answer"`
}

// subjectRef maps a feedback subject onto the resource Rapport emits for it.
func subjectRef(r *feedback.Response) *Reference {
	switch r.SubjectKind {
	case feedback.SubjectInteraction:
		return ref("Encounter", r.SubjectID)
	case feedback.SubjectRelationship:
		return ref("EpisodeOfCare", r.SubjectID)
	case feedback.SubjectPractitioner:
		return ref("Practitioner", r.SubjectID)
	case feedback.SubjectTeam:
		return ref("Group", r.SubjectID)
	}
	return nil // a partnership: no FHIR resource
}

// NewQuestionnaireResponse maps an identified response. A practitioner's own
// reflection names her as author; a colleague's names no one (Rapport keeps
// no respondent identity).
func NewQuestionnaireResponse(r *feedback.Response) *QuestionnaireResponse {
	qr := &QuestionnaireResponse{ResourceType: "QuestionnaireResponse", ID: r.ID.String(), Meta: meta(r.Version, r.SubmittedOn),
		Status: "completed", Subject: subjectRef(r), Authored: r.SubmittedOn.Format("2006-01-02")}
	if r.Respondent == feedback.RespondentSelf && r.PractitionerID != nil {
		qr.Author = ref("Practitioner", *r.PractitionerID)
	}
	switch r.Instrument {
	case feedback.InstrumentCARE:
		qr.Questionnaire = questionnaireBase + CAREMeasureID
		for i, v := range r.CARERatings {
			if v < 0 || v >= len(feedback.CARERatingLabels) {
				continue
			}
			qr.Item = append(qr.Item, AnswerItem{LinkID: fmt.Sprintf("care-%d", i+1),
				Answer: []Answer{{ValueCoding: &Coding{System: SystemRating, Code: strconv.Itoa(v), Display: feedback.CARERatingLabels[v]}}}})
		}
	case feedback.InstrumentFFT:
		qr.Questionnaire = questionnaireBase + FFTID
		if r.FFT != nil {
			qr.Item = append(qr.Item, AnswerItem{LinkID: "fft", Answer: []Answer{{ValueCoding: &Coding{System: SystemFFT, Code: string(*r.FFT), Display: r.FFT.Label()}}}})
		}
	case feedback.InstrumentQuestionnaire:
		if r.QuestionnaireID != nil {
			qr.Questionnaire = questionnaireBase + r.QuestionnaireID.String() + "|" + strconv.Itoa(r.QuestionnaireVersion)
		}
		for _, a := range r.Answers {
			var ans Answer
			switch {
			case a.Rating != nil:
				ans.ValueInteger = a.Rating
			case a.Choice != nil:
				ans.ValueString = a.Choice
			case a.Yes != nil:
				ans.ValueBoolean = a.Yes
			case a.Text != nil:
				ans.ValueString = a.Text
			default:
				continue
			}
			qr.Item = append(qr.Item, AnswerItem{LinkID: a.Key, Answer: []Answer{ans}})
		}
	}
	if r.FreeText != "" {
		text := r.FreeText
		qr.Item = append(qr.Item, AnswerItem{LinkID: "comment", Answer: []Answer{{ValueString: &text}}})
	}
	return qr
}
