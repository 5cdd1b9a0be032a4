package care

import (
	"strings"
	"time"

	"github.com/google/uuid"
)

// Inputs are what callers send to the one write path (online GraphQL mutations
// now, sync pushes later). Create inputs take an optional client-chosen ID
// (UUIDv7 from an offline device); creating again with an existing ID returns
// the existing record instead of a duplicate. Update inputs change only the
// fields that are set. Validate methods normalise in place and return EINVALID.

// Maximum lengths of free-text fields.
const (
	MaxNameLen    = 200
	MaxPurposeLen = 500
	MaxNotesLen   = 20000
	MaxReasonLen  = 1000
)

// CreateOrganizationInput creates an organisation.
type CreateOrganizationInput struct {
	ID      *uuid.UUID
	Name    string
	Kind    OrganizationKind
	ODSCode *string
}

// UpdateOrganizationInput changes an organisation.
type UpdateOrganizationInput struct {
	ID      uuid.UUID
	Name    *string
	ODSCode *string
}

// CreateTeamInput creates a team inside an organisation.
type CreateTeamInput struct {
	ID             *uuid.UUID
	OrganizationID uuid.UUID
	Name           string
}

// UpdateTeamInput renames a team.
type UpdateTeamInput struct {
	ID   uuid.UUID
	Name *string
}

// CreatePractitionerInput creates a practitioner in an organisation.
type CreatePractitionerInput struct {
	ID             *uuid.UUID
	OrganizationID uuid.UUID
	GivenName      string
	FamilyName     string
	Profession     Profession
}

// UpdatePractitionerInput changes a practitioner.
type UpdatePractitionerInput struct {
	ID         uuid.UUID
	GivenName  *string
	FamilyName *string
	Profession *Profession
	Active     *bool
}

// CreatePatientInput registers a patient at a practice.
type CreatePatientInput struct {
	ID                   *uuid.UUID
	NHSNumber            string
	GivenName            string
	FamilyName           string
	BirthDate            time.Time
	RegisteredPracticeID uuid.UUID
}

// UpdatePatientInput changes a patient's details. The NHS number never changes.
type UpdatePatientInput struct {
	ID                   uuid.UUID
	GivenName            *string
	FamilyName           *string
	BirthDate            *time.Time
	RegisteredPracticeID *uuid.UUID
	// BaseVersion is the version its author last read (nil: not checked).
	// If the patient changed since, a change to another value is refused
	// (ECONFLICT).
	BaseVersion *int64
}

// StartRelationshipInput starts a care relationship. Which of the party fields
// must be set depends on Kind (see Validate).
type StartRelationshipInput struct {
	ID                    *uuid.UUID
	Kind                  RelationshipKind
	PatientID             *uuid.UUID
	PractitionerID        *uuid.UUID
	TeamID                *uuid.UUID
	OrganizationID        *uuid.UUID
	PartnerOrganizationID *uuid.UUID
	RelatedPersonName     *string
	PeriodStart           *time.Time // default: now
	PeriodEnd             *time.Time
	Consent               *Consent           // default: NOT_RECORDED
	PatientPreference     *PatientPreference // default: NOT_ASKED
}

// UpdateRelationshipInput changes consent, preference or the planned end of a relationship.
type UpdateRelationshipInput struct {
	ID                uuid.UUID
	Consent           *Consent
	PatientPreference *PatientPreference
	PeriodEnd         *time.Time
	// BaseVersion is the version its author last read (nil: not checked),
	// as for UpdateInteractionInput.
	BaseVersion *int64
}

// EndRelationshipInput ends a relationship.
type EndRelationshipInput struct {
	ID      uuid.UUID
	EndedAt *time.Time // default: now
}

// CreateInteractionInput records a contact as a draft.
type CreateInteractionInput struct {
	ID              *uuid.UUID
	PatientID       uuid.UUID
	PractitionerID  *uuid.UUID // default: the caller
	Mode            InteractionMode
	OccurredAt      time.Time
	DurationMinutes *int
	ParticipantIDs  []uuid.UUID
	OtherPresent    []string
	Purpose         string
	Notes           string
}

