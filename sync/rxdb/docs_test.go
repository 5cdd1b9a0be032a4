package rxdb

import (
	"reflect"
	"testing"

	"github.com/google/uuid"
	offline "github.com/rapportcare/rapport/sync"
	"github.com/rapportcare/rapport/sync/internal/edgecase"
)

// TestDocsAsRecordData holds each document, written from the record as the
// store loaded it, to the same document read from the record's Data (the
// fields the native protocol sends; the way documents were written before),
// for every collection, with edge values: strings needing escapes, invalid
// UTF-8, absent and present optional fields, empty and nil lists,
// amendments, times with nanoseconds in other zones, extreme versions
// (edgecase.Cases).
func TestDocsAsRecordData(t *testing.T) {
	same := func(what string, e offline.Entity, v int64, l *offline.Loaded, conv, fromData func(*offline.Record) any) {
		t.Helper()
		rid := uuid.Must(uuid.NewV7())
		got := conv(&offline.Record{Entity: e, ID: rid, Version: v, Loaded: l})
		want := fromData(&offline.Record{Entity: e, ID: rid, Version: v, Data: l.Data()})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}
	for _, c := range edgecase.Cases() {
		same("patient", offline.EntityPatient, c.Patient.Version, &offline.Loaded{Patient: c.Patient},
			func(r *offline.Record) any { return patientDoc(r) }, func(r *offline.Record) any { return patientDocFromData(r) })
		same("relationship", offline.EntityCareRelationship, c.Relationship.Version, &offline.Loaded{Relationship: c.Relationship},
			func(r *offline.Record) any { return relationshipDoc(r) }, func(r *offline.Record) any { return relationshipDocFromData(r) })
		same("interaction", offline.EntityInteraction, c.Interaction.Version, &offline.Loaded{Interaction: c.Interaction, Amendments: c.Amendments},
			func(r *offline.Record) any { return interactionDoc(r) }, func(r *offline.Record) any { return interactionDocFromData(r) })
		same("practitioner", offline.EntityPractitioner, c.Practitioner.Version, &offline.Loaded{Practitioner: c.Practitioner},
			func(r *offline.Record) any { return practitionerDoc(r) }, func(r *offline.Record) any { return practitionerDocFromData(r) })
		same("team", offline.EntityTeam, c.Team.Version, &offline.Loaded{Team: c.Team},
			func(r *offline.Record) any { return teamDoc(r) }, func(r *offline.Record) any { return teamDocFromData(r) })
		same("organization", offline.EntityOrganization, c.Organization.Version, &offline.Loaded{Organization: c.Organization},
			func(r *offline.Record) any { return organizationDoc(r) }, func(r *offline.Record) any { return organizationDocFromData(r) })
	}
}

// The oracle: documents read from a record's Data (sync/record.go: strings,
// int64 numbers, []any lists), as the adapter wrote them before it read the
// loaded rows.

func dataStr(d map[string]any, k string) *string {
	if v, ok := d[k].(string); ok {
		return &v
	}
	return nil
}

func dataNum(d map[string]any, k string) *int {
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

func dataStrs(d map[string]any, k string) []string {
	l, _ := d[k].([]any)
	out := make([]string, 0, len(l))
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func interactionDocFromData(r *offline.Record) *Interaction {
	d := r.Data
	n := 0
	if l, ok := d["amendments"].([]any); ok {
		n = len(l)
	}
	return &Interaction{ID: r.ID.String(), PatientID: dataStr(d, "patientId"), PractitionerID: dataStr(d, "practitionerId"),
		OrganizationID: dataStr(d, "organizationId"), Mode: dataStr(d, "mode"), OccurredAt: dataStr(d, "occurredAt"),
		DurationMinutes: dataNum(d, "durationMinutes"), ParticipantIds: dataStrs(d, "participantIds"), OtherPresent: dataStrs(d, "otherPresent"),
		Purpose: dataStr(d, "purpose"), Notes: dataStr(d, "notes"), Status: dataStr(d, "status"), SignedAt: dataStr(d, "signedAt"),
		SignedByID: dataStr(d, "signedById"), AmendmentCount: &n, Version: version(r), UpdatedAt: dataStr(d, "updatedAt")}
}

func patientDocFromData(r *offline.Record) *Patient {
	d := r.Data
	return &Patient{ID: r.ID.String(), NhsNumber: dataStr(d, "nhsNumber"), GivenName: dataStr(d, "givenName"), FamilyName: dataStr(d, "familyName"),
		BirthDate: dataStr(d, "birthDate"), RegisteredPracticeID: dataStr(d, "registeredPracticeId"), Version: version(r), UpdatedAt: dataStr(d, "updatedAt")}
}

func relationshipDocFromData(r *offline.Record) *CareRelationship {
	d := r.Data
	return &CareRelationship{ID: r.ID.String(), Kind: dataStr(d, "kind"), Status: dataStr(d, "status"), OrganizationID: dataStr(d, "organizationId"),
		PatientID: dataStr(d, "patientId"), PractitionerID: dataStr(d, "practitionerId"), TeamID: dataStr(d, "teamId"),
		PartnerOrganizationID: dataStr(d, "partnerOrganizationId"), RelatedPersonName: dataStr(d, "relatedPersonName"),
		PeriodStart: dataStr(d, "periodStart"), PeriodEnd: dataStr(d, "periodEnd"), Consent: dataStr(d, "consent"),
		PatientPreference: dataStr(d, "patientPreference"), Version: version(r), UpdatedAt: dataStr(d, "updatedAt")}
}

func practitionerDocFromData(r *offline.Record) *Practitioner {
	d := r.Data
	var active *bool
	if v, ok := d["active"].(bool); ok {
		active = &v
	}
	return &Practitioner{ID: r.ID.String(), OrganizationID: dataStr(d, "organizationId"), GivenName: dataStr(d, "givenName"),
		FamilyName: dataStr(d, "familyName"), Profession: dataStr(d, "profession"), Active: active, Version: version(r), UpdatedAt: dataStr(d, "updatedAt")}
}

func teamDocFromData(r *offline.Record) *Team {
	d := r.Data
	return &Team{ID: r.ID.String(), OrganizationID: dataStr(d, "organizationId"), Name: dataStr(d, "name"), Version: version(r), UpdatedAt: dataStr(d, "updatedAt")}
}

func organizationDocFromData(r *offline.Record) *Organization {
	d := r.Data
	return &Organization{ID: r.ID.String(), Name: dataStr(d, "name"), Kind: dataStr(d, "kind"), OdsCode: dataStr(d, "odsCode"), Version: version(r), UpdatedAt: dataStr(d, "updatedAt")}
}
