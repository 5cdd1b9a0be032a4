// Package care is Rapport's domain: organisations, teams, practitioners,
// patients, the care relationships between them and the interactions that make
// up care. It holds entities, validation, error codes and context helpers, and
// imports nothing else of ours; every other package speaks in its types.
package care

import (
	"time"

	"github.com/google/uuid"
)

// Organization is a tenant: a GP practice, a community nursing team, a social
// care provider, a hospital or a voluntary group. Every record belongs to one.
type Organization struct {
	ID        uuid.UUID
	Name      string
	Kind      OrganizationKind
	ODSCode   *string // NHS Organisation Data Service code, where it has one
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// Team is a group of practitioners inside one organisation (e.g. a district
// nursing team). Membership is a CareRelationship of kind TEAM_MEMBER.
type Team struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	Name           string
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        int64
}

// Practitioner is a person who gives care, employed by one organisation.
type Practitioner struct {
	ID             uuid.UUID
	OrganizationID uuid.UUID
	GivenName      string
	FamilyName     string
	Profession     Profession
	Active         bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
	Version        int64
}

// Patient is a person receiving care. Only what care needs is kept. The usual
// GP and named nurse are not stored here: they are the patient's active care
// relationships of those kinds.
type Patient struct {
	ID                   uuid.UUID
	NHSNumber            string
	GivenName            string
	FamilyName           string
	BirthDate            time.Time // a calendar date, UTC midnight
	RegisteredPracticeID uuid.UUID
	CreatedAt            time.Time
	UpdatedAt            time.Time
	Version              int64
}

// CareRelationship links a patient to a practitioner or a team (or, for carers
// and family, a named person), a practitioner to a team (TEAM_MEMBER), or one
// organisation to another (PARTNERSHIP). It is the one source of truth for who
// belongs with whom.
type CareRelationship struct {
	ID                    uuid.UUID
	Kind                  RelationshipKind
	Status                RelationshipStatus
	OrganizationID        uuid.UUID // the owning organisation (tenant)
	PatientID             *uuid.UUID
	PractitionerID        *uuid.UUID
	TeamID                *uuid.UUID
	PartnerOrganizationID *uuid.UUID
	RelatedPersonName     *string // carer or family member who is not a practitioner
	PeriodStart           time.Time
	PeriodEnd             *time.Time
	Consent               Consent
	PatientPreference     PatientPreference
	CreatedAt             time.Time
	UpdatedAt             time.Time
	Version               int64
}

// ActiveAt reports whether the relationship is in force at t: status ACTIVE and
// t inside [PeriodStart, PeriodEnd).
func (r *CareRelationship) ActiveAt(t time.Time) bool {
	if r.Status != RelationshipActive || t.Before(r.PeriodStart) {
		return false
	}
	return r.PeriodEnd == nil || t.Before(*r.PeriodEnd)
}

// Interaction is one contact within care. It is a draft until signed; a signed
// interaction changes only through an InteractionAmendment that keeps the
// values it replaced.
type Interaction struct {
	ID              uuid.UUID
	PatientID       uuid.UUID
	PractitionerID  uuid.UUID // the clinician who led and recorded it
	OrganizationID  uuid.UUID
	Mode            InteractionMode
	OccurredAt      time.Time
	DurationMinutes *int
	ParticipantIDs  []uuid.UUID // other practitioners present
	OtherPresent    []string    // others present, described not named (e.g. "daughter")
	Purpose         string
	Notes           string
	Status          InteractionStatus
	SignedAt        *time.Time
	SignedByID      *uuid.UUID
	CreatedAt       time.Time
	UpdatedAt       time.Time
	Version         int64
}

// InteractionContent is the part of a signed interaction an amendment may change.
type InteractionContent struct {
	Purpose         string
	Notes           string
	DurationMinutes *int
}

// InteractionAmendment records one correction of a signed interaction: who, when,
// why, and the content before and after.
type InteractionAmendment struct {
	ID            uuid.UUID
	InteractionID uuid.UUID
	AmendedByID   uuid.UUID
	AmendedAt     time.Time
	Reason        string
	Before        InteractionContent
	After         InteractionContent
}

// AuditEntry is one recorded read or write of a patient's data.
type AuditEntry struct {
	ID             int64
	At             time.Time
	ActorID        uuid.UUID
	ActorRole      Role
	OrganizationID uuid.UUID
	PatientID      uuid.UUID
	Action         AuditAction
	Entity         string // "Patient", "Interaction", "CareRelationship"
	EntityID       uuid.UUID
	RequestID      string
	Operation      string // e.g. the GraphQL operation name
}

// AuditAction says what was done to a patient's data.
type AuditAction string

// Audit actions.
const (
	AuditRead   AuditAction = "read"
	AuditCreate AuditAction = "create"
	AuditUpdate AuditAction = "update"
	AuditSign   AuditAction = "sign"
	AuditAmend  AuditAction = "amend"
	AuditEnd    AuditAction = "end"
	AuditDelete AuditAction = "delete" // a draft deleted (sync DELETE)
	// A registration transfer requested by another practice, and its decision.
	AuditTransferRequest AuditAction = "transfer_request"
	AuditTransferAccept  AuditAction = "transfer_accept"
	AuditTransferDecline AuditAction = "transfer_decline"
)

// TransferStatus is where a registration transfer request stands.
type TransferStatus string

// Registration transfer statuses.
const (
	TransferPending  TransferStatus = "pending"
	TransferAccepted TransferStatus = "accepted"
	TransferDeclined TransferStatus = "declined"
)

// RegistrationTransfer is a request, filed when a practice registers a
// patient already registered at another, that the registered practice move
// the registration. Only the registered practice sees it.
type RegistrationTransfer struct {
	ID             uuid.UUID
	PatientID      uuid.UUID
	FromPracticeID uuid.UUID // where the patient is registered
	ToPracticeID   uuid.UUID // the practice asking for them
	RequestedAt    time.Time
	Status         TransferStatus
}
