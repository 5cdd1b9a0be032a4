package postgres_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestNameFilterIsAPrefixServedByAnIndex: the schema says the name filter
// matches the start of a given or family name; an oversized filter is
// refused before any SQL runs.
func TestNameFilterIsAPrefixServedByAnIndex(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	ctx := as(care.SystemActor())
	names := func(name string) []string {
		t.Helper()
		p := must[*care.Page[care.Patient]](t)(db.Patients(ctx, care.PatientFilter{Name: &name}, care.PageArgs{}))
		var out []string
		for _, e := range p.Edges {
			out = append(out, e.Node.FamilyName)
		}
		return out
	}
	ps := must[[]*care.Patient](t)(db.PatientsByID(ctx, []uuid.UUID{f.PatientA1}))
	fam := ps[0].FamilyName
	if got := names(strings.ToUpper(fam[:3])); len(got) == 0 {
		t.Fatalf("prefix %q of %q matched nothing", fam[:3], fam)
	}
	if got := names(fam[1:]); len(got) != 0 {
		t.Fatalf("%q matched %v: the filter matches inside names, not at their start", fam[1:], got)
	}
	if got := names("%"); len(got) != 0 {
		t.Fatalf("%% is a wildcard: matched %v", got)
	}
	t.Run("an oversized filter is BAD_USER_INPUT", func(t *testing.T) {
		long := strings.Repeat("a", 900_000)
		_, err := db.Patients(ctx, care.PatientFilter{Name: &long}, care.PageArgs{})
		wantCode(t, err, care.EINVALID)
		nhs := strings.Repeat("1", 21)
		_, err = db.Patients(ctx, care.PatientFilter{NHSNumber: &nhs}, care.PageArgs{})
		wantCode(t, err, care.EINVALID)
		for _, call := range []func() error{
			func() error {
				_, err := db.Practitioners(ctx, care.PractitionerFilter{Name: &long}, care.PageArgs{})
				return err
			},
			func() error { _, err := db.Teams(ctx, care.TeamFilter{Name: &long}, care.PageArgs{}); return err },
			func() error {
				_, err := db.Organizations(ctx, care.OrganizationFilter{Name: &long}, care.PageArgs{})
				return err
			},
			func() error {
				_, err := db.Patients(ctx, care.PatientFilter{}, care.PageArgs{After: &long})
				return err
			},
		} {
			if c := care.ErrorCode(call()); c != care.EINVALID && c != care.ELIMIT {
				t.Fatalf("oversized filter or cursor: code %q", c)
			}
		}
	})
	t.Run("the plan uses the prefix indexes", func(t *testing.T) {
		plan, err := db.ExplainPatientsByName(ctx, "ada")
		if err != nil {
			t.Fatal(err)
		}
		for _, idx := range []string{"patients_family_name_prefix_idx", "patients_given_name_prefix_idx"} {
			if !strings.Contains(plan, idx) {
				t.Fatalf("plan does not use %s:\n%s", idx, plan)
			}
		}
	})
}

// TestNilClientIDIsRefused: a nil UUID as a client-chosen id is EINVALID and
// writes nothing (it used to be replaced silently by a fresh id).
func TestNilClientIDIsRefused(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	before := countRows(t, db, "interactions")
	nilID := uuid.Nil
	_, err := db.CreateInteraction(as(f.Nurse1Actor), care.CreateInteractionInput{
		ID: &nilID, PatientID: f.PatientA1, Mode: care.ModePhone, OccurredAt: time.Now().Add(-time.Hour), Purpose: "p", Notes: "n",
	})
	wantCode(t, err, care.EINVALID)
	if after := countRows(t, db, "interactions"); after != before {
		t.Fatalf("interactions %d -> %d", before, after)
	}
}

