package rxdb

import (
	"context"
	"strings"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// plan is what one push row becomes: engine changes, and whether the client
// must be sent the master state whatever the engine answers.
type plan struct {
	id      uuid.UUID
	row     *InteractionPushRow
	changes []offline.ChangeInput
	master  bool // the row asked for something that cannot be done: send the master back
}

// PushInteractions applies RxDB push rows to interactions through the
// engine's write path and returns the master state of every row the client
// must take: rows that merged with or conflicted against changes it had not
// seen, and rows refused. A row whose master already equals its new state
// (a retry after a lost answer) changes nothing and returns nothing.
//
// Each row becomes engine changes, judged against the row's
// assumedMasterState.version as the base of the three-way merge: no
// assumedMasterState → CREATE (and SIGN if the document is signed);
// deleted → DELETE of a draft; changed fields of a draft → UPDATE; signed
// → SIGN; changed purpose, notes or durationMinutes of a signed interaction
// → AMEND with amendmentReason. Mutation numbers are derived from the row's
// content, so a retried row is replayed by the engine, never applied twice
// and never recorded twice in the conflict ledger.
//
// Errors (nothing applied): EINVALID (install id, more than MaxPushRows rows,
// a row without a document or with an id that is not a UUID),
// EUNAUTHENTICATED, EFORBIDDEN (not a practitioner, another's install, a
// revoked device).
func (a *Adapter) PushInteractions(ctx context.Context, install string, rows []*InteractionPushRow) ([]*Interaction, error) {
	inst, err := parseInstall(install)
	if err != nil {
		return nil, err
	}
	if len(rows) > MaxPushRows {
		return nil, care.Errorf(care.EINVALID, "a push may carry at most %d rows; set push.batchSize lower", MaxPushRows)
	}
	dev := DeviceID(inst, Interactions)
	ids := make([]uuid.UUID, len(rows))
	for i, r := range rows {
		if r == nil || r.NewDocumentState == nil {
			return nil, care.Errorf(care.EINVALID, "row %d has no newDocumentState", i)
		}
		id, err := uuid.Parse(r.NewDocumentState.ID)
		if err != nil || id == uuid.Nil {
			return nil, care.Errorf(care.EINVALID, "row %d: id must be a UUID", i)
		}
		if r.AssumedMasterState != nil && bareID(r.AssumedMasterState.ID) != id.String() {
			return nil, care.Errorf(care.EINVALID, "row %d: assumedMasterState is another document", i)
		}
		ids[i] = id
	}
	before, err := a.eng.Current(ctx, offline.EntityInteraction, ids)
	if err != nil {
		return nil, err
	}
	plans := make([]*plan, 0, len(rows))
	var firsts []int64
	for i, r := range rows {
		cur := before[ids[i]]
		if equalsMaster(r.NewDocumentState, cur) {
			continue // nothing to do: already the server's state (a retry, or no change)
		}
		p := planRow(ids[i], r)
		plans = append(plans, p)
		if len(p.changes) > 0 {
			firsts = append(firsts, p.changes[0].MutationSeq)
		}
	}
	var done map[int64]offline.ResultStatus
	if len(firsts) > 0 {
		if done, err = a.eng.Recorded(ctx, dev, firsts); err != nil {
			return nil, err
		}
	}
	now := a.now()
	var changes []offline.ChangeInput
	for _, p := range plans {
		if len(p.changes) == 0 {
			continue
		}
		// The same row was applied before, fully, and the master has moved
		// on since (to another state and, by this client, back): this is a
		// new edit that happens to repeat an old one, not a retry. Number it
		// afresh so the engine judges it instead of replaying the old answer.
		if done[p.changes[0].MutationSeq] == offline.StatusApplied {
			cur := before[p.id]
			salt := int64(1)
			if cur != nil {
				salt = cur.Version + 1
			}
			renumber(p, mutationSeq(p.row, salt))
		}
		for k := range p.changes {
			p.changes[k].Hlc = offline.HLC{Wall: now.UnixMilli(), Counter: uint16(len(changes)), Node: "rxdb-" + strings.ReplaceAll(dev.String(), "-", "")}.String()
			changes = append(changes, p.changes[k])
		}
	}
	var results map[int64]*offline.ChangeResult
	if len(changes) > 0 {
		pay, err := a.eng.Push(ctx, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Changes: changes})
		if err != nil {
			return nil, err
		}
		results = make(map[int64]*offline.ChangeResult, len(pay.Results))
		for _, r := range pay.Results {
			results[r.MutationSeq] = r
		}
	}
	var back []uuid.UUID
	for _, p := range plans {
		need := p.master
		for _, c := range p.changes {
			if r := results[c.MutationSeq]; r == nil || r.Status != offline.StatusApplied {
				need = true
			}
		}
		if need {
			back = append(back, p.id)
		}
	}
	if len(back) == 0 {
		return []*Interaction{}, nil
	}
	after, err := a.eng.Current(ctx, offline.EntityInteraction, back)
	if err != nil {
		return nil, err
	}
	out := make([]*Interaction, 0, len(back))
	for _, id := range back {
		if r := after[id]; r != nil {
			out = append(out, interactionDoc(r))
		} else {
			// Deleted, never created (refused), or not the caller's to see:
			// one answer for all three.
			out = append(out, &Interaction{ID: id.String(), Deleted: true})
		}
	}
	return out, nil
}

