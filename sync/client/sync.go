package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"

	"github.com/google/uuid"
)

const pushMutation = `mutation SyncPush($input: SyncPushInput!) {
  syncPush(input: $input) {
    serverHlc
    results {
      mutationSeq status code message version record
      conflicts { id entity recordId field policy outcome serverValue deviceValue }
    }
  }
}`

const pullQuery = `query SyncPull($input: SyncPullInput!) {
  syncPull(input: $input) {
    upserts { entity id version data }
    tombstones { entity id }
    revokedPatientIds
    checkpoint hasMore resetRequired resetReason wipe
  }
}`

// wireChange is a SyncChangeInput.
type wireChange struct {
	MutationSeq int64          `json:"mutationSeq"`
	Entity      Entity         `json:"entity"`
	ID          string         `json:"id"`
	Op          Op             `json:"op"`
	BaseVersion *int64         `json:"baseVersion,omitempty"`
	Fields      map[string]any `json:"fields,omitempty"`
	HLC         string         `json:"hlc"`
}

type wireResult struct {
	MutationSeq int64      `json:"mutationSeq"`
	Status      string     `json:"status"`
	Code        *string    `json:"code"`
	Message     *string    `json:"message"`
	Version     *int64     `json:"version"`
	Record      recordJSON `json:"record"`
	Conflicts   []struct {
		ID          string `json:"id"`
		Entity      Entity `json:"entity"`
		RecordID    string `json:"recordId"`
		Field       string `json:"field"`
		Policy      string `json:"policy"`
		Outcome     string `json:"outcome"`
		ServerValue any    `json:"serverValue"`
		DeviceValue any    `json:"deviceValue"`
	} `json:"conflicts"`
}

type wirePush struct {
	ServerHLC string       `json:"serverHlc"`
	Results   []wireResult `json:"results"`
}

type wirePull struct {
	Upserts []struct {
		Entity  Entity     `json:"entity"`
		ID      uuid.UUID  `json:"id"`
		Version int64      `json:"version"`
		Data    recordJSON `json:"data"`
	} `json:"upserts"`
	Tombstones []struct {
		Entity Entity    `json:"entity"`
		ID     uuid.UUID `json:"id"`
	} `json:"tombstones"`
	RevokedPatientIDs []uuid.UUID `json:"revokedPatientIds"`
	Checkpoint        string      `json:"checkpoint"`
	HasMore           bool        `json:"hasMore"`
	ResetRequired     bool        `json:"resetRequired"`
	ResetReason       *string     `json:"resetReason"`
	Wipe              bool        `json:"wipe"`
}

// items is how many records and tombstones the page carried.
func (p *wirePull) items() int { return len(p.Upserts) + len(p.Tombstones) }

// PushReport says what one Push did.
type PushReport struct {
	// Batches is how many batches were answered.
	Batches int
	// Applied, Merged, Conflicts and Rejected count the changes by result.
	Applied, Merged, Conflicts, Rejected int
}

// PullReport says what one Pull did.
type PullReport struct {
	Pages, Upserts, Tombstones, Revoked int
	// Resets is how many times the server asked the device to start again.
	Resets int
	// ResetReasons lists the reasons given.
	ResetReasons []string
}

// Sync pushes the device's pending changes, then pulls what changed. It
// returns the first error; the device's state stays consistent either way.
func (d *Device) Sync(ctx context.Context) (*PushReport, *PullReport, error) {
	pr, err := d.Push(ctx)
	if err != nil {
		return pr, nil, err
	}
	pl, err := d.Pull(ctx)
	return pr, pl, err
}

// Push sends the pending changes in batches (at most the batch size each)
// and applies the results: the server's record replaces the local copy and
// the change leaves the queue; refused changes are set aside in Rejected;
// conflicts are recorded in Conflicts. A failed round trip is retried with
// the same mutation numbers, so a lost response costs nothing but time. It
// returns an error when a batch still failed after the retries (its changes
// stay queued, frozen, for the next Push) or the server refused the request.
func (d *Device) Push(ctx context.Context) (*PushReport, error) {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	rep := &PushReport{}
	for {
		batch := d.nextBatch()
		if len(batch) == 0 {
			return rep, nil
		}
		changes := make([]wireChange, len(batch))
		for i, c := range batch {
			changes[i] = wireChange{MutationSeq: c.Seq, Entity: c.Entity, ID: c.ID.String(), Op: c.Op,
				BaseVersion: c.BaseVersion, Fields: c.Fields, HLC: c.HLC}
		}
		vars := map[string]any{"input": map[string]any{
			"protocolVersion": d.protocol, "deviceId": d.id.String(), "changes": changes}}
		out, err := call[wirePush](ctx, d, "push", pushMutation, vars, "syncPush", len(batch))
		if err != nil {
			return rep, fmt.Errorf("push %d changes: %w", len(batch), err)
		}
		if err := d.applyResults(batch, out, rep); err != nil {
			return rep, err
		}
		rep.Batches++
	}
}

