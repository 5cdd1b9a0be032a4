// Package jepsen_test is a randomized, Jepsen-style test of the sync
// guarantees, written from the outside: many devices of an outsider's
// design (device_test.go, written from docs/sync-protocol.md alone) make
// random changes offline — creates, plain and clinical edits, signs,
// amendments, deletes, relationship edits, conflict resolutions, edits queued
// behind unsent and unanswered ones — over a lossy network (requests and
// answers dropped, and pushes delivered a second time, stale, after their
// answers may have been acknowledged and compacted) to two server
// instances on one database, one of which is restarted mid-run. Then the
// checker (check_test.go) asks, for every value any device wrote, whether it
// is the final value, or is in the conflict ledger (or an amendment's
// history), or was overwritten by a write whose author had seen it; and
// whether anything was duplicated, diverged or leaked.
//
// `go test ./sync/jepsen` runs a size that fits CI; `make soak` runs the full
// size (-jepsen.devices, -jepsen.rounds).
package jepsen_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	"github.com/rapportcare/rapport/server"
	offline "github.com/rapportcare/rapport/sync"
)

var (
	flagDevices  = flag.Int("jepsen.devices", 12, "devices (nurses have two or three each)")
	flagRounds   = flag.Int("jepsen.rounds", 40, "rounds each device plays")
	flagSeed     = flag.Uint64("jepsen.seed", 0, "random seed (0: from the clock; printed)")
	flagDropReq  = flag.Float64("jepsen.drop-requests", 0.05, "share of requests dropped before the server")
	flagDropResp = flag.Float64("jepsen.drop-responses", 0.20, "share of answers lost after the server applied the request")
	flagReplay   = flag.Float64("jepsen.replay", 0.10, "share of pushes the network delivers again later, stale, its answer going nowhere")
)

var secret = []byte("jepsen-test-secret-0123456789-abcdefghijkl")

// lossy drops requests and answers, and delivers some pushes a second
// time, later and stale, as a proxy retrying on its own or an attacker
// replaying a captured request would: a push it keeps is sent again, before
// one of the device's later requests, once the device may have had its
// answer, acknowledged it and seen it compacted. Nobody reads the second
// answer; whatever the server makes of the push shows in the final state.
type lossy struct {
	next      http.RoundTripper
	mu        sync.Mutex
	rng       *mrand.Rand
	on        *atomic.Bool
	req, resp float64
	replay    float64
	stale     []stalePush // pushes kept to be delivered again
	dropped   *atomic.Int64
	replayed  *atomic.Int64
}

func (l *lossy) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	dropReq, dropResp := l.rng.Float64() < l.req, l.rng.Float64() < l.resp
	keep := l.rng.Float64() < l.replay && r.GetBody != nil
	var again *stalePush
	if len(l.stale) > 0 && l.rng.IntN(4) == 0 {
		k := l.rng.IntN(len(l.stale))
		p := l.stale[k]
		again = &p
		l.stale = append(l.stale[:k], l.stale[k+1:]...)
	}
	l.mu.Unlock()
	if !l.on.Load() {
		return l.next.RoundTrip(r)
	}
	if again != nil {
		l.deliverAgain(again)
	}
	if keep {
		if body, err := r.GetBody(); err == nil {
			if b, err := io.ReadAll(body); err == nil && bytes.Contains(b, []byte("syncPush")) {
				l.mu.Lock()
				l.stale = append(l.stale, stalePush{r.Clone(context.Background()), b})
				l.mu.Unlock()
			}
		}
	}
	if dropReq {
		l.dropped.Add(1)
		return nil, errors.New("request dropped")
	}
	res, err := l.next.RoundTrip(r)
	if err == nil && dropResp {
		res.Body.Close()
		l.dropped.Add(1)
		return nil, errors.New("answer lost")
	}
	return res, err
}

// stalePush is a push kept to be delivered again: the request (its
// headers, the device's token among them) and its body.
type stalePush struct {
	req  *http.Request
	body []byte
}