func renumber(p *plan, seq int64) {
	for k := range p.changes {
		p.changes[k].MutationSeq = seq + int64(k)
	}
}

// equalsMaster reports whether doc is already the server's state cur (nil:
// no record the caller may see) in every field a client may change.
func equalsMaster(doc *Interaction, cur *offline.Record) bool {
	if cur == nil {
		return doc.Deleted
	}
	if doc.Deleted {
		return false
	}
	m := interactionDoc(cur)
	return sameStr(ptrID(doc.PatientID), m.PatientID) && sameStr(doc.Mode, m.Mode) && sameTime(doc.OccurredAt, m.OccurredAt) &&
		sameInt(doc.DurationMinutes, m.DurationMinutes) && sameIDs(doc.ParticipantIds, m.ParticipantIds) &&
		sameList(doc.OtherPresent, m.OtherPresent) && sameStr(doc.Purpose, m.Purpose) && sameStr(doc.Notes, m.Notes) &&
		sameStr(statusOf(doc), statusOf(m))
}

func ptrID(s *string) *string {
	if s == nil {
		return nil
	}
	v := bareID(*s)
	return &v
}

// statusOf is DRAFT or SIGNED: an amended interaction (AMENDED) is signed,
// and a document whose status the client left unset is a draft.
func statusOf(d *Interaction) *string {
	s := "DRAFT"
	if signed(d) {
		s = "SIGNED"
	}
	return &s
}

// signed reports whether d is signed (SIGNED, or AMENDED since).
func signed(d *Interaction) bool { return d != nil && d.Status != nil && *d.Status != "DRAFT" }

