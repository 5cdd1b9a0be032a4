package simulate_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	"github.com/rapportcare/rapport/server"
)

var testSecret = []byte("simulate-test-secret-0123456789-abcdefghij")

// world is one or more nursing teams, each sharing a caseload, served by the
// real HTTP stack over a database of the test's own.
type world struct {
	db       *postgres.DB
	url      string
	verifier *auth.Verifier
	practice uuid.UUID
	nursing  uuid.UUID
	team     uuid.UUID // the first team
	nurses   []uuid.UUID
	patients []uuid.UUID
}

// newWorld seeds, as the system actor, a GP practice, a community nursing
// organisation with one team of `nurses` members, and `patients` patients in
// the team's caseload, and serves the full server.Handler on httptest.
func newWorld(t testing.TB, nurses, patients int) *world {
	t.Helper()
	return newTeams(t, 1, nurses, patients)
}

// newTeams is newWorld with `teams` teams of the organisation, each of
// `nurses` members with a caseload of its own `patients` patients, as a
// district's nursing teams are: a nurse sees her own team's patients, not
// the district's. w.nurses lists the nurses team by team.
func newTeams(t testing.TB, teams, nurses, patients int) *world {
	t.Helper()
	db := postgrestest.New(t)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %v", what, err)
		}
	}
	w := &world{db: db}
	o, err := db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: "Riverside Surgery", Kind: care.OrgGPPractice})
	must(err, "practice")
	w.practice = o.ID
	o, err = db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: "Vale Community Nursing", Kind: care.OrgCommunityNursing})
	must(err, "nursing organisation")
	w.nursing = o.ID
	start := time.Now().Add(-90 * 24 * time.Hour)
	for ti := range teams {
		tm, err := db.CreateTeam(ctx, care.CreateTeamInput{OrganizationID: w.nursing, Name: fmt.Sprintf("District Nurses %d", ti+1)})
		must(err, "team")
		if ti == 0 {
			w.team = tm.ID
		}
		for range nurses {
			p, err := db.CreatePractitioner(ctx, care.CreatePractitionerInput{OrganizationID: w.nursing,
				GivenName: "Nurse", FamilyName: fmt.Sprintf("Number %d", len(w.nurses)+1), Profession: care.ProfessionDistrictNurse})
			must(err, "nurse")
			_, err = db.StartRelationship(ctx, care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: &p.ID, TeamID: &tm.ID, PeriodStart: &start})
			must(err, "team membership")
			w.nurses = append(w.nurses, p.ID)
		}
		for range patients {
			i := len(w.patients)
			p, err := db.CreatePatient(ctx, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(i), GivenName: "Patient",
				FamilyName: fmt.Sprintf("Number %d", i+1), BirthDate: time.Date(1930+i%60, 5, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: w.practice})
			must(err, "patient")
			_, err = db.StartRelationship(ctx, care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &p.ID, TeamID: &tm.ID, PeriodStart: &start})
			must(err, "caseload relationship")
			w.patients = append(w.patients, p.ID)
		}
	}
	v, err := auth.NewVerifier(auth.Config{Issuer: server.DefaultIssuer, Audience: server.DefaultAudience, HMACSecret: testSecret})
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	w.verifier = v
	server.TuneGC(os.Getenv) // as `rapport serve` runs; the devices share the process
	srv := httptest.NewServer(server.Handler(server.Config{}, server.Deps{DB: db, Verifier: v, Log: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// token mints a nurse's bearer token.
func (w *world) token(t testing.TB, nurse uuid.UUID) string {
	t.Helper()
	tok, err := w.verifier.MintHMAC(auth.MintRequest{Subject: nurse.String(), OrganizationID: w.nursing, Role: care.RoleNurse, TTL: 2 * time.Hour})
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	return tok
}

// tokens returns Options.Tokens giving device i the token of nurse i mod
// len(nurses), so devices beyond the nurse count are second devices.
func (w *world) tokens(t testing.TB) func(int) string {
	toks := make([]string, len(w.nurses))
	for i, n := range w.nurses {
		toks[i] = w.token(t, n)
	}
	return func(i int) string { return toks[i%len(toks)] }
}