// nextBatch returns the first changes of the queue, at most the batch size,
// marking them sent (frozen: a sent change is resent exactly as it was).
func (d *Device) nextBatch() []*Change {
	d.mu.Lock()
	defer d.mu.Unlock()
	batch := d.pending[:min(len(d.pending), d.batchSize)]
	for _, c := range batch {
		c.Sent = true
	}
	return append([]*Change(nil), batch...)
}

// applyResults applies the server's answer to batch.
func (d *Device) applyResults(batch []*Change, out *wirePush, rep *PushReport) error {
	bySeq := make(map[int64]*wireResult, len(out.Results))
	for i := range out.Results {
		bySeq[out.Results[i].MutationSeq] = &out.Results[i]
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.hlc.observe(out.ServerHLC, d.now())
	var missing []int64
	for _, c := range batch {
		r := bySeq[c.Seq]
		if r == nil {
			missing = append(missing, c.Seq)
			continue
		}
		k := Key{c.Entity, c.ID}
		d.removePending(c.Seq)
		if d.outcome != nil {
			o := Outcome{Change: *c, Status: r.Status, Code: deref(r.Code)}
			if r.Version != nil && r.Status != StatusRejected {
				o.Version = *r.Version
			}
			d.outcome(o)
		}
		if r.Status == StatusRejected {
			rep.Rejected++
			d.rejected = append(d.rejected, Rejection{Change: *c, Code: deref(r.Code), Message: deref(r.Message)})
			continue
		}
		switch r.Status {
		case StatusMerged:
			rep.Merged++
		case StatusConflict:
			rep.Conflicts++
		default:
			rep.Applied++
		}
		for _, cf := range r.Conflicts {
			d.conflicts = append(d.conflicts, Conflict{ID: cf.ID, Entity: cf.Entity, RecordID: cf.RecordID, Field: cf.Field,
				Policy: cf.Policy, Outcome: cf.Outcome, ServerValue: cf.ServerValue, DeviceValue: cf.DeviceValue, Seq: c.Seq})
		}
		if c.Op == OpDelete && r.Status == StatusApplied {
			delete(d.records, k)
			d.gone[k] = true
			continue
		}
		if stated(r.Record) && r.Version != nil {
			d.upsert(k, *r.Version, r.Record)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("push: the server returned no result for mutations %v; they stay queued", missing)
	}
	return nil
}

// upsert stores a record unless the device already holds a newer copy or it
// was deleted; d.mu is held. raw is kept, not copied: it is the record's
// JSON as decoded from the server's answer, which nothing else holds.
func (d *Device) upsert(k Key, version int64, raw recordJSON) {
	if d.gone[k] {
		return
	}
	if cur, ok := d.records[k]; ok && cur.version > version {
		return
	}
	d.records[k] = &held{version: version, raw: raw}
}

// held is the device's copy of one record as the server last stated it: the
// record's JSON as it came, its fields decoded the first time something on
// the device reads them, and kept (the JSON then dropped). Decoding every
// pulled record into a map as its page arrived was most of a device's work
// in a pull (bench/sync_pull_log.md): a phone stores what it pulls and reads
// a record when its user opens it.
type held struct {
	version int64
	raw     recordJSON     // the record's JSON until its fields are decoded
	data    map[string]any // its fields, once read; never given out
}

// recordJSON is a record's JSON as the server sent it, kept undecoded: an
// object, or null for none. An answer carrying anything else in its place
// fails to decode, and is not applied, as when records were decoded into
// maps on arrival.
type recordJSON []byte

// UnmarshalJSON keeps a copy of an object or null, and refuses anything
// else (without quoting it: it could be anything a record holds).
func (r *recordJSON) UnmarshalJSON(b []byte) error {
	if len(b) == 0 || b[0] != '{' && string(b) != "null" {
		return fmt.Errorf("a record is not a JSON object (it starts %q)", b[:min(len(b), 1)])
	}
	*r = append((*r)[:0], b...)
	return nil
}

// stated reports whether raw holds a record (neither absent nor null).
func stated(raw recordJSON) bool { return len(raw) > 0 && string(raw) != "null" }

// fields returns the record's fields (empty for a null record), decoded
// once and kept; the caller must neither keep nor change the map. raw was
// checked when the answer was decoded: valid JSON, and an object.
func (h *held) fields() map[string]any {
	if h.data == nil {
		m := map[string]any{}
		if stated(h.raw) {
			_ = json.Unmarshal(h.raw, &m)
		}
		h.data, h.raw = m, nil
	}
	return h.data
}

// decode returns a copy of the record's fields, the caller's own.
func (h *held) decode() map[string]any { return maps.Clone(h.fields()) }

// record returns a copy of the held record, as Records and Snapshot give it.
func (h *held) record(k Key) Record {
	return Record{Entity: k.Entity, ID: k.ID, Version: h.version, Data: h.decode()}
}

// patientID returns the patientId field of the record ("" if none),
// decoding only that field.
func (h *held) patientID() string {
	if h.data != nil {
		s, _ := h.data["patientId"].(string)
		return s
	}
	var v struct {
		PatientID string `json:"patientId"`
	}
	_ = json.Unmarshal(h.raw, &v)
	return v.PatientID
}

// Pull fetches pages of changes until the server has no more, applying each
// page whole before storing its checkpoint: newer versions replace local
// copies, tombstones delete, revoked patients are purged with all their
// records. When the server requires a reset the device drops its checkpoint
// and its copies of server records, keeps its unpushed changes, and pulls
// from scratch; when it says wipe (a revoked device) the device erases
// everything and Pull returns ErrWiped. Other errors leave the last stored
// checkpoint in place, so the next Pull resumes there.
func (d *Device) Pull(ctx context.Context) (*PullReport, error) {
	d.syncMu.Lock()
	defer d.syncMu.Unlock()
	rep := &PullReport{}
	for {
		d.mu.Lock()
		in := map[string]any{"protocolVersion": d.protocol, "deviceId": d.id.String(), "limit": d.pullLimit}
		if d.checkpoint != nil {
			in["checkpoint"] = *d.checkpoint
		}
		d.mu.Unlock()
		out, err := call[wirePull](ctx, d, "pull", pullQuery, map[string]any{"input": in}, "syncPull", 0)
		if err != nil {
			return rep, fmt.Errorf("pull: %w", err)
		}
		rep.Pages++
		if out.ResetRequired {
			reason := deref(out.ResetReason)
			rep.Resets++
			rep.ResetReasons = append(rep.ResetReasons, reason)
			if out.Wipe || reason == ResetDeviceRevoked {
				d.wipe()
				return rep, ErrWiped
			}
			if rep.Resets > maxResets {
				return rep, fmt.Errorf("pull: the server asked for %d resets in a row (last: %s)", rep.Resets, reason)
			}
			d.reset()
			continue
		}
		if out.Checkpoint == "" {
			return rep, errors.New("pull: the server returned no checkpoint")
		}
		d.applyPage(out, rep)
		if !out.HasMore {
			return rep, nil
		}
	}
}

// applyPage applies one page and then stores its checkpoint, under one lock
// so no one sees half a page.
func (d *Device) applyPage(p *wirePull, rep *PullReport) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, u := range p.Upserts {
		d.upsert(Key{u.Entity, u.ID}, u.Version, u.Data)
	}
	for _, t := range p.Tombstones {
		k := Key{t.Entity, t.ID}
		delete(d.records, k)
		d.gone[k] = true
	}
	if len(p.RevokedPatientIDs) > 0 {
		revoked := make(map[string]bool, len(p.RevokedPatientIDs))
		for _, id := range p.RevokedPatientIDs {
			revoked[id.String()] = true
			delete(d.records, Key{EntityPatient, id})
		}
		for k, r := range d.records {
			if revoked[r.patientID()] {
				delete(d.records, k)
			}
		}
	}
	rep.Upserts += len(p.Upserts)
	rep.Tombstones += len(p.Tombstones)
	rep.Revoked += len(p.RevokedPatientIDs)
	cp := p.Checkpoint
	d.checkpoint = &cp
}

// reset forgets the checkpoint and every server copy; unpushed changes stay.
func (d *Device) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checkpoint = nil
	d.records = map[Key]*held{}
	d.gone = map[Key]bool{}
}