// planRow turns one row into engine changes (see PushInteractions).
func planRow(id uuid.UUID, r *InteractionPushRow) *plan {
	p := &plan{id: id, row: r}
	seq := mutationSeq(r, 0)
	next := func(ch offline.ChangeInput) {
		ch.MutationSeq, ch.Entity, ch.ID = seq+int64(len(p.changes)), offline.EntityInteraction, id
		p.changes = append(p.changes, ch)
	}
	nd, old := r.NewDocumentState, r.AssumedMasterState
	if old == nil {
		if nd.Deleted {
			return p // created and deleted before it was ever pushed
		}
		next(offline.ChangeInput{Op: offline.OpCreate, Fields: createFields(nd)})
		if signed(nd) {
			next(offline.ChangeInput{Op: offline.OpSign, BaseVersion: ptr(int64(0)), Fields: map[string]any{}})
		}
		return p
	}
	base := int64(0)
	if old.Version != nil {
		base = int64(*old.Version)
	}
	switch {
	case old.Deleted && nd.Deleted:
		return p
	case old.Deleted:
		p.master = true // a deleted record never comes back (ids are never reused)
		return p
	case nd.Deleted:
		next(offline.ChangeInput{Op: offline.OpDelete, BaseVersion: &base, Fields: map[string]any{}})
		return p
	}
	if !signed(old) {
		if f := changed(old, nd, false); len(f) > 0 {
			next(offline.ChangeInput{Op: offline.OpUpdate, BaseVersion: &base, Fields: f})
		}
		if signed(nd) {
			next(offline.ChangeInput{Op: offline.OpSign, BaseVersion: &base, Fields: map[string]any{}})
		}
		return p
	}
	// A signed interaction changes only by amendment, of its content.
	if f := changed(old, nd, true); len(f) > 0 {
		if nd.AmendmentReason != nil {
			f["reason"] = *nd.AmendmentReason
		}
		next(offline.ChangeInput{Op: offline.OpAmend, BaseVersion: &base, Fields: f})
	}
	if !signed(nd) || !sameStr(nd.Mode, old.Mode) || !sameTime(nd.OccurredAt, old.OccurredAt) ||
		!sameIDs(nd.ParticipantIds, old.ParticipantIds) || !sameList(nd.OtherPresent, old.OtherPresent) {
		p.master = true // not amendable: the signed values stand
	}
	return p
}

func ptr[T any](v T) *T { return &v }

// createFields are a new document's fields in the engine's terms.
func createFields(d *Interaction) map[string]any {
	f := map[string]any{"mode": d.Mode, "occurredAt": d.OccurredAt, "purpose": d.Purpose, "notes": d.Notes}
	if d.PatientID != nil {
		f["patientId"] = *d.PatientID
	}
	if d.DurationMinutes != nil {
		f["durationMinutes"] = *d.DurationMinutes
	}
	if d.ParticipantIds != nil {
		f["participantIds"] = d.ParticipantIds
	}
	if d.OtherPresent != nil {
		f["otherPresent"] = d.OtherPresent
	}
	for k, v := range f {
		if s, ok := v.(*string); ok {
			if s == nil {
				delete(f, k)
			} else {
				f[k] = *s
			}
		}
	}
	return f
}

// changed returns the fields the client changed from old to nd (its own
// edits, in the engine's terms); content only (purpose, notes,
// durationMinutes) for an amendment.
func changed(old, nd *Interaction, content bool) map[string]any {
	f := map[string]any{}
	if !sameStr(old.Purpose, nd.Purpose) && nd.Purpose != nil {
		f["purpose"] = *nd.Purpose
	}
	if !sameStr(old.Notes, nd.Notes) && nd.Notes != nil {
		f["notes"] = *nd.Notes
	}
	if !sameInt(old.DurationMinutes, nd.DurationMinutes) && nd.DurationMinutes != nil {
		f["durationMinutes"] = *nd.DurationMinutes
	}
	if content {
		return f
	}
	if !sameStr(old.Mode, nd.Mode) && nd.Mode != nil {
		f["mode"] = *nd.Mode
	}
	if !sameTime(old.OccurredAt, nd.OccurredAt) && nd.OccurredAt != nil {
		f["occurredAt"] = *nd.OccurredAt
	}
	if !sameIDs(old.ParticipantIds, nd.ParticipantIds) && nd.ParticipantIds != nil {
		f["participantIds"] = nd.ParticipantIds
	}
	if !sameList(old.OtherPresent, nd.OtherPresent) && nd.OtherPresent != nil {
		f["otherPresent"] = nd.OtherPresent
	}
	return f
}
