// Package simulate runs many reference devices (sync/client) against a
// running Rapport server: nurses sharing patients record, edit, sign, amend
// and delete interactions offline over a network that loses requests and
// responses, retry, and finally sync cleanly. Then it checks what the sync
// protocol promises: every device holds exactly the server's state for its
// scope, every change the server accepted took effect exactly once, and
// nothing was silently dropped. `rapport simulate`, the tests and the
// benchmarks use it.
package simulate

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/sync/client"
)

// Options describe one simulation. Zero fields take the defaults noted.
type Options struct {
	// BaseURL is the server's root (e.g. http://localhost:8080) or its /graphql endpoint.
	BaseURL string
	// Devices is how many devices run (default 20).
	Devices int
	// Tokens returns the bearer token of device i (0 <= i < Devices). Devices
	// that share a token belong to the same practitioner (a phone and a
	// tablet), which is how same-record conflicts arise. Required.
	Tokens func(i int) string
	// Rounds is how many offline/online cycles each device goes through (default 5).
	Rounds int
	// OpsPerRound is how many local changes a device makes offline per round (default 5).
	OpsPerRound int
	// DropRequest and DropResponse are the probabilities that a request never
	// reaches the server, and that the server's answer never reaches the
	// device, during the rounds (0 to 1). The final sync is clean.
	DropRequest, DropResponse float64
	// Seed makes a run repeatable (the server's interleaving aside).
	Seed int64
	// BatchSize is the most changes per push (default 500); PullLimit the
	// page size asked for (default 500).
	BatchSize, PullLimit int
	// Retries and Backoff configure each device's retries of a failed round
	// trip (default 3 and 20 ms).
	Retries int
	Backoff time.Duration
	// Concurrency bounds how many devices talk to the server at once
	// (default: all of them).
	Concurrency int
	// Spread is how long a round lasts: each device comes back online at
	// its own random moment within it, so devices sync at an average rate of
	// Devices/Spread a second, the way phones regain signal at different
	// times. Zero makes every device sync at the same instant (a burst, the
	// worst case). The first and the final sync are always bursts.
	Spread time.Duration
	// Transport is the base HTTP transport (default: a private
	// http.Transport sized for the device count).
	Transport http.RoundTripper
	// Logf, if set, receives progress lines (never patient data).
	Logf func(format string, args ...any)
}

