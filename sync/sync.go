// Package sync is Rapport's offline sync engine: devices push batches of
// changes made offline and pull what changed since their checkpoint. Pushes
// go through the same write path as online mutations (postgres), with
// exactly-once effect per device mutation number, field-level merge and a
// conflict ledger; pulls are gap-free, commit-ordered, paged and scoped to what
// the device's user may see. docs/sync-protocol.md explains it to mobile
// developers.
//
// Resolver files must import this package under an alias (e.g. offline):
// gqlgen rewrites an unaliased "sync" import to the standard library's.
package sync

import (
	"io"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// ProtocolVersion is the newest sync protocol version the server speaks.
// Version 2 changed what baseVersion means (docs/sync-protocol.md, "Protocol
// versions"): the version of the record the device had when the change was
// made, never the result of its own earlier change.
const ProtocolVersion = 2

// SupportedVersions lists every protocol version the server still answers.
var SupportedVersions = []int{1, 2}

// CheckProtocol returns nil when v is supported, else an EINVALID error naming
// the supported versions.
func CheckProtocol(v int) error {
	for _, s := range SupportedVersions {
		if s == v {
			return nil
		}
	}
	return care.Errorf(care.EINVALID, "sync protocol version %d is not supported; this server speaks versions %v: update the app", v, SupportedVersions)
}

// Entity is a kind of record that travels through sync.
type Entity string

// Entities.
const (
	EntityPatient          Entity = "patient"
	EntityCareRelationship Entity = "care_relationship"
	EntityInteraction      Entity = "interaction"
	EntityPractitioner     Entity = "practitioner"
	EntityTeam             Entity = "team"
	EntityOrganization     Entity = "organization"
)

// Op is what a pushed change does.
type Op string

// Ops.
const (
	OpCreate Op = "create"
	OpUpdate Op = "update"
	OpDelete Op = "delete"
	OpSign   Op = "sign"
	OpAmend  Op = "amend"
)

// ResultStatus is the outcome of one pushed change.
type ResultStatus string

// Result statuses.
const (
	StatusApplied  ResultStatus = "applied"
	StatusMerged   ResultStatus = "merged"
	StatusConflict ResultStatus = "conflict"
	StatusRejected ResultStatus = "rejected"
)

// ResetReason says why a device must pull from scratch.
type ResetReason string

// Reset reasons.
const (
	ResetCheckpointExpired ResetReason = "checkpoint_expired"
	ResetCheckpointInvalid ResetReason = "checkpoint_invalid"
	ResetDeviceRevoked     ResetReason = "device_revoked"
)

// ConflictOutcome is how a conflict was settled.
type ConflictOutcome string

// Conflict outcomes.
const (
	OutcomeServerKept    ConflictOutcome = "server_kept"
	OutcomeDeviceApplied ConflictOutcome = "device_applied"
	OutcomeOpen          ConflictOutcome = "open"
	OutcomeResolved      ConflictOutcome = "resolved"
)

// ConflictPolicy is the rule applied to a conflicting field.
type ConflictPolicy string

// Conflict policies.
const (
	PolicyLastWriterWins ConflictPolicy = "last_writer_wins"
	PolicyKeepBoth       ConflictPolicy = "keep_both"
)

// ChangeInput is one change made on a device.
type ChangeInput struct {
	MutationSeq int64
	Entity      Entity
	ID          uuid.UUID
	Op          Op
	BaseVersion *int64
	Fields      map[string]any
	Hlc         string
}

// PushInput is a batch of changes from one device.
type PushInput struct {
	ProtocolVersion int
	DeviceID        uuid.UUID
	Changes         []ChangeInput
}

// ChangeResult is the result of one pushed change.
type ChangeResult struct {
	MutationSeq int64
	Status      ResultStatus
	Code        *string
	Message     *string
	Version     *int64
	Record      map[string]any
	// RecordJSON is Record encoded (record_json.go, the bytes encoding/json
	// writes for the map), when the push had the record's row at hand: what
	// GraphQL sends as the result's record and what the result recorded for
	// replays holds, without encoding the map again. A replay leaves it
	// empty; GraphQL then encodes Record, to the same bytes (RecordData).
	RecordJSON RawJSON `json:"-"`
	Conflicts  []*Conflict
}

// PushPayload answers a push.
type PushPayload struct {
	Results   []*ChangeResult
	ServerHlc string
}

// PullInput asks for changes since a checkpoint.
type PullInput struct {
	ProtocolVersion int
	DeviceID        uuid.UUID
	Checkpoint      *string
	Limit           *int
	// Only, when set, pulls records of this one entity and nothing else (an
	// RxDB replication pulls one collection per device; sync/rxdb). Not
	// part of the GraphQL input.
	Only Entity
	// WithData asks for each record's Data map beside its JSON (tests hold
	// the one to the other). Without it Data is nil: a page is sent as JSON,
	// which is written once per page. Not part of the GraphQL input.
	WithData bool
	// WithLoaded asks for each record as the store loaded it (Record.Loaded)
	// instead of its JSON, for an adapter that writes documents of its own
	// (sync/rxdb). Not part of the GraphQL input.
	WithLoaded bool
}

// Record is a record's current state.
type Record struct {
	Entity  Entity
	ID      uuid.UUID
	Version int64
	// Data is the record's fields (a push's results; a pull's only with
	// PullInput.WithData).
	Data map[string]any
	// JSON is Data encoded (record_json.go), set by a pull (unless
	// PullInput.WithLoaded): what GraphQL sends as the record's data.
	JSON RawJSON
	// Loaded is the record as the store loaded it, set by a pull with
	// PullInput.WithLoaded and by Current.
	Loaded *Loaded
}

// Loaded is a record as the store loaded it: one of its entity's fields is
// set (an interaction's with its amendments). Its Data is the record's
// fields as sync sends them.
type Loaded struct {
	Patient      *care.Patient
	Relationship *care.CareRelationship
	Interaction  *care.Interaction
	Amendments   []*care.InteractionAmendment
	Practitioner *care.Practitioner
	Team         *care.Team
	Organization *care.Organization
	Feedback     *feedback.Response
}

// Tombstone marks a deleted record.
type Tombstone struct {
	Entity Entity
	ID     uuid.UUID
}

// PullPayload is one page of changes.
type PullPayload struct {
	Upserts           []*Record
	Tombstones        []*Tombstone
	RevokedPatientIDs []uuid.UUID
	Checkpoint        string
	HasMore           bool
	ResetRequired     bool
	ResetReason       *ResetReason
	Wipe              bool
}

// Conflict is a collision between a device's change and one it had not seen.
type Conflict struct {
	ID             uuid.UUID
	Entity         Entity
	RecordID       uuid.UUID
	Field          string
	PatientID      *uuid.UUID
	ServerValue    any
	DeviceValue    any
	Policy         ConflictPolicy
	Outcome        ConflictOutcome
	DeviceID       uuid.UUID
	PractitionerID *uuid.UUID
	CreatedAt      time.Time
	ResolvedByID   *uuid.UUID
	ResolvedAt     *time.Time
	ResolvedValue  any
	RecordVersion  *int64 // the record's version when the conflict was recorded
}

// ConflictFilter narrows a list of conflicts.
type ConflictFilter struct {
	PatientID      *uuid.UUID
	PractitionerID *uuid.UUID
	Open           *bool
}

// ResolveConflictInput settles an open conflict.
type ResolveConflictInput struct {
	ID          uuid.UUID
	Value       any
	Reason      *string
	BaseVersion *int64
}

// Device is a device that syncs.
type Device struct {
	ID             uuid.UUID
	PractitionerID *uuid.UUID
	RegisteredAt   time.Time
	LastSeenAt     *time.Time
	RevokedAt      *time.Time
}

// RevokeDeviceInput revokes a device.
type RevokeDeviceInput struct {
	ID uuid.UUID
}

// ChangesEvent tells a subscriber that changes in its scope are waiting.
type ChangesEvent struct {
	ChangesWaiting bool
}

var (
	entities = []Entity{EntityPatient, EntityCareRelationship, EntityInteraction, EntityPractitioner, EntityTeam, EntityOrganization, EntityFeedback}
	ops      = []Op{OpCreate, OpUpdate, OpDelete, OpSign, OpAmend}
	statuses = []ResultStatus{StatusApplied, StatusMerged, StatusConflict, StatusRejected}
	resets   = []ResetReason{ResetCheckpointExpired, ResetCheckpointInvalid, ResetDeviceRevoked}
	outcomes = []ConflictOutcome{OutcomeServerKept, OutcomeDeviceApplied, OutcomeOpen, OutcomeResolved}
	policies = []ConflictPolicy{PolicyLastWriterWins, PolicyKeepBoth}
)

// MarshalGQL writes the GraphQL enum name.
func (e Entity) MarshalGQL(w io.Writer) { care.MarshalEnum(w, e) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (e *Entity) UnmarshalGQL(v any) (err error) {
	*e, err = care.ParseEnum(entities, "sync entity", v)
	return err
}

// MarshalGQL writes the GraphQL enum name.
func (o Op) MarshalGQL(w io.Writer) { care.MarshalEnum(w, o) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (o *Op) UnmarshalGQL(v any) (err error) { *o, err = care.ParseEnum(ops, "sync op", v); return err }

// MarshalGQL writes the GraphQL enum name.
func (s ResultStatus) MarshalGQL(w io.Writer) { care.MarshalEnum(w, s) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (s *ResultStatus) UnmarshalGQL(v any) (err error) {
	*s, err = care.ParseEnum(statuses, "sync result status", v)
	return err
}

// MarshalGQL writes the GraphQL enum name.
func (r ResetReason) MarshalGQL(w io.Writer) { care.MarshalEnum(w, r) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (r *ResetReason) UnmarshalGQL(v any) (err error) {
	*r, err = care.ParseEnum(resets, "reset reason", v)
	return err
}

// MarshalGQL writes the GraphQL enum name.
func (o ConflictOutcome) MarshalGQL(w io.Writer) { care.MarshalEnum(w, o) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (o *ConflictOutcome) UnmarshalGQL(v any) (err error) {
	*o, err = care.ParseEnum(outcomes, "conflict outcome", v)
	return err
}

// MarshalGQL writes the GraphQL enum name.
func (p ConflictPolicy) MarshalGQL(w io.Writer) { care.MarshalEnum(w, p) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (p *ConflictPolicy) UnmarshalGQL(v any) (err error) {
	*p, err = care.ParseEnum(policies, "conflict policy", v)
	return err
}
