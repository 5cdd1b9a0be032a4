package simulate_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	"github.com/rapportcare/rapport/server"
)

var testSecret = []byte("simulate-test-secret-0123456789-abcdefghij")

// world is one or more nursing teams, each sharing a caseload, served by the
// real HTTP stack over a database of the test's own.
type world struct {
	db       *postgres.DB
	dbURL    string // the database's
	url      string // the server's
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
	dbURL := postgrestest.URL(t)
	db, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(db.Close)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %v", what, err)
		}
	}
	w := &world{db: db, dbURL: dbURL}
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
	w.verifier = testVerifier(t)
	server.TuneGC(os.Getenv) // as `rapport serve` runs
	srv := httptest.NewServer(server.Handler(server.Config{}, server.Deps{DB: db, Verifier: w.verifier, Log: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	w.url = srv.URL
	return w
}

// district loads the rest of the district into w's database: the small demo
// dataset's two GP practices, their nursing organisation and two years of
// their patients' interactions (20,000-35,000), none in w's teams' caseloads.
// A live database holds other practices' records, and statistics of its
// tables; a world's alone starts empty, so that the server's plans were made
// for tables of a few rows (the edit of a draft read every interaction, by
// a sequential scan, at every push) until autovacuum analysed them, at some
// moment of each run. The bulk load analyses every table.
func (w *world) district(t testing.TB) {
	t.Helper()
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	if err := w.db.Load(ctx, demo.Generate(demo.Small)); err != nil {
		t.Fatalf("load the rest of the district: %v", err)
	}
}

func testVerifier(t testing.TB) *auth.Verifier {
	v, err := newVerifier()
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	return v
}

// newVerifier checks and mints the tests' HMAC tokens.
func newVerifier() (*auth.Verifier, error) {
	return auth.NewVerifier(auth.Config{Issuer: server.DefaultIssuer, Audience: server.DefaultAudience, HMACSecret: testSecret})
}

// apartEnv, set to a database URL, makes the test binary serve the full
// server.Handler over that database instead of running tests (TestMain):
// the server a world's devices talk to when they run apart from it.
const apartEnv = "RAPPORT_SIMULATE_SERVE_APART"

// apart serves the world from a process of its own (this test binary,
// started again with apartEnv set), as `rapport serve` serves phones: the
// simulated devices, which hold hundreds of megabytes of records between
// them, then no longer share the server's heap, collector and scheduler.
// w.url becomes that server's; it stops when the test ends.
func (w *world) apart(t testing.TB) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), apartEnv+"="+w.dbURL)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the server apart: %v", err)
	}
	t.Cleanup(func() {
		_ = stdin.Close() // the server stops at the end of its input
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "http://") {
		t.Fatalf("the server apart did not start: %q, %v", line, err)
	}
	w.url = strings.TrimSpace(line)
}

// serveApart is the server apart (see apart): it serves the database at
// dbURL on a free local port, writes its URL on a line of its own, and
// stops when its input ends; with apartEnv+"_CPUPROFILE" set to a path, it
// writes its CPU profile there. It returns the process's exit code.
func serveApart(dbURL string) int {
	fail := func(err error) int { fmt.Fprintf(os.Stderr, "server apart: %v\n", err); return 1 }
	db, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		return fail(err)
	}
	defer db.Close()
	v, err := newVerifier()
	if err != nil {
		return fail(err)
	}
	server.TuneGC(os.Getenv)
	if path := os.Getenv(apartEnv + "_CPUPROFILE"); path != "" { // the server's own profile, apart from the devices'
		f, err := os.Create(path)
		if err != nil {
			return fail(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	srv := &http.Server{Handler: server.Handler(server.Config{}, server.Deps{DB: db, Verifier: v, Log: zerolog.Nop()}), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	fmt.Printf("http://%s\n", l.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Close()
	return 0
}

func TestMain(m *testing.M) {
	if url := os.Getenv(apartEnv); url != "" {
		os.Exit(serveApart(url))
	}
	os.Exit(m.Run())
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
