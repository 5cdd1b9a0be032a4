package jepsen_test

// An outsider's device: written from docs/sync-protocol.md alone, speaking
// GraphQL JSON over HTTP, importing nothing of Rapport's. It keeps server
// copies and a queue of local changes apart, as the document says, and logs
// every change it makes with what its user was looking at when she made it.

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const pushMutation = `mutation SyncPush($input: SyncPushInput!) { syncPush(input: $input) { serverHlc results { mutationSeq status code message version record conflicts { id entity recordId field policy outcome serverValue deviceValue } } } }`

const pullQuery = `query SyncPull($input: SyncPullInput!) { syncPull(input: $input) { upserts { entity id version data } tombstones { entity id } revokedPatientIds checkpoint hasMore resetRequired resetReason wipe } }`

const conflictsQuery = `query { conflicts(filter: {open: true}, first: 50) { edges { node { id entity recordId field serverValue deviceValue recordVersion } } } }`

const resolveMutation = `mutation Resolve($input: ResolveConflictInput!) { resolveConflict(input: $input) { id outcome } }`

// key names a record.
type key struct{ entity, id string }

func (k key) String() string { return k.entity + "/" + k.id }

// copyOf is the server's copy of a record, as the device last received it.
type copyOf struct {
	version int64
	data    map[string]any
}

// change is one queued change.
type change struct {
	Seq     int64          `json:"mutationSeq"`
	Entity  string         `json:"entity"`
	ID      string         `json:"id"`
	Op      string         `json:"op"`
	Base    *int64         `json:"baseVersion,omitempty"`
	Fields  map[string]any `json:"fields,omitempty"`
	HLC     string         `json:"hlc"`
	sent    bool
	logged  *written // the history entry of this change
	devName string
}

// written is a change in the history: what was written and what its author
// was looking at (the record as the device showed it: server copy with the
// queue laid over it).
type written struct {
	Device  string
	User    string
	Seq     int64
	Key     key
	Op      string
	Fields  map[string]any
	View    map[string]any // nil for a CREATE
	Result  *result        // nil until answered
	Created time.Time
}

// result is a push result as the server sent it.
type result struct {
	MutationSeq int64            `json:"mutationSeq"`
	Status      string           `json:"status"`
	Code        *string          `json:"code"`
	Message     *string          `json:"message"`
	Version     *int64           `json:"version"`
	Record      map[string]any   `json:"record"`
	Conflicts   []map[string]any `json:"conflicts"`
}

// resolution is a conflict resolution in the history.
type resolution struct {
	User     string
	Key      key
	Field    string
	Value    any
	Base     int64
	View     map[string]any // the record copy the resolver looked at, plus the conflict's two values
	Accepted bool
	Code     string // the refusal's code; LOST when the answer was lost
}

// history collects what every device did, for the checker.
type history struct {
	mu          sync.Mutex
	writes      []*written
	resolutions []*resolution
	snapshots   map[key]map[int64]map[string]any // every version any device was shown
}

func (h *history) snapshot(k key, version int64, data map[string]any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.snapshots[k] == nil {
		h.snapshots[k] = map[int64]map[string]any{}
	}
	h.snapshots[k][version] = data
}

// device is a phone or tablet.
type device struct {
	name, id, user string // user: the practitioner's id
	url            func() string
	token          string
	http           *http.Client
	rng            *mrand.Rand
	hist           *history

	mu         sync.Mutex
	nextSeq    int64
	hlcWall    int64
	hlcCounter int
	copies     map[key]*copyOf
	deleted    map[key]bool
	checkpoint *string
	queue      []*change
	rejected   []*written
	wiped      bool
}

