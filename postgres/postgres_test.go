package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// setup returns a fresh store with the fixture.
func setup(t *testing.T) (*postgres.DB, *postgrestest.Fixture) {
	t.Helper()
	db := postgrestest.New(t)
	return db, postgrestest.Seed(t, db)
}

func as(a *care.Actor) context.Context { return postgrestest.As(context.Background(), a) }

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := care.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v), want %q", got, err, code)
	}
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func countRows(t *testing.T, db *postgres.DB, table string) int {
	t.Helper()
	// System sees everything, so list counts equal table counts.
	ctx := as(care.SystemActor())
	switch table {
	case "patients":
		return must[*care.Page[care.Patient]](t)(db.Patients(ctx, care.PatientFilter{}, care.PageArgs{})).TotalCount
	case "interactions":
		return must[*care.Page[care.Interaction]](t)(db.Interactions(ctx, care.InteractionFilter{}, care.PageArgs{})).TotalCount
	case "relationships":
		return must[*care.Page[care.CareRelationship]](t)(db.CareRelationships(ctx, care.RelationshipFilter{}, care.PageArgs{})).TotalCount
	}
	t.Fatalf("unknown table %s", table)
	return 0
}

func patientIDs(p *care.Page[care.Patient]) map[uuid.UUID]bool {
	out := map[uuid.UUID]bool{}
	for _, e := range p.Edges {
		out[e.Node.ID] = true
	}
	return out
}

