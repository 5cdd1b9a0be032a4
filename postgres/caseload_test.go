package postgres_test

import (
	"bytes"
	"reflect"
	"slices"
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
// relationships start and end. CaseloadsFor, which reads each
// practitioner's patients once for the count and the page, is held to
// CaseloadsForEachRead, which reads them in each, over random page sizes,
// second pages and skipped counts or edges.
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
				shaped := care.PageArgs{First: &first, SkipTotal: rng.IntN(4) == 0, SkipEdges: rng.IntN(4) == 0}
				if len(ids) == 1 && rng.IntN(2) == 0 {
					if p, err := db.CaseloadsFor(ctx, ids, page); err == nil && len(p[ids[0]].Edges) > 0 {
						shaped.After = &p[ids[0]].Edges[len(p[ids[0]].Edges)-1].Cursor
					}
				}
				shared, sharedErr := db.CaseloadsFor(ctx, ids, shaped)
				eachRead, eachErr := db.CaseloadsForEachRead(ctx, ids, shaped)
				if care.ErrorCode(sharedErr) != care.ErrorCode(eachErr) || !reflect.DeepEqual(shared, eachRead) {
					t.Fatalf("seed %d, step %d, %s, caseload of %v, %+v: %v %v, read in each part %v %v",
						seed, step, actor.Role, ids, shaped, shared, sharedErr, eachRead, eachErr)
				}
				c, err := db.CaseloadsWithCurrent(ctx, ids, page, kind)
				pages, patients, current := c.Pages, c.Patients, c.Current
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
				var onPages []uuid.UUID
				for _, p := range pages {
					for _, e := range p.Edges {
						onPages = append(onPages, e.Node.ID)
					}
				}
				sortIDs := func(ids []uuid.UUID) []uuid.UUID {
					return slices.SortedFunc(slices.Values(ids), func(a, b uuid.UUID) int { return bytes.Compare(a[:], b[:]) })
				}
				if !slices.Equal(sortIDs(patients), sortIDs(onPages)) {
					t.Fatalf("seed %d, step %d: Patients %v, the pages hold %v", seed, step, patients, onPages)
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
					if !slices.Contains(patients, id) {
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