func newUUIDv7() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	ms := uint64(time.Now().UnixMilli())
	for i := 0; i < 6; i++ {
		b[i] = byte(ms >> (40 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// tick advances the device's hybrid logical clock for a local event.
func (d *device) tick() string {
	now := time.Now().UnixMilli()
	if now > d.hlcWall {
		d.hlcWall, d.hlcCounter = now, 0
	} else {
		d.hlcCounter++
	}
	return fmt.Sprintf("%013d-%04x-%s", d.hlcWall, d.hlcCounter, strings.ReplaceAll(d.id, "-", ""))
}

// observe merges the server's clock into the device's.
func (d *device) observe(server string) {
	parts := strings.SplitN(server, "-", 3)
	if len(parts) != 3 {
		return
	}
	wall, err1 := strconv.ParseInt(parts[0], 10, 64)
	counter, err2 := strconv.ParseInt(parts[1], 16, 32)
	if err1 != nil || err2 != nil {
		return
	}
	if wall > d.hlcWall || (wall == d.hlcWall && int(counter) > d.hlcCounter) {
		d.hlcWall, d.hlcCounter = wall, int(counter)
	}
}

// view returns the record as the user sees it: the server copy with the
// queued changes laid over it; nil when the device shows no such record.
func (d *device) view(k key) map[string]any {
	var out map[string]any
	if c, ok := d.copies[k]; ok {
		out = clone(c.data)
	}
	for _, ch := range d.queue {
		if ch.Entity != k.entity || ch.ID != k.id {
			continue
		}
		switch ch.Op {
		case "CREATE":
			out = map[string]any{"id": k.id, "status": "DRAFT", "practitionerId": d.user}
			for f, v := range ch.Fields {
				out[f] = v
			}
		case "UPDATE", "AMEND":
			if out != nil {
				for f, v := range ch.Fields {
					if f != "reason" {
						out[f] = v
					}
				}
			}
		case "SIGN":
			if out != nil {
				out["status"] = "SIGNED"
			}
		case "DELETE":
			out = nil
		}
	}
	return out
}

// enqueue makes a change as the user sees the record now.
func (d *device) enqueue(entity, id, op string, fields map[string]any) {
	k := key{entity, id}
	d.nextSeq++
	ch := &change{Seq: d.nextSeq, Entity: entity, ID: id, Op: op, Fields: fields, HLC: d.tick(), devName: d.name}
	if op != "CREATE" {
		// The base is the version of the server copy the user was looking at
		// (0 for a record created here and not yet confirmed).
		var v int64
		if c, ok := d.copies[k]; ok {
			v = c.version
		}
		ch.Base = &v
	}
	w := &written{Device: d.name, User: d.user, Seq: ch.Seq, Key: k, Op: op, Fields: clone(fields), Created: time.Now()}
	if op != "CREATE" {
		w.View = d.view(k)
	}
	ch.logged = w
	d.queue = append(d.queue, ch)
	d.hist.mu.Lock()
	d.hist.writes = append(d.hist.writes, w)
	d.hist.mu.Unlock()
}

// gql posts one GraphQL request; errTransport for anything on the way.
var errTransport = errors.New("transport")

func (d *device) gql(ctx context.Context, query string, vars map[string]any, out any) error {
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url()+"/graphql", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+d.token)
	res, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errTransport, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%w: %v", errTransport, err)
	}
	if res.StatusCode >= 500 || res.StatusCode == 429 {
		return fmt.Errorf("%w: HTTP %d", errTransport, res.StatusCode)
	}
	var env struct {
		Data   json.RawMessage `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("HTTP %d: %s", res.StatusCode, raw)
	}
	if len(env.Errors) > 0 {
		code, _ := env.Errors[0].Extensions["code"].(string)
		if code == "INTERNAL" {
			return fmt.Errorf("server INTERNAL error: %s", env.Errors[0].Message)
		}
		if code == "UNAVAILABLE" { // refused for now: the document says retry later
			return fmt.Errorf("%w: UNAVAILABLE: %s", errTransport, env.Errors[0].Message)
		}
		return &gqlError{code, env.Errors[0].Message}
	}
	return json.Unmarshal(env.Data, out)
}

type gqlError struct{ code, message string }

func (e *gqlError) Error() string { return e.code + ": " + e.message }

// push sends the queue's first changes (sent ones exactly as they were).
// A transport failure leaves them queued, frozen, for the next push.
func (d *device) push(ctx context.Context) error {
	for {
		d.mu.Lock()
		n := min(len(d.queue), 50)
		batch := append([]*change(nil), d.queue[:n]...)
		for _, c := range batch {
			c.sent = true
		}
		d.mu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		var out struct {
			SyncPush struct {
				ServerHlc string    `json:"serverHlc"`
				Results   []*result `json:"results"`
			} `json:"syncPush"`
		}
		err := d.gql(ctx, pushMutation, map[string]any{"input": map[string]any{"protocolVersion": 2, "deviceId": d.id, "changes": batch}}, &out)
		if err != nil {
			return err
		}
		d.mu.Lock()
		d.observe(out.SyncPush.ServerHlc)
		bySeq := map[int64]*result{}
		for _, r := range out.SyncPush.Results {
			bySeq[r.MutationSeq] = r
		}
		for _, c := range batch {
			r := bySeq[c.Seq]
			if r == nil {
				d.mu.Unlock()
				return fmt.Errorf("no result for mutation %d", c.Seq)
			}
			d.dequeue(c.Seq)
			c.logged.Result = r
			k := key{c.Entity, c.ID}
			switch {
			case r.Status == "REJECTED":
				d.rejected = append(d.rejected, c.logged) // kept for the user, never dropped
			case c.Op == "DELETE" && r.Status == "APPLIED":
				delete(d.copies, k)
				d.deleted[k] = true
			case r.Record != nil && r.Version != nil:
				d.hist.snapshot(k, *r.Version, r.Record)
				if cur, ok := d.copies[k]; !d.deleted[k] && (!ok || cur.version <= *r.Version) {
					d.copies[k] = &copyOf{*r.Version, r.Record}
				}
			}
		}
		d.mu.Unlock()
	}
}

func (d *device) dequeue(seq int64) {
	for i, c := range d.queue {
		if c.Seq == seq {
			d.queue = append(d.queue[:i], d.queue[i+1:]...)
			return
		}
	}
}

// pull applies pages until the server has no more.
func (d *device) pull(ctx context.Context) error {
	for i := 0; i < 1000; i++ {
		d.mu.Lock()
		in := map[string]any{"protocolVersion": 2, "deviceId": d.id, "limit": 100}
		if d.checkpoint != nil {
			in["checkpoint"] = *d.checkpoint
		}
		d.mu.Unlock()
		var out struct {
			SyncPull struct {
				Upserts []struct {
					Entity  string         `json:"entity"`
					ID      string         `json:"id"`
					Version int64          `json:"version"`
					Data    map[string]any `json:"data"`
				} `json:"upserts"`
				Tombstones []struct {
					Entity string `json:"entity"`
					ID     string `json:"id"`
				} `json:"tombstones"`
				RevokedPatientIDs []string `json:"revokedPatientIds"`
				Checkpoint        string   `json:"checkpoint"`
				HasMore           bool     `json:"hasMore"`
				ResetRequired     bool     `json:"resetRequired"`
				Wipe              bool     `json:"wipe"`
			} `json:"syncPull"`
		}
		if err := d.gql(ctx, pullQuery, map[string]any{"input": in}, &out); err != nil {
			return err
		}
		p := out.SyncPull
		d.mu.Lock()
		switch {
		case p.Wipe:
			d.wiped = true
			d.mu.Unlock()
			return errors.New("told to wipe")
		case p.ResetRequired:
			d.copies, d.deleted, d.checkpoint = map[key]*copyOf{}, map[key]bool{}, nil
			d.mu.Unlock()
			continue
		}
		for _, u := range p.Upserts {
			k := key{u.Entity, u.ID}
			d.hist.snapshot(k, u.Version, u.Data)
			if cur, ok := d.copies[k]; !ok || u.Version >= cur.version {
				d.copies[k] = &copyOf{u.Version, u.Data}
				delete(d.deleted, k)
			}
		}
		for _, t := range p.Tombstones {
			k := key{t.Entity, t.ID}
			delete(d.copies, k)
			d.deleted[k] = true
		}
		for _, pid := range p.RevokedPatientIDs {
			for k, c := range d.copies {
				if k.id == pid || c.data["patientId"] == pid {
					delete(d.copies, k)
				}
			}
		}
		cp := p.Checkpoint
		d.checkpoint = &cp
		d.mu.Unlock()
		if !p.HasMore {
			return nil
		}
	}
	return errors.New("pull never ended")
}

// act makes one random change, as a nurse would on the device.
func (d *device) act() {
	d.mu.Lock()
	defer d.mu.Unlock()
	var patients, drafts, signed, rels []key
	for k := range d.copies {
		switch k.entity {
		case "PATIENT":
			patients = append(patients, k)
		}
	}
	keys := map[key]bool{}
	for k := range d.copies {
		keys[k] = true
	}
	for _, c := range d.queue {
		keys[key{c.Entity, c.ID}] = true
	}
	for k := range keys {
		v := d.view(k)
		if v == nil {
			continue
		}
		switch k.entity {
		case "INTERACTION":
			if v["status"] == "DRAFT" && v["practitionerId"] == d.user {
				drafts = append(drafts, k)
			} else if v["status"] != "DRAFT" {
				signed = append(signed, k)
			}
		case "CARE_RELATIONSHIP":
			if v["kind"] == "KEY_WORKER" && v["status"] == "ACTIVE" {
				rels = append(rels, k)
			}
		}
	}
	sortKeys(patients)
	sortKeys(drafts)
	sortKeys(signed)
	sortKeys(rels)
	pick := func(ks []key) key { return ks[d.rng.IntN(len(ks))] }
	note := func() string { return fmt.Sprintf("%s note %d", d.name, d.rng.IntN(1_000_000)) }
	switch r := d.rng.IntN(100); {
	case r < 22 && len(patients) > 0:
		p := pick(patients)
		d.enqueue("INTERACTION", newUUIDv7(), "CREATE", map[string]any{"patientId": p.id, "mode": "HOME_VISIT",
			"occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "durationMinutes": 10 + d.rng.IntN(50),
			"purpose": "visit", "notes": note()})
	case r < 52 && len(drafts) > 0:
		fields := map[string]any{}
		switch d.rng.IntN(4) {
		case 0:
			fields["durationMinutes"] = 5 + d.rng.IntN(100)
		case 1:
			fields["mode"] = []string{"HOME_VISIT", "CLINIC", "PHONE", "VIDEO"}[d.rng.IntN(4)]
		case 2:
			fields["notes"] = note()
		default:
			fields["purpose"] = fmt.Sprintf("purpose %d", d.rng.IntN(1000))
			fields["notes"] = note()
		}
		d.enqueue("INTERACTION", pick(drafts).id, "UPDATE", fields)
	case r < 62 && len(drafts) > 0:
		d.enqueue("INTERACTION", pick(drafts).id, "SIGN", nil)
	case r < 70 && len(drafts) > 0:
		d.enqueue("INTERACTION", pick(drafts).id, "DELETE", nil)
	case r < 85 && len(signed) > 0:
		fields := map[string]any{"reason": fmt.Sprintf("correction by %s", d.name)}
		if d.rng.IntN(2) == 0 {
			fields["notes"] = note()
		} else {
			fields["durationMinutes"] = 5 + d.rng.IntN(100)
		}
		d.enqueue("INTERACTION", pick(signed).id, "AMEND", fields)
	case len(rels) > 0:
		fields := map[string]any{}
		if d.rng.IntN(2) == 0 {
			fields["patientPreference"] = []string{"PREFERRED", "ACCEPTED", "NOT_PREFERRED"}[d.rng.IntN(3)]
		} else {
			fields["consent"] = []string{"GIVEN", "NOT_RECORDED"}[d.rng.IntN(2)]
		}
		d.enqueue("CARE_RELATIONSHIP", pick(rels).id, "UPDATE", fields)
	}
}

// resolveSome resolves a few of the open conflicts the user can see, as a
// person would: keep the server's value, keep the device's, or combine.
func (d *device) resolveSome(ctx context.Context) error {
	var out struct {
		Conflicts struct {
			Edges []struct {
				Node struct {
					ID            string `json:"id"`
					Entity        string `json:"entity"`
					RecordID      string `json:"recordId"`
					Field         string `json:"field"`
					ServerValue   any    `json:"serverValue"`
					DeviceValue   any    `json:"deviceValue"`
					RecordVersion *int64 `json:"recordVersion"`
				} `json:"node"`
			} `json:"edges"`
		} `json:"conflicts"`
	}
	if err := d.gql(ctx, conflictsQuery, nil, &out); err != nil {
		return err
	}
	for _, e := range out.Conflicts.Edges {
		if d.rng.IntN(3) != 0 {
			continue
		}
		c := e.Node
		k := key{c.Entity, c.RecordID}
		d.mu.Lock()
		cp, ok := d.copies[k]
		d.mu.Unlock()
		if !ok {
			continue
		}
		var value any
		switch {
		case c.Field == "deleted":
			value = d.rng.IntN(2) == 0
		case d.rng.IntN(3) == 0:
			value = c.ServerValue
		case d.rng.IntN(2) == 0:
			value = c.DeviceValue
		default:
			if s, ok := c.ServerValue.(string); ok {
				value = fmt.Sprintf("%s + %v", s, c.DeviceValue)
			} else {
				value = c.DeviceValue
			}
		}
		view := clone(cp.data)
		view["__server"], view["__device"] = c.ServerValue, c.DeviceValue
		res := &resolution{User: d.user, Key: k, Field: c.Field, Value: value, Base: cp.version, View: view}
		in := map[string]any{"id": c.ID, "value": value, "baseVersion": cp.version, "reason": "resolved in the randomized test"}
		var r json.RawMessage
		err := d.gql(ctx, resolveMutation, map[string]any{"input": in}, &r)
		var ge *gqlError
		switch {
		case err == nil:
			res.Accepted = true
		case errors.As(err, &ge):
			res.Code = ge.code
		default:
			if !errors.Is(err, errTransport) {
				return err
			}
			res.Code = "LOST" // the answer was lost: it may have taken effect
		}
		d.hist.mu.Lock()
		d.hist.resolutions = append(d.hist.resolutions, res)
		d.hist.mu.Unlock()
	}
	return nil
}

func clone(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func sortKeys(ks []key) {
	sort.Slice(ks, func(i, j int) bool { return ks[i].id < ks[j].id })
}
