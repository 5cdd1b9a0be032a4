package care

import (
	"io"
	"strconv"
	"strings"
)

// Enumerations are stored in PostgreSQL as their lower-case Go values and
// presented in GraphQL as the upper-case names in schema.graphql. The
// MarshalGQL/UnmarshalGQL methods let gqlgen bind the schema's enums to these
// types directly; an unknown value is an EINVALID error.

// OrganizationKind says what sort of organisation a tenant is.
type OrganizationKind string

// Organisation kinds.
const (
	OrgGPPractice       OrganizationKind = "gp_practice"
	OrgCommunityNursing OrganizationKind = "community_nursing"
	OrgSocialCare       OrganizationKind = "social_care"
	OrgHospital         OrganizationKind = "hospital"
	OrgVoluntary        OrganizationKind = "voluntary"
)

// Profession is what a practitioner does.
type Profession string

// Professions.
const (
	ProfessionGP                    Profession = "gp"
	ProfessionDistrictNurse         Profession = "district_nurse"
	ProfessionPracticeNurse         Profession = "practice_nurse"
	ProfessionCommunityNurse        Profession = "community_nurse"
	ProfessionHCA                   Profession = "hca"
	ProfessionSocialWorker          Profession = "social_worker"
	ProfessionPhysiotherapist       Profession = "physiotherapist"
	ProfessionOccupationalTherapist Profession = "occupational_therapist"
	ProfessionPharmacist            Profession = "pharmacist"
	ProfessionCareWorker            Profession = "care_worker"
	ProfessionOther                 Profession = "other"
)

// RelationshipKind says what a care relationship is.
type RelationshipKind string

// Relationship kinds. The first six link a patient to a practitioner, a team or
// (carer, family) a named person; TEAM_MEMBER links a practitioner to a team;
// PARTNERSHIP links two organisations.
const (
	KindUsualGP         RelationshipKind = "usual_gp"
	KindNamedNurse      RelationshipKind = "named_nurse"
	KindKeyWorker       RelationshipKind = "key_worker"
	KindCareCoordinator RelationshipKind = "care_coordinator"
	KindCarer           RelationshipKind = "carer"
	KindFamily          RelationshipKind = "family"
	KindTeamMember      RelationshipKind = "team_member"
	KindPartnership     RelationshipKind = "partnership"
)

// IsPatientKind reports whether the kind links a patient to someone.
func (k RelationshipKind) IsPatientKind() bool {
	switch k {
	case KindUsualGP, KindNamedNurse, KindKeyWorker, KindCareCoordinator, KindCarer, KindFamily:
		return true
	}
	return false
}

// RelationshipStatus is where a relationship is in its life.
type RelationshipStatus string

// Relationship statuses.
const (
	RelationshipProposed RelationshipStatus = "proposed"
	RelationshipActive   RelationshipStatus = "active"
	RelationshipEnded    RelationshipStatus = "ended"
)

// Consent records the patient's consent to a relationship.
type Consent string

// Consent values.
const (
	ConsentGiven       Consent = "given"
	ConsentRefused     Consent = "refused"
	ConsentNotRecorded Consent = "not_recorded"
)

// PatientPreference records what the patient wants of a relationship.
type PatientPreference string

// Patient preferences.
const (
	PreferencePreferred    PatientPreference = "preferred"
	PreferenceAccepted     PatientPreference = "accepted"
	PreferenceNotPreferred PatientPreference = "not_preferred"
	PreferenceNotAsked     PatientPreference = "not_asked"
)

// InteractionMode is how a contact happened.
type InteractionMode string

// Interaction modes.
const (
	ModeHomeVisit InteractionMode = "home_visit"
	ModeClinic    InteractionMode = "clinic"
	ModePhone     InteractionMode = "phone"
	ModeVideo     InteractionMode = "video"
	ModeMessage   InteractionMode = "message"
)

// InteractionStatus is where an interaction is in its life.
type InteractionStatus string

// Interaction statuses: a draft may be edited; signed and amended ones only amended.
const (
	InteractionDraft   InteractionStatus = "draft"
	InteractionSigned  InteractionStatus = "signed"
	InteractionAmended InteractionStatus = "amended"
)

// Role is what a caller may do, carried by their token.
type Role string

// Roles. System is the command line's own actor (migrate, seed); no token carries it.
const (
	RoleNurse         Role = "nurse"
	RoleGP            Role = "gp"
	RolePracticeAdmin Role = "practice_admin"
	RoleIntegration   Role = "integration"
	RoleSystem        Role = "system"
)

// values lists an enumeration's members, so parse and Valid share one list.
func values[T ~string](vals ...T) []T { return vals }

var (
	organizationKinds   = values(OrgGPPractice, OrgCommunityNursing, OrgSocialCare, OrgHospital, OrgVoluntary)
	professions         = values(ProfessionGP, ProfessionDistrictNurse, ProfessionPracticeNurse, ProfessionCommunityNurse, ProfessionHCA, ProfessionSocialWorker, ProfessionPhysiotherapist, ProfessionOccupationalTherapist, ProfessionPharmacist, ProfessionCareWorker, ProfessionOther)
	relationshipKinds   = values(KindUsualGP, KindNamedNurse, KindKeyWorker, KindCareCoordinator, KindCarer, KindFamily, KindTeamMember, KindPartnership)
	relationshipStatus  = values(RelationshipProposed, RelationshipActive, RelationshipEnded)
	consents            = values(ConsentGiven, ConsentRefused, ConsentNotRecorded)
	patientPreferences  = values(PreferencePreferred, PreferenceAccepted, PreferenceNotPreferred, PreferenceNotAsked)
	interactionModes    = values(ModeHomeVisit, ModeClinic, ModePhone, ModeVideo, ModeMessage)
	interactionStatuses = values(InteractionDraft, InteractionSigned, InteractionAmended)
	roles               = values(RoleNurse, RoleGP, RolePracticeAdmin, RoleIntegration, RoleSystem)
)

