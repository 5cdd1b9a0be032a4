package sync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// A change's fields are named as in the GraphQL input types. They are decoded
// strictly: an unknown field, a field the operation does not take, or a value
// of the wrong type rejects the change (BAD_USER_INPUT). A field sent as null
// is treated as not sent (sync never clears a field).

// allowedFields lists the fields each entity and operation takes.
var allowedFields = map[Entity]map[Op][]string{
	EntityInteraction: {
		OpCreate: {"id", "patientId", "practitionerId", "mode", "occurredAt", "durationMinutes", "participantIds", "otherPresent", "purpose", "notes"},
		OpUpdate: {"mode", "occurredAt", "durationMinutes", "participantIds", "otherPresent", "purpose", "notes"},
		OpAmend:  {"reason", "purpose", "notes", "durationMinutes"},
		OpSign:   {},
		OpDelete: {},
	},
	EntityCareRelationship: {
		OpCreate: {"id", "kind", "patientId", "practitionerId", "teamId", "organizationId", "partnerOrganizationId", "relatedPersonName",
			"periodStart", "periodEnd", "consent", "patientPreference"},
		OpUpdate: {"consent", "patientPreference", "periodEnd"},
	},
}

// changeFields is every field any change may carry, decoded.
type changeFields struct {
	ID                    *uuid.UUID  `json:"id"`
	PatientID             *uuid.UUID  `json:"patientId"`
	PractitionerID        *uuid.UUID  `json:"practitionerId"`
	TeamID                *uuid.UUID  `json:"teamId"`
	OrganizationID        *uuid.UUID  `json:"organizationId"`
	PartnerOrganizationID *uuid.UUID  `json:"partnerOrganizationId"`
	RelatedPersonName     *string     `json:"relatedPersonName"`
	Kind                  *string     `json:"kind"`
	Mode                  *string     `json:"mode"`
	OccurredAt            *time.Time  `json:"occurredAt"`
	DurationMinutes       *int        `json:"durationMinutes"`
	ParticipantIDs        []uuid.UUID `json:"participantIds"`
	OtherPresent          []string    `json:"otherPresent"`
	Purpose               *string     `json:"purpose"`
	Notes                 *string     `json:"notes"`
	Reason                *string     `json:"reason"`
	PeriodStart           *time.Time  `json:"periodStart"`
	PeriodEnd             *time.Time  `json:"periodEnd"`
	Consent               *string     `json:"consent"`
	PatientPreference     *string     `json:"patientPreference"`

	keys []string // the fields sent (non-null), sorted
}

