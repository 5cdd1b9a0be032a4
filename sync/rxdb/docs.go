package rxdb

import (
	"time"

	"github.com/google/uuid"
	offline "github.com/rapportcare/rapport/sync"
)

// Documents are the records as an RxDB collection holds them: flat JSON
// objects with a string primary key "id", the server's version as a number
// (an RxDB document's fields become Float), enums as their GraphQL names,
// times RFC 3339, and the deleted flag. Every field but id and deleted is
// nullable: a deleted document carries only its id.

// Checkpoint is where an RxDB replication's pull stands: an opaque engine
// position (commit order), never a client timestamp.
type Checkpoint struct {
	Cursor string `json:"cursor"`
}

// Interaction is an interaction document (read and write).
type Interaction struct {
	ID              string   `json:"id"`
	PatientID       *string  `json:"patientId"`
	PractitionerID  *string  `json:"practitionerId"`
	OrganizationID  *string  `json:"organizationId"`
	Mode            *string  `json:"mode"`
	OccurredAt      *string  `json:"occurredAt"`
	DurationMinutes *int     `json:"durationMinutes"`
	ParticipantIds  []string `json:"participantIds"`
	OtherPresent    []string `json:"otherPresent"`
	Purpose         *string  `json:"purpose"`
	Notes           *string  `json:"notes"`
	Status          *string  `json:"status"`
	SignedAt        *string  `json:"signedAt"`
	SignedByID      *string  `json:"signedById"`
	// AmendmentReason is set by the client when it changes a signed
	// interaction (the change is an amendment); always null when pulled.
	AmendmentReason *string  `json:"amendmentReason"`
	AmendmentCount  *int     `json:"amendmentCount"`
	Version         *float64 `json:"version"`
	UpdatedAt       *string  `json:"updatedAt"`
	Deleted         bool     `json:"deleted"`
}

// Patient is a patient document (read only).
type Patient struct {
	ID                   string   `json:"id"`
	NhsNumber            *string  `json:"nhsNumber"`
	GivenName            *string  `json:"givenName"`
	FamilyName           *string  `json:"familyName"`
	BirthDate            *string  `json:"birthDate"`
	RegisteredPracticeID *string  `json:"registeredPracticeId"`
	Version              *float64 `json:"version"`
	UpdatedAt            *string  `json:"updatedAt"`
	Deleted              bool     `json:"deleted"`
}

// CareRelationship is a care relationship document (read only).
type CareRelationship struct {
	ID                    string   `json:"id"`
	Kind                  *string  `json:"kind"`
	Status                *string  `json:"status"`
	OrganizationID        *string  `json:"organizationId"`
	PatientID             *string  `json:"patientId"`
	PractitionerID        *string  `json:"practitionerId"`
	TeamID                *string  `json:"teamId"`
	PartnerOrganizationID *string  `json:"partnerOrganizationId"`
	RelatedPersonName     *string  `json:"relatedPersonName"`
	PeriodStart           *string  `json:"periodStart"`
	PeriodEnd             *string  `json:"periodEnd"`
	Consent               *string  `json:"consent"`
	PatientPreference     *string  `json:"patientPreference"`
	Version               *float64 `json:"version"`
	UpdatedAt             *string  `json:"updatedAt"`
	Deleted               bool     `json:"deleted"`
}

// Practitioner is a practitioner document (read only).
type Practitioner struct {
	ID             string   `json:"id"`
	OrganizationID *string  `json:"organizationId"`
	GivenName      *string  `json:"givenName"`
	FamilyName     *string  `json:"familyName"`
	Profession     *string  `json:"profession"`
	Active         *bool    `json:"active"`
	Version        *float64 `json:"version"`
	UpdatedAt      *string  `json:"updatedAt"`
	Deleted        bool     `json:"deleted"`
}

// Team is a team document (read only).
type Team struct {
	ID             string   `json:"id"`
	OrganizationID *string  `json:"organizationId"`
	Name           *string  `json:"name"`
	Version        *float64 `json:"version"`
	UpdatedAt      *string  `json:"updatedAt"`
	Deleted        bool     `json:"deleted"`
}

// Organization is an organisation document (read only).
type Organization struct {
	ID        string   `json:"id"`
	Name      *string  `json:"name"`
	Kind      *string  `json:"kind"`
	OdsCode   *string  `json:"odsCode"`
	Version   *float64 `json:"version"`
	UpdatedAt *string  `json:"updatedAt"`
	Deleted   bool     `json:"deleted"`
}

// Bulks: one page of a collection's pull.

// InteractionBulk is a page of interactions.
type InteractionBulk struct {
	Documents  []*Interaction
	Checkpoint *Checkpoint
}

// PatientBulk is a page of patients.
type PatientBulk struct {
	Documents  []*Patient
	Checkpoint *Checkpoint
}

// CareRelationshipBulk is a page of care relationships.
type CareRelationshipBulk struct {
	Documents  []*CareRelationship
	Checkpoint *Checkpoint
}

// PractitionerBulk is a page of practitioners.
type PractitionerBulk struct {
	Documents  []*Practitioner
	Checkpoint *Checkpoint
}

// TeamBulk is a page of teams.
type TeamBulk struct {
	Documents  []*Team
	Checkpoint *Checkpoint
}

// OrganizationBulk is a page of organisations.
type OrganizationBulk struct {
	Documents  []*Organization
	Checkpoint *Checkpoint
}

