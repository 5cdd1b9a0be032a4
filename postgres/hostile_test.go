package postgres_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
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