// wipe erases everything the device holds, unpushed changes included.
func (d *Device) wipe() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.checkpoint = nil
	d.records = map[Key]*held{}
	d.gone = map[Key]bool{}
	d.pending = nil
	d.rejected = nil
	d.conflicts = nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

const resolveMutation = `mutation Resolve($input: ResolveConflictInput!) { resolveConflict(input: $input) { id outcome } }`

// ResolveConflict settles an open conflict the server reported (c.ID is its
// id) with value, as a person looking at the device's copy of the record:
// the copy's version is sent as the resolution's baseVersion, so the server
// refuses it (an *Error with code CONFLICT) if the field changed since. It
// returns the server's refusal, or a transport error after the retries.
func (d *Device) ResolveConflict(ctx context.Context, c Conflict, value any, reason string) error {
	d.mu.Lock()
	in := map[string]any{"id": c.ID, "value": value, "reason": reason}
	if id, err := uuid.Parse(c.RecordID); err == nil {
		if r, ok := d.records[Key{c.Entity, id}]; ok {
			in["baseVersion"] = r.version
		}
	}
	d.mu.Unlock()
	if _, err := call[json.RawMessage](ctx, d, "resolve", resolveMutation, map[string]any{"input": in}, "resolveConflict", 0); err != nil {
		return fmt.Errorf("resolve conflict %s: %w", c.ID, err)
	}
	return nil
}