// InteractionPushRow is one row of an RxDB push: the state the client
// believes the server holds (absent for a document it created) and its new
// state.
type InteractionPushRow struct {
	AssumedMasterState *Interaction `json:"assumedMasterState,omitempty"`
	NewDocumentState   *Interaction `json:"newDocumentState"`
}

// StreamEvent tells a replication to run a checkpoint iteration (RxDB's
// RESYNC): records in its scope changed.
type StreamEvent struct {
	Resync bool
}

// Record-to-document conversion, from the record as the store loaded it
// (offline.Loaded), in the formats of the native protocol's records
// (offline.TimeText, EnumText, DateText; ids as bare UUIDs).
// TestDocsAsRecordData holds every document to its record's Data.

func optText[T any](v *T, f func(T) string) *string {
	if v == nil {
		return nil
	}
	return ptr(f(*v))
}

func idText(id uuid.UUID) string { return id.String() }

func ids(l []uuid.UUID) []string {
	out := make([]string, len(l))
	for i, id := range l {
		out[i] = id.String()
	}
	return out
}

func version(r *offline.Record) *float64 {
	v := float64(r.Version)
	return &v
}

func interactionDoc(r *offline.Record) *Interaction {
	i, n := r.Loaded.Interaction, len(r.Loaded.Amendments)
	return &Interaction{ID: r.ID.String(), PatientID: ptr(i.PatientID.String()), PractitionerID: ptr(i.PractitionerID.String()),
		OrganizationID: ptr(i.OrganizationID.String()), Mode: ptr(offline.EnumText(i.Mode)), OccurredAt: ptr(offline.TimeText(i.OccurredAt)),
		DurationMinutes: i.DurationMinutes, ParticipantIds: ids(i.ParticipantIDs), OtherPresent: append([]string{}, i.OtherPresent...),
		Purpose: ptr(i.Purpose), Notes: ptr(i.Notes), Status: ptr(offline.EnumText(i.Status)), SignedAt: optText(i.SignedAt, offline.TimeText),
		SignedByID: optText(i.SignedByID, idText), AmendmentCount: &n, Version: version(r), UpdatedAt: ptr(offline.TimeText(i.UpdatedAt))}
}

func patientDoc(r *offline.Record) *Patient {
	p := r.Loaded.Patient
	return &Patient{ID: r.ID.String(), NhsNumber: ptr(p.NHSNumber), GivenName: ptr(p.GivenName), FamilyName: ptr(p.FamilyName),
		BirthDate: ptr(offline.DateText(p.BirthDate)), RegisteredPracticeID: ptr(p.RegisteredPracticeID.String()), Version: version(r),
		UpdatedAt: ptr(offline.TimeText(p.UpdatedAt))}
}

func relationshipDoc(r *offline.Record) *CareRelationship {
	c := r.Loaded.Relationship
	return &CareRelationship{ID: r.ID.String(), Kind: ptr(offline.EnumText(c.Kind)), Status: ptr(offline.EnumText(c.Status)),
		OrganizationID: ptr(c.OrganizationID.String()), PatientID: optText(c.PatientID, idText), PractitionerID: optText(c.PractitionerID, idText),
		TeamID: optText(c.TeamID, idText), PartnerOrganizationID: optText(c.PartnerOrganizationID, idText), RelatedPersonName: c.RelatedPersonName,
		PeriodStart: ptr(offline.TimeText(c.PeriodStart)), PeriodEnd: optText(c.PeriodEnd, offline.TimeText), Consent: ptr(offline.EnumText(c.Consent)),
		PatientPreference: ptr(offline.EnumText(c.PatientPreference)), Version: version(r), UpdatedAt: ptr(offline.TimeText(c.UpdatedAt))}
}

func practitionerDoc(r *offline.Record) *Practitioner {
	p := r.Loaded.Practitioner
	return &Practitioner{ID: r.ID.String(), OrganizationID: ptr(p.OrganizationID.String()), GivenName: ptr(p.GivenName),
		FamilyName: ptr(p.FamilyName), Profession: ptr(offline.EnumText(p.Profession)), Active: &p.Active, Version: version(r),
		UpdatedAt: ptr(offline.TimeText(p.UpdatedAt))}
}

func teamDoc(r *offline.Record) *Team {
	t := r.Loaded.Team
	return &Team{ID: r.ID.String(), OrganizationID: ptr(t.OrganizationID.String()), Name: ptr(t.Name), Version: version(r),
		UpdatedAt: ptr(offline.TimeText(t.UpdatedAt))}
}

func organizationDoc(r *offline.Record) *Organization {
	o := r.Loaded.Organization
	return &Organization{ID: r.ID.String(), Name: ptr(o.Name), Kind: ptr(offline.EnumText(o.Kind)), OdsCode: o.ODSCode, Version: version(r),
		UpdatedAt: ptr(offline.TimeText(o.UpdatedAt))}
}

// sameTime reports whether two RFC 3339 times are the same instant (a
// client may write "…:00.000Z" for the server's "…:00Z").
func sameTime(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	ta, err1 := time.Parse(time.RFC3339Nano, *a)
	tb, err2 := time.Parse(time.RFC3339Nano, *b)
	if err1 != nil || err2 != nil {
		return *a == *b
	}
	return ta.Equal(tb)
}

func sameStr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameInt(a, b *int) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sameList(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameIDs(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, err1 := uuid.Parse(a[i])
		y, err2 := uuid.Parse(b[i])
		if err1 != nil || err2 != nil || x != y {
			return false
		}
	}
	return true
}