// deliverAgain sends a kept push to the server once more and throws the
// answer away.
func (l *lossy) deliverAgain(p *stalePush) {
	c := p.req.Clone(context.Background())
	c.Body = io.NopCloser(bytes.NewReader(p.body))
	if res, err := l.next.RoundTrip(c); err == nil {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		l.replayed.Add(1)
	}
}

// cluster is two server instances on one database; restart replaces one.
type cluster struct {
	db       *postgres.DB
	verifier *auth.Verifier
	mu       sync.Mutex
	servers  [2]*httptest.Server
	pick     atomic.Uint64
}

func (c *cluster) start(i int) {
	c.servers[i] = httptest.NewServer(server.Handler(server.Config{}, server.Deps{DB: c.db, Verifier: c.verifier, Log: zerolog.Nop()}))
}

// url returns one of the instances, in turn.
func (c *cluster) url() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.servers[c.pick.Add(1)%2].URL
}

// restart kills instance i mid-flight (open connections cut, requests in
// progress lose their answers) and starts a new one.
func (c *cluster) restart(i int) {
	c.mu.Lock()
	old := c.servers[i]
	c.start(i)
	c.mu.Unlock()
	old.CloseClientConnections()
	go old.Close()
}

func (c *cluster) close() {
	for _, s := range c.servers {
		s.CloseClientConnections()
		s.Close()
	}
}

// world is a nursing organisation with two teams whose caseloads overlap.
type world struct {
	db       *postgres.DB
	nursing  uuid.UUID
	nurses   []uuid.UUID
	patients []uuid.UUID
	caseload map[string]map[string]bool // nurse → the patients the seed puts in her teams' caseloads
}

func seedWorld(t testing.TB, db *postgres.DB) *world {
	t.Helper()
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("seed %s: %v", what, err)
		}
	}
	w := &world{db: db, caseload: map[string]map[string]bool{}}
	practice, err := db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: "Riverside Surgery", Kind: care.OrgGPPractice})
	must(err, "practice")
	o, err := db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: "Vale Community Nursing", Kind: care.OrgCommunityNursing})
	must(err, "nursing")
	w.nursing = o.ID
	var teams []uuid.UUID
	for _, name := range []string{"North", "South"} {
		tm, err := db.CreateTeam(ctx, care.CreateTeamInput{OrganizationID: w.nursing, Name: name + " District Nurses"})
		must(err, "team")
		teams = append(teams, tm.ID)
	}
	start := time.Now().Add(-90 * 24 * time.Hour)
	join := func(p, team uuid.UUID) {
		_, err := db.StartRelationship(ctx, care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: &p, TeamID: &team, PeriodStart: &start})
		must(err, "membership")
	}
	// Nurses 0–1 North, 2–3 South, 4 both.
	teamsOf := map[int][]int{0: {0}, 1: {0}, 2: {1}, 3: {1}, 4: {0, 1}}
	for i := range 5 {
		p, err := db.CreatePractitioner(ctx, care.CreatePractitionerInput{OrganizationID: w.nursing, GivenName: "Nurse",
			FamilyName: fmt.Sprintf("N%d", i), Profession: care.ProfessionDistrictNurse})
		must(err, "nurse")
		w.nurses = append(w.nurses, p.ID)
		switch {
		case i < 2:
			join(p.ID, teams[0])
		case i < 4:
			join(p.ID, teams[1])
		default:
			join(p.ID, teams[0])
			join(p.ID, teams[1])
		}
	}
	// Patients 0–3 North's, 4–7 South's, 8–9 both teams'.
	for i := range 10 {
		p, err := db.CreatePatient(ctx, care.CreatePatientInput{NHSNumber: postgrestest.NHSNumber(i), GivenName: "Patient",
			FamilyName: fmt.Sprintf("P%d", i), BirthDate: time.Date(1935+i, 5, 1, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: practice.ID})
		must(err, "patient")
		w.patients = append(w.patients, p.ID)
		var ts []uuid.UUID
		switch {
		case i < 4:
			ts = teams[:1]
		case i < 8:
			ts = teams[1:]
		default:
			ts = teams
		}
		for n, nts := range teamsOf {
			for _, nt := range nts {
				for _, tm := range ts {
					if tm == teams[nt] {
						if w.caseload[w.nurses[n].String()] == nil {
							w.caseload[w.nurses[n].String()] = map[string]bool{}
						}
						w.caseload[w.nurses[n].String()][p.ID.String()] = true
					}
				}
			}
		}
		for _, tm := range ts {
			_, err = db.StartRelationship(ctx, care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &p.ID, TeamID: &tm, PeriodStart: &start})
			must(err, "caseload")
		}
	}
	return w
}

