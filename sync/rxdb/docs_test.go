package rxdb

import (
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// TestDocsAsRecordData holds each document, written from the record as the
// store loaded it, to the same document read from the record's Data (the
// fields the native protocol sends; the way documents were written before),
// for every collection, with edge values: strings needing escapes, invalid
// UTF-8, absent and present optional fields, empty and nil lists,
// amendments, times with nanoseconds in other zones, extreme versions.
func TestDocsAsRecordData(t *testing.T) {
	strs := []string{"", "plain", `quote " backslash \ slash /`, "tab\tnew\nline\x00", "Zoë Ωmega 日本", "line\u2028para", "bad \xff\xfe utf8", "emoji 🩺"}
	times := []time.Time{
		time.Date(2026, 12, 5, 12, 30, 0, 0, time.UTC),
		time.Date(1901, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 5*3600+1800)),
		time.Date(2099, 7, 1, 0, 0, 0, 1000, time.FixedZone("Y", -8*3600)),
	}
	ints := []int{0, -1, 15, 1<<31 - 1}
	versions := []int64{1, 0, -5, 1<<53 + 1}
	id := func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	same := func(what string, e offline.Entity, v int64, l *offline.Loaded, conv, fromData func(*offline.Record) any) {
		t.Helper()
		rid := id()
		got := conv(&offline.Record{Entity: e, ID: rid, Version: v, Loaded: l})
		want := fromData(&offline.Record{Entity: e, ID: rid, Version: v, Data: l.Data()})
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
		}
	}
	for k, s := range strs {
		s2 := strs[(k+3)%len(strs)]
		at, at2 := times[k%len(times)], times[(k+1)%len(times)]
		n := ints[k%len(ints)]
		v := versions[k%len(versions)]
		var optS *string
		var optID *uuid.UUID
		var optT *time.Time
		var optN *int
		if k%2 == 1 {
			optS, optID, optT, optN = &s2, new(uuid.UUID), &at2, &n
			*optID = id()
		}
		same("patient", offline.EntityPatient, v, &offline.Loaded{Patient: &care.Patient{ID: id(), NHSNumber: s, GivenName: s2, FamilyName: s,
			BirthDate: at.Truncate(24 * time.Hour), RegisteredPracticeID: id(), CreatedAt: at, UpdatedAt: at2, Version: v}},
			func(r *offline.Record) any { return patientDoc(r) }, func(r *offline.Record) any { return patientDocFromData(r) })
		same("relationship", offline.EntityCareRelationship, v, &offline.Loaded{Relationship: &care.CareRelationship{ID: id(),
			Kind: care.RelationshipKind(s2), Status: care.RelationshipStatus(s), OrganizationID: id(), PatientID: optID, PractitionerID: optID,
			TeamID: optID, PartnerOrganizationID: optID, RelatedPersonName: optS, PeriodStart: at, PeriodEnd: optT, Consent: care.Consent(s),
			PatientPreference: care.PatientPreference(s2), CreatedAt: at, UpdatedAt: at2, Version: v}},
			func(r *offline.Record) any { return relationshipDoc(r) }, func(r *offline.Record) any { return relationshipDocFromData(r) })
		var participants []uuid.UUID
		var others []string
		var ams []*care.InteractionAmendment
		switch k % 3 {
		case 1:
			participants, others = []uuid.UUID{}, []string{}
		case 2:
			participants, others = []uuid.UUID{id(), id()}, []string{s, s2, ""}
			ams = []*care.InteractionAmendment{{ID: id(), AmendedByID: id(), AmendedAt: at2, Reason: s2}, {ID: id(), AmendedByID: id(), AmendedAt: at, Reason: s}}
		}
		same("interaction", offline.EntityInteraction, v, &offline.Loaded{Interaction: &care.Interaction{ID: id(), PatientID: id(), PractitionerID: id(),
			OrganizationID: id(), Mode: care.InteractionMode(s), OccurredAt: at, DurationMinutes: optN, ParticipantIDs: participants,
			OtherPresent: others, Purpose: s, Notes: s2, Status: care.InteractionStatus(s2), SignedAt: optT, SignedByID: optID,
			CreatedAt: at, UpdatedAt: at2, Version: v}, Amendments: ams},
			func(r *offline.Record) any { return interactionDoc(r) }, func(r *offline.Record) any { return interactionDocFromData(r) })
		same("practitioner", offline.EntityPractitioner, v, &offline.Loaded{Practitioner: &care.Practitioner{ID: id(), OrganizationID: id(),
			GivenName: s, FamilyName: s2, Profession: care.Profession(s), Active: k%2 == 0, CreatedAt: at, UpdatedAt: at2, Version: v}},
			func(r *offline.Record) any { return practitionerDoc(r) }, func(r *offline.Record) any { return practitionerDocFromData(r) })
		same("team", offline.EntityTeam, v, &offline.Loaded{Team: &care.Team{ID: id(), OrganizationID: id(), Name: s, CreatedAt: at, UpdatedAt: at2, Version: v}},
			func(r *offline.Record) any { return teamDoc(r) }, func(r *offline.Record) any { return teamDocFromData(r) })
		same("organization", offline.EntityOrganization, v, &offline.Loaded{Organization: &care.Organization{ID: id(), Name: s,
			Kind: care.OrganizationKind(s2), ODSCode: optS, CreatedAt: at, UpdatedAt: at2, Version: v}},
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
