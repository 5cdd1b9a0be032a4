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

// Record-to-document conversion. Record data follows sync/record.go: strings,
// int64 numbers and versions, []any lists.

func str(d map[string]any, k string) *string {
	if v, ok := d[k].(string); ok {
		return &v
	}
	return nil
}

func num(d map[string]any, k string) *int {
	switch v := d[k].(type) {
	case int64:
		n := int(v)
		return &n
	case int:
		return &v
	case float64:
		n := int(v)
		return &n
	}
	return nil
}

func version(r *offline.Record) *float64 {
	v := float64(r.Version)
	return &v
}

func strs(d map[string]any, k string) []string {
	l, _ := d[k].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func interactionDoc(r *offline.Record) *Interaction {
	d := r.Data
	n := 0
	if l, ok := d["amendments"].([]any); ok {
		n = len(l)
	}
	return &Interaction{ID: r.ID.String(), PatientID: str(d, "patientId"), PractitionerID: str(d, "practitionerId"),
		OrganizationID: str(d, "organizationId"), Mode: str(d, "mode"), OccurredAt: str(d, "occurredAt"),
		DurationMinutes: num(d, "durationMinutes"), ParticipantIds: strs(d, "participantIds"), OtherPresent: strs(d, "otherPresent"),
		Purpose: str(d, "purpose"), Notes: str(d, "notes"), Status: str(d, "status"), SignedAt: str(d, "signedAt"),
		SignedByID: str(d, "signedById"), AmendmentCount: &n, Version: version(r), UpdatedAt: str(d, "updatedAt")}
}

func patientDoc(r *offline.Record) *Patient {
	d := r.Data
	return &Patient{ID: r.ID.String(), NhsNumber: str(d, "nhsNumber"), GivenName: str(d, "givenName"), FamilyName: str(d, "familyName"),
		BirthDate: str(d, "birthDate"), RegisteredPracticeID: str(d, "registeredPracticeId"), Version: version(r), UpdatedAt: str(d, "updatedAt")}
}

func relationshipDoc(r *offline.Record) *CareRelationship {
	d := r.Data
	return &CareRelationship{ID: r.ID.String(), Kind: str(d, "kind"), Status: str(d, "status"), OrganizationID: str(d, "organizationId"),
		PatientID: str(d, "patientId"), PractitionerID: str(d, "practitionerId"), TeamID: str(d, "teamId"),
		PartnerOrganizationID: str(d, "partnerOrganizationId"), RelatedPersonName: str(d, "relatedPersonName"),
		PeriodStart: str(d, "periodStart"), PeriodEnd: str(d, "periodEnd"), Consent: str(d, "consent"),
		PatientPreference: str(d, "patientPreference"), Version: version(r), UpdatedAt: str(d, "updatedAt")}
}

func practitionerDoc(r *offline.Record) *Practitioner {
	d := r.Data
	var active *bool
	if v, ok := d["active"].(bool); ok {
		active = &v
	}
	return &Practitioner{ID: r.ID.String(), OrganizationID: str(d, "organizationId"), GivenName: str(d, "givenName"),
		FamilyName: str(d, "familyName"), Profession: str(d, "profession"), Active: active, Version: version(r), UpdatedAt: str(d, "updatedAt")}
}

func teamDoc(r *offline.Record) *Team {
	d := r.Data
	return &Team{ID: r.ID.String(), OrganizationID: str(d, "organizationId"), Name: str(d, "name"), Version: version(r), UpdatedAt: str(d, "updatedAt")}
}

func organizationDoc(r *offline.Record) *Organization {
	d := r.Data
	return &Organization{ID: r.ID.String(), Name: str(d, "name"), Kind: str(d, "kind"), OdsCode: str(d, "odsCode"), Version: version(r), UpdatedAt: str(d, "updatedAt")}
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
