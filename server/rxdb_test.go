package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	offline "github.com/rapportcare/rapport/sync"
)

// rxdbRun copies the example's files into a scratch directory inside
// test/rxdb (git-ignored), so their `import 'rxdb'` resolves to the
// harness's pinned node_modules, and returns its path.
func rxdbRun(t *testing.T, dir string) string {
	t.Helper()
	run, err := os.MkdirTemp(dir, ".run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(run) })
	src := filepath.Join(dir, "..", "..", "examples", "rxdb")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".mjs") {
			b, err := os.ReadFile(filepath.Join(src, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(run, e.Name()), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return run
}

// serverTruth reads what the nurse may see through the engine's native pull
// (a fresh device), the server side of the RxDB checks.
func serverTruth(t *testing.T, eng *offline.Engine, ctx context.Context) map[offline.Entity]map[uuid.UUID]*offline.Record {
	t.Helper()
	out := map[offline.Entity]map[uuid.UUID]*offline.Record{}
	dev := uuid.New()
	var cp *string
	limit := 1000
	for i := 0; i < 100; i++ {
		pg, err := eng.Pull(ctx, offline.PullInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Checkpoint: cp, Limit: &limit, WithData: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range pg.Upserts {
			if out[r.Entity] == nil {
				out[r.Entity] = map[uuid.UUID]*offline.Record{}
			}
			out[r.Entity][r.ID] = r
		}
		c := pg.Checkpoint
		cp = &c
		if !pg.HasMore {
			return out
		}
	}
	t.Fatal("native pull never ends")
	return nil
}

// rxdbServer serves the real handler over HTTP (and WebSocket) on a fresh
// database with the fixture, and the run directory of the example's files.
func rxdbServer(t *testing.T, dir string) (*env, *postgres.DB, *postgrestest.Fixture, *httptest.Server, string) {
	t.Helper()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	e := newEnv(t, db, Config{})
	srv := httptest.NewServer(e.handler)
	t.Cleanup(srv.Close)
	t.Cleanup(srv.CloseClientConnections)
	return e, db, f, srv, rxdbRun(t, dir)
}

// TestRxDBReplication runs test/rxdb/check.mjs: real RxDB 17 clients, with
// the query builders of examples/rxdb, replicating with the real handler,
// database and authentication (see check.mjs for each check).
func TestRxDBReplication(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "rxdb", "rxdb")
	e, db, f, srv, run := rxdbServer(t, dir)

	sys := postgrestest.As(context.Background(), care.SystemActor())
	nurse := postgrestest.As(context.Background(), f.Nurse1Actor)
	eng := offline.New(db, offline.Config{})
	cfg := map[string]string{
		"nurse":     e.token(t, care.RoleNurse, f.Nurse1, f.Nursing),
		"outsider":  e.token(t, care.RoleNurse, f.Nurse2, f.Nursing),
		"draft":     f.InteractionA1Draft.String(),
		"patientA1": f.PatientA1.String(), "patientA2": f.PatientA2.String(), "patientB1": f.PatientB1.String(),
	}
	cfgFile := filepath.Join(run, "config.json")
	b, _ := json.Marshal(cfg)
	if err := os.WriteFile(cfgFile, b, 0o600); err != nil {
		t.Fatal(err)
	}

	// The caseload check's world: patients made for it, those outside the
	// caseload until they enter it, and their interactions.
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 11))
	t.Logf("caseload seed %d", seed)
	var outsiders, caseloadVisits []uuid.UUID
	team := func(p uuid.UUID) {
		if _, err := db.StartRelationship(sys, care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &p, TeamID: &f.Team}); err != nil {
			t.Error(err)
		}
	}
	answer := func(req map[string]any) any {
		str := func(k string) string { s, _ := req[k].(string); return s }
		num := func(k string) int { n, _ := req[k].(float64); return int(n) }
		id := func(k string) uuid.UUID { return uuid.MustParse(str(k)) }
		switch req["action"] {
		case "ledger":
			first := 100
			page, err := eng.Conflicts(sys, offline.ConflictFilter{}, care.PageArgs{First: &first})
			if err != nil {
				t.Error(err)
				return nil
			}
			open, total, values := 0, 0, []string{}
			for _, ed := range page.Edges {
				c := ed.Node
				match := false
				if s := str("id"); s != "" {
					match = c.RecordID == id("id")
				} else if i, err := db.Interaction(sys, c.RecordID); err == nil {
					match = i.Purpose == str("purpose")
				}
				if !match {
					continue
				}
				total++
				if c.Outcome == offline.OutcomeOpen {
					open++
				}
				values = append(values, fmt.Sprint(c.DeviceValue))
			}
			return map[string]any{"open": open, "total": total, "deviceValues": values}
		case "count":
			n := 0
			for _, r := range serverTruth(t, eng, nurse)[offline.EntityInteraction] {
				if r.Data["purpose"] != str("purpose") {
					continue
				}
				if d, ok := req["durationMinutes"].(float64); ok && r.Data["durationMinutes"] != int64(d) {
					continue
				}
				n++
			}
			return map[string]any{"n": n}
		case "visible":
			all := serverTruth(t, eng, nurse)
			return map[string]any{"interactions": len(all[offline.EntityInteraction]), "patients": len(all[offline.EntityPatient])}
		case "exists":
			_, ok := serverTruth(t, eng, nurse)[offline.EntityInteraction][id("id")]
			return map[string]any{"exists": ok}
		case "delete":
			cur, err := eng.Current(nurse, offline.EntityInteraction, []uuid.UUID{id("id")})
			if err != nil || cur[id("id")] == nil {
				t.Errorf("delete: %v", err)
				return nil
			}
			v := cur[id("id")].Version
			p, err := eng.Push(nurse, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: uuid.New(), Changes: []offline.ChangeInput{{
				MutationSeq: 1, Entity: offline.EntityInteraction, ID: id("id"), Op: offline.OpDelete, BaseVersion: &v,
				Hlc: offline.HLC{Wall: time.Now().UnixMilli(), Node: "native"}.String()}}})
			if err != nil || p.Results[0].Status != offline.StatusApplied {
				t.Errorf("native delete: %v %+v", err, p)
			}
			return map[string]any{}
		case "leave":
			if _, err := db.EndRelationship(sys, care.EndRelationshipInput{ID: f.PatientA1NamedNurse}); err != nil {
				t.Error(err)
			}
			return map[string]any{}
		case "enter":
			start := time.Now().Add(-time.Minute)
			if _, err := db.StartRelationship(sys, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &f.PatientB1,
				PractitionerID: &f.Nurse1, OrganizationID: &f.Nursing, PeriodStart: &start}); err != nil {
				t.Error(err)
			}
			return map[string]any{}
		case "caseload":
			made := 0
			for i := range num("patients") + num("outside") {
				inside := i < num("patients")
				practice, by := f.PracticeA, []uuid.UUID{f.Nurse1, f.GPA}[i%2]
				if !inside {
					practice, by = f.PracticeB, f.GPB
				}
				p, err := db.CreatePatient(sys, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(500 + i), GivenName: "Ada", FamilyName: fmt.Sprintf("Caseload %d", i),
					BirthDate: time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: practice})
				if err != nil {
					t.Error(err)
					return nil
				}
				if inside {
					team(p.ID)
				} else {
					outsiders = append(outsiders, p.ID)
				}
				for j := range rng.IntN(num("perPatient") + 1) {
					i, err := db.CreateInteraction(sys, care.CreateInteractionInput{PatientID: p.ID, PractitionerID: &by, Mode: care.ModeHomeVisit,
						OccurredAt: time.Now().Add(-time.Duration(j+1) * time.Hour).Truncate(time.Second), Purpose: "caseload", Notes: fmt.Sprintf("visit %d", j)})
					if err != nil {
						t.Error(err)
						return nil
					}
					caseloadVisits = append(caseloadVisits, i.ID)
					made++
				}
			}
			return map[string]any{"interactions": made}
		case "enterCaseload":
			for _, p := range outsiders {
				team(p)
			}
			return map[string]any{}
		case "editSome":
			for range num("n") {
				id := caseloadVisits[rng.IntN(len(caseloadVisits))]
				notes := "edited while a device pulled"
				if _, err := db.UpdateInteraction(sys, care.UpdateInteractionInput{ID: id, Notes: &notes}); err != nil {
					t.Error(err)
				}
			}
			return map[string]any{}
		case "truth":
			all := serverTruth(t, eng, nurse)
			ints := map[string]int64{}
			for id, r := range all[offline.EntityInteraction] {
				ints[id.String()] = r.Version
			}
			pats := []string{}
			for id := range all[offline.EntityPatient] {
				pats = append(pats, id.String())
			}
			return map[string]any{"interactions": ints, "patients": pats}
		case "notes":
			i, err := db.Interaction(sys, id("id"))
			if err != nil {
				t.Error(err)
				return nil
			}
			return map[string]any{"notes": i.Notes}
		}
		t.Errorf("unknown request %v", req)
		return nil
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	wsURL := "ws" + strings.TrimPrefix(srv.URL, "http") + "/graphql"
	cmd := exec.CommandContext(ctx, node, filepath.Join(dir, "check.mjs"), filepath.Join(run, "rapport-rxdb.mjs"), srv.URL+"/graphql", wsURL, cfgFile)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		if rest, ok := strings.CutPrefix(line, "NEED "); ok {
			var req map[string]any
			if err := json.Unmarshal([]byte(rest), &req); err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(answer(req))
			if _, err := io.WriteString(stdin, string(b)+"\n"); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Log(line)
	}
	err = cmd.Wait()
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
	if err != nil {
		t.Fatalf("rxdb check failed: %v", err)
	}
	if !strings.Contains(out.String(), "rxdb: all checks passed") {
		t.Fatal("check summary missing")
	}
	if strings.Contains(e.logs.String(), cfg["nurse"]) || strings.Contains(e.logs.String(), f.PatientA1.String()) {
		t.Fatal("a token or a patient id was logged")
	}
}

// TestRxDBExample runs examples/rxdb/nurse.mjs, the app a mobile developer
// copies, against a live server, so the example cannot rot.
func TestRxDBExample(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "rxdb", "rxdb")
	e, _, f, srv, run := rxdbServer(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(run, "nurse.mjs"), srv.URL+"/graphql", e.token(t, care.RoleNurse, f.Nurse1, f.Nursing))
	cmd.Dir = run
	out, err := cmd.CombinedOutput()
	t.Logf("nurse.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("example failed: %v", err)
	}
	for _, want := range []string{"caseload: 2 patients", "Edith Brown", "offline: recorded visit", "synced: visit", "(version 1)",
		"tablet: conflict on visit", "waits in the conflict ledger", `converged: phone "Dressing changed; slight redness, review Thursday."`, "example: done"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(string(out), "sync error") {
		t.Error("the example hit sync errors")
	}
}
