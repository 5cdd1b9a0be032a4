package postgres_test

import (
	"reflect"
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// TestCaseloadWithCurrentAsAlone holds CaseloadsWithCurrent, whose second
// statement trusts the page's own access test, to what the two public calls
// give: the pages of CaseloadsFor and the usual GPs and named nurses that
// CurrentPractitionerRecords, testing the access rule itself, gives for the
// patients on them. Every caller asks for her own caseload and for those of
// others (which the rule may admit in part or not at all) while random
// relationships start and end.
func TestCaseloadWithCurrentAsAlone(t *testing.T) {
	db, f, rng, seed := randomWorld(t, 17)
	actors := []*care.Actor{f.Nurse1Actor, f.Nurse2Actor, f.GPAActor, f.GPBActor, f.AdminAActor, f.AdminNActor}
	caseloads := [][]uuid.UUID{{f.Nurse1}, {f.Nurse2}, {f.GPA}, {f.GPB}, {f.Nurse1, f.Nurse2}}
	patientsSeen, currentSeen := 0, 0
	accepted := randomRelationships(t, db, f, rng, func(step int) {
		for _, actor := range actors {
			ctx := as(actor)
			for _, ids := range caseloads {
				first := 1 + rng.IntN(8)
				page := care.PageArgs{First: &first}
				kind := []care.RelationshipKind{care.KindUsualGP, care.KindNamedNurse}[rng.IntN(2)]
				pages, current, err := db.CaseloadsWithCurrent(ctx, ids, page, kind)
				wantPages, wantErr := db.CaseloadsFor(ctx, ids, page)
				if (err != nil) != (wantErr != nil) || care.ErrorCode(err) != care.ErrorCode(wantErr) {
					t.Fatalf("seed %d, step %d, %s: error %v, alone %v", seed, step, actor.Role, err, wantErr)
				}
				if err != nil {
					continue
				}
				if !reflect.DeepEqual(pages, wantPages) {
					t.Fatalf("seed %d, step %d, %s, caseload of %v: pages differ from CaseloadsFor's", seed, step, actor.Role, ids)
				}
				var patients []uuid.UUID
				for _, p := range pages {
					for _, e := range p.Edges {
						patients = append(patients, e.Node.ID)
					}
				}
				want := map[uuid.UUID]*care.Practitioner{}
				if len(patients) > 0 {
					if want, err = db.CurrentPractitionerRecords(ctx, kind, patients); err != nil {
						t.Fatal(err)
					}
				}
				if len(current) != len(want) || (len(want) > 0 && !reflect.DeepEqual(current, want)) {
					t.Fatalf("seed %d, step %d, %s, %s of the caseload of %v: %d practitioners, alone %d:\n %v\n %v",
						seed, step, actor.Role, kind, ids, len(current), len(want), current, want)
				}
				for id := range current {
					if !containsID(patients, id) {
						t.Fatalf("seed %d, step %d: a practitioner for patient %s, who is not on the page", seed, step, id)
					}
				}
				patientsSeen += len(patients)
				currentSeen += len(current)
			}
		}
	})
	if accepted < 60 || patientsSeen == 0 || currentSeen == 0 {
		t.Fatalf("seed %d: %d relationships started or ended; pages held %d patients and %d current practitioners in all",
			seed, accepted, patientsSeen, currentSeen)
	}
}

func containsID(ids []uuid.UUID, id uuid.UUID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
