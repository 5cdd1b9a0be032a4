package postgres_test

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestTeamContinuityAccess checks the store applies the caller's access
// rule in SQL to a team's caseload: PatientA2 (on Team, registered at
// PracticeA) is returned to those who may see her and to no one else, with
// her visits; an analytics-only integration is refused.
func TestTeamContinuityAccess(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	from, to := time.Now().AddDate(0, -1, 0), time.Now().AddDate(0, 0, 1)
	modes, professions := []care.InteractionMode{care.ModeHomeVisit}, []care.Profession{care.ProfessionDistrictNurse}
	for _, c := range []struct {
		name  string
		actor *care.Actor
		want  []uuid.UUID
	}{
		{"a team member sees the team's caseload", f.Nurse1Actor, []uuid.UUID{f.PatientA2}},
		{"the patient's practice sees her", f.GPAActor, []uuid.UUID{f.PatientA2}},
		{"another practice does not", f.GPBActor, nil},
		{"a nurse outside the team does not", f.Nurse2Actor, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := db.TeamContinuity(postgrestest.As(t.Context(), c.actor), f.Team, from, to, modes, professions)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(c.want) {
				t.Fatalf("%d patients, want %d", len(got), len(c.want))
			}
			for i, p := range got {
				if p.PatientID != c.want[i] || len(p.Caseload) != 1 || len(p.Contacts) != 1 || p.Contacts[0].ID != f.InteractionA2 {
					t.Fatalf("patient %d: %+v", i, p)
				}
			}
		})
	}
	t.Run("an integration without patients:read is refused", func(t *testing.T) {
		t.Parallel()
		a := &care.Actor{Role: care.RoleIntegration, OrganizationID: f.PracticeA, Scopes: []string{care.ScopeAnalyticsRead}, Subject: "bi"}
		_, err := db.TeamContinuity(postgrestest.As(t.Context(), a), f.Team, from, to, modes, professions)
		if care.ErrorCode(err) != care.EFORBIDDEN {
			t.Fatalf("got %v, want EFORBIDDEN", err)
		}
	})
	t.Run("an empty window is refused", func(t *testing.T) {
		t.Parallel()
		_, err := db.TeamContinuity(postgrestest.As(t.Context(), f.Nurse1Actor), f.Team, to, from, modes, professions)
		if care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("got %v, want EINVALID", err)
		}
	})
}