// UpdateInteractionInput edits a draft interaction.
type UpdateInteractionInput struct {
	ID              uuid.UUID
	Mode            *InteractionMode
	OccurredAt      *time.Time
	DurationMinutes *int
	ParticipantIDs  []uuid.UUID // nil: unchanged
	OtherPresent    []string    // nil: unchanged
	Purpose         *string
	Notes           *string
	// BaseVersion is the version its author last read (nil: not checked).
	// A field written here that changed since then, to another value, is
	// refused (ECONFLICT) rather than overwritten.
	BaseVersion *int64
}

// SignInteractionInput signs a draft interaction off.
type SignInteractionInput struct {
	ID uuid.UUID
	// BaseVersion is the version its author read before signing (nil: not
	// checked). A draft changed since then is refused (ECONFLICT): a
	// signature attests what its author read.
	BaseVersion *int64
}

// AmendInteractionInput corrects a signed interaction, keeping what it replaces.
type AmendInteractionInput struct {
	ID              uuid.UUID
	Reason          string
	Purpose         *string
	Notes           *string
	DurationMinutes *int
	// BaseVersion is the version its author last read (nil: not checked),
	// as for UpdateInteractionInput.
	BaseVersion *int64
}

func cleanName(field string, s *string) error {
	*s = strings.TrimSpace(*s)
	if *s == "" {
		return Errorf(EINVALID, "%s must not be empty", field)
	}
	if len(*s) > MaxNameLen {
		return Errorf(EINVALID, "%s must be at most %d characters", field, MaxNameLen)
	}
	return nil
}

func cleanOptName(field string, s *string) error {
	if s == nil {
		return nil
	}
	return cleanName(field, s)
}

func checkLen(field, s string, max int) error {
	if len(s) > max {
		return Errorf(EINVALID, "%s must be at most %d characters", field, max)
	}
	return nil
}

func checkDuration(d *int) error {
	if d != nil && (*d < 0 || *d > 24*60) {
		return Errorf(EINVALID, "durationMinutes must be between 0 and 1440")
	}
	return nil
}

func checkODS(s *string) error {
	if s == nil {
		return nil
	}
	*s = strings.ToUpper(strings.TrimSpace(*s))
	if len(*s) < 3 || len(*s) > 10 {
		return Errorf(EINVALID, "ODS code must be 3 to 10 characters")
	}
	for _, c := range *s {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return Errorf(EINVALID, "ODS code must contain only letters and digits")
		}
	}
	return nil
}

// Validate checks and normalises the input.
func (in *CreateOrganizationInput) Validate() error {
	if err := cleanName("name", &in.Name); err != nil {
		return err
	}
	if !in.Kind.Valid() {
		return Errorf(EINVALID, "unknown organization kind")
	}
	return checkODS(in.ODSCode)
}

// Validate checks and normalises the input.
func (in *UpdateOrganizationInput) Validate() error {
	if err := cleanOptName("name", in.Name); err != nil {
		return err
	}
	return checkODS(in.ODSCode)
}

// Validate checks and normalises the input.
func (in *CreateTeamInput) Validate() error { return cleanName("name", &in.Name) }

// Validate checks and normalises the input.
func (in *UpdateTeamInput) Validate() error { return cleanOptName("name", in.Name) }

// Validate checks and normalises the input.
func (in *CreatePractitionerInput) Validate() error {
	if err := cleanName("givenName", &in.GivenName); err != nil {
		return err
	}
	if err := cleanName("familyName", &in.FamilyName); err != nil {
		return err
	}
	if !in.Profession.Valid() {
		return Errorf(EINVALID, "unknown profession")
	}
	return nil
}

// Validate checks and normalises the input.
func (in *UpdatePractitionerInput) Validate() error {
	if err := cleanOptName("givenName", in.GivenName); err != nil {
		return err
	}
	if err := cleanOptName("familyName", in.FamilyName); err != nil {
		return err
	}
	if in.Profession != nil && !in.Profession.Valid() {
		return Errorf(EINVALID, "unknown profession")
	}
	return nil
}

func checkBirthDate(d time.Time, now time.Time) error {
	if d.IsZero() || d.After(now) || d.Year() < 1890 {
		return Errorf(EINVALID, "birthDate must be a real date in the past")
	}
	return nil
}

