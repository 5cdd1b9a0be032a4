package sync

import (
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// Records travel as JSON objects shaped like the GraphQL types: camelCase
// keys, ids as bare UUID strings, enums as their GraphQL names, times RFC 3339
// in UTC (microsecond precision, as stored), dates YYYY-MM-DD. Only
// JSON-native Go values are used, so a record marshals the same everywhere.

// TimeText is a time as records carry it: RFC 3339 in UTC, to the
// microsecond.
func TimeText(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
}

func optTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return TimeText(*t)
}

func optID(id *uuid.UUID) any {
	if id == nil {
		return nil
	}
	return id.String()
}

func optStr(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func optInt(n *int) any {
	if n == nil {
		return nil
	}
	return int64(*n)
}

// EnumText is an enumeration value as records carry it: its GraphQL name.
func EnumText[T ~string](v T) string { return strings.ToUpper(string(v)) }

// DateText is a date as records carry it: YYYY-MM-DD.
func DateText(t time.Time) string { return t.Format(time.DateOnly) }

func idList(ids []uuid.UUID) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func strList(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

func patientData(p *care.Patient) map[string]any {
	return map[string]any{
		"id": p.ID.String(), "nhsNumber": p.NHSNumber, "givenName": p.GivenName, "familyName": p.FamilyName,
		"birthDate": DateText(p.BirthDate), "registeredPracticeId": p.RegisteredPracticeID.String(),
		"createdAt": TimeText(p.CreatedAt), "updatedAt": TimeText(p.UpdatedAt), "version": p.Version,
	}
}

func relationshipData(r *care.CareRelationship) map[string]any {
	return map[string]any{
		"id": r.ID.String(), "kind": EnumText(r.Kind), "status": EnumText(r.Status), "organizationId": r.OrganizationID.String(),
		"patientId": optID(r.PatientID), "practitionerId": optID(r.PractitionerID), "teamId": optID(r.TeamID),
		"partnerOrganizationId": optID(r.PartnerOrganizationID), "relatedPersonName": optStr(r.RelatedPersonName),
		"periodStart": TimeText(r.PeriodStart), "periodEnd": optTime(r.PeriodEnd),
		"consent": EnumText(r.Consent), "patientPreference": EnumText(r.PatientPreference),
		"createdAt": TimeText(r.CreatedAt), "updatedAt": TimeText(r.UpdatedAt), "version": r.Version,
	}
}

func contentData(c care.InteractionContent) map[string]any {
	return map[string]any{"purpose": c.Purpose, "notes": c.Notes, "durationMinutes": optInt(c.DurationMinutes)}
}

func interactionData(i *care.Interaction, ams []*care.InteractionAmendment) map[string]any {
	amendments := make([]any, len(ams))
	for k, m := range ams {
		amendments[k] = map[string]any{
			"id": m.ID.String(), "amendedById": m.AmendedByID.String(), "amendedAt": TimeText(m.AmendedAt), "reason": m.Reason,
			"before": contentData(m.Before), "after": contentData(m.After),
		}
	}
	return map[string]any{
		"id": i.ID.String(), "patientId": i.PatientID.String(), "practitionerId": i.PractitionerID.String(),
		"organizationId": i.OrganizationID.String(), "mode": EnumText(i.Mode), "occurredAt": TimeText(i.OccurredAt),
		"durationMinutes": optInt(i.DurationMinutes), "participantIds": idList(i.ParticipantIDs), "otherPresent": strList(i.OtherPresent),
		"purpose": i.Purpose, "notes": i.Notes, "status": EnumText(i.Status), "signedAt": optTime(i.SignedAt),
		"signedById": optID(i.SignedByID), "amendments": amendments,
		"createdAt": TimeText(i.CreatedAt), "updatedAt": TimeText(i.UpdatedAt), "version": i.Version,
	}
}

func practitionerData(p *care.Practitioner) map[string]any {
	return map[string]any{
		"id": p.ID.String(), "organizationId": p.OrganizationID.String(), "givenName": p.GivenName, "familyName": p.FamilyName,
		"profession": EnumText(p.Profession), "active": p.Active,
		"createdAt": TimeText(p.CreatedAt), "updatedAt": TimeText(p.UpdatedAt), "version": p.Version,
	}
}

func teamData(t *care.Team) map[string]any {
	return map[string]any{
		"id": t.ID.String(), "organizationId": t.OrganizationID.String(), "name": t.Name,
		"createdAt": TimeText(t.CreatedAt), "updatedAt": TimeText(t.UpdatedAt), "version": t.Version,
	}
}

func organizationData(o *care.Organization) map[string]any {
	return map[string]any{
		"id": o.ID.String(), "name": o.Name, "kind": EnumText(o.Kind), "odsCode": optStr(o.ODSCode),
		"createdAt": TimeText(o.CreatedAt), "updatedAt": TimeText(o.UpdatedAt), "version": o.Version,
	}
}