func TestJepsen(t *testing.T) {
	db := postgrestest.New(t)
	w := seedWorld(t, db)
	v, err := auth.NewVerifier(auth.Config{Issuer: server.DefaultIssuer, Audience: server.DefaultAudience, HMACSecret: secret})
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{db: db, verifier: v}
	cl.start(0)
	cl.start(1)
	defer cl.close()

	seed := *flagSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -jepsen.seed=%d)", seed, seed)
	faultsOn := &atomic.Bool{}
	faultsOn.Store(true)
	dropped, replayed := &atomic.Int64{}, &atomic.Int64{}
	hist := &history{snapshots: map[key]map[int64]map[string]any{}}
	tokens := map[uuid.UUID]string{}
	for _, n := range w.nurses {
		tok, err := v.MintHMAC(auth.MintRequest{Subject: n.String(), OrganizationID: w.nursing, Role: care.RoleNurse, TTL: 4 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		tokens[n] = tok
	}
	newDevice := func(name string, user uuid.UUID, rng *mrand.Rand, faulty bool) *device {
		var rt http.RoundTripper = &http.Transport{MaxIdleConnsPerHost: 4}
		if faulty {
			rt = &lossy{next: rt, rng: mrand.New(mrand.NewPCG(rng.Uint64(), 1)), on: faultsOn, req: *flagDropReq, resp: *flagDropResp,
				replay: *flagReplay, dropped: dropped, replayed: replayed}
		}
		return &device{name: name, id: newUUIDv7(), user: user.String(), url: cl.url, token: tokens[user],
			http: &http.Client{Transport: rt, Timeout: 30 * time.Second}, rng: rng, hist: hist,
			copies: map[key]*copyOf{}, deleted: map[key]bool{}}
	}
	master := mrand.New(mrand.NewPCG(seed, 7))
	var devices []*device
	for i := range *flagDevices {
		user := w.nurses[i%len(w.nurses)]
		devices = append(devices, newDevice(fmt.Sprintf("dev%02d", i), user, mrand.New(mrand.NewPCG(master.Uint64(), uint64(i))), true))
	}

	// Play: every device in its own goroutine, at once.
	ctx := context.Background()
	var failures []string
	var fmu sync.Mutex
	fail := func(format string, a ...any) {
		fmu.Lock()
		failures = append(failures, fmt.Sprintf(format, a...))
		fmu.Unlock()
	}
	tolerable := func(d *device, what string, err error) {
		if err == nil || errors.Is(err, errTransport) {
			return
		}
		fail("%s %s: %v", d.name, what, err)
	}
	var played atomic.Int64
	total := int64(len(devices) * *flagRounds)
	restarted := make(chan struct{})
	go func() {
		for played.Load() < total/2 {
			time.Sleep(5 * time.Millisecond)
		}
		cl.restart(0)
		close(restarted)
	}()
	// Housekeeping runs throughout, as the purge loop would, with a
	// retention so short that even each record's latest answer goes: a
	// retry across a compaction must still never apply a change twice.
	housekeeper := offline.New(cl.db, offline.Config{Retention: time.Nanosecond})
	stopHousekeeping := make(chan struct{})
	housekept := make(chan struct{})
	var compacted offline.CompactStats
	go func() {
		defer close(housekept)
		sys := care.NewContextWithActor(ctx, care.SystemActor())
		for {
			select {
			case <-stopHousekeeping:
				return
			case <-time.After(20 * time.Millisecond):
			}
			st, err := housekeeper.Compact(sys)
			if err != nil {
				fail("compact: %v", err)
				return
			}
			compacted.Mutations += st.Mutations
			compacted.Scopes += st.Scopes
		}
	}()
	// Two clerks at the front desk rename patients throughout, each edit
	// held open a few milliseconds, so that one clerk often holds a
	// patient's committed change while the other's edit waits on it: stamps
	// number past a patient a writer holds and hold back her visits
	// (013_sync_stamp_past_held_patients.sql), and every device must still
	// end with her latest name and every visit.
	stopDesk := make(chan struct{})
	var desk sync.WaitGroup
	var renames atomic.Int64
	for clerk := range 2 {
		desk.Add(1)
		go func() {
			defer desk.Done()
			rng := mrand.New(mrand.NewPCG(seed, uint64(clerk)))
			sys := care.NewContextWithActor(ctx, care.SystemActor())
			for n := 0; ; n++ {
				select {
				case <-stopDesk:
					return
				case <-time.After(time.Duration(3+rng.IntN(5)) * time.Millisecond):
				}
				p := w.patients[rng.IntN(len(w.patients))]
				err := cl.db.InTx(sys, func(tx *postgres.DB) error {
					if _, err := tx.UpdatePatient(sys, care.UpdatePatientInput{ID: p, GivenName: ptr(fmt.Sprintf("Patient %d-%d", clerk, n))}); err != nil {
						return err
					}
					time.Sleep(time.Duration(1+rng.IntN(3)) * time.Millisecond)
					return nil
				})
				if err != nil {
					fail("rename patient: %v", err)
					return
				}
				renames.Add(1)
			}
		}()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Add(1)
		go func(d *device) {
			defer wg.Done()
			tolerable(d, "first pull", d.pull(ctx))
			for range *flagRounds {
				for range d.rng.IntN(4) {
					d.act()
				}
				if d.rng.IntN(10) < 6 {
					tolerable(d, "push", d.push(ctx))
					tolerable(d, "pull", d.pull(ctx))
				}
				if d.rng.IntN(10) == 0 {
					tolerable(d, "resolve", d.resolveSome(ctx))
				}
				played.Add(1)
				time.Sleep(time.Duration(d.rng.IntN(3)) * time.Millisecond)
			}
		}(d)
	}
	wg.Wait()
	<-restarted
	close(stopHousekeeping)
	<-housekept
	close(stopDesk)
	desk.Wait()
	t.Logf("housekeeping compacted %d push results and %d scope rows during the run; the front desk renamed patients %d times", compacted.Mutations, compacted.Scopes, renames.Load())

	// Signal returns for good: every device pushes its queue and pulls.
	faultsOn.Store(false)
	for round := 0; round < 2; round++ {
		for _, d := range devices {
			for i := 0; i < 20 && len(d.queue) > 0; i++ {
				if err := d.push(ctx); err != nil {
					fail("%s final push: %v", d.name, err)
					break
				}
			}
			if err := d.pull(ctx); err != nil {
				fail("%s final pull: %v", d.name, err)
			}
		}
	}
	elapsed := time.Since(start)
	// A fresh device per user, on a clean network, is the reference for what
	// each user's devices should hold.
	fresh := map[string]*device{}
	for _, n := range w.nurses {
		d := newDevice("fresh-"+n.String()[:8], n, mrand.New(mrand.NewPCG(1, 1)), false)
		if err := d.pull(ctx); err != nil {
			t.Fatalf("fresh pull: %v", err)
		}
		fresh[n.String()] = d
	}
	rep := check(t, db, hist, devices, fresh, w.caseload)
	rep.dropped, rep.replayed = dropped.Load(), replayed.Load()
	rep.elapsed = elapsed
	rep.failures = failures
	t.Log("\n" + rep.String())
	if !rep.ok() {
		t.Fatalf("sync guarantees broken (seed %d)", seed)
	}
}