// decodeFields checks the field names against what entity/op takes and
// decodes the values; EINVALID naming the problem otherwise.
func decodeFields(e Entity, op Op, raw map[string]any) (*changeFields, error) {
	allowed, ok := allowedFields[e][op]
	if !ok {
		if e == EntityInteraction || e == EntityCareRelationship {
			return nil, care.Errorf(care.EINVALID, "%s is not an operation on %s records", strings.ToUpper(string(op)), strings.ToUpper(string(e)))
		}
		return nil, care.Errorf(care.EINVALID, "%s records are pull only: change them online", strings.ToUpper(string(e)))
	}
	clean := make(map[string]any, len(raw))
	var keys []string
	for k, v := range raw {
		if v == nil {
			continue
		}
		found := false
		for _, a := range allowed {
			found = found || a == k
		}
		if !found {
			return nil, care.Errorf(care.EINVALID, "field %q is not one %s of %s takes", truncate(k, 60), strings.ToUpper(string(op)), strings.ToUpper(string(e)))
		}
		clean[k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b, err := json.Marshal(clean)
	if err != nil {
		return nil, care.Errorf(care.EINVALID, "fields are not valid JSON values")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var f changeFields
	if err := dec.Decode(&f); err != nil {
		return nil, care.Errorf(care.EINVALID, "fields: %s", jsonProblem(err))
	}
	f.keys = keys
	return &f, nil
}

// jsonProblem describes a decoding error without echoing the input.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	if ok := asType(err, &te); ok {
		return fmt.Sprintf("%s has the wrong type (want %s)", te.Field, te.Type)
	}
	return "a value is malformed (ids are UUIDs, times RFC 3339)"
}

func asType(err error, target **json.UnmarshalTypeError) bool {
	te, ok := err.(*json.UnmarshalTypeError)
	if ok {
		*target = te
	}
	return ok
}

func (f *changeFields) has(k string) bool {
	for _, x := range f.keys {
		if x == k {
			return true
		}
	}
	return false
}

func parseEnum[T any, P interface {
	*T
	UnmarshalGQL(any) error
}](s *string) (*T, error) {
	if s == nil {
		return nil, nil
	}
	var v T
	if err := P(&v).UnmarshalGQL(*s); err != nil {
		return nil, err
	}
	return &v, nil
}

// createInteraction builds the store's input for an interaction CREATE.
func (f *changeFields) createInteraction(id uuid.UUID) (care.CreateInteractionInput, error) {
	in := care.CreateInteractionInput{ID: &id, PractitionerID: f.PractitionerID, DurationMinutes: f.DurationMinutes,
		ParticipantIDs: f.ParticipantIDs, OtherPresent: f.OtherPresent}
	if f.ID != nil && *f.ID != id {
		return in, care.Errorf(care.EINVALID, "fields.id differs from the change's id")
	}
	if f.PatientID == nil || f.Mode == nil || f.OccurredAt == nil {
		return in, care.Errorf(care.EINVALID, "creating an interaction needs patientId, mode and occurredAt")
	}
	in.PatientID, in.OccurredAt = *f.PatientID, *f.OccurredAt
	mode, err := parseEnum[care.InteractionMode](f.Mode)
	if err != nil {
		return in, err
	}
	in.Mode = *mode
	if f.Purpose != nil {
		in.Purpose = *f.Purpose
	}
	if f.Notes != nil {
		in.Notes = *f.Notes
	}
	return in, nil
}

// updateInteraction builds the store's input for an interaction UPDATE of
// the fields in only.
func (f *changeFields) updateInteraction(id uuid.UUID, only map[string]bool) (care.UpdateInteractionInput, error) {
	in := care.UpdateInteractionInput{ID: id}
	mode, err := parseEnum[care.InteractionMode](f.Mode)
	if err != nil {
		return in, err
	}
	if only["mode"] {
		in.Mode = mode
	}
	if only["occurredAt"] {
		in.OccurredAt = f.OccurredAt
	}
	if only["durationMinutes"] {
		in.DurationMinutes = f.DurationMinutes
	}
	if only["participantIds"] {
		in.ParticipantIDs = f.ParticipantIDs
		if in.ParticipantIDs == nil {
			in.ParticipantIDs = []uuid.UUID{}
		}
	}
	if only["otherPresent"] {
		in.OtherPresent = f.OtherPresent
		if in.OtherPresent == nil {
			in.OtherPresent = []string{}
		}
	}
	if only["purpose"] {
		in.Purpose = f.Purpose
	}
	if only["notes"] {
		in.Notes = f.Notes
	}
	return in, nil
}

// amendInteraction builds the store's input for an AMEND of the fields in only.
func (f *changeFields) amendInteraction(id uuid.UUID, only map[string]bool) care.AmendInteractionInput {
	in := care.AmendInteractionInput{ID: id}
	if f.Reason != nil {
		in.Reason = *f.Reason
	}
	if only["purpose"] {
		in.Purpose = f.Purpose
	}
	if only["notes"] {
		in.Notes = f.Notes
	}
	if only["durationMinutes"] {
		in.DurationMinutes = f.DurationMinutes
	}
	return in
}

// startRelationship builds the store's input for a relationship CREATE.
func (f *changeFields) startRelationship(id uuid.UUID) (care.StartRelationshipInput, error) {
	in := care.StartRelationshipInput{ID: &id, PatientID: f.PatientID, PractitionerID: f.PractitionerID, TeamID: f.TeamID,
		OrganizationID: f.OrganizationID, PartnerOrganizationID: f.PartnerOrganizationID, RelatedPersonName: f.RelatedPersonName,
		PeriodStart: f.PeriodStart, PeriodEnd: f.PeriodEnd}
	if f.ID != nil && *f.ID != id {
		return in, care.Errorf(care.EINVALID, "fields.id differs from the change's id")
	}
	if f.Kind == nil {
		return in, care.Errorf(care.EINVALID, "creating a care relationship needs a kind")
	}
	kind, err := parseEnum[care.RelationshipKind](f.Kind)
	if err != nil {
		return in, err
	}
	in.Kind = *kind
	if in.Consent, err = parseEnum[care.Consent](f.Consent); err != nil {
		return in, err
	}
	if in.PatientPreference, err = parseEnum[care.PatientPreference](f.PatientPreference); err != nil {
		return in, err
	}
	return in, nil
}

// updateRelationship builds the store's input for a relationship UPDATE of
// the fields in only.
func (f *changeFields) updateRelationship(id uuid.UUID, only map[string]bool) (care.UpdateRelationshipInput, error) {
	in := care.UpdateRelationshipInput{ID: id}
	consent, err := parseEnum[care.Consent](f.Consent)
	if err != nil {
		return in, err
	}
	pref, err := parseEnum[care.PatientPreference](f.PatientPreference)
	if err != nil {
		return in, err
	}
	if only["consent"] {
		in.Consent = consent
	}
	if only["patientPreference"] {
		in.PatientPreference = pref
	}
	if only["periodEnd"] {
		in.PeriodEnd = f.PeriodEnd
	}
	return in, nil
}

// values returns the device's value of each field sent, normalised as a
// record would show it, for comparison with the server's and for the ledger.
// in is the validated store input (normalised names and text).
func (f *changeFields) values(e Entity, in any) map[string]any {
	out := map[string]any{}
	switch v := in.(type) {
	case care.UpdateInteractionInput:
		if v.Mode != nil {
			out["mode"] = EnumText(*v.Mode)
		}
		if v.OccurredAt != nil {
			out["occurredAt"] = TimeText(*v.OccurredAt)
		}
		if v.DurationMinutes != nil {
			out["durationMinutes"] = int64(*v.DurationMinutes)
		}
		if v.ParticipantIDs != nil {
			out["participantIds"] = idList(v.ParticipantIDs)
		}
		if v.OtherPresent != nil {
			out["otherPresent"] = strList(v.OtherPresent)
		}
		if v.Purpose != nil {
			out["purpose"] = *v.Purpose
		}
		if v.Notes != nil {
			out["notes"] = *v.Notes
		}
	case care.AmendInteractionInput:
		if v.Purpose != nil {
			out["purpose"] = *v.Purpose
		}
		if v.Notes != nil {
			out["notes"] = *v.Notes
		}
		if v.DurationMinutes != nil {
			out["durationMinutes"] = int64(*v.DurationMinutes)
		}
	case care.UpdateRelationshipInput:
		if v.Consent != nil {
			out["consent"] = EnumText(*v.Consent)
		}
		if v.PatientPreference != nil {
			out["patientPreference"] = EnumText(*v.PatientPreference)
		}
		if v.PeriodEnd != nil {
			out["periodEnd"] = TimeText(*v.PeriodEnd)
		}
	}
	return out
}

// sameValue reports whether two record values are equal as JSON.
func sameValue(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

// allFields returns a set of every key.
func allFields(keys []string) map[string]bool {
	m := make(map[string]bool, len(keys))
	for _, k := range keys {
		m[k] = true
	}
	return m
}
