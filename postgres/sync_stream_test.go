package postgres_test

import (
	"context"
	"math/rand/v2"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestSyncStreamEitherWay holds both ways SyncStream reads the change log
// (patient by patient, for a caller who sees few patients, and in commit
// order) to the commit-order query it replaced, over a random history:
// interactions created, edited, signed and deleted for patients of both
// practices, patients registered and moved between practices, practitioners
// and teams renamed, stamped in random groups; then random callers, random
// checkpoints (a sequence number, and sometimes a position within it),
// random page sizes and random single-entity pulls. Every answer must be the
// same rows in the same order.
func TestSyncStreamEitherWay(t *testing.T) {
	db, f, rng, seed := randomWorld(t, 7)
	ctx := context.Background()

	// The numbered log, to pick checkpoints from.
	rows, err := db.QueryTextRows(ctx, `SELECT seq::text, entity, entity_id::text FROM sync_changes WHERE seq IS NOT NULL ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	actors := []*care.Actor{f.Nurse1Actor, f.Nurse2Actor, f.GPAActor, f.GPBActor, f.AdminAActor, f.AdminNActor}
	onlys := []string{"", "", "", "interaction", "patient", "practitioner", "team", "organization", "care_relationship"}
	var nonEmpty, withCursor int
	for n := 0; n < 300; n++ {
		actor := actors[rng.IntN(len(actors))]
		only := onlys[rng.IntN(len(onlys))]
		limit := 1 + rng.IntN(40)
		var afterSeq int64
		var after *postgres.SyncCursor
		if r := rows[rng.IntN(len(rows))]; rng.IntN(5) > 0 {
			if afterSeq, err = strconv.ParseInt(r[0], 10, 64); err != nil {
				t.Fatal(err)
			}
			afterSeq-- // start before this number, or within it:
			if rng.IntN(2) == 0 {
				afterSeq++
				after = &postgres.SyncCursor{Entity: r[1], ID: uuid.MustParse(r[2])}
				withCursor++
			}
		}
		actx := as(actor)
		want, err := db.SyncStreamInCommitOrder(actx, only, afterSeq, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		eitherWay(func(way string) {
			got, err := db.SyncStream(actx, only, afterSeq, after, limit)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d, query %d (%s, only %q, after %d %+v, limit %d), %s:\n got %+v\nwant %+v",
					seed, n, actor.Role, only, afterSeq, after, limit, way, got, want)
			}
		})
		if len(want) > 0 {
			nonEmpty++
		}
	}
	if nonEmpty < 100 || withCursor < 50 {
		t.Fatalf("seed %d: too few telling queries: %d answered rows, %d started within a number", seed, nonEmpty, withCursor)
	}
}

// randomWorld is a fixture database with a random history (randomHistory)
// and the random source that wrote it, which goes on drawing the test's
// questions; its seed is logged, and returned for failure messages.
func randomWorld(t *testing.T, stream uint64) (*postgres.DB, *postgrestest.Fixture, *rand.Rand, uint64) {
	t.Helper()
	db, f := setup(t)
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, stream))
	randomHistory(t, db, f, rng)
	return db, f, rng, seed
}

// randomHistory writes a random history through the store as the system
// actor: interactions created, edited and deleted for patients of both
// practices, patients registered and moved between practices,
// practitioners and teams renamed, numbered by stamps at random points.
func randomHistory(t *testing.T, db *postgres.DB, f *postgrestest.Fixture, rng *rand.Rand) {
	t.Helper()
	ctx := context.Background()
	sys := as(care.SystemActor())
	patients := []uuid.UUID{f.PatientA1, f.PatientA2, f.PatientB1}
	practices := []uuid.UUID{f.PracticeA, f.PracticeB}
	var drafts []uuid.UUID
	for step := 0; step < 400; step++ {
		var err error
		switch k := rng.IntN(20); {
		case k < 8:
			var i *care.Interaction
			i, err = db.CreateInteraction(sys, care.CreateInteractionInput{PatientID: patients[rng.IntN(len(patients))],
				PractitionerID: &f.Nurse1, Mode: care.ModePhone, OccurredAt: time.Now().Add(-time.Hour), Purpose: "Review " + strconv.Itoa(step)})
			if err == nil {
				drafts = append(drafts, i.ID)
			}
		case k < 11 && len(drafts) > 0:
			_, err = db.UpdateInteraction(sys, care.UpdateInteractionInput{ID: drafts[rng.IntN(len(drafts))], Notes: ptr("edit " + strconv.Itoa(step))})
		case k < 13 && len(drafts) > 0:
			j := rng.IntN(len(drafts))
			err = db.DeleteInteraction(sys, drafts[j])
			drafts = append(drafts[:j], drafts[j+1:]...)
		case k < 14:
			var p *care.Patient
			p, err = db.CreatePatient(sys, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(100 + step), GivenName: "Sam", FamilyName: "Lee " + strconv.Itoa(step),
				BirthDate: time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: practices[rng.IntN(len(practices))]})
			if err == nil {
				patients = append(patients, p.ID)
			}
		case k < 16:
			_, err = db.UpdatePatient(sys, care.UpdatePatientInput{ID: patients[rng.IntN(len(patients))], RegisteredPracticeID: &practices[rng.IntN(len(practices))]})
		case k < 18:
			_, err = db.UpdatePractitioner(sys, care.UpdatePractitionerInput{ID: []uuid.UUID{f.GPA, f.GPB, f.Nurse1, f.Nurse2}[rng.IntN(4)], FamilyName: ptr("Name " + strconv.Itoa(step))})
		default:
			_, err = db.UpdateTeam(sys, care.UpdateTeamInput{ID: f.Team, Name: ptr("Team " + strconv.Itoa(step))})
		}
		if err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		if rng.IntN(4) == 0 {
			if _, err := db.StampSync(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := db.StampSync(ctx); err != nil {
		t.Fatal(err)
	}

}

// TestChangesVisibleSinceEitherWay holds a subscriber's check, asked
// patient by patient and in commit order, to the query it replaced (which
// filtered every change since the watermark) over a random history: for
// random callers and watermarks both must say whether anything visible
// changed, and the watermark returned must be the clock's high-water,
// never below the last change the old query read.
func TestChangesVisibleSinceEitherWay(t *testing.T) {
	db, f, rng, seed := randomWorld(t, 13)
	ctx := context.Background()
	// End some relationships too: a patient leaving a caseload must count.
	for _, r := range []uuid.UUID{f.PatientA1NamedNurse, f.PatientA2Team} {
		if _, err := db.EndRelationship(as(care.SystemActor()), care.EndRelationshipInput{ID: r}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.StampSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	hw := highWater(t, db)
	actors := []*care.Actor{f.Nurse1Actor, f.Nurse2Actor, f.GPAActor, f.GPBActor, f.AdminAActor, f.AdminNActor}
	var seen, unseen int
	// At least 300 checks, and on until 50 of each answer (one seed in many
	// drew only 49 "nothing changed" in 300), but no more than 1,000.
	for n := 0; n < 1000 && (n < 300 || seen < 50 || unseen < 50); n++ {
		actor := actors[rng.IntN(len(actors))]
		since := rng.Int64N(hw + 2)
		if rng.IntN(2) == 0 { // mostly just behind the clock, as a subscriber is
			since = max(0, hw+1-rng.Int64N(8))
		}
		actx := as(actor)
		want, wantMax, err := db.ChangesVisibleSinceInCommitOrder(actx, since)
		if err != nil {
			t.Fatal(err)
		}
		eitherWay(func(way string) {
			got, gotMax, err := db.ChangesVisibleSince(actx, since)
			if err != nil {
				t.Fatal(err)
			}
			if got != want || gotMax != max(hw, since) || gotMax < wantMax {
				t.Fatalf("seed %d, %s since %d, %s: visible %v watermark %d, want %v and %d (the old query read up to %d)",
					seed, actor.Role, since, way, got, gotMax, want, max(hw, since), wantMax)
			}
		})
		if want {
			seen++
		} else {
			unseen++
		}
	}
	if seen < 50 || unseen < 50 {
		t.Fatalf("seed %d: too few telling checks: %d saw changes, %d did not", seed, seen, unseen)
	}
}

// eitherWay runs ask once for each way the store reads the change log for a
// caller (postgres.SetByPatientMax), naming it.
func eitherWay(ask func(way string)) {
	for _, way := range []struct {
		name string
		max  int
	}{{"patient by patient", 1 << 30}, {"in commit order", -1}} {
		func() {
			defer postgres.SetByPatientMax(way.max)()
			ask(way.name)
		}()
	}
}

// TestInteractionsEitherWay holds both ways interactions are loaded by id
// (the access rule tested per row, and once per patient of a set read
// first) to each other over a random history: random callers ask for random
// batches of ids, live, deleted and never written, and must get the same
// interactions, aligned with their ids, both ways; by id, and as a sync page
// (LoadSyncRows).
func TestInteractionsEitherWay(t *testing.T) {
	db, f, rng, seed := randomWorld(t, 11)
	ctx := context.Background()
	rows, err := db.QueryTextRows(ctx, `SELECT entity_id::text FROM sync_changes WHERE entity = 'interaction'`)
	if err != nil {
		t.Fatal(err)
	}
	var known []uuid.UUID // every interaction ever written, deleted ones too
	for _, r := range rows {
		known = append(known, uuid.MustParse(r[0]))
	}
	actors := []*care.Actor{f.Nurse1Actor, f.Nurse2Actor, f.GPAActor, f.GPBActor, f.AdminAActor, f.AdminNActor, care.SystemActor()}
	var seen, hidden int
	for n := 0; n < 200; n++ {
		actor := actors[rng.IntN(len(actors))]
		ids := make([]uuid.UUID, 1+rng.IntN(60))
		for k := range ids {
			if rng.IntN(10) == 0 {
				ids[k] = uuid.New()
			} else {
				ids[k] = known[rng.IntN(len(known))]
			}
		}
		refs := make([]postgres.SyncRef, len(ids))
		for k, id := range ids {
			refs[k] = postgres.SyncRef{Entity: "interaction", ID: id}
		}
		var want []*care.Interaction
		var wantRows map[uuid.UUID]*care.Interaction
		for _, way := range []struct {
			name string
			from int
		}{{"row by row", 1 << 30}, {"patient by patient", -1}} {
			restore := postgres.SetByPatientFrom(way.from)
			got, err := db.InteractionsByID(as(actor), ids)
			if err != nil {
				t.Fatal(err)
			}
			page, err := db.LoadSyncRows(as(actor), refs)
			restore()
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				want, wantRows = got, page.Interactions
				continue
			}
			if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(page.Interactions, wantRows) {
				t.Fatalf("seed %d, query %d (%s, %d ids), %s:\n got %v\nwant %v", seed, n, actor.Role, len(ids), way.name, loaded(got), loaded(want))
			}
		}
		for _, i := range want {
			if i == nil {
				hidden++
			} else {
				seen++
			}
		}
	}
	if seen < 500 || hidden < 500 {
		t.Fatalf("seed %d: too few telling answers: %d interactions seen, %d missing or hidden", seed, seen, hidden)
	}
}

// loaded names the interactions of an aligned load, "-" where none.
func loaded(is []*care.Interaction) []string {
	out := make([]string, len(is))
	for k, i := range is {
		out[k] = "-"
		if i != nil {
			out[k] = i.ID.String()[28:] + "/v" + strconv.FormatInt(i.Version, 10)
		}
	}
	return out
}

// TestPatientAccessBothForms holds the set form of the access rule (lists,
// counts, a device's scope; for a nurse the caseload form) to the per-row
// form over a random history with random relationships started and ended:
// every caller must be admitted to exactly the same patients both ways.
func TestPatientAccessBothForms(t *testing.T) {
	db, f, rng, seed := randomWorld(t, 13)
	actors := []*care.Actor{f.Nurse1Actor, f.Nurse2Actor, f.GPAActor, f.GPBActor, f.AdminAActor, f.AdminBActor, f.AdminNActor}
	nurseSaw := 0
	accepted := randomRelationships(t, db, f, rng, func(step int) {
		for _, actor := range actors {
			set, perRow, err := db.VisiblePatientsBothForms(as(actor))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(set, perRow) {
				t.Fatalf("seed %d, step %d, %s %s: the set form admits %d patients, the per-row form %d:\n set %v\n row %v",
					seed, step, actor.Role, actor.PractitionerID, len(set), len(perRow), set, perRow)
			}
			if actor.Role == care.RoleNurse {
				nurseSaw += len(set)
			}
		}
	})
	if accepted < 60 || nurseSaw == 0 {
		t.Fatalf("seed %d: only %d relationships started or ended, nurses saw %d patients in all", seed, accepted, nurseSaw)
	}
}

// randomRelationships starts and ends 150 random relationships as the
// system actor (named nurses, key workers of the team, usual GPs of either
// practice, nurse 2 joining the team, endings of those started), calling
// check after every tenth step, and returns how many were accepted.
func randomRelationships(t *testing.T, db *postgres.DB, f *postgrestest.Fixture, rng *rand.Rand, check func(step int)) int {
	t.Helper()
	ctx := context.Background()
	sys := as(care.SystemActor())
	rows, err := db.QueryTextRows(ctx, `SELECT id::text FROM patients`)
	if err != nil {
		t.Fatal(err)
	}
	var patients []uuid.UUID
	for _, r := range rows {
		patients = append(patients, uuid.MustParse(r[0]))
	}
	var started []uuid.UUID
	accepted := 0
	for step := 0; step < 150; step++ {
		p := patients[rng.IntN(len(patients))]
		var in care.StartRelationshipInput
		switch rng.IntN(5) {
		case 0:
			in = care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &p, PractitionerID: []*uuid.UUID{&f.Nurse1, &f.Nurse2}[rng.IntN(2)], OrganizationID: &f.Nursing}
		case 1:
			in = care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &p, TeamID: &f.Team, OrganizationID: &f.Nursing}
		case 2:
			gp, org := []uuid.UUID{f.GPA, f.GPB}, []uuid.UUID{f.PracticeA, f.PracticeB}
			k := rng.IntN(2)
			in = care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &p, PractitionerID: &gp[k], OrganizationID: &org[k]}
		case 3:
			in = care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: &f.Nurse2, TeamID: &f.Team, OrganizationID: &f.Nursing}
		default:
			if len(started) > 0 {
				k := rng.IntN(len(started))
				if _, err := db.EndRelationship(sys, care.EndRelationshipInput{ID: started[k]}); err == nil {
					accepted++
				}
				started = append(started[:k], started[k+1:]...)
			}
			continue
		}
		if r, err := db.StartRelationship(sys, in); err == nil {
			started = append(started, r.ID)
			accepted++
		}
		if step%10 == 9 {
			check(step)
		}
	}
	return accepted
}

// TestPatientCountEitherWay holds a patient list's total, which an actor who
// sees the lists of practices counts practice by practice plus her related
// patients registered elsewhere (patientSetAccess), to the count through the
// access rule's predicate: on a random history (patients registered and
// moved between practices, relationships started and ended), for every
// actor of the fixture and for actors of one practice or both (one listed
// twice) with and without the relationships of a GP or a nurse, with random
// filters and page sizes, the total alone and with edges. It also requires
// that related patients registered elsewhere were counted in many of those
// totals (the same filter counts more with the relationships than without).
func TestPatientCountEitherWay(t *testing.T) {
	db, f, rng, seed := randomWorld(t, 17)
	actors := []*care.Actor{f.Nurse1Actor, f.Nurse2Actor, f.GPAActor, f.GPBActor, f.AdminAActor, f.AdminBActor, f.AdminNActor}
	type pair struct{ with, without *care.Actor }
	var pairs []pair
	for _, reg := range [][]uuid.UUID{{f.PracticeA}, {f.PracticeB}, {f.PracticeA, f.PracticeB, f.PracticeA}} {
		for _, via := range []uuid.UUID{f.GPA, f.GPB, f.Nurse1} {
			with, without := *f.GPAActor, *f.AdminAActor
			with.Access = care.PatientAccess{RegisteredAt: reg, ViaRelationshipsOf: via}
			without.Access = care.PatientAccess{RegisteredAt: reg}
			pairs = append(pairs, pair{&with, &without})
			actors = append(actors, &with, &without)
		}
	}
	filters := func() care.PatientFilter {
		var fl care.PatientFilter
		if rng.IntN(3) == 0 {
			fl.Name = ptr([]string{"lee", "Lee 1", "s", "zz"}[rng.IntN(4)])
		}
		if rng.IntN(4) == 0 {
			fl.RegisteredPracticeID = &[]uuid.UUID{f.PracticeA, f.PracticeB}[rng.IntN(2)]
		}
		if rng.IntN(4) == 0 {
			fl.PractitionerID = &[]uuid.UUID{f.GPA, f.GPB, f.Nurse1}[rng.IntN(3)]
		}
		if rng.IntN(5) == 0 {
			fl.TeamID = &f.Team
		}
		return fl
	}
	total := func(step int, actor *care.Actor, fl care.PatientFilter, first int) int {
		pa := care.PageArgs{First: &first, SkipEdges: first == 0}
		got, err := db.Patients(as(actor), fl, pa)
		if err != nil {
			t.Fatal(err)
		}
		want, err := db.PatientsCountedByPredicate(as(actor), fl, pa)
		if err != nil {
			t.Fatal(err)
		}
		if got.TotalCount != want.TotalCount || len(got.Edges) != len(want.Edges) {
			t.Fatalf("seed %d, step %d, %s %v, filter %+v, first %d: total %d with %d edges, by the predicate %d with %d",
				seed, step, actor.Role, actor.Access, fl, first, got.TotalCount, len(got.Edges), want.TotalCount, len(want.Edges))
		}
		return got.TotalCount
	}
	counted, elsewhere := 0, 0
	randomRelationships(t, db, f, rng, func(step int) {
		for _, actor := range actors {
			total(step, actor, filters(), []int{0, 1, 3, 50}[rng.IntN(4)])
		}
		for _, p := range pairs {
			for range 3 {
				fl, first := filters(), []int{0, 2}[rng.IntN(2)]
				counted++
				if total(step, p.with, fl, first) > total(step, p.without, fl, first) {
					elsewhere++
				}
			}
		}
	})
	if elsewhere < counted/10 {
		t.Fatalf("seed %d: related patients registered elsewhere were counted in %d of %d totals", seed, elsewhere, counted)
	}
	t.Logf("related patients registered elsewhere counted in %d of %d totals", elsewhere, counted)
}