// Validate checks and normalises the input; now bounds the birth date.
func (in *CreatePatientInput) Validate(now time.Time) error {
	nhs, err := NormalizeNHSNumber(in.NHSNumber)
	if err != nil {
		return err
	}
	in.NHSNumber = nhs
	if err := cleanName("givenName", &in.GivenName); err != nil {
		return err
	}
	if err := cleanName("familyName", &in.FamilyName); err != nil {
		return err
	}
	return checkBirthDate(in.BirthDate, now)
}

// Validate checks and normalises the input; now bounds the birth date.
func (in *UpdatePatientInput) Validate(now time.Time) error {
	if err := CheckBaseVersion(in.BaseVersion); err != nil {
		return err
	}
	if err := cleanOptName("givenName", in.GivenName); err != nil {
		return err
	}
	if err := cleanOptName("familyName", in.FamilyName); err != nil {
		return err
	}
	if in.BirthDate != nil {
		return checkBirthDate(*in.BirthDate, now)
	}
	return nil
}

// Validate checks that the parties fit the kind and fills in defaults; now is
// the default start.
func (in *StartRelationshipInput) Validate(now time.Time) error {
	if !in.Kind.Valid() {
		return Errorf(EINVALID, "unknown relationship kind")
	}
	switch {
	case in.Kind == KindTeamMember:
		if in.PractitionerID == nil || in.TeamID == nil || in.PatientID != nil || in.PartnerOrganizationID != nil || in.RelatedPersonName != nil {
			return Errorf(EINVALID, "a TEAM_MEMBER relationship links exactly one practitioner to one team")
		}
	case in.Kind == KindPartnership:
		if in.OrganizationID == nil || in.PartnerOrganizationID == nil || in.PatientID != nil || in.PractitionerID != nil || in.TeamID != nil || in.RelatedPersonName != nil {
			return Errorf(EINVALID, "a PARTNERSHIP relationship links exactly two organizations")
		}
		if *in.OrganizationID == *in.PartnerOrganizationID {
			return Errorf(EINVALID, "an organization cannot partner with itself")
		}
	default: // patient kinds
		if in.PatientID == nil || in.PartnerOrganizationID != nil {
			return Errorf(EINVALID, "a %s relationship needs a patient", strings.ToUpper(string(in.Kind)))
		}
		n := 0
		for _, set := range []bool{in.PractitionerID != nil, in.TeamID != nil, in.RelatedPersonName != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return Errorf(EINVALID, "a patient relationship links the patient to exactly one of a practitioner, a team or a named person")
		}
		if in.RelatedPersonName != nil {
			if in.Kind != KindCarer && in.Kind != KindFamily {
				return Errorf(EINVALID, "only CARER and FAMILY relationships may name a person who is not a practitioner")
			}
			if err := cleanName("relatedPersonName", in.RelatedPersonName); err != nil {
				return err
			}
		}
		if (in.Kind == KindUsualGP || in.Kind == KindNamedNurse) && in.PractitionerID == nil {
			return Errorf(EINVALID, "a %s relationship links the patient to a practitioner", strings.ToUpper(string(in.Kind)))
		}
	}
	if in.PeriodStart == nil {
		in.PeriodStart = &now
	}
	if in.PeriodEnd != nil && !in.PeriodEnd.After(*in.PeriodStart) {
		return Errorf(EINVALID, "periodEnd must be after periodStart")
	}
	if in.Consent == nil {
		c := ConsentNotRecorded
		in.Consent = &c
	} else if !in.Consent.Valid() {
		return Errorf(EINVALID, "unknown consent value")
	}
	if in.PatientPreference == nil {
		p := PreferenceNotAsked
		in.PatientPreference = &p
	} else if !in.PatientPreference.Valid() {
		return Errorf(EINVALID, "unknown patient preference")
	}
	return nil
}

// Validate checks the input.
func (in *UpdateRelationshipInput) Validate() error {
	if err := CheckBaseVersion(in.BaseVersion); err != nil {
		return err
	}
	if in.Consent != nil && !in.Consent.Valid() {
		return Errorf(EINVALID, "unknown consent value")
	}
	if in.PatientPreference != nil && !in.PatientPreference.Valid() {
		return Errorf(EINVALID, "unknown patient preference")
	}
	return nil
}