func TestPatients(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	admin := as(f.AdminAActor)

	t.Run("registers a patient with a valid NHS number, normalised", func(t *testing.T) {
		p, err := db.CreatePatient(admin, care.CreatePatientInput{NHSNumber: "943 476 5919", GivenName: " Ada ", FamilyName: "Lovelace",
			BirthDate: time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA})
		if err != nil {
			t.Fatal(err)
		}
		if p.NHSNumber != "9434765919" || p.GivenName != "Ada" || p.Version != 1 {
			t.Fatalf("got %+v", p)
		}
		if p.ID.Version() != 7 {
			t.Fatalf("server id is UUID version %d, want 7", p.ID.Version())
		}
	})
	t.Run("rejects invalid input and writes nothing", func(t *testing.T) {
		before := countRows(t, db, "patients")
		for name, in := range map[string]care.CreatePatientInput{
			"bad check digit": {NHSNumber: "9434765918", GivenName: "A", FamilyName: "B", BirthDate: time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA},
			"empty name":      {NHSNumber: "9434765870", GivenName: " ", FamilyName: "B", BirthDate: time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA},
			"future birth":    {NHSNumber: "9434765870", GivenName: "A", FamilyName: "B", BirthDate: time.Now().Add(48 * time.Hour), RegisteredPracticeID: f.PracticeA},
		} {
			_, err := db.CreatePatient(admin, in)
			if care.ErrorCode(err) != care.EINVALID {
				t.Errorf("%s: code %q (%v), want invalid", name, care.ErrorCode(err), err)
			}
		}
		if after := countRows(t, db, "patients"); after != before {
			t.Fatalf("patients %d -> %d after invalid input", before, after)
		}
	})
	t.Run("a duplicate NHS number is a conflict", func(t *testing.T) {
		_, err := db.CreatePatient(admin, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(0), GivenName: "A", FamilyName: "B",
			BirthDate: time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA})
		wantCode(t, err, care.ECONFLICT)
	})
	t.Run("idempotent create with a client id", func(t *testing.T) {
		id := uuid.Must(uuid.NewV7())
		in := care.CreatePatientInput{ID: &id, NHSNumber: "9434765870", GivenName: "Grace", FamilyName: "Hopper",
			BirthDate: time.Date(1948, 5, 6, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA}
		first := must[*care.Patient](t)(db.CreatePatient(admin, in))
		before := countRows(t, db, "patients")
		second := must[*care.Patient](t)(db.CreatePatient(admin, in))
		if first.ID != id || second.ID != id || second.Version != first.Version || !second.UpdatedAt.Equal(first.UpdatedAt) {
			t.Fatalf("first %+v second %+v", first, second)
		}
		if after := countRows(t, db, "patients"); after != before {
			t.Fatalf("second create added a row: %d -> %d", before, after)
		}
		in.NHSNumber = "9434765862"
		_, err := db.CreatePatient(admin, in)
		wantCode(t, err, care.ECONFLICT)
		_, err = db.CreatePatient(as(f.AdminBActor), care.CreatePatientInput{ID: &id, NHSNumber: "9434765870", GivenName: "Grace", FamilyName: "Hopper",
			BirthDate: time.Date(1948, 5, 6, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeB})
		// Another practice's patient: CONFLICT (a transfer request), never
		// NOT_FOUND, which would tell "exists elsewhere" from "taken here".
		wantCode(t, err, care.ECONFLICT)
	})
	t.Run("only staff of the practice may register there", func(t *testing.T) {
		_, err := db.CreatePatient(as(f.AdminBActor), care.CreatePatientInput{NHSNumber: "4010232137", GivenName: "A", FamilyName: "B",
			BirthDate: time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA})
		wantCode(t, err, care.EFORBIDDEN)
		_, err = db.CreatePatient(as(f.Nurse1Actor), care.CreatePatientInput{NHSNumber: "4010232137", GivenName: "A", FamilyName: "B",
			BirthDate: time.Date(1950, 1, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.Nursing})
		wantCode(t, err, care.EFORBIDDEN)
	})
	t.Run("update bumps version, registration moves only for gp admin system", func(t *testing.T) {
		name := "Edie"
		p := must[*care.Patient](t)(db.UpdatePatient(as(f.Nurse1Actor), care.UpdatePatientInput{ID: f.PatientA1, GivenName: &name}))
		if p.GivenName != "Edie" || p.Version != 2 || !p.UpdatedAt.After(p.CreatedAt) {
			t.Fatalf("got %+v", p)
		}
		_, err := db.UpdatePatient(as(f.Nurse1Actor), care.UpdatePatientInput{ID: f.PatientA1, RegisteredPracticeID: &f.PracticeB})
		wantCode(t, err, care.EFORBIDDEN)
		_, err = db.UpdatePatient(as(f.Nurse1Actor), care.UpdatePatientInput{ID: f.PatientB1, GivenName: &name})
		wantCode(t, err, care.ENOTFOUND)
	})
}

func TestAccess(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	ctxBg := context.Background()

	t.Run("no actor is unauthenticated", func(t *testing.T) {
		_, err := db.Patient(ctxBg, f.PatientA1)
		wantCode(t, err, care.EUNAUTHENTICATED)
		_, err = db.Organizations(ctxBg, care.OrganizationFilter{}, care.PageArgs{})
		wantCode(t, err, care.EUNAUTHENTICATED)
	})
	t.Run("nurse sees only her caseload, direct and via team", func(t *testing.T) {
		page := must[*care.Page[care.Patient]](t)(db.Patients(as(f.Nurse1Actor), care.PatientFilter{}, care.PageArgs{}))
		got := patientIDs(page)
		if len(got) != 2 || !got[f.PatientA1] || !got[f.PatientA2] || page.TotalCount != 2 {
			t.Fatalf("nurse1 sees %v (total %d), want A1 and A2", got, page.TotalCount)
		}
		_, err := db.Patient(as(f.Nurse1Actor), f.PatientB1)
		wantCode(t, err, care.ENOTFOUND)
		ps := must[[]*care.Patient](t)(db.PatientsByID(as(f.Nurse1Actor), []uuid.UUID{f.PatientB1, f.PatientA2, uuid.New()}))
		if ps[0] != nil || ps[1] == nil || ps[1].ID != f.PatientA2 || ps[2] != nil {
			t.Fatalf("aligned batch wrong: %v", ps)
		}
		_, err = db.Interaction(as(f.Nurse1Actor), f.InteractionB1)
		wantCode(t, err, care.ENOTFOUND)
	})
	t.Run("nurse outside the team and without relationships sees nobody", func(t *testing.T) {
		page := must[*care.Page[care.Patient]](t)(db.Patients(as(f.Nurse2Actor), care.PatientFilter{}, care.PageArgs{}))
		if page.TotalCount != 0 || len(page.Edges) != 0 {
			t.Fatalf("nurse2 sees %d patients", page.TotalCount)
		}
	})
	t.Run("ending the team membership removes the team's patients", func(t *testing.T) {
		db, f := setup(t)
		must[*care.CareRelationship](t)(db.EndRelationship(as(f.AdminNActor), care.EndRelationshipInput{ID: f.Nurse1Membership}))
		got := patientIDs(must[*care.Page[care.Patient]](t)(db.Patients(as(f.Nurse1Actor), care.PatientFilter{}, care.PageArgs{})))
		if len(got) != 1 || !got[f.PatientA1] {
			t.Fatalf("nurse1 sees %v after leaving the team, want only A1", got)
		}
	})
	t.Run("GP sees her practice", func(t *testing.T) {
		got := patientIDs(must[*care.Page[care.Patient]](t)(db.Patients(as(f.GPAActor), care.PatientFilter{}, care.PageArgs{})))
		if len(got) != 2 || !got[f.PatientA1] || !got[f.PatientA2] {
			t.Fatalf("gpA sees %v", got)
		}
		got = patientIDs(must[*care.Page[care.Patient]](t)(db.Patients(as(f.GPBActor), care.PatientFilter{}, care.PageArgs{})))
		if len(got) != 1 || !got[f.PatientB1] {
			t.Fatalf("gpB sees %v", got)
		}
	})
	t.Run("integration reads what access admits and never writes", func(t *testing.T) {
		with := &care.Actor{Role: care.RoleIntegration, Subject: "dash", Scopes: []string{care.ScopePatientsRead},
			Access: care.PatientAccess{RegisteredAt: []uuid.UUID{f.PracticeB}}}
		without := &care.Actor{Role: care.RoleIntegration, Subject: "stats", Scopes: []string{care.ScopeAnalyticsRead}}
		got := patientIDs(must[*care.Page[care.Patient]](t)(db.Patients(as(with), care.PatientFilter{}, care.PageArgs{})))
		if len(got) != 1 || !got[f.PatientB1] {
			t.Fatalf("integration with patients:read sees %v", got)
		}
		page := must[*care.Page[care.Patient]](t)(db.Patients(as(without), care.PatientFilter{}, care.PageArgs{}))
		if page.TotalCount != 0 {
			t.Fatalf("integration without patients:read sees %d", page.TotalCount)
		}
		name := "X"
		_, err := db.UpdatePatient(as(with), care.UpdatePatientInput{ID: f.PatientB1, GivenName: &name})
		wantCode(t, err, care.EFORBIDDEN)
	})
	t.Run("directory lists are limited to own organisation and partners", func(t *testing.T) {
		orgs := must[*care.Page[care.Organization]](t)(db.Organizations(as(f.Nurse1Actor), care.OrganizationFilter{}, care.PageArgs{}))
		ids := map[uuid.UUID]bool{}
		for _, e := range orgs.Edges {
			ids[e.Node.ID] = true
		}
		if len(ids) != 2 || !ids[f.Nursing] || !ids[f.PracticeA] {
			t.Fatalf("nurse1 lists organisations %v, want Nursing and PracticeA", ids)
		}
		if _, err := db.Organization(as(f.Nurse1Actor), f.PracticeB); err != nil {
			t.Fatalf("directory by id: %v", err)
		}
		pr := must[*care.Page[care.Practitioner]](t)(db.Practitioners(as(f.GPBActor), care.PractitionerFilter{}, care.PageArgs{}))
		if pr.TotalCount != 2 {
			t.Fatalf("gpB lists %d practitioners, want 2 (own practice)", pr.TotalCount)
		}
	})
	t.Run("bad cursor is invalid, bad page size is a limit", func(t *testing.T) {
		bad := "not-a-cursor"
		_, err := db.Patients(as(f.GPAActor), care.PatientFilter{}, care.PageArgs{After: &bad})
		wantCode(t, err, care.EINVALID)
		n := 101
		_, err = db.Patients(as(f.GPAActor), care.PatientFilter{}, care.PageArgs{First: &n})
		wantCode(t, err, care.ELIMIT)
	})
}

func TestRelationships(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	t.Run("a second active usual GP is a conflict", func(t *testing.T) {
		_, err := db.StartRelationship(as(f.GPAActor), care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &f.PatientA1, PractitionerID: &f.AdminA})
		wantCode(t, err, care.ECONFLICT)
		if msg := care.ErrorMessage(err); msg != "the patient already has an active usual GP" {
			t.Fatalf("message %q", msg)
		}
	})
	t.Run("a nurse may not start a usual GP relationship", func(t *testing.T) {
		_, err := db.StartRelationship(as(f.Nurse1Actor), care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &f.PatientA2, PractitionerID: &f.GPA})
		wantCode(t, err, care.EFORBIDDEN)
	})
	t.Run("future start is proposed; ending sets status and end", func(t *testing.T) {
		future := time.Now().Add(72 * time.Hour)
		r := must[*care.CareRelationship](t)(db.StartRelationship(as(f.GPAActor), care.StartRelationshipInput{Kind: care.KindCareCoordinator,
			PatientID: &f.PatientA2, PractitionerID: &f.GPA, PeriodStart: &future}))
		if r.Status != care.RelationshipProposed || r.OrganizationID != f.PracticeA {
			t.Fatalf("got %+v", r)
		}
		r = must[*care.CareRelationship](t)(db.StartRelationship(as(f.GPAActor), care.StartRelationshipInput{Kind: care.KindCarer,
			PatientID: &f.PatientA2, RelatedPersonName: ptr("daughter")}))
		if r.Status != care.RelationshipActive {
			t.Fatalf("got %+v", r)
		}
		e := must[*care.CareRelationship](t)(db.EndRelationship(as(f.GPAActor), care.EndRelationshipInput{ID: r.ID}))
		if e.Status != care.RelationshipEnded || e.PeriodEnd == nil || e.Version != r.Version+1 {
			t.Fatalf("ended %+v", e)
		}
	})
	t.Run("ending the usual GP allows a new one", func(t *testing.T) {
		must[*care.CareRelationship](t)(db.EndRelationship(as(f.GPAActor), care.EndRelationshipInput{ID: f.PatientA1UsualGP}))
		if _, err := db.StartRelationship(as(f.GPAActor), care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &f.PatientA1, PractitionerID: &f.AdminA}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("idempotent start with a client id", func(t *testing.T) {
		id := uuid.Must(uuid.NewV7())
		in := care.StartRelationshipInput{ID: &id, Kind: care.KindKeyWorker, PatientID: &f.PatientA2, PractitionerID: &f.Nurse1}
		a := must[*care.CareRelationship](t)(db.StartRelationship(as(f.Nurse1Actor), in))
		b := must[*care.CareRelationship](t)(db.StartRelationship(as(f.Nurse1Actor), in))
		if a.ID != b.ID || a.Version != b.Version {
			t.Fatalf("%+v vs %+v", a, b)
		}
		in.PractitionerID = &f.Nurse2
		_, err := db.StartRelationship(as(f.Nurse1Actor), in)
		wantCode(t, err, care.ECONFLICT)
	})
	t.Run("team membership by the team's admin only", func(t *testing.T) {
		_, err := db.StartRelationship(as(f.AdminAActor), care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: &f.Nurse2, TeamID: &f.Team})
		wantCode(t, err, care.EFORBIDDEN)
		if _, err := db.StartRelationship(as(f.AdminNActor), care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: &f.Nurse2, TeamID: &f.Team}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown practitioner is not found", func(t *testing.T) {
		nobody := uuid.New()
		_, err := db.StartRelationship(as(f.GPAActor), care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &f.PatientA2, PractitionerID: &nobody})
		wantCode(t, err, care.ENOTFOUND)
	})
}

