package sync

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// TestRecordJSONIsTheMapEncoded checks that the page encoder writes, for
// every entity, exactly the bytes encoding/json writes for the record's map
// (record.go), with edge values: strings needing escapes (quotes, control
// characters, HTML characters, U+2028, invalid UTF-8, non-ASCII), absent and
// present optional fields, empty and nil lists, amendments, times with
// nanoseconds in other zones, and extreme numbers.
func TestRecordJSONIsTheMapEncoded(t *testing.T) {
	strs := []string{"", "plain", `quote " backslash \ slash /`, "tab\tnew\nline\r\b\f\x00\x1f", "<b>&amp;</b>", "Zoë Ωmega 日本",
		"line\u2028para\u2029", "bad \xff\xfe utf8", "emoji 🩺", "\x7f del"}
	times := []time.Time{
		time.Date(2026, 12, 5, 12, 30, 0, 0, time.UTC),
		time.Date(1901, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 5*3600+1800)),
		time.Date(2099, 7, 1, 0, 0, 0, 1000, time.FixedZone("Y", -8*3600)),
	}
	ints := []int{0, -1, 15, 1<<31 - 1}
	versions := []int64{1, 0, -5, 1<<63 - 1}
	id := func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	check := func(t *testing.T, what string, m map[string]any, got []byte) {
		t.Helper()
		want, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
		}
	}
	for k, s := range strs {
		s2 := strs[(k+3)%len(strs)]
		at := times[k%len(times)]
		at2 := times[(k+1)%len(times)]
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
		p := &care.Patient{ID: id(), NHSNumber: s, GivenName: s2, FamilyName: s, BirthDate: at.Truncate(24 * time.Hour),
			RegisteredPracticeID: id(), CreatedAt: at, UpdatedAt: at2, Version: v}
		check(t, "patient", patientData(p), appendPatientJSON(nil, p))

		r := &care.CareRelationship{ID: id(), Kind: care.RelationshipKind(s2), Status: care.RelationshipStatus(s), OrganizationID: id(),
			PatientID: optID, PractitionerID: optID, TeamID: optID, PartnerOrganizationID: optID, RelatedPersonName: optS,
			PeriodStart: at, PeriodEnd: optT, Consent: care.Consent(s), PatientPreference: care.PatientPreference(s2),
			CreatedAt: at, UpdatedAt: at2, Version: v}
		check(t, "relationship", relationshipData(r), appendRelationshipJSON(nil, r))

		var participants []uuid.UUID
		var others []string
		var ams []*care.InteractionAmendment
		switch k % 3 {
		case 1:
			participants, others = []uuid.UUID{}, []string{}
		case 2:
			participants, others = []uuid.UUID{id(), id()}, []string{s, s2, ""}
			ams = []*care.InteractionAmendment{
				{ID: id(), AmendedByID: id(), AmendedAt: at2, Reason: s2,
					Before: care.InteractionContent{Purpose: s, Notes: s2, DurationMinutes: optN},
					After:  care.InteractionContent{Purpose: s2, Notes: s, DurationMinutes: &n}},
				{ID: id(), AmendedByID: id(), AmendedAt: at, Reason: s},
			}
		}
		i := &care.Interaction{ID: id(), PatientID: id(), PractitionerID: id(), OrganizationID: id(), Mode: care.InteractionMode(s),
			OccurredAt: at, DurationMinutes: optN, ParticipantIDs: participants, OtherPresent: others, Purpose: s, Notes: s2,
			Status: care.InteractionStatus(s2), SignedAt: optT, SignedByID: optID, CreatedAt: at, UpdatedAt: at2, Version: v}
		check(t, "interaction", interactionData(i, ams), appendInteractionJSON(nil, i, ams))

		pr := &care.Practitioner{ID: id(), OrganizationID: id(), GivenName: s, FamilyName: s2, Profession: care.Profession(s),
			Active: k%2 == 0, CreatedAt: at, UpdatedAt: at2, Version: v}
		check(t, "practitioner", practitionerData(pr), appendPractitionerJSON(nil, pr))

		tm := &care.Team{ID: id(), OrganizationID: id(), Name: s, CreatedAt: at, UpdatedAt: at2, Version: v}
		check(t, "team", teamData(tm), appendTeamJSON(nil, tm))

		o := &care.Organization{ID: id(), Name: s, Kind: care.OrganizationKind(s2), ODSCode: optS, CreatedAt: at, UpdatedAt: at2, Version: v}
		check(t, "organization", organizationData(o), appendOrganizationJSON(nil, o))

		fb := &feedback.Response{ID: id(), OrganizationID: id(), SubjectKind: feedback.SubjectKind(s), SubjectID: id(),
			PractitionerID: optID, FreeText: s2, SubmittedOn: at, Version: v, CARERatings: []int{n, 5},
			Answers: []feedback.Answer{{Key: s, Rating: optN, Text: optS}}}
		if k%2 == 1 {
			fb.CARE = &feedback.CAREScore{Scorable: true, Score: 37.5}
		}
		check(t, "feedback", feedbackData(fb), appendFeedbackJSON(nil, fb))
	}
}