// ParseEnum accepts either the stored value ("home_visit") or the GraphQL name
// ("HOME_VISIT") of one of all and returns the stored value; EINVALID naming
// what otherwise.
func ParseEnum[T ~string](all []T, what string, v any) (T, error) {
	s, ok := v.(string)
	if !ok {
		return "", Errorf(EINVALID, "%s must be a string", what)
	}
	low := strings.ToLower(s)
	for _, x := range all {
		if string(x) == low {
			return x, nil
		}
	}
	return "", Errorf(EINVALID, "%q is not a valid %s", s, what)
}

func validEnum[T ~string](all []T, v T) bool {
	for _, x := range all {
		if x == v {
			return true
		}
	}
	return false
}

// MarshalEnum writes v as its quoted upper-case GraphQL enum name.
func MarshalEnum[T ~string](w io.Writer, v T) {
	_, _ = io.WriteString(w, strconv.Quote(strings.ToUpper(string(v))))
}

// Valid reports whether k is a known organisation kind.
func (k OrganizationKind) Valid() bool { return validEnum(organizationKinds, k) }

// MarshalGQL writes the GraphQL enum name.
func (k OrganizationKind) MarshalGQL(w io.Writer) { MarshalEnum(w, k) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (k *OrganizationKind) UnmarshalGQL(v any) (err error) {
	*k, err = ParseEnum(organizationKinds, "organization kind", v)
	return err
}

// Valid reports whether p is a known profession.
func (p Profession) Valid() bool { return validEnum(professions, p) }

// MarshalGQL writes the GraphQL enum name.
func (p Profession) MarshalGQL(w io.Writer) { MarshalEnum(w, p) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (p *Profession) UnmarshalGQL(v any) (err error) {
	*p, err = ParseEnum(professions, "profession", v)
	return err
}

// Valid reports whether k is a known relationship kind.
func (k RelationshipKind) Valid() bool { return validEnum(relationshipKinds, k) }

// MarshalGQL writes the GraphQL enum name.
func (k RelationshipKind) MarshalGQL(w io.Writer) { MarshalEnum(w, k) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (k *RelationshipKind) UnmarshalGQL(v any) (err error) {
	*k, err = ParseEnum(relationshipKinds, "relationship kind", v)
	return err
}

// Valid reports whether s is a known relationship status.
func (s RelationshipStatus) Valid() bool { return validEnum(relationshipStatus, s) }

// MarshalGQL writes the GraphQL enum name.
func (s RelationshipStatus) MarshalGQL(w io.Writer) { MarshalEnum(w, s) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (s *RelationshipStatus) UnmarshalGQL(v any) (err error) {
	*s, err = ParseEnum(relationshipStatus, "relationship status", v)
	return err
}

// Valid reports whether c is a known consent value.
func (c Consent) Valid() bool { return validEnum(consents, c) }

// MarshalGQL writes the GraphQL enum name.
func (c Consent) MarshalGQL(w io.Writer) { MarshalEnum(w, c) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (c *Consent) UnmarshalGQL(v any) (err error) {
	*c, err = ParseEnum(consents, "consent", v)
	return err
}

// Valid reports whether p is a known patient preference.
func (p PatientPreference) Valid() bool { return validEnum(patientPreferences, p) }

// MarshalGQL writes the GraphQL enum name.
func (p PatientPreference) MarshalGQL(w io.Writer) { MarshalEnum(w, p) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (p *PatientPreference) UnmarshalGQL(v any) (err error) {
	*p, err = ParseEnum(patientPreferences, "patient preference", v)
	return err
}

// Valid reports whether m is a known interaction mode.
func (m InteractionMode) Valid() bool { return validEnum(interactionModes, m) }

// MarshalGQL writes the GraphQL enum name.
func (m InteractionMode) MarshalGQL(w io.Writer) { MarshalEnum(w, m) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (m *InteractionMode) UnmarshalGQL(v any) (err error) {
	*m, err = ParseEnum(interactionModes, "interaction mode", v)
	return err
}

// Valid reports whether s is a known interaction status.
func (s InteractionStatus) Valid() bool { return validEnum(interactionStatuses, s) }

// MarshalGQL writes the GraphQL enum name.
func (s InteractionStatus) MarshalGQL(w io.Writer) { MarshalEnum(w, s) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (s *InteractionStatus) UnmarshalGQL(v any) (err error) {
	*s, err = ParseEnum(interactionStatuses, "interaction status", v)
	return err
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return validEnum(roles, r) }

// MarshalGQL writes the GraphQL enum name.
func (r Role) MarshalGQL(w io.Writer) { MarshalEnum(w, r) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (r *Role) UnmarshalGQL(v any) (err error) {
	*r, err = ParseEnum(roles, "role", v)
	return err
}

var transferStatuses = values(TransferPending, TransferAccepted, TransferDeclined)

// MarshalGQL writes the GraphQL enum name.
func (s TransferStatus) MarshalGQL(w io.Writer) { MarshalEnum(w, s) }

// UnmarshalGQL parses a GraphQL enum name; EINVALID if unknown.
func (s *TransferStatus) UnmarshalGQL(v any) (err error) {
	*s, err = ParseEnum(transferStatuses, "transfer status", v)
	return err
}