func (o Options) withDefaults() Options {
	if o.Devices <= 0 {
		o.Devices = 20
	}
	if o.Rounds <= 0 {
		o.Rounds = 5
	}
	if o.OpsPerRound <= 0 {
		o.OpsPerRound = 5
	}
	if o.Retries <= 0 {
		o.Retries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 20 * time.Millisecond
	}
	if o.Concurrency <= 0 || o.Concurrency > o.Devices {
		o.Concurrency = o.Devices
	}
	if o.Transport == nil {
		o.Transport = &http.Transport{MaxIdleConns: o.Concurrency * 2, MaxIdleConnsPerHost: o.Concurrency * 2, IdleConnTimeout: 30 * time.Second}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Latency summarises the durations of one kind of HTTP round trip.
type Latency struct {
	Count         int
	P50, P99, Max time.Duration
}

func (l Latency) String() string {
	return fmt.Sprintf("n=%d p50=%s p99=%s max=%s", l.Count, l.P50.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Max.Round(10*time.Microsecond))
}

// Report is what a simulation did and found.
type Report struct {
	Devices, Rounds int
	Duration        time.Duration
	// Changes is how many changes the devices queued (after folding edits
	// of unsent changes together).
	Changes int
	// Applied, Merged, Conflicts and Rejected count the server's results.
	Applied, Merged, Conflicts, Rejected int
	// RejectedByCode counts rejections by code (FORBIDDEN, NOT_FOUND, …).
	RejectedByCode map[string]int
	// ConflictsRecorded counts conflict ledger entries reported to devices.
	ConflictsRecorded int
	// CreatesAccepted and DeletesAccepted count accepted creations and deletions.
	CreatesAccepted, DeletesAccepted int
	// Resolutions counts conflicts the devices' users resolved;
	// ResolutionsRefused those the server refused (the field had moved on
	// since, or the user may not write it).
	Resolutions, ResolutionsRefused int
	// Spread is the length of a round (Options.Spread).
	Spread time.Duration
	// Push and Pull are the HTTP round-trip latencies during the rounds
	// (request sent to answer read, the device's decoding left out),
	// faults included; Burst those of the first and final syncs, where
	// every device talks to the server at once.
	Push, Pull, Burst Latency
	// TransportErrors counts round trips that failed (dropped or broken);
	// SyncErrors counts Sync calls that still failed after their retries.
	TransportErrors, SyncErrors int
	// DroppedRequests and DroppedResponses count injected faults.
	DroppedRequests, DroppedResponses int64
	// ServerRecords is how many records the server holds across the scopes checked.
	ServerRecords int
	// Problems lists every broken promise found; empty when all held.
	Problems []string
}

// OK reports whether every check passed.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

// String renders the report for a terminal.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "devices %d, rounds %d, %s\n", r.Devices, r.Rounds, r.Duration.Round(time.Millisecond))
	fmt.Fprintf(&b, "changes %d: applied %d, merged %d, conflict %d, rejected %d %v\n", r.Changes, r.Applied, r.Merged, r.Conflicts, r.Rejected, r.RejectedByCode)
	fmt.Fprintf(&b, "conflicts recorded %d (resolved %d, resolutions refused %d); creates accepted %d, deletes accepted %d; server records %d\n",
		r.ConflictsRecorded, r.Resolutions, r.ResolutionsRefused, r.CreatesAccepted, r.DeletesAccepted, r.ServerRecords)
	if r.Spread > 0 {
		fmt.Fprintf(&b, "rounds of %s: devices come online at random moments, %.1f syncs/s on average\n",
			r.Spread, float64(r.Devices)/r.Spread.Seconds())
	} else {
		b.WriteString("rounds are bursts: every device syncs at the same instant\n")
	}
	fmt.Fprintf(&b, "push %s\npull %s\nfirst and final syncs (all devices at once) %s\n", r.Push, r.Pull, r.Burst)
	fmt.Fprintf(&b, "faults: %d requests and %d responses dropped; %d failed round trips; %d syncs failed after retries\n",
		r.DroppedRequests, r.DroppedResponses, r.TransportErrors, r.SyncErrors)
	if r.OK() {
		b.WriteString("converged: every device equals the server; every accepted change took effect exactly once\n")
	} else {
		fmt.Fprintf(&b, "%d PROBLEMS:\n", len(r.Problems))
		for _, p := range r.Problems {
			b.WriteString("  " + p + "\n")
		}
	}
	return b.String()
}

// ErrDiverged is returned (wrapped) by Run when a check failed; the Report
// lists what.
var ErrDiverged = errors.New("simulation found broken sync guarantees")

// sim is one run's shared state.
type sim struct {
	opts    Options
	devices []*device

	mu        sync.Mutex
	inRounds  bool
	push      []time.Duration
	pull      []time.Duration
	burst     []time.Duration
	netErrs   int
	outcomes  map[client.Key][]client.Outcome
	resolving map[client.Key]int // resolution attempts per record
	// resolvedGone are records whose user resolved a "deleted" conflict
	// with true: the resolution deletes the draft (rule resolve-delete).
	resolvedGone map[client.Key]bool
	rep          *Report
}

type device struct {
	*client.Device
	token string
	fault *client.FaultyTransport
	rng   *rand.Rand
	// mine are interactions this device created (some may be gone since).
	mine []uuid.UUID
	// resolved are the conflicts its user has tried to resolve.
	resolved map[string]bool
}

// Run runs the simulation opts describe and checks convergence. It returns
// the report and a nil error when every check passed; an error wrapping
// ErrDiverged (with the report) when one failed; or an error and a partial
// report when the simulation could not run (bad options, server unreachable,
// cancelled context).
func Run(ctx context.Context, opts Options) (*Report, error) {
	if opts.BaseURL == "" || opts.Tokens == nil {
		return nil, errors.New("simulate: BaseURL and Tokens are required")
	}
	opts = opts.withDefaults()
	start := time.Now()
	s := &sim{opts: opts, outcomes: map[client.Key][]client.Outcome{}, resolving: map[client.Key]int{}, resolvedGone: map[client.Key]bool{},
		rep: &Report{Devices: opts.Devices, Rounds: opts.Rounds, Spread: opts.Spread, RejectedByCode: map[string]int{}}}
	for i := range opts.Devices {
		s.devices = append(s.devices, s.newDevice(i))
	}
	rep := s.rep

	// Every device starts with a clean first sync of its whole scope.
	s.setFaults(false)
	if err := s.each(ctx, 0, func(d *device) error { _, err := d.Pull(ctx); return err }); err != nil {
		return rep, fmt.Errorf("simulate: first pull: %w", err)
	}
	seeded := map[client.Key]int64{} // records before the run, with their versions
	for _, d := range s.devices {
		for k, r := range d.Snapshot() {
			seeded[k] = r.Version
		}
	}
	opts.Logf("simulate: %d devices pulled their scopes (%d records)", len(s.devices), len(seeded))

	s.setFaults(true)
	s.measureRounds(true)
	for round := range opts.Rounds {
		err := s.each(ctx, opts.Spread, func(d *device) error {
			for range opts.OpsPerRound {
				s.randomOp(d)
			}
			if d.rng.IntN(8) == 0 {
				s.resolveOne(ctx, d)
			}
			if _, _, err := d.Sync(ctx); err != nil {
				if ctx.Err() != nil {
					return err
				}
				s.mu.Lock()
				rep.SyncErrors++
				s.mu.Unlock()
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("simulate: round %d: %w", round+1, err)
		}
		opts.Logf("simulate: round %d/%d done", round+1, opts.Rounds)
	}

	// A clean final sync: everyone pushes, then everyone pulls, so each pull
	// sees every push.
	s.setFaults(false)
	s.measureRounds(false)
	if err := s.each(ctx, 0, func(d *device) error { _, err := d.Push(ctx); return err }); err != nil {
		return rep, fmt.Errorf("simulate: final push: %w", err)
	}
	if err := s.each(ctx, 0, func(d *device) error { _, err := d.Pull(ctx); return err }); err != nil {
		return rep, fmt.Errorf("simulate: final pull: %w", err)
	}
	opts.Logf("simulate: final sync done; checking")

	if err := s.check(ctx, seeded); err != nil {
		return rep, err
	}
	for _, d := range s.devices {
		_, dr, dp := d.fault.Stats()
		rep.DroppedRequests += dr
		rep.DroppedResponses += dp
		rep.ConflictsRecorded += len(d.Conflicts())
	}
	rep.Push, rep.Pull, rep.Burst = summarise(s.push), summarise(s.pull), summarise(s.burst)
	rep.TransportErrors = s.netErrs
	rep.Duration = time.Since(start)
	if !rep.OK() {
		return rep, fmt.Errorf("simulate: %d problems: %w", len(rep.Problems), ErrDiverged)
	}
	return rep, nil
}

func (s *sim) newDevice(i int) *device {
	o := s.opts
	seed := o.Seed*1_000_003 + int64(i)
	ft := client.NewFaultyTransport(o.Transport, o.DropRequest, o.DropResponse, seed)
	tok := o.Tokens(i)
	d := &device{token: tok, fault: ft, rng: rand.New(rand.NewPCG(uint64(seed), 0xd1ce)), resolved: map[string]bool{}}
	opts := []client.Option{
		client.WithTransport(ft),
		client.WithRetries(o.Retries, o.Backoff),
		client.WithObserver(s.observe),
		client.WithOutcomes(s.record),
	}
	if o.BatchSize > 0 {
		opts = append(opts, client.WithBatchSize(o.BatchSize))
	}
	if o.PullLimit > 0 {
		opts = append(opts, client.WithPullLimit(o.PullLimit))
	}
	d.Device = client.New(o.BaseURL, tok, opts...)
	return d
}

func (s *sim) setFaults(on bool) {
	for _, d := range s.devices {
		d.fault.SetFaults(on)
	}
}

func (s *sim) observe(c client.Call) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Err != nil {
		s.netErrs++
		return
	}
	switch {
	case !s.inRounds:
		s.burst = append(s.burst, c.Duration)
	case c.Op == "push":
		s.push = append(s.push, c.Duration)
	default:
		s.pull = append(s.pull, c.Duration)
	}
}

// measureRounds says whether the round trips from now on belong to the
// rounds (Report.Push and Pull) or to a burst (Report.Burst).
func (s *sim) measureRounds(on bool) {
	s.mu.Lock()
	s.inRounds = on
	s.mu.Unlock()
}

func (s *sim) record(o client.Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := client.Key{Entity: o.Change.Entity, ID: o.Change.ID}
	s.outcomes[k] = append(s.outcomes[k], o)
	switch o.Status {
	case client.StatusApplied:
		s.rep.Applied++
	case client.StatusMerged:
		s.rep.Merged++
	case client.StatusConflict:
		s.rep.Conflicts++
	case client.StatusRejected:
		s.rep.Rejected++
		s.rep.RejectedByCode[o.Code]++
	}
}

// each runs fn for every device, at most Concurrency at a time, and returns
// the first error.
func (s *sim) each(ctx context.Context, spread time.Duration, fn func(*device) error) error {
	sem := make(chan struct{}, s.opts.Concurrency)
	errs := make(chan error, len(s.devices))
	var wg sync.WaitGroup
	for _, d := range s.devices {
		var delay time.Duration
		if spread > 0 {
			delay = time.Duration(d.rng.Int64N(int64(spread)))
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTimer(delay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
			defer func() { <-sem }()
			if err := fn(d); err != nil {
				errs <- fmt.Errorf("device %s: %w", d.ID(), err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

var (
	modes    = []string{"HOME_VISIT", "CLINIC", "PHONE", "VIDEO", "MESSAGE"}
	purposes = []string{"Wound dressing", "Medication review", "Catheter care", "Diabetes check", "Palliative support", "Falls assessment"}
	notes    = []string{"Seen at home, comfortable.", "Dressing changed, healing well.", "Reviewed medicines with daughter present.",
		"Blood glucose stable.", "Pain controlled; plan unchanged.", "Mobility improving with frame."}
)

// resolveOne has d's user settle one of the open conflicts d was told of,
// as a person would: keep the server's value, keep hers, or combine them.
func (s *sim) resolveOne(ctx context.Context, d *device) {
	var open []client.Conflict
	for _, c := range d.Conflicts() {
		if c.Outcome == "OPEN" && !d.resolved[c.ID] {
			open = append(open, c)
		}
	}
	if len(open) == 0 {
		return
	}
	c := open[d.rng.IntN(len(open))]
	d.resolved[c.ID] = true
	value := c.ServerValue
	switch {
	case c.Field == "deleted":
		value = d.rng.IntN(2) == 0
	case d.rng.IntN(2) == 0:
		value = c.DeviceValue
	default:
		if sv, ok := c.ServerValue.(string); ok {
			value = fmt.Sprintf("%s / %v", sv, c.DeviceValue)
		}
	}
	err := d.ResolveConflict(ctx, c, value, "settled in the simulation")
	s.mu.Lock()
	defer s.mu.Unlock()
	if id, perr := uuid.Parse(c.RecordID); perr == nil {
		k := client.Key{Entity: c.Entity, ID: id}
		s.resolving[k]++ // may have written a version, whatever came back
		if c.Field == "deleted" && value == true {
			s.resolvedGone[k] = true // may have deleted it, whatever came back
		}
	}
	var se *client.Error
	switch {
	case err == nil:
		s.rep.Resolutions++
	case errors.As(err, &se):
		s.rep.ResolutionsRefused++
	}
}

// randomOp makes one offline change on d: mostly recording and editing its
// own visits, sometimes signing, amending or deleting them or recording a
// patient's preference on a care relationship, and now and then trying to
// edit a colleague's record (which the server must refuse).
func (s *sim) randomOp(d *device) {
	r := d.rng
	me := d.Subject()
	recordedBy := func(mine bool) func(data map[string]any) bool {
		return func(data map[string]any) bool { by, _ := data["practitionerId"].(string); return (by == me) == mine }
	}
	var own, ownDrafts, ownSigned []uuid.UUID
	others := d.IDs(client.EntityInteraction, recordedBy(false))
	for _, id := range d.mine {
		data, ok := d.View(client.EntityInteraction, id)
		if !ok {
			continue
		}
		own = append(own, id)
		if st, _ := data["status"].(string); st == "DRAFT" || st == "" {
			ownDrafts = append(ownDrafts, id)
		} else {
			ownSigned = append(ownSigned, id)
		}
	}
	// Interactions the same practitioner recorded on another device are hers too.
	for _, id := range d.IDs(client.EntityInteraction, recordedBy(true)) {
		if !slices.Contains(own, id) {
			data, ok := d.View(client.EntityInteraction, id)
			if !ok {
				continue
			}
			own = append(own, id)
			if st, _ := data["status"].(string); st == "DRAFT" {
				ownDrafts = append(ownDrafts, id)
			} else {
				ownSigned = append(ownSigned, id)
			}
		}
	}
	pick := func(ids []uuid.UUID) uuid.UUID { return ids[r.IntN(len(ids))] }
	roll := r.Float64()
	switch {
	case roll < 0.35 || len(ownDrafts) == 0:
		patients := d.IDs(client.EntityPatient, nil)
		if len(patients) == 0 {
			return
		}
		sort.Slice(patients, func(i, j int) bool { return patients[i].String() < patients[j].String() })
		dur := 10 + r.IntN(50)
		id := d.CreateInteraction(client.Interaction{
			PatientID:       patients[r.IntN(len(patients))],
			Mode:            modes[r.IntN(len(modes))],
			OccurredAt:      time.Now().Add(-time.Duration(r.IntN(8*60)) * time.Minute).Truncate(time.Second),
			DurationMinutes: &dur,
			Purpose:         purposes[r.IntN(len(purposes))],
			Notes:           notes[r.IntN(len(notes))],
		})
		d.mine = append(d.mine, id)
	case roll < 0.72:
		f := map[string]any{}
		if r.IntN(2) == 0 {
			f["notes"] = notes[r.IntN(len(notes))] + fmt.Sprintf(" (%d)", r.IntN(1000))
		}
		if r.IntN(2) == 0 {
			f["durationMinutes"] = 5 + r.IntN(90)
		}
		if r.IntN(3) == 0 {
			f["mode"] = modes[r.IntN(len(modes))]
		}
		if len(f) == 0 {
			f["purpose"] = purposes[r.IntN(len(purposes))]
		}
		_ = d.EditInteraction(pick(ownDrafts), f)
	case roll < 0.80:
		_ = d.SignInteraction(pick(ownDrafts))
	case roll < 0.85 && len(ownSigned) > 0:
		_ = d.AmendInteraction(pick(ownSigned), "corrected after review", map[string]any{"notes": "Amended: " + notes[r.IntN(len(notes))]})
	case roll < 0.91:
		_ = d.DeleteDraft(pick(ownDrafts))
	case roll < 0.96:
		rels := d.IDs(client.EntityCareRelationship, func(data map[string]any) bool {
			return data["status"] == "ACTIVE" && data["patientId"] != nil && data["kind"] != "USUAL_GP"
		})
		if len(rels) > 0 {
			sort.Slice(rels, func(i, j int) bool { return rels[i].String() < rels[j].String() })
			prefs := []string{"PREFERRED", "ACCEPTED", "NOT_PREFERRED", "NOT_ASKED"}
			_ = d.Change(client.EntityCareRelationship, pick(rels), client.OpUpdate, map[string]any{"patientPreference": prefs[r.IntN(len(prefs))]})
		}
	case len(others) > 0:
		_ = d.EditInteraction(pick(others), map[string]any{"notes": "edited by a colleague"})
	}
}

// check compares every device with a fresh device that pulls the server's
// truth for the same token, and checks exactly-once from the results.
func (s *sim) check(ctx context.Context, seeded map[client.Key]int64) error {
	rep := s.rep
	problem := func(format string, args ...any) {
		if len(rep.Problems) < 50 {
			rep.Problems = append(rep.Problems, fmt.Sprintf(format, args...))
		}
	}
	truth := map[string]map[client.Key]client.Record{}
	for _, d := range s.devices {
		if _, ok := truth[d.token]; ok {
			continue
		}
		fresh := client.New(s.opts.BaseURL, d.token, client.WithTransport(s.opts.Transport), client.WithPullLimit(1000))
		if _, err := fresh.Pull(ctx); err != nil {
			return fmt.Errorf("simulate: pull the server's truth: %w", err)
		}
		truth[d.token] = fresh.Snapshot()
	}

	// 1. Every device equals the server for its scope, with nothing left to push.
	for i, d := range s.devices {
		if p := d.Pending(); len(p) > 0 {
			problem("device %d: %d changes still unpushed after a clean sync, first %+v", i, len(p), p[0])
		}
		want, got := truth[d.token], d.Snapshot()
		for k, w := range want {
			g, ok := got[k]
			switch {
			case !ok:
				problem("device %d: missing %s (server version %d)", i, k, w.Version)
			case g.Version != w.Version:
				problem("device %d: %s at version %d, server at %d", i, k, g.Version, w.Version)
			case !reflect.DeepEqual(g.Data, w.Data):
				problem("device %d: %s at version %d differs from the server: %s", i, k, g.Version, diff(g.Data, w.Data))
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				problem("device %d: holds %s, which the server does not give it", i, k)
			}
		}
	}

	// 2. Exactly once. The union of every scope is the server's state.
	server := map[client.Key]client.Record{}
	for _, t := range truth {
		maps.Copy(server, t)
	}
	rep.ServerRecords = len(server)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, list := range s.outcomes {
		for _, o := range list {
			rep.Changes++
			if o.Status == client.StatusRejected {
				continue
			}
			switch {
			case o.Change.Op == client.OpCreate:
				rep.CreatesAccepted++
			case o.Change.Op == client.OpDelete && o.Status == client.StatusApplied:
				rep.DeletesAccepted++
			}
		}
	}
	for k, list := range s.outcomes {
		created, deleted := false, false
		seen := map[int64]bool{}
		for _, o := range list {
			if o.Status == client.StatusRejected {
				continue
			}
			switch {
			case o.Change.Op == client.OpCreate:
				created = true
			case o.Change.Op == client.OpDelete && o.Status == client.StatusApplied:
				deleted = true // a DELETE answered CONFLICT kept the record
			}
			if o.Version > 0 {
				seen[o.Version] = true
			}
		}
		rec, onServer := server[k]
		switch {
		case deleted && onServer:
			problem("%s: deleted (accepted) but still on the server", k)
		case created && !deleted && !onServer && !s.resolvedGone[k]:
			problem("%s: creation accepted but the record is not on the server", k)
		}
		if !onServer {
			continue
		}
		// Every version the record went through must be the result of one
		// answered change: a change applied twice would leave a version no
		// device was ever told about.
		from := int64(1)
		if v, ok := seeded[k]; ok {
			from, seen[v] = v, true
		} else if !created {
			continue // an out-of-scope record some device only tried to touch
		}
		unexplained := 0
		for v := from; v <= rec.Version; v++ {
			if !seen[v] {
				// A resolution writes a version no push result names; one
				// whose answer was lost may have written it too.
				if unexplained++; unexplained <= s.resolving[k] {
					continue
				}
				problem("%s: version %d of %d is no answered change's result (a change applied twice?)", k, v, rec.Version)
				break
			}
		}
	}
	for k := range server {
		if _, ok := seeded[k]; ok || k.Entity != client.EntityInteraction {
			continue
		}
		if _, ok := s.outcomes[k]; !ok {
			problem("%s: on the server but no device ever pushed it", k)
		}
	}
	return nil
}

// diff names the fields where a and b differ.
func diff(a, b map[string]any) string {
	var fields []string
	for k := range a {
		if !reflect.DeepEqual(a[k], b[k]) {
			fields = append(fields, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			fields = append(fields, k)
		}
	}
	sort.Strings(fields)
	return "fields " + strings.Join(fields, ", ")
}

func summarise(ds []time.Duration) Latency {
	if len(ds) == 0 {
		return Latency{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return Latency{Count: len(s), P50: at(0.50), P99: at(0.99), Max: s[len(s)-1]}
}