// maxFuture is how far ahead of the server clock an interaction may be dated
// (device clocks drift; a visit is never recorded weeks ahead).
const maxFuture = 24 * time.Hour

func checkOccurredAt(t, now time.Time) error {
	if t.IsZero() || t.Year() < 1990 {
		return Errorf(EINVALID, "occurredAt must be a real time")
	}
	if t.After(now.Add(maxFuture)) {
		return Errorf(EINVALID, "occurredAt must not be more than a day in the future")
	}
	return nil
}

func checkOthers(others []string) error {
	if len(others) > 20 {
		return Errorf(EINVALID, "at most 20 others present may be listed")
	}
	for i := range others {
		if err := cleanName("otherPresent", &others[i]); err != nil {
			return err
		}
	}
	return nil
}

// Validate checks and normalises the input; now bounds occurredAt.
func (in *CreateInteractionInput) Validate(now time.Time) error {
	if !in.Mode.Valid() {
		return Errorf(EINVALID, "unknown interaction mode")
	}
	if err := checkOccurredAt(in.OccurredAt, now); err != nil {
		return err
	}
	if err := checkDuration(in.DurationMinutes); err != nil {
		return err
	}
	in.Purpose = strings.TrimSpace(in.Purpose)
	if err := checkLen("purpose", in.Purpose, MaxPurposeLen); err != nil {
		return err
	}
	if err := checkLen("notes", in.Notes, MaxNotesLen); err != nil {
		return err
	}
	if len(in.ParticipantIDs) > 20 {
		return Errorf(EINVALID, "at most 20 participants may be listed")
	}
	return checkOthers(in.OtherPresent)
}

// Validate checks and normalises the input; now bounds occurredAt.
func (in *UpdateInteractionInput) Validate(now time.Time) error {
	if err := CheckBaseVersion(in.BaseVersion); err != nil {
		return err
	}
	if in.Mode != nil && !in.Mode.Valid() {
		return Errorf(EINVALID, "unknown interaction mode")
	}
	if in.OccurredAt != nil {
		if err := checkOccurredAt(*in.OccurredAt, now); err != nil {
			return err
		}
	}
	if err := checkDuration(in.DurationMinutes); err != nil {
		return err
	}
	if in.Purpose != nil {
		*in.Purpose = strings.TrimSpace(*in.Purpose)
		if err := checkLen("purpose", *in.Purpose, MaxPurposeLen); err != nil {
			return err
		}
	}
	if in.Notes != nil {
		if err := checkLen("notes", *in.Notes, MaxNotesLen); err != nil {
			return err
		}
	}
	if len(in.ParticipantIDs) > 20 {
		return Errorf(EINVALID, "at most 20 participants may be listed")
	}
	return checkOthers(in.OtherPresent)
}

// Validate checks the input: a reason and at least one change.
func (in *AmendInteractionInput) Validate() error {
	if err := CheckBaseVersion(in.BaseVersion); err != nil {
		return err
	}
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" {
		return Errorf(EINVALID, "an amendment needs a reason")
	}
	if err := checkLen("reason", in.Reason, MaxReasonLen); err != nil {
		return err
	}
	if in.Purpose == nil && in.Notes == nil && in.DurationMinutes == nil {
		return Errorf(EINVALID, "an amendment must change purpose, notes or durationMinutes")
	}
	if in.Purpose != nil {
		*in.Purpose = strings.TrimSpace(*in.Purpose)
		if err := checkLen("purpose", *in.Purpose, MaxPurposeLen); err != nil {
			return err
		}
	}
	if in.Notes != nil {
		if err := checkLen("notes", *in.Notes, MaxNotesLen); err != nil {
			return err
		}
	}
	return checkDuration(in.DurationMinutes)
}

// CheckBaseVersion refuses a base version below 1 (versions start at 1).
func CheckBaseVersion(v *int64) error {
	if v != nil && *v < 1 {
		return Errorf(EINVALID, "baseVersion must be at least 1")
	}
	return nil
}