func ptr[T any](v T) *T { return &v }

func TestInteractions(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	nurse := as(f.Nurse1Actor)
	t.Run("updating a signed interaction is a conflict", func(t *testing.T) {
		_, err := db.UpdateInteraction(nurse, care.UpdateInteractionInput{ID: f.InteractionA1Signed, Notes: ptr("changed")})
		wantCode(t, err, care.ECONFLICT)
	})
	t.Run("only the author edits a draft", func(t *testing.T) {
		_, err := db.UpdateInteraction(as(f.GPAActor), care.UpdateInteractionInput{ID: f.InteractionA1Draft, Notes: ptr("x")})
		wantCode(t, err, care.EFORBIDDEN)
		i := must[*care.Interaction](t)(db.UpdateInteraction(nurse, care.UpdateInteractionInput{ID: f.InteractionA1Draft, Notes: ptr("better notes")}))
		if i.Notes != "better notes" || i.Version != 2 {
			t.Fatalf("got %+v", i)
		}
	})
	t.Run("signing twice returns it unchanged", func(t *testing.T) {
		a := must[*care.Interaction](t)(db.SignInteraction(nurse, care.SignInteractionInput{ID: f.InteractionA2}))
		b := must[*care.Interaction](t)(db.SignInteraction(nurse, care.SignInteractionInput{ID: f.InteractionA2}))
		if a.Status != care.InteractionSigned || a.SignedAt == nil || b.Version != a.Version || !b.SignedAt.Equal(*a.SignedAt) {
			t.Fatalf("a %+v b %+v", a, b)
		}
	})
	t.Run("amending keeps the before values and the row shows after", func(t *testing.T) {
		before := must[*care.Interaction](t)(db.Interaction(nurse, f.InteractionA1Signed))
		got := must[*care.Interaction](t)(db.AmendInteraction(as(f.GPAActor), care.AmendInteractionInput{ID: f.InteractionA1Signed,
			Reason: "wrong dose recorded", Notes: ptr("corrected notes")}))
		if got.Notes != "corrected notes" || got.Purpose != before.Purpose || got.Status != care.InteractionAmended || got.Version != before.Version+1 {
			t.Fatalf("got %+v", got)
		}
		ams := must[map[uuid.UUID][]*care.InteractionAmendment](t)(db.AmendmentsOf(nurse, []uuid.UUID{f.InteractionA1Signed}))[f.InteractionA1Signed]
		if len(ams) != 1 || ams[0].Before.Notes != before.Notes || ams[0].After.Notes != "corrected notes" || ams[0].AmendedByID != f.GPA {
			t.Fatalf("amendments %+v", ams)
		}
	})
	t.Run("amending a draft is a conflict", func(t *testing.T) {
		_, err := db.AmendInteraction(nurse, care.AmendInteractionInput{ID: f.InteractionA1Draft, Reason: "r", Notes: ptr("n")})
		wantCode(t, err, care.ECONFLICT)
	})
	t.Run("the database refuses a raw edit of a signed interaction", func(t *testing.T) {
		err := db.ExecRaw(context.Background(), `UPDATE interactions SET notes = 'tampered' WHERE id = $1`, f.InteractionB1)
		wantCode(t, err, care.ECONFLICT)
		i := must[*care.Interaction](t)(db.Interaction(as(care.SystemActor()), f.InteractionB1))
		if i.Notes == "tampered" {
			t.Fatal("signed notes were changed")
		}
	})
	t.Run("a nurse records only as herself, for a visible patient", func(t *testing.T) {
		in := care.CreateInteractionInput{PatientID: f.PatientA1, PractitionerID: &f.GPA, Mode: care.ModePhone, OccurredAt: time.Now()}
		_, err := db.CreateInteraction(nurse, in)
		wantCode(t, err, care.EFORBIDDEN)
		in.PractitionerID, in.PatientID = nil, f.PatientB1
		_, err = db.CreateInteraction(nurse, in)
		wantCode(t, err, care.ENOTFOUND)
		in.PatientID = f.PatientA1
		i := must[*care.Interaction](t)(db.CreateInteraction(nurse, in))
		if i.PractitionerID != f.Nurse1 || i.OrganizationID != f.Nursing || i.Status != care.InteractionDraft {
			t.Fatalf("got %+v", i)
		}
	})
	t.Run("idempotent create with a client id", func(t *testing.T) {
		id := uuid.Must(uuid.NewV7())
		in := care.CreateInteractionInput{ID: &id, PatientID: f.PatientA1, Mode: care.ModeVideo, OccurredAt: time.Now().Add(-time.Hour), Notes: "n"}
		before := countRows(t, db, "interactions")
		a := must[*care.Interaction](t)(db.CreateInteraction(nurse, in))
		b := must[*care.Interaction](t)(db.CreateInteraction(nurse, in))
		if a.ID != id || b.ID != id || a.Version != b.Version {
			t.Fatalf("%+v vs %+v", a, b)
		}
		if after := countRows(t, db, "interactions"); after != before+1 {
			t.Fatalf("interactions %d -> %d, want one more", before, after)
		}
		in.Mode = care.ModeClinic
		_, err := db.CreateInteraction(nurse, in)
		wantCode(t, err, care.ECONFLICT)
	})
	t.Run("invalid input writes nothing", func(t *testing.T) {
		before := countRows(t, db, "interactions")
		_, err := db.CreateInteraction(nurse, care.CreateInteractionInput{PatientID: f.PatientA1, Mode: "teleport", OccurredAt: time.Now()})
		wantCode(t, err, care.EINVALID)
		_, err = db.CreateInteraction(nurse, care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModePhone, OccurredAt: time.Now().Add(72 * time.Hour)})
		wantCode(t, err, care.EINVALID)
		if after := countRows(t, db, "interactions"); after != before {
			t.Fatalf("interactions %d -> %d", before, after)
		}
	})
}