// TestRecordJSONAppends checks that the encoders append to what the buffer
// holds (a page shares one buffer) and RawJSON's GraphQL encoding.
func TestRecordJSONAppends(t *testing.T) {
	tm := &care.Team{ID: uuid.Must(uuid.NewV7()), Name: "A & B"}
	one := appendTeamJSON(nil, tm)
	two := appendTeamJSON(append([]byte(nil), one...), tm)
	if !bytes.Equal(two, append(append([]byte(nil), one...), one...)) {
		t.Fatalf("appended %s", two)
	}
	var b bytes.Buffer
	RawJSON(one).MarshalGQL(&b)
	if !bytes.Equal(b.Bytes(), one) {
		t.Fatalf("MarshalGQL wrote %s", b.Bytes())
	}
	b.Reset()
	RawJSON(nil).MarshalGQL(&b)
	if b.String() != "null" {
		t.Fatalf("empty RawJSON wrote %s", b.Bytes())
	}
	var r RawJSON
	if err := r.UnmarshalGQL(map[string]any{"a": 1}); err != nil || string(r) != `{"a":1}` {
		t.Fatalf("UnmarshalGQL: %s, %v", r, err)
	}
}

// TestResultOfAnEncodedRecord: a result whose record the push encoded
// (RecordJSON) is recorded for replays as the same JSON value, and sent by
// GraphQL as the same bytes, as one holding only the record's map: a replay
// (which has only the map) answers what the first answer said.
func TestResultOfAnEncodedRecord(t *testing.T) {
	for k, s := range []string{"", "plain", `quote " \ /`, "tab\tnew\nline\x00\x1f\x1e", "<b>&amp;</b>", "line\u2028", "bad \xff utf8", "🩺"} {
		n := k * 7
		at := time.Date(2026, 12, 6, 11, k, 0, k*1000, time.FixedZone("Z", k*1800))
		i := &care.Interaction{ID: uuid.Must(uuid.NewV7()), PatientID: uuid.Must(uuid.NewV7()), PractitionerID: uuid.Must(uuid.NewV7()),
			OrganizationID: uuid.Must(uuid.NewV7()), Mode: care.ModeHomeVisit, OccurredAt: at, Purpose: s, Notes: s + s,
			OtherPresent: []string{s}, Status: care.InteractionDraft, CreatedAt: at, UpdatedAt: at, Version: int64(k + 1)}
		if k%2 == 1 {
			i.DurationMinutes = &n
			i.ParticipantIDs = []uuid.UUID{uuid.Must(uuid.NewV7())}
		}
		v := i.Version
		mapOnly := &ChangeResult{MutationSeq: int64(k), Status: StatusApplied, Version: &v, Record: interactionData(i, nil), Conflicts: []*Conflict{}}
		encoded := *mapOnly
		encoded.RecordJSON = appendInteractionJSON(nil, i, nil)
		var stored [2]any
		for j, r := range []*ChangeResult{mapOnly, &encoded} {
			rec, err := recordOfResult(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(rec.Result, &stored[j]); err != nil {
				t.Fatalf("%d: recorded result is not JSON: %v\n%s", k, err, rec.Result)
			}
		}
		if !reflect.DeepEqual(stored[0], stored[1]) {
			t.Fatalf("%d: recorded\n%v\nwant\n%v", k, stored[1], stored[0])
		}
		a, errA := mapOnly.RecordData()
		b, errB := encoded.RecordData()
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Fatalf("%d: GraphQL record %s (%v), want %s (%v)", k, b, errB, a, errA)
		}
	}
}
