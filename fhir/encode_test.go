package fhir

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

// TestAppendEncounterMatchesMapping holds the export's hand-written encoder
// to NewEncounter as encoding/json writes it, byte for byte.
func TestAppendEncounterMatchesMapping(t *testing.T) {
	d, zero := 25, 0
	at := time.Date(2024, 3, 5, 9, 7, 3, 123456000, time.FixedZone("BST", 3600))
	cases := map[string]*care.Interaction{
		"draft home visit with everything": {ID: uuid.New(), PatientID: uuid.New(), PractitionerID: uuid.New(), OrganizationID: uuid.New(),
			Mode: care.ModeHomeVisit, OccurredAt: at, DurationMinutes: &d, Purpose: `wound "review" <dressing> & A\B` + "\n\t\x01 é \u2028 \xff",
			Status: care.InteractionDraft, UpdatedAt: at, Version: 7, ParticipantIDs: []uuid.UUID{uuid.New(), uuid.New()},
			OtherPresent: []string{"daughter", `son "Tom"`}},
		"signed call, no duration or purpose": {ID: uuid.New(), PatientID: uuid.New(), PractitionerID: uuid.New(), OrganizationID: uuid.New(),
			Mode: care.ModePhone, OccurredAt: at, Status: care.InteractionSigned, UpdatedAt: at, Version: 1},
		"amended clinic of zero minutes": {ID: uuid.New(), PatientID: uuid.New(), PractitionerID: uuid.New(), OrganizationID: uuid.New(),
			Mode: care.ModeClinic, OccurredAt: at, DurationMinutes: &zero, Purpose: "x", Status: care.InteractionAmended, UpdatedAt: at, Version: 3},
	}
	for name, i := range cases {
		t.Run(name, func(t *testing.T) {
			var want bytes.Buffer
			if err := json.NewEncoder(&want).Encode(NewEncounter(i, nil)); err != nil {
				t.Fatal(err)
			}
			got := append(appendEncounter(nil, i), '\n')
			if !bytes.Equal(got, want.Bytes()) {
				t.Fatalf("differs:\n got %s\nwant %s", got, want.Bytes())
			}
			var a, b any
			if json.Unmarshal(got, &a) != nil || json.Unmarshal(want.Bytes(), &b) != nil || !reflect.DeepEqual(a, b) {
				t.Fatal("not the same JSON")
			}
		})
	}
}
