package sync

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/sync/internal/edgecase"
)

// TestRecordJSONIsTheMapEncoded checks that the page encoder writes, for
// every entity, exactly the bytes encoding/json writes for the record's map
// (record.go), with edge values: strings needing escapes (quotes, control
// characters, HTML characters, U+2028, invalid UTF-8, non-ASCII), absent and
// present optional fields, empty and nil lists, amendments, times with
// nanoseconds in other zones, and extreme numbers (edgecase.Cases).
func TestRecordJSONIsTheMapEncoded(t *testing.T) {
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
	for _, c := range edgecase.Cases() {
		check(t, "patient", patientData(c.Patient), appendPatientJSON(nil, c.Patient))
		check(t, "relationship", relationshipData(c.Relationship), appendRelationshipJSON(nil, c.Relationship))
		check(t, "interaction", interactionData(c.Interaction, c.Amendments), appendInteractionJSON(nil, c.Interaction, c.Amendments))
		check(t, "practitioner", practitionerData(c.Practitioner), appendPractitionerJSON(nil, c.Practitioner))
		check(t, "team", teamData(c.Team), appendTeamJSON(nil, c.Team))
		check(t, "organization", organizationData(c.Organization), appendOrganizationJSON(nil, c.Organization))
		check(t, "feedback", feedbackData(c.Feedback), appendFeedbackJSON(nil, c.Feedback))
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
