package client

import (
	"fmt"
	"maps"
	"time"

	"github.com/google/uuid"
)

// Interaction is what a practitioner records about a contact, offline.
type Interaction struct {
	PatientID       uuid.UUID
	Mode            string // HOME_VISIT, CLINIC, PHONE, VIDEO or MESSAGE
	OccurredAt      time.Time
	DurationMinutes *int
	OtherPresent    []string
	Purpose         string
	Notes           string
}

// CreateInteraction records a draft interaction locally with a fresh UUIDv7
// and queues it for the next push. It returns the new record's id.
func (d *Device) CreateInteraction(in Interaction) uuid.UUID {
	id := NewID()
	f := map[string]any{
		"patientId":  in.PatientID.String(),
		"mode":       in.Mode,
		"occurredAt": in.OccurredAt.UTC().Format(time.RFC3339Nano),
		"purpose":    in.Purpose,
		"notes":      in.Notes,
	}
	if in.DurationMinutes != nil {
		f["durationMinutes"] = *in.DurationMinutes
	}
	if in.OtherPresent != nil {
		f["otherPresent"] = in.OtherPresent
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.enqueue(EntityInteraction, id, OpCreate, f)
	return id
}

// EditInteraction queues new values for fields of a draft interaction (keys
// as in the GraphQL UpdateInteractionInput: mode, occurredAt,
// durationMinutes, otherPresent, purpose, notes). It returns an error if the
// device knows no such interaction.
func (d *Device) EditInteraction(id uuid.UUID, fields map[string]any) error {
	return d.change(EntityInteraction, id, OpUpdate, fields)
}

// SignInteraction queues signing a draft interaction off. It returns an error
// if the device knows no such interaction.
func (d *Device) SignInteraction(id uuid.UUID) error {
	return d.change(EntityInteraction, id, OpSign, nil)
}

// AmendInteraction queues a correction of a signed interaction: reason is
// required; fields may hold purpose, notes and durationMinutes. It returns
// an error if the device knows no such interaction or reason is empty.
func (d *Device) AmendInteraction(id uuid.UUID, reason string, fields map[string]any) error {
	if reason == "" {
		return fmt.Errorf("amend interaction %s: a reason is required", id)
	}
	f := maps.Clone(fields)
	if f == nil {
		f = map[string]any{}
	}
	f["reason"] = reason
	return d.change(EntityInteraction, id, OpAmend, f)
}

// DeleteDraft queues deleting a draft interaction. A draft never pushed is
// simply forgotten. It returns an error if the device knows no such interaction.
func (d *Device) DeleteDraft(id uuid.UUID) error {
	return d.change(EntityInteraction, id, OpDelete, nil)
}

// Change queues any change to a record the device knows. It returns an error
// if the device has no copy of the record and no pending creation of it.
func (d *Device) Change(entity Entity, id uuid.UUID, op Op, fields map[string]any) error {
	return d.change(entity, id, op, fields)
}

func (d *Device) change(entity Entity, id uuid.UUID, op Op, fields map[string]any) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := Key{entity, id}
	last := d.lastPending(k)
	if _, ok := d.records[k]; !ok && last == nil {
		return fmt.Errorf("%s %s: not on this device", op, k)
	}
	if last != nil && last.Op == OpDelete {
		return fmt.Errorf("%s %s: deleted on this device", op, k)
	}
	d.enqueue(entity, id, op, maps.Clone(fields))
	return nil
}

// lastPending returns the latest queued change to k, or nil.
func (d *Device) lastPending(k Key) *Change {
	for i := len(d.pending) - 1; i >= 0; i-- {
		if c := d.pending[i]; c.Entity == k.Entity && c.ID == k.ID {
			return c
		}
	}
	return nil
}