func TestPagination(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	sys := as(care.SystemActor())
	const n = 250
	for i := 0; i < n; i++ {
		_, err := db.CreatePatient(sys, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(100 + i), GivenName: fmt.Sprintf("G%03d", i%7),
			FamilyName: fmt.Sprintf("Family%02d", i%40), BirthDate: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeB})
		if err != nil {
			t.Fatal(err)
		}
		_, err = db.CreateInteraction(sys, care.CreateInteractionInput{PatientID: f.PatientB1, PractitionerID: &f.GPB, Mode: care.ModeClinic,
			OccurredAt: time.Now().Add(-time.Duration(i%50) * time.Hour).Truncate(time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Run("patients in pages of 100, no duplicates or gaps", func(t *testing.T) {
		filter := care.PatientFilter{RegisteredPracticeID: &f.PracticeB}
		seen := map[uuid.UUID]bool{}
		var after *string
		pages := 0
		var last *care.Patient
		for {
			page := must[*care.Page[care.Patient]](t)(db.Patients(as(f.GPBActor), filter, care.PageArgs{First: ptr(100), After: after}))
			pages++
			if page.TotalCount != n+1 {
				t.Fatalf("total %d, want %d", page.TotalCount, n+1)
			}
			for _, e := range page.Edges {
				if seen[e.Node.ID] {
					t.Fatalf("duplicate %s", e.Node.ID)
				}
				seen[e.Node.ID] = true
				if last != nil && (last.FamilyName > e.Node.FamilyName || (last.FamilyName == e.Node.FamilyName && last.GivenName > e.Node.GivenName)) {
					t.Fatalf("out of order: %s %s after %s %s", e.Node.FamilyName, e.Node.GivenName, last.FamilyName, last.GivenName)
				}
				last = e.Node
			}
			if !page.HasNextPage {
				break
			}
			after = &page.Edges[len(page.Edges)-1].Cursor
		}
		if len(seen) != n+1 || pages != 3 {
			t.Fatalf("walked %d patients in %d pages, want %d in 3", len(seen), pages, n+1)
		}
	})
	t.Run("interactions newest first in pages of 100", func(t *testing.T) {
		seen := map[uuid.UUID]bool{}
		var after *string
		var last time.Time
		for {
			page := must[*care.Page[care.Interaction]](t)(db.Interactions(as(f.GPBActor), care.InteractionFilter{PatientID: &f.PatientB1}, care.PageArgs{First: ptr(100), After: after}))
			for _, e := range page.Edges {
				if seen[e.Node.ID] {
					t.Fatalf("duplicate %s", e.Node.ID)
				}
				seen[e.Node.ID] = true
				if !last.IsZero() && e.Node.OccurredAt.After(last) {
					t.Fatal("not newest first")
				}
				last = e.Node.OccurredAt
			}
			if !page.HasNextPage {
				break
			}
			after = &page.Edges[len(page.Edges)-1].Cursor
		}
		if len(seen) != n+1 {
			t.Fatalf("walked %d interactions, want %d", len(seen), n+1)
		}
	})
}

func TestBatchQueries(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	sys := as(care.SystemActor())
	var patients []uuid.UUID
	for i := 0; i < 30; i++ {
		p := must[*care.Patient](t)(db.CreatePatient(sys, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(500 + i), GivenName: "P",
			FamilyName: fmt.Sprint("F", i), BirthDate: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA}))
		patients = append(patients, p.ID)
		for j := 0; j < 3; j++ {
			must[*care.Interaction](t)(db.CreateInteraction(sys, care.CreateInteractionInput{PatientID: p.ID, PractitionerID: &f.GPA,
				Mode: care.ModeClinic, OccurredAt: time.Now().Add(-time.Duration(j) * time.Hour)}))
		}
	}
	gp := as(f.GPAActor)
	for name, call := range map[string]func() (int, error){
		"InteractionsForPatients": func() (int, error) {
			m, err := db.InteractionsForPatients(gp, patients, care.InteractionFilter{}, care.PageArgs{First: ptr(2)})
			if err != nil {
				return 0, err
			}
			if len(m) != 30 || len(m[patients[0]].Edges) != 2 || !m[patients[0]].HasNextPage || m[patients[0]].TotalCount != 3 {
				return 0, fmt.Errorf("bad pages: %d parents", len(m))
			}
			return len(m), nil
		},
		"RelationshipsForPatients": func() (int, error) {
			m, err := db.RelationshipsForPatients(gp, []uuid.UUID{f.PatientA1, f.PatientA2}, care.RelationshipFilter{}, care.PageArgs{})
			if err != nil {
				return 0, err
			}
			if m[f.PatientA1].TotalCount != 2 || m[f.PatientA2].TotalCount != 1 {
				return 0, fmt.Errorf("relationship totals %d, %d", m[f.PatientA1].TotalCount, m[f.PatientA2].TotalCount)
			}
			return len(m), nil
		},
		"CaseloadsFor": func() (int, error) {
			m, err := db.CaseloadsFor(as(care.SystemActor()), []uuid.UUID{f.Nurse1, f.Nurse2, f.GPA}, care.PageArgs{})
			if err != nil {
				return 0, err
			}
			if m[f.Nurse1].TotalCount != 2 || m[f.Nurse2].TotalCount != 0 || m[f.GPA].TotalCount != 1 {
				return 0, fmt.Errorf("caseload totals %d %d %d", m[f.Nurse1].TotalCount, m[f.Nurse2].TotalCount, m[f.GPA].TotalCount)
			}
			return len(m), nil
		},
	} {
		t.Run(name+" uses a bounded number of queries", func(t *testing.T) {
			before := db.QueryCount()
			if _, err := call(); err != nil {
				t.Fatal(err)
			}
			// count + page + audit insert
			if q := db.QueryCount() - before; q > 3 {
				t.Fatalf("%d queries, want at most 3", q)
			}
		})
	}
}

func TestAudit(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	ctx := care.NewContextWithRequestID(as(f.Nurse1Actor), "req-123")
	ctx = care.NewContextWithOperation(ctx, "CaseloadQuery")
	must[*care.Patient](t)(db.Patient(ctx, f.PatientA1))
	must[*care.Interaction](t)(db.UpdateInteraction(ctx, care.UpdateInteractionInput{ID: f.InteractionA1Draft, Purpose: ptr("dressing")}))
	// an empty page writes nothing
	must[*care.Page[care.Interaction]](t)(db.Interactions(ctx, care.InteractionFilter{PatientID: &f.PatientB1}, care.PageArgs{}))

	t.Run("reads and writes are recorded with request id and operation", func(t *testing.T) {
		entries := must[[]*care.AuditEntry](t)(db.AuditEntries(as(f.AdminAActor), f.PatientA1))
		var read, update bool
		for _, e := range entries {
			if e.RequestID != "req-123" {
				continue
			}
			if e.ActorID != f.Nurse1 || e.ActorRole != care.RoleNurse || e.OrganizationID != f.Nursing || e.Operation != "CaseloadQuery" {
				t.Fatalf("entry %+v", e)
			}
			read = read || (e.Action == care.AuditRead && e.Entity == "Patient" && e.EntityID == f.PatientA1)
			update = update || (e.Action == care.AuditUpdate && e.Entity == "Interaction" && e.EntityID == f.InteractionA1Draft)
		}
		if !read || !update {
			t.Fatalf("read %v update %v in %d entries", read, update, len(entries))
		}
	})
	t.Run("an empty page audits nothing", func(t *testing.T) {
		for _, e := range must[[]*care.AuditEntry](t)(db.AuditEntries(as(care.SystemActor()), f.PatientB1)) {
			if e.RequestID == "req-123" {
				t.Fatalf("unexpected entry %+v", e)
			}
		}
	})
	t.Run("the trail is for the registered practice's admin", func(t *testing.T) {
		_, err := db.AuditEntries(as(f.AdminBActor), f.PatientA1)
		wantCode(t, err, care.ENOTFOUND)
		_, err = db.AuditEntries(as(f.Nurse1Actor), f.PatientA1)
		wantCode(t, err, care.EFORBIDDEN)
	})
}

func TestInTx(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	sys := as(care.SystemActor())
	create := func(tx *postgres.DB, n int) error {
		_, err := tx.CreatePatient(sys, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(n), GivenName: "T", FamilyName: "X",
			BirthDate: time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: f.PracticeA})
		return err
	}
	t.Run("rolls back on error", func(t *testing.T) {
		before := countRows(t, db, "patients")
		boom := errors.New("boom")
		err := db.InTx(context.Background(), func(tx *postgres.DB) error {
			if err := create(tx, 900); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("err = %v", err)
		}
		if after := countRows(t, db, "patients"); after != before {
			t.Fatalf("patients %d -> %d", before, after)
		}
	})
	t.Run("rolls back on panic and re-panics", func(t *testing.T) {
		before := countRows(t, db, "patients")
		func() {
			defer func() {
				if recover() == nil {
					t.Fatal("panic was swallowed")
				}
			}()
			_ = db.InTx(context.Background(), func(tx *postgres.DB) error {
				if err := create(tx, 901); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if after := countRows(t, db, "patients"); after != before {
			t.Fatalf("patients %d -> %d", before, after)
		}
	})
	t.Run("commits on success", func(t *testing.T) {
		before := countRows(t, db, "patients")
		if err := db.InTx(context.Background(), func(tx *postgres.DB) error { return create(tx, 902) }); err != nil {
			t.Fatal(err)
		}
		if after := countRows(t, db, "patients"); after != before+1 {
			t.Fatalf("patients %d -> %d", before, after)
		}
	})
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	t.Run("running again, concurrently, is a no-op", func(t *testing.T) {
		errs := make(chan error, 3)
		for i := 0; i < 3; i++ {
			go func() { errs <- postgres.Migrate(context.Background(), url) }()
		}
		for i := 0; i < 3; i++ {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	})
	t.Run("an unreachable database is an error", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := postgres.Migrate(ctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable"); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestPoolSize(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	withParam := url + "&pool_max_conns=3"
	ctx := context.Background()
	t.Run("pool_max_conns in the URL is honoured, and migrate accepts it", func(t *testing.T) {
		if err := postgres.Migrate(ctx, withParam); err != nil {
			t.Fatalf("migrate with pool_max_conns: %v", err)
		}
		db, err := postgres.Open(ctx, withParam)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if n := db.MaxConns(); n != 3 {
			t.Errorf("pool of %d, want 3", n)
		}
	})
	t.Run("the option overrides the URL", func(t *testing.T) {
		db, err := postgres.OpenWith(ctx, withParam, postgres.Options{MaxConns: 7})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if n := db.MaxConns(); n != 7 {
			t.Errorf("pool of %d, want 7", n)
		}
	})
	t.Run("a negative size is refused", func(t *testing.T) {
		if db, err := postgres.OpenWith(ctx, url, postgres.Options{MaxConns: -1}); err == nil {
			db.Close()
			t.Fatal("no error")
		}
	})
}

func TestUpdateRelationship(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	t.Run("changes consent and bumps version", func(t *testing.T) {
		given := care.ConsentGiven
		r := must[*care.CareRelationship](t)(db.UpdateRelationship(as(f.Nurse1Actor), care.UpdateRelationshipInput{ID: f.PatientA1NamedNurse, Consent: &given}))
		if r.Consent != care.ConsentGiven || r.Version != 2 {
			t.Fatalf("got %+v", r)
		}
	})
	t.Run("a nurse may not change the usual GP", func(t *testing.T) {
		given := care.ConsentGiven
		_, err := db.UpdateRelationship(as(f.Nurse1Actor), care.UpdateRelationshipInput{ID: f.PatientA1UsualGP, Consent: &given})
		wantCode(t, err, care.EFORBIDDEN)
	})
	t.Run("another practice's relationship is not found", func(t *testing.T) {
		_, err := db.UpdateRelationship(as(f.GPBActor), care.UpdateRelationshipInput{ID: f.PatientA1UsualGP})
		wantCode(t, err, care.ENOTFOUND)
	})
	t.Run("an end before the start is invalid", func(t *testing.T) {
		early := time.Now().Add(-365 * 24 * time.Hour)
		_, err := db.UpdateRelationship(as(f.GPAActor), care.UpdateRelationshipInput{ID: f.PatientA1UsualGP, PeriodEnd: &early})
		wantCode(t, err, care.EINVALID)
	})
}