// TestRelationshipStatusFollowsPeriod: a relationship whose period has ended
// is ENDED for status, access and the one-active-of-a-kind rule, whether it
// was entered that way or ran out, without waiting for the maintenance loop;
// the loop then stores the status (and so reaches the sync log).
func TestRelationshipStatusFollowsPeriod(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	sys := as(care.SystemActor())
	start := time.Now().AddDate(0, -1, 0)
	end := time.Now().Add(-time.Hour)
	consent, pref := care.ConsentGiven, care.PreferencePreferred

	t.Run("entered with an end in the past", func(t *testing.T) {
		r, err := db.StartRelationship(sys, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &f.PatientB1,
			PractitionerID: &f.Nurse2, PeriodStart: &start, PeriodEnd: &end, Consent: &consent, PatientPreference: &pref})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != care.RelationshipEnded {
			t.Fatalf("status %s, want ENDED", r.Status)
		}
		if ps := must[[]*care.Patient](t)(db.PatientsByID(as(f.Nurse2Actor), []uuid.UUID{f.PatientB1})); ps[0] != nil {
			t.Fatal("an ended relationship grants access")
		}
	})
	t.Run("ran out while stored ACTIVE", func(t *testing.T) {
		id := f.PatientA1NamedNurse
		if err := db.ExecRaw(sys, `UPDATE care_relationships SET period_end = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		r := must[*care.CareRelationship](t)(db.CareRelationship(sys, id))
		if r.Status != care.RelationshipEnded {
			t.Fatalf("status %s, want ENDED", r.Status)
		}
		active := true
		page := must[*care.Page[care.CareRelationship]](t)(db.CareRelationships(sys, care.RelationshipFilter{PatientID: &f.PatientA1, Kind: ptrTo(care.KindNamedNurse), Active: &active}, care.PageArgs{}))
		if page.TotalCount != 0 {
			t.Fatalf("%d active named nurses, want 0", page.TotalCount)
		}
		// Its successor can start at once: the expired one no longer holds
		// the one-active-named-nurse slot.
		now := time.Now().Add(-time.Second)
		next, err := db.StartRelationship(sys, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &f.PatientA1,
			PractitionerID: &f.Nurse2, PeriodStart: &now, Consent: &consent, PatientPreference: &pref})
		if err != nil {
			t.Fatalf("successor refused: %v", err)
		}
		if next.Status != care.RelationshipActive {
			t.Fatalf("successor %s", next.Status)
		}
		// And the expired one is stored ENDED (a DO block fails otherwise).
		check := `DO $$ BEGIN IF (SELECT status FROM care_relationships WHERE id = '` + id.String() + `') <> 'ended' THEN RAISE EXCEPTION 'still stored active'; END IF; END $$`
		if err := db.ExecRaw(sys, check); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the maintenance loop stores ENDED for any that ran out", func(t *testing.T) {
		id := f.PatientA1UsualGP
		if err := db.ExecRaw(sys, `UPDATE care_relationships SET period_end = now() - interval '1 minute' WHERE id = $1`, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ActivateDueRelationships(sys); err != nil {
			t.Fatal(err)
		}
		check := `DO $$ BEGIN IF (SELECT status FROM care_relationships WHERE id = '` + id.String() + `') <> 'ended' THEN RAISE EXCEPTION 'still stored active'; END IF; END $$`
		if err := db.ExecRaw(sys, check); err != nil {
			t.Fatal(err)
		}
	})
}

func ptrTo[T any](v T) *T { return &v }

// TestDeadlineCancelsSQL: the request's deadline reaches a running
// statement: pgx cancels it on the server, so a statement cannot hold a
// connection and a core after the request has timed out.
func TestDeadlineCancelsSQL(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	ctx, cancel := context.WithTimeout(as(care.SystemActor()), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := db.ExecRaw(ctx, `SELECT pg_sleep(30)`)
	if err == nil {
		t.Fatal("a 30 s statement finished inside a 100 ms deadline")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the statement ran %s past a 100 ms deadline", d)
	}
	// And the server is no longer running it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := db.ExecRaw(as(care.SystemActor()), `DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_stat_activity
			WHERE datname = current_database() AND state = 'active' AND query LIKE 'SELECT pg_sleep(30)%') THEN RAISE EXCEPTION 'still running'; END IF; END $$`)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cancelled statement still runs on the server: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