// enqueue records a change; d.mu is held. Unsent changes to the same record
// are folded together where that loses nothing (an edit into a pending
// create or edit; a delete cancels a create never sent), so a change's
// mutation number is final once it has been sent.
func (d *Device) enqueue(entity Entity, id uuid.UUID, op Op, fields map[string]any) {
	k := Key{entity, id}
	stamp := d.hlc.tick(d.now())
	if last := d.lastPending(k); last != nil && !last.Sent {
		switch {
		case op == OpUpdate && (last.Op == OpCreate || last.Op == OpUpdate):
			maps.Copy(last.Fields, fields)
			last.HLC = stamp
			return
		case op == OpDelete && last.Op == OpCreate:
			d.removePending(last.Seq)
			return
		}
	}
	d.nextSeq++
	c := &Change{Seq: d.nextSeq, Entity: entity, ID: id, Op: op, Fields: fields, HLC: stamp}
	if c.Fields == nil && (op == OpCreate || op == OpUpdate || op == OpAmend) {
		c.Fields = map[string]any{}
	}
	if op != OpCreate {
		// Protocol 2: the base is the version of the server's copy the user
		// was looking at (0 for a record created here and not yet confirmed),
		// even when the change is queued behind another of this device's
		// changes to the same record: the server counts this device's own
		// changes as seen, and nothing else it has not pulled.
		var v int64
		if r, ok := d.records[k]; ok {
			v = r.version
		}
		c.BaseVersion = &v
	}
	d.pending = append(d.pending, c)
}

func (d *Device) removePending(seq int64) {
	for i, c := range d.pending {
		if c.Seq == seq {
			d.pending = append(d.pending[:i], d.pending[i+1:]...)
			return
		}
	}
}

// View returns the record as the user sees it on the device: the server's
// copy with the device's pending changes laid over it. ok is false if the
// record does not exist or is pending deletion.
func (d *Device) View(entity Entity, id uuid.UUID) (data map[string]any, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := Key{entity, id}
	if r, has := d.records[k]; has {
		data, ok = r.decode(), true
	}
	for _, c := range d.pending {
		if c.Entity != entity || c.ID != id {
			continue
		}
		switch c.Op {
		case OpCreate:
			data, ok = map[string]any{"id": id.String(), "status": "DRAFT"}, true
			maps.Copy(data, c.Fields)
		case OpUpdate, OpAmend:
			if ok {
				maps.Copy(data, c.Fields)
				delete(data, "reason")
			}
		case OpSign:
			if ok {
				data["status"] = "SIGNED"
			}
		case OpDelete:
			data, ok = nil, false
		}
	}
	return data, ok
}

// Records returns copies of the server's records of one kind held on the
// device (without pending changes), in no particular order.
func (d *Device) Records(entity Entity) []Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Record
	for k, r := range d.records {
		if k.Entity == entity {
			out = append(out, r.record(k))
		}
	}
	return out
}

// IDs returns the ids of the server's records of one kind held on the
// device (without pending changes) whose fields match accepts, in no
// particular order; every one of that kind when match is nil. match runs
// with the device locked and sees the device's own map, which it must
// neither keep nor change: unlike Records, IDs copies no record, so a
// device holding thousands can be asked often.
func (d *Device) IDs(entity Entity, match func(data map[string]any) bool) []uuid.UUID {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []uuid.UUID
	for k, r := range d.records {
		if k.Entity == entity && (match == nil || match(r.fields())) {
			out = append(out, k.ID)
		}
	}
	return out
}

// Snapshot returns copies of every server record held on the device, by key.
func (d *Device) Snapshot() map[Key]Record {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[Key]Record, len(d.records))
	for k, r := range d.records {
		out[k] = r.record(k)
	}
	return out
}

// Pending returns copies of the changes waiting to be pushed, in order.
func (d *Device) Pending() []Change {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]Change, len(d.pending))
	for i, c := range d.pending {
		out[i] = *c
		out[i].Fields = maps.Clone(c.Fields)
	}
	return out
}

// Rejected returns the changes the server refused, oldest first.
func (d *Device) Rejected() []Rejection {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Rejection(nil), d.rejected...)
}

// Conflicts returns the conflicts the server reported for the device's
// changes, oldest first.
func (d *Device) Conflicts() []Conflict {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]Conflict(nil), d.conflicts...)
}

// Checkpoint returns the stored pull checkpoint ("" before the first pull).
func (d *Device) Checkpoint() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.checkpoint == nil {
		return ""
	}
	return *d.checkpoint
}
