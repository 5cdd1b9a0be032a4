package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// Result codes of a REJECTED change.
const (
	CodeBadUserInput = "BAD_USER_INPUT"
	CodeNotFound     = "NOT_FOUND"
	CodeForbidden    = "FORBIDDEN"
	CodeConflict     = "CONFLICT"
	CodeOutOfScope   = "OUT_OF_SCOPE"
	CodeIDRetired    = "ID_RETIRED"
)

// idRetiredMessage is the message of an ID_RETIRED refusal.
const idRetiredMessage = "this id belonged to a record that was deleted; ids are never reused, so the record was not created again"

// FieldDeleted is the ledger's field for a DELETE kept as a conflict.
const FieldDeleted = "deleted"

// rejection is a change's refusal with a sync result code that has no care
// error code of its own (OUT_OF_SCOPE).
type rejection struct{ code, message string }

func (r *rejection) Error() string { return r.code + ": " + r.message }

// rejectionOf returns the result code and message for a domain error, and
// false for an internal one (which aborts the push instead).
func rejectionOf(err error) (code, msg string, ok bool) {
	var r *rejection
	if errors.As(err, &r) {
		return r.code, r.message, true
	}
	switch care.ErrorCode(err) {
	case care.EINVALID, care.ELIMIT:
		code = CodeBadUserInput
	case care.ENOTFOUND:
		code = CodeNotFound
	case care.EFORBIDDEN, care.EUNAUTHENTICATED:
		code = CodeForbidden
	case care.ECONFLICT:
		code = CodeConflict
	default:
		return "", "", false
	}
	return code, care.ErrorMessage(err), true
}

// Push applies a batch of changes from one device: each change in its own
// transaction through the store's write path (validation, access rule,
// audit), exactly once per (device, mutation number).
//
// The whole push fails, with nothing applied, for an unsupported protocol
// (EINVALID), an oversize batch (EINVALID), a token that is not a
// practitioner's or a device bound to another practitioner (EFORBIDDEN), and
// a revoked device (EFORBIDDEN: a revoked device's changes are refused as a
// whole rather than one by one, and its next pull tells it to wipe).
// Otherwise each change gets a result; a change that fails validation,
// access, or the device's clock is REJECTED with a code and rolls back only
// itself. Changes are applied in transactions of up to Config.TxChunk
// changes judged one at a time, a run of CREATEs counting as one (see
// txChunk), and at most Config.TxMax changes. An
// internal error (the database went away, ctx cancelled) stops the push and is
// returned: the changes of transactions already committed are applied and
// recorded (a retry returns their results); those of the failing transaction
// left no trace.
func (e *Engine) Push(ctx context.Context, in PushInput) (*PushPayload, error) {
	if err := CheckProtocol(in.ProtocolVersion); err != nil {
		return nil, err
	}
	if len(in.Changes) > e.cfg.MaxBatch {
		return nil, care.Errorf(care.EINVALID, "a push may carry at most %d changes; split the batch", e.cfg.MaxBatch)
	}
	dev, err := e.db.RegisterDevice(ctx, in.DeviceID)
	if err != nil {
		return nil, err
	}
	if dev.RevokedAt != nil {
		return nil, care.Errorf(care.EFORBIDDEN, "this device has been revoked: it must be wiped")
	}
	changes := behindOwnChanges(in.Changes)
	out := &PushPayload{Results: make([]*ChangeResult, 0, len(changes))}
	for start := 0; start < len(changes); {
		chunk := changes[start : start+txChunk(changes[start:], e.cfg.TxChunk, e.cfg.TxMax)]
		start += len(chunk)
		rs, err := e.pushChunk(ctx, dev, in.ProtocolVersion, chunk)
		if err != nil {
			return nil, fmt.Errorf("sync push: changes %d to %d: %w", chunk[0].MutationSeq, chunk[len(chunk)-1].MutationSeq, err)
		}
		out.Results = append(out.Results, rs...)
	}
	// The answer shows ledger entries (both sides of clinical fields), first
	// time or replayed: reading them is reading the record, audited.
	read := map[uuid.UUID]*uuid.UUID{}
	for _, r := range out.Results {
		for _, c := range r.Conflicts {
			read[c.ID] = c.PatientID
		}
	}
	if len(read) > 0 {
		if err := e.db.AuditConflicts(ctx, care.AuditRead, read); err != nil {
			return nil, fmt.Errorf("sync push: audit conflicts: %w", err)
		}
	}
	out.ServerHlc = e.clock.Now().String()
	return out, nil
}

// behindOwnChanges returns the changes to judge: chs, except that a change
// sent after this device's earlier changes to the same record in the same
// push is judged from the lowest base among them (a CREATE's is 0): rules
// behind-own-create and behind-own-change. A device resends its oldest
// unanswered change first, so those earlier changes were unanswered when the
// later one was made, and the device showed them on top of its server copy:
// whatever a pull had meanwhile brought, the user never saw what they hid (a
// CREATE hides the whole record). Judging from the copy's version would let a
// DELETE or an edit overwrite a colleague's change the user was never shown.
// chs itself is never modified.
func behindOwnChanges(chs []ChangeInput) []ChangeInput {
	type ref struct {
		ent Entity
		id  uuid.UUID
	}
	lowest := map[ref]int64{}
	var out []ChangeInput
	for i, ch := range chs {
		r := ref{ch.Entity, ch.ID}
		base := int64(0)
		if ch.Op != OpCreate {
			if ch.BaseVersion == nil {
				continue // refused: no base
			}
			base = *ch.BaseVersion
		}
		low, ok := lowest[r]
		if !ok || base < low {
			lowest[r] = base
			continue
		}
		if ch.Op == OpCreate || base == low {
			continue
		}
		if out == nil {
			out = slices.Clone(chs)
		}
		out[i].BaseVersion = &low
	}
	if out == nil {
		return chs
	}
	return out
}

// txChunk returns how many changes at the start of chs go in one
// transaction: at most max in all, and at most perChange savepoints' worth,
// where a change judged alone takes one savepoint and a run of interaction
// CREATEs with distinct ids (applied set-based by pushCreates, under one
// savepoint) takes one for the run. Savepoints are what a transaction's
// size must bound: past 64 subtransactions that wrote, PostgreSQL's snapshots
// overflow their subtransaction cache and every session's visibility checks
// slow down until the transaction ends. A run's changes are otherwise as
// safe together as alone: each gets its own result, a refused one rolls back
// alone, and all are recorded in the transaction that applied them. (A run
// split by numbers already recorded takes one savepoint per part; a run the
// set-based path cannot settle falls back to one savepoint per change: both
// only in a retry or a failure, and only slower.)
func txChunk(chs []ChangeInput, perChange, max int) int {
	units := 0
	run := map[uuid.UUID]bool{} // ids of the current run of CREATEs
	for n, ch := range chs {
		if n == max {
			return n
		}
		if ch.Entity == EntityInteraction && ch.Op == OpCreate {
			if len(run) > 0 && !run[ch.ID] {
				run[ch.ID] = true
				continue // joins the run
			}
			clear(run)
			run[ch.ID] = true
		} else {
			clear(run)
		}
		if units == perChange {
			return n
		}
		units++
	}
	return len(chs)
}

// pushChunk applies the changes of one transaction (see txChunk) in one transaction: one commit
// (one WAL flush, one commit-order stamp) for many changes. Each change still
// runs in its own savepoint, so a refused change rolls back alone; if the
// transaction fails, every change of the chunk is undone together and none is
// half-applied, and the device's retry replays the earlier chunks by mutation
// number and applies this one. The records the chunk changes are locked first,
// in one order for every push, so concurrent pushes queue instead of
// deadlocking.
func (e *Engine) pushChunk(ctx context.Context, dev *postgres.SyncDevice, version int, chunk []ChangeInput) ([]*ChangeResult, error) {
	var rs []*ChangeResult
	refs := make([]postgres.SyncRef, 0, len(chunk))
	seqs := make([]int64, len(chunk))
	for i, ch := range chunk {
		seqs[i] = ch.MutationSeq
		if ch.Op != OpCreate {
			refs = append(refs, postgres.SyncRef{Entity: string(ch.Entity), ID: ch.ID})
		}
	}
	err := e.db.InTx(ctx, func(tx *postgres.DB) error {
		rs = rs[:0]
		if err := tx.LockSyncRecords(ctx, refs); err != nil {
			return err
		}
		// The chunk's mutation numbers already recorded are replayed; the
		// others are applied, each recorded in this transaction (exactly
		// once: see RecordMutations). A number the chunk repeats is applied
		// by its first change, and the later ones replay its result.
		recorded, err := tx.MutationResults(ctx, dev.ID, seqs)
		if err != nil {
			return err
		}
		claimed := make(map[int64]bool, len(chunk))
		for _, s := range seqs {
			if _, ok := recorded[s]; !ok {
				claimed[s] = true
			}
		}
		for i := 0; i < len(chunk); {
			set := e.pushCreates
			n := 0
			switch {
			case e.cfg.oneByOne:
			case version >= 2 && slices.Contains(draftOps, chunk[i].Op):
				n, set = runOf(chunk[i:], claimed, draftOps...), e.pushEdits
			default:
				n = runOf(chunk[i:], claimed, OpCreate)
			}
			if n > 0 {
				r, err := set(ctx, tx, dev, version, chunk[i:i+n])
				if err != nil {
					return fmt.Errorf("changes %d to %d: %w", chunk[i].MutationSeq, chunk[i+n-1].MutationSeq, err)
				}
				rs = append(rs, r...)
				i += n
				continue
			}
			r, err := e.pushOne(ctx, tx, dev, version, &chunk[i], claimed)
			if err != nil {
				return fmt.Errorf("change %d: %w", chunk[i].MutationSeq, err)
			}
			rs = append(rs, r...)
			i++
		}
		return nil
	})
	return rs, err
}

// draftOps are the changes pushEdits applies together.
var draftOps = []Op{OpUpdate, OpSign, OpDelete}

// runOf returns how many changes at the start of chs are one of ops (CREATE;
// or draftOps) of interactions with distinct ids whose mutation
// numbers are to be applied (claimed), and takes them from claimed:
// pushCreates or pushEdits applies them together.
func runOf(chs []ChangeInput, claimed map[int64]bool, ops ...Op) int {
	ids := map[uuid.UUID]bool{}
	n := 0
	for _, ch := range chs {
		if ch.Entity != EntityInteraction || !slices.Contains(ops, ch.Op) || !claimed[ch.MutationSeq] || ids[ch.ID] {
			break
		}
		ids[ch.ID] = true
		delete(claimed, ch.MutationSeq)
		n++
	}
	return n
}

// storedResult is how a change's result is kept in sync_mutations: whole, so
// a replay answers exactly what the first answer said, whatever happened to
// the record or its conflicts since.
type storedResult struct {
	Status    ResultStatus     `json:"status"`
	Code      *string          `json:"code,omitempty"`
	Message   *string          `json:"message,omitempty"`
	Version   *int64           `json:"version,omitempty"`
	Record    RawJSON          `json:"record,omitempty"`
	Conflicts []storedConflict `json:"conflicts,omitempty"`
}

// storedConflict is a conflict as the push answered it. Results recorded
// before protocol version 2 hold only the id.
type storedConflict struct {
	ID       uuid.UUID `json:"id"`
	Conflict *Conflict `json:"conflict,omitempty"`
}

// pushOne applies one change exactly once inside tx: a mutation number not
// claimed (already recorded, or applied by an earlier change of the chunk)
// returns its recorded result; otherwise the change is applied and its
// result recorded in the same transaction.
func (e *Engine) pushOne(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, version int, ch *ChangeInput, claimed map[int64]bool) ([]*ChangeResult, error) {
	if !claimed[ch.MutationSeq] {
		recorded, err := tx.MutationResult(ctx, dev.ID, ch.MutationSeq)
		if err != nil {
			return nil, err
		}
		res, err := e.replay(ctx, tx, ch.MutationSeq, recorded)
		return []*ChangeResult{res}, err
	}
	delete(claimed, ch.MutationSeq)
	res, judged, err := e.apply(ctx, tx, dev, version, ch)
	if err != nil {
		return nil, err
	}
	rec, err := recordOfResult(res, judged)
	if err != nil {
		return nil, err
	}
	return []*ChangeResult{res}, tx.RecordMutations(ctx, dev.ID, []postgres.MutationRecord{rec})
}

// recordOfResult is how a change's result is recorded for replays.
func recordOfResult(res *ChangeResult, judged *postgres.MutationJudgement) (postgres.MutationRecord, error) {
	st := storedResult{Status: res.Status, Code: res.Code, Message: res.Message, Version: res.Version}
	if res.RecordJSON == nil && res.Record != nil {
		b, err := json.Marshal(res.Record)
		if err != nil {
			return postgres.MutationRecord{}, fmt.Errorf("encode result: %w", err)
		}
		st.Record = b
	}
	for _, c := range res.Conflicts {
		st.Conflicts = append(st.Conflicts, storedConflict{ID: c.ID, Conflict: c})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return postgres.MutationRecord{}, fmt.Errorf("encode result: %w", err)
	}
	if res.RecordJSON != nil {
		// Already encoded: added as it is, rather than have encoding/json
		// check and copy it again (the object is never empty: it has a
		// status).
		b = append(append(append(b[:len(b)-1], `,"record":`...), res.RecordJSON...), '}')
	}
	return postgres.MutationRecord{Seq: res.MutationSeq, Result: b, Judgement: judged}, nil
}

// runResults gathers the results of a run of changes applied together
// (pushCreates, pushEdits), aligned with the run.
type runResults struct {
	e      *Engine
	ctx    context.Context
	run    []ChangeInput
	rs     []*ChangeResult
	judged []*postgres.MutationJudgement
}

func (e *Engine) newRun(ctx context.Context, run []ChangeInput) *runResults {
	return &runResults{e: e, ctx: ctx, run: run, rs: make([]*ChangeResult, len(run)), judged: make([]*postgres.MutationJudgement, len(run))}
}

// refuse settles change k with err: REJECTED for a domain error; any other
// error is returned.
func (r *runResults) refuse(k int, err error) error {
	if code, msg, ok := rejectionOf(err); ok && r.ctx.Err() == nil {
		r.rs[k] = rejected(r.run[k].MutationSeq, code, msg)
		return nil
	}
	return err
}

// decode makes the first checks apply and applyChange make of change k (its
// clock, its id, its fields' names and types) and returns its clock and
// fields; ok is false when the change was refused (settled).
func (r *runResults) decode(k int) (HLC, *changeFields, bool, error) {
	ch := &r.run[k]
	h, refused := r.e.checkClock(ch)
	if refused != nil {
		r.rs[k] = refused
		return h, nil, false, nil
	}
	if ch.ID == uuid.Nil {
		return h, nil, false, r.refuse(k, care.Errorf(care.EINVALID, "id must be a UUID other than the nil UUID"))
	}
	f, err := decodeFields(ch.Entity, ch.Op, ch.Fields)
	if err != nil {
		return h, nil, false, r.refuse(k, err)
	}
	return h, f, true, nil
}

// record numbers every result and records them all, in one statement.
func (r *runResults) record(tx *postgres.DB, dev *postgres.SyncDevice) ([]*ChangeResult, error) {
	recs := make([]postgres.MutationRecord, len(r.run))
	for k := range r.run {
		r.rs[k].MutationSeq = r.run[k].MutationSeq
		var err error
		if recs[k], err = recordOfResult(r.rs[k], r.judged[k]); err != nil {
			return nil, err
		}
	}
	return r.rs, tx.RecordMutations(r.ctx, dev.ID, recs)
}

// pushCreates applies a run of claimed CREATEs of interactions (distinct
// ids) with the same checks, in the same order, and the same results as
// apply gives each, in a handful of statements for the run: one read of what
// the checks need (retired ids, the patients' visibility, the device's
// scope, the practitioners: SyncCreateFacts), one write of the rows, their
// change log and their audit (CreateInteractionsFromSync), and one write of
// the results. The record a result returns is the row the INSERT returned:
// nothing just written is read again. A change the set-based path cannot
// settle (its id is taken; or the store's statements failed, and nothing of
// them was kept) is applied alone by apply.
func (e *Engine) pushCreates(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, version int, run []ChangeInput) ([]*ChangeResult, error) {
	rr := e.newRun(ctx, run)
	rs, judged, refuse := rr.rs, rr.judged, rr.refuse
	type pending struct {
		k        int
		h        HLC
		patient  *uuid.UUID
		in       care.CreateInteractionInput
		fieldErr error // reported after the id and scope checks, as create does
	}
	var ps []pending
	var ids, patients []uuid.UUID
	for k := range run {
		ch := &run[k]
		h, f, ok, err := rr.decode(k)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		p := pending{k: k, h: h, patient: f.PatientID}
		p.in, p.fieldErr = f.createInteraction(ch.ID)
		ps = append(ps, p)
		ids = append(ids, ch.ID)
		if f.PatientID != nil {
			patients = append(patients, *f.PatientID)
		}
	}
	var people []uuid.UUID
	for _, p := range ps {
		if p.fieldErr == nil {
			if p.in.PractitionerID != nil {
				people = append(people, *p.in.PractitionerID)
			}
			people = append(people, p.in.ParticipantIDs...)
		}
	}
	facts, err := tx.SyncCreateFacts(ctx, dev.ID, ids, patients, people)
	if err != nil {
		return nil, err
	}
	retired, visible, had := facts.Retired, facts.Visible, facts.Had
	var creates []postgres.SyncCreate
	var todo []pending
	for _, p := range ps {
		var err error
		switch {
		case retired[run[p.k].ID]:
			err = &rejection{CodeIDRetired, idRetiredMessage}
		case p.patient != nil && !visible[*p.patient] && had[*p.patient]:
			err = outOfScope()
		default:
			err = p.fieldErr
		}
		if err != nil {
			if err := refuse(p.k, err); err != nil {
				return nil, err
			}
			continue
		}
		creates = append(creates, postgres.SyncCreate{Input: p.in, HLC: p.h.String()})
		todo = append(todo, p)
	}
	var made []*care.Interaction
	var errs []error
	var failed error // the store's statements failed: nothing of them was kept
	if len(creates) > 0 {
		made, errs, failed = tx.CreateInteractionsFromSync(ctx, dev.ID, creates, facts)
		if failed != nil && ctx.Err() != nil {
			return nil, failed
		}
	}
	for j, p := range todo {
		ch := &run[p.k]
		switch {
		case failed != nil || errors.Is(errs[j], postgres.ErrIDTaken):
			// Settled alone, in a savepoint, as any other change.
			res, jd, err := e.apply(ctx, tx, dev, version, ch)
			if err != nil {
				return nil, err
			}
			rs[p.k], judged[p.k] = res, jd
		case errs[j] != nil:
			if err := refuse(p.k, errs[j]); err != nil {
				return nil, err
			}
		default:
			i := made[j]
			v := i.Version
			rs[p.k] = &ChangeResult{Status: StatusApplied, Version: &v, Record: interactionData(i, nil),
				RecordJSON: appendInteractionJSON(nil, i, nil), Conflicts: []*Conflict{}}
			judged[p.k] = &postgres.MutationJudgement{RecordID: ch.ID, ResultVersion: v}
		}
	}
	return rr.record(tx, dev)
}

// pushEdits applies a run of claimed UPDATEs, SIGNs and DELETEs of
// interactions (distinct ids) with the same checks, in the same order, and
// the same results as apply gives each, in a handful of statements for the
// run: one round trip reads the records' states, the records as they are
// now and their field clocks (SyncEditStates; the records are locked
// already, by pushChunk); one writes every edit whose merge writes without
// a collision, and every SIGN and DELETE of a draft its author had seen as
// it is, with their field clocks, change log and audit
// (ChangeDraftsFromSync); one records the results. The record a result
// returns is the row the UPDATE returned. A change the set-based path does
// not settle (an edit of a signed record, a collision to record in the
// ledger, nothing to write, new participants; a SIGN of a record signed
// already; a DELETE of a draft changed since, which records a conflict; or
// the write failed, leaving nothing of it) is applied alone by apply after
// the run's write: the run's records are distinct, so no change of it
// depends on another's.
func (e *Engine) pushEdits(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, version int, run []ChangeInput) ([]*ChangeResult, error) {
	rr := e.newRun(ctx, run)
	rs, judged, refuse := rr.rs, rr.judged, rr.refuse
	type pending struct {
		k    int
		h    HLC
		f    *changeFields
		base int64
		op   Op // set-based: OpSign, OpDelete, or an UPDATE as plan says
		plan mergePlan
	}
	var ps []pending
	var ids []uuid.UUID
	for k := range run {
		h, f, ok, err := rr.decode(k)
		if err != nil {
			return nil, err
		}
		if ok {
			ps = append(ps, pending{k: k, h: h, f: f})
			ids = append(ids, run[k].ID)
		}
	}
	var states map[uuid.UUID]*postgres.SyncEditState
	if len(ps) > 0 {
		var err error
		if states, err = tx.SyncEditStates(ctx, ids); err != nil {
			return nil, err
		}
	}
	// Why a record the caller may not see is not edited (applyChange's
	// checkScope): asked only when there is one.
	var gone []uuid.UUID
	for _, p := range ps {
		if st := states[run[p.k].ID]; st.Exists && !st.Visible && st.PatientID != nil {
			gone = append(gone, *st.PatientID)
		}
	}
	had, err := tx.DevicePatientIDs(ctx, dev.ID, gone)
	if err != nil {
		return nil, err
	}
	var edits []postgres.SyncEdit
	var todo, alone []pending
	for _, p := range ps {
		ch := &run[p.k]
		st := states[ch.ID]
		judge := func() (bool, error) { // true: set-based; false: alone
			// applyChange's checks, in its order.
			if err := checkScope(ch.Entity, &st.SyncRecordState, func(patient uuid.UUID) (bool, error) { return had[patient], nil }); err != nil {
				return false, err
			}
			if st.MayChange != nil {
				return false, st.MayChange
			}
			var err error
			if p.base, err = baseOf(ch, &st.SyncRecordState); err != nil {
				return false, err
			}
			signed := st.Status != string(care.InteractionDraft)
			sn := seen{base: p.base, device: dev.ID, clocks: st.FieldClocks}
			switch ch.Op {
			case OpSign:
				switch {
				case signed: // signed already: the result is the record with its amendments, read alone
					return false, nil
				case sn.anyUnseen():
					return false, care.Errorf(care.ECONFLICT, signUnseenMessage)
				}
				p.op, p.plan.status = OpSign, StatusApplied
				return true, nil
			case OpDelete:
				switch {
				case signed:
					return false, care.Errorf(care.ECONFLICT, deleteSignedMessage)
				case sn.anyUnseen(): // kept, with the conflict recorded: alone
					return false, nil
				}
				p.op, p.plan.status = OpDelete, StatusApplied
				return true, nil
			}
			devVals, err := e.changeValues(ch, p.f, signed)
			if err != nil || signed {
				return false, err
			}
			p.plan, err = planMerge(ch, devVals, interactionData(st.Interaction, nil), sn, signed, p.h)
			if err != nil || len(p.plan.collided) > 0 || len(p.plan.apply) == 0 || p.plan.apply["participantIds"] {
				return false, err
			}
			return true, nil
		}
		set, err := judge()
		switch {
		case err != nil:
			if err := refuse(p.k, err); err != nil {
				return nil, err
			}
		case set:
			in := care.UpdateInteractionInput{ID: ch.ID}
			if p.op == "" {
				var err error
				if in, err = p.f.updateInteraction(ch.ID, p.plan.apply); err != nil { // parsed by changeValues already: never
					return nil, err
				}
			}
			edits = append(edits, postgres.SyncEdit{Input: in, Sign: p.op == OpSign, Delete: p.op == OpDelete, HLC: p.h.String()})
			todo = append(todo, p)
		default:
			alone = append(alone, p)
		}
	}
	if len(edits) > 0 {
		made, err := tx.ChangeDraftsFromSync(ctx, dev.ID, edits)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, err
		case err != nil:
			alone = append(alone, todo...) // nothing of the write was kept
		default:
			for j, p := range todo {
				i := made[j]
				v := i.Version
				judged[p.k] = &postgres.MutationJudgement{RecordID: i.ID, BaseVersion: p.base, ResultVersion: v}
				if p.op == OpDelete { // as delete answers: no version, no record
					rs[p.k] = &ChangeResult{Status: StatusApplied, Conflicts: []*Conflict{}}
					continue
				}
				rs[p.k] = &ChangeResult{Status: p.plan.status, Version: &v, Record: interactionData(i, nil),
					RecordJSON: appendInteractionJSON(nil, i, nil), Conflicts: []*Conflict{}}
			}
		}
	}
	for _, p := range alone {
		res, jd, err := e.apply(ctx, tx, dev, version, &run[p.k])
		if err != nil {
			return nil, err
		}
		rs[p.k], judged[p.k] = res, jd
	}
	return rr.record(tx, dev)
}

// replay rebuilds a recorded result exactly as it was first answered.
func (e *Engine) replay(ctx context.Context, tx *postgres.DB, seq int64, recorded []byte) (*ChangeResult, error) {
	var st storedResult
	if err := json.Unmarshal(recorded, &st); err != nil {
		return nil, fmt.Errorf("decode recorded result: %w", err)
	}
	res := &ChangeResult{MutationSeq: seq, Status: st.Status, Code: st.Code, Message: st.Message, Version: st.Version,
		Conflicts: []*Conflict{}}
	if st.Record != nil {
		if err := json.Unmarshal(st.Record, &res.Record); err != nil {
			return nil, fmt.Errorf("decode recorded result's record: %w", err)
		}
	}
	var legacy []uuid.UUID
	for _, c := range st.Conflicts {
		if c.Conflict != nil {
			res.Conflicts = append(res.Conflicts, c.Conflict)
		} else {
			legacy = append(legacy, c.ID)
		}
	}
	if len(legacy) > 0 {
		cs, err := tx.SyncConflictsByID(ctx, legacy, false)
		if err != nil {
			return nil, err
		}
		for _, c := range cs {
			if c != nil {
				res.Conflicts = append(res.Conflicts, conflictOf(c))
			}
		}
	}
	return res, nil
}

func rejected(seq int64, code, msg string) *ChangeResult {
	return &ChangeResult{MutationSeq: seq, Status: StatusRejected, Code: &code, Message: &msg, Conflicts: []*Conflict{}}
}

// apply checks the change's clock, then runs it in a savepoint so a refusal
// rolls back the change alone and is returned as a REJECTED result. It also
// returns what the change was judged against (nil for a refused change).
func (e *Engine) apply(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, version int, ch *ChangeInput) (*ChangeResult, *postgres.MutationJudgement, error) {
	h, refused := e.checkClock(ch)
	if refused != nil {
		return refused, nil, nil
	}
	if err := tx.SetSyncOrigin(ctx, h.String(), dev.ID); err != nil {
		return nil, nil, err
	}
	var res *ChangeResult
	var judged *postgres.MutationJudgement
	err := tx.Savepoint(ctx, func(sp *postgres.DB) error {
		var err error
		res, judged, err = e.applyChange(ctx, sp, dev, version, ch, h)
		return err
	})
	if err != nil {
		if code, msg, ok := rejectionOf(err); ok && ctx.Err() == nil {
			return rejected(ch.MutationSeq, code, msg), nil, nil
		}
		return nil, nil, err
	}
	res.MutationSeq = ch.MutationSeq
	return res, judged, nil
}

// checkClock checks a change's mutation number and clock, and returns its
// HLC, or its REJECTED result.
func (e *Engine) checkClock(ch *ChangeInput) (HLC, *ChangeResult) {
	if ch.MutationSeq <= 0 {
		return HLC{}, rejected(ch.MutationSeq, CodeBadUserInput, "mutationSeq must be a positive number")
	}
	h, err := ParseHLC(ch.Hlc)
	if err != nil {
		return HLC{}, rejected(ch.MutationSeq, CodeBadUserInput, care.ErrorMessage(err))
	}
	// Clock skew: a timestamp more than MaxClockSkew ahead of the server is
	// rejected (not clamped): clamping would silently reorder the device's
	// own edits, and a wrong clock is something the nurse can fix.
	if _, err := e.clock.Receive(h); err != nil {
		return HLC{}, rejected(ch.MutationSeq, CodeBadUserInput, care.ErrorMessage(err))
	}
	return h, nil
}

// seen tells, for one change, which changes of a record its author had seen:
// those up to the base version, and every change the same device made since
// (a device knows its own changes, including those it queued behind unsent
// ones). Any other change after the base was not seen.
type seen struct {
	base   int64
	device uuid.UUID
	clocks map[string]postgres.SyncFieldClock
}

// unseen reports whether column changed since the base, by someone else.
func (s seen) unseen(column string) bool {
	fc, ok := s.clocks[column]
	return ok && fc.Version > s.base && (fc.DeviceID == nil || *fc.DeviceID != s.device)
}

// anyUnseen reports whether any field changed since the base, by someone else.
func (s seen) anyUnseen() bool {
	for col := range s.clocks {
		if s.unseen(col) {
			return true
		}
	}
	return false
}

// applyChange runs one change through the store's write path. Access and
// authorship are decided first, before anything is merged or recorded: a
// refused change leaves no trace beyond its REJECTED result.
func (e *Engine) applyChange(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, version int, ch *ChangeInput, h HLC) (*ChangeResult, *postgres.MutationJudgement, error) {
	if ch.Entity == EntityFeedback {
		res, err := e.applyFeedback(ctx, tx, ch)
		return res, nil, err
	}
	if ch.ID == uuid.Nil {
		return nil, nil, care.Errorf(care.EINVALID, "id must be a UUID other than the nil UUID")
	}
	f, err := decodeFields(ch.Entity, ch.Op, ch.Fields)
	if err != nil {
		return nil, nil, err
	}
	if ch.Op == OpCreate {
		retired, err := tx.IDRetired(ctx, ch.ID)
		if err != nil {
			return nil, nil, err
		}
		if retired {
			return nil, nil, &rejection{CodeIDRetired, idRetiredMessage}
		}
		res, err := e.create(ctx, tx, dev, ch, f)
		if err != nil {
			return nil, nil, err
		}
		return res, &postgres.MutationJudgement{RecordID: ch.ID, ResultVersion: derefOr(res.Version, 0)}, nil
	}
	st, err := tx.LockSyncRecord(ctx, string(ch.Entity), ch.ID)
	if err != nil {
		return nil, nil, err
	}
	had := func(patient uuid.UUID) (bool, error) { return tx.DeviceHadPatient(ctx, dev.ID, patient) }
	if err := checkScope(ch.Entity, st, had); err != nil {
		return nil, nil, err
	}
	if err := tx.MayChange(ctx, string(ch.Entity), string(ch.Op), ch.ID); err != nil {
		return nil, nil, err
	}
	base, err := baseOf(ch, st)
	if err != nil {
		return nil, nil, err
	}
	if version == 1 && base > 0 {
		// Version 1 told a device to send, for a change queued behind its own
		// earlier change, that change's result version: read it back to what
		// the device had really seen. (This may report a conflict the user
		// had in fact seen, if she pulled that very version; never lose one.)
		b, ok, err := tx.ChainedBase(ctx, dev.ID, ch.ID, base, ch.MutationSeq)
		if err != nil {
			return nil, nil, err
		}
		if ok {
			base = b
		}
	}
	sn := seen{base: base, device: dev.ID, clocks: st.FieldClocks}
	var res *ChangeResult
	switch ch.Op {
	case OpDelete:
		res, err = e.delete(ctx, tx, dev, ch, st, sn)
	case OpSign:
		res, err = e.sign(ctx, tx, ch, st, sn)
	default:
		res, err = e.merge(ctx, tx, dev, ch, f, st, sn, h)
	}
	if err != nil {
		return nil, nil, err
	}
	return res, &postgres.MutationJudgement{RecordID: ch.ID, BaseVersion: base, ResultVersion: derefOr(res.Version, st.Version)}, nil
}

func derefOr(p *int64, def int64) int64 {
	if p == nil {
		return def
	}
	return *p
}

// delete runs a DELETE of a draft. A draft changed since the device's base by
// someone else is not deleted: the unseen change would go with it. The record
// stays and the ledger holds an OPEN conflict saying who wanted it deleted;
// a person resolves it (deleting, or keeping the record).
func (e *Engine) delete(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput, st *postgres.SyncRecordState, sn seen) (*ChangeResult, error) {
	if st.Status != string(care.InteractionDraft) {
		return nil, care.Errorf(care.ECONFLICT, deleteSignedMessage)
	}
	if sn.anyUnseen() {
		res, err := e.result(ctx, tx, ch.Entity, ch.ID, StatusConflict, nil)
		if err != nil {
			return nil, err
		}
		c, err := e.recordConflict(ctx, tx, dev, ch, st, FieldDeleted, false, true, PolicyKeepBoth, OutcomeOpen, *res.Version)
		if err != nil {
			return nil, err
		}
		res.Conflicts = []*Conflict{c}
		return res, nil
	}
	if err := tx.DeleteInteraction(ctx, ch.ID); err != nil {
		return nil, err
	}
	return &ChangeResult{Status: StatusApplied, Conflicts: []*Conflict{}}, nil
}

// sign runs a SIGN. Signing an interaction already signed changes nothing
// and is APPLIED (the outcome the device asked for holds). A draft changed
// since the device's base by someone else is not signed: a signature attests
// content its author has read. The change is REJECTED (CONFLICT) and the
// device signs again after pulling.
func (e *Engine) sign(ctx context.Context, tx *postgres.DB, ch *ChangeInput, st *postgres.SyncRecordState, sn seen) (*ChangeResult, error) {
	if st.Status == string(care.InteractionDraft) {
		if sn.anyUnseen() {
			return nil, care.Errorf(care.ECONFLICT, signUnseenMessage)
		}
		if _, err := tx.SignInteraction(ctx, care.SignInteractionInput{ID: ch.ID}); err != nil {
			return nil, err
		}
	}
	return e.result(ctx, tx, ch.Entity, ch.ID, StatusApplied, nil)
}

// deleteSignedMessage refuses a DELETE of a signed interaction.
const deleteSignedMessage = "a signed interaction cannot be deleted; amend it instead"

// signUnseenMessage refuses a SIGN of a draft changed since its author last
// saw it: a signature attests content its author has read.
const signUnseenMessage = "the draft changed on another device since this one last saw it: pull, review it and sign again"

// checkScope refuses a change to a record the caller may no longer see:
// OUT_OF_SCOPE when the patient was once in this device's scope (had; the
// device holds the record and must be told why its edit was not applied),
// NOT_FOUND otherwise (nothing is revealed about records it never had).
func checkScope(ent Entity, st *postgres.SyncRecordState, had func(patient uuid.UUID) (bool, error)) error {
	if !st.Exists {
		return care.Errorf(care.ENOTFOUND, "no such %s", strings.ReplaceAll(string(ent), "_", " "))
	}
	if st.Visible {
		return nil
	}
	if st.PatientID != nil {
		was, err := had(*st.PatientID)
		if err != nil {
			return err
		}
		if was {
			return outOfScope()
		}
	}
	return care.Errorf(care.ENOTFOUND, "no such %s", strings.ReplaceAll(string(ent), "_", " "))
}

// baseOf returns the version of the record a change was made against,
// EINVALID when the change names none or one the record never had.
func baseOf(ch *ChangeInput, st *postgres.SyncRecordState) (int64, error) {
	if ch.BaseVersion == nil {
		return 0, care.Errorf(care.EINVALID, "baseVersion is required for %s", strings.ToUpper(string(ch.Op)))
	}
	base := *ch.BaseVersion
	if base < 0 || base > st.Version {
		return 0, care.Errorf(care.EINVALID, "baseVersion %d is not a version of this record (the server's is %d)", base, st.Version)
	}
	return base, nil
}

func outOfScope() error {
	return &rejection{CodeOutOfScope, "this patient is no longer in your caseload, so the change was not applied; " +
		"ask a colleague who cares for the patient to record it"}
}

// create runs a CREATE (idempotent in the store: the same id returns the record).
func (e *Engine) create(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput, f *changeFields) (*ChangeResult, error) {
	if f.PatientID != nil {
		ok, err := tx.PatientVisible(ctx, *f.PatientID)
		if err != nil {
			return nil, err
		}
		if !ok {
			had, err := tx.DeviceHadPatient(ctx, dev.ID, *f.PatientID)
			if err != nil {
				return nil, err
			}
			if had {
				return nil, outOfScope()
			}
		}
	}
	switch ch.Entity {
	case EntityInteraction:
		in, err := f.createInteraction(ch.ID)
		if err != nil {
			return nil, err
		}
		if _, err := tx.CreateInteraction(ctx, in); err != nil {
			return nil, err
		}
	case EntityCareRelationship:
		in, err := f.startRelationship(ch.ID)
		if err != nil {
			return nil, err
		}
		if _, err := tx.StartRelationship(ctx, in); err != nil {
			return nil, err
		}
	}
	return e.result(ctx, tx, ch.Entity, ch.ID, StatusApplied, nil)
}

// result loads the record's current state for a change's result.
func (e *Engine) result(ctx context.Context, tx *postgres.DB, ent Entity, id uuid.UUID, status ResultStatus, conflicts []*Conflict) (*ChangeResult, error) {
	rows, err := tx.LoadSyncRows(ctx, []postgres.SyncRef{{Entity: string(ent), ID: id}})
	if err != nil {
		return nil, err
	}
	if conflicts == nil {
		conflicts = []*Conflict{}
	}
	res := &ChangeResult{Status: status, Conflicts: conflicts}
	if r := recordOf(rows, ent, id); r != nil {
		v := r.Version
		res.Version, res.Record = &v, r.Data
	}
	return res, nil
}

// merge applies an UPDATE or AMEND field by field against the changes its
// author had not seen (sn): fields nobody else changed since are applied;
// fields both changed are settled by the policy (policy.go) and recorded in
// the conflict ledger. An AMEND is an append: it is recorded with its reason
// and author even when every field it corrects is left to a person.
func (e *Engine) merge(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput, f *changeFields,
	st *postgres.SyncRecordState, sn seen, h HLC) (*ChangeResult, error) {
	signed := ch.Entity == EntityInteraction && st.Status != string(care.InteractionDraft)
	devVals, err := e.changeValues(ch, f, signed)
	if err != nil {
		return nil, err
	}
	current, err := e.result(ctx, tx, ch.Entity, ch.ID, StatusApplied, nil)
	if err != nil {
		return nil, err
	}
	if current.Record == nil {
		return nil, care.Errorf(care.ENOTFOUND, "no such %s", strings.ReplaceAll(string(ch.Entity), "_", " "))
	}
	p, err := planMerge(ch, devVals, current.Record, sn, signed, h)
	if err != nil {
		return nil, err
	}
	if len(p.apply) > 0 || ch.Op == OpAmend {
		if err := e.write(ctx, tx, ch, f, p.apply); err != nil {
			return nil, err
		}
	}
	res, err := e.result(ctx, tx, ch.Entity, ch.ID, p.status, nil)
	if err != nil {
		return nil, err
	}
	for _, c := range p.collided {
		c, err := e.recordConflict(ctx, tx, dev, ch, st, c.field, c.server, c.device, c.policy, c.outcome, derefOr(res.Version, st.Version))
		if err != nil {
			return nil, err
		}
		res.Conflicts = append(res.Conflicts, c)
	}
	return res, nil
}

// changeValues returns the values an UPDATE or AMEND sets, validated and
// normalised as the store will store them (signed: the record is a signed
// interaction).
func (e *Engine) changeValues(ch *ChangeInput, f *changeFields, signed bool) (map[string]any, error) {
	all := allFields(f.keys)
	var devVals map[string]any
	switch {
	case ch.Entity == EntityInteraction && ch.Op == OpUpdate:
		in, err := f.updateInteraction(ch.ID, all)
		if err != nil {
			return nil, err
		}
		if err := in.Validate(e.cfg.Now()); err != nil {
			return nil, err
		}
		devVals = f.values(ch.Entity, in)
	case ch.Entity == EntityInteraction && ch.Op == OpAmend:
		in := f.amendInteraction(ch.ID, all)
		if err := in.Validate(); err != nil {
			return nil, err
		}
		devVals = f.values(ch.Entity, in)
		if !signed {
			return nil, care.Errorf(care.ECONFLICT, "a draft is edited, not amended")
		}
	case ch.Entity == EntityCareRelationship && ch.Op == OpUpdate:
		in, err := f.updateRelationship(ch.ID, all)
		if err != nil {
			return nil, err
		}
		if err := in.Validate(); err != nil {
			return nil, err
		}
		devVals = f.values(ch.Entity, in)
	default:
		return nil, care.Errorf(care.EINVALID, "%s is not an operation on %s records", strings.ToUpper(string(ch.Op)), strings.ToUpper(string(ch.Entity)))
	}
	if len(devVals) == 0 {
		return nil, care.Errorf(care.EINVALID, "the change sets no fields")
	}
	return devVals, nil
}

// collision is a field both the device and someone it had not seen changed.
type collision struct {
	field          string
	server, device any
	policy         ConflictPolicy
	outcome        ConflictOutcome
}

// mergePlan is what merge decides for a change before it writes anything:
// the fields to write, the collisions to record, and the result's status.
type mergePlan struct {
	apply    map[string]bool
	collided []collision
	status   ResultStatus
}

// planMerge decides a change field by field, from the device's values,
// the record as it is now (current, as a pull sends it) and what the
// device had seen.
func planMerge(ch *ChangeInput, devVals, current map[string]any, sn seen, signed bool, h HLC) (mergePlan, error) {
	// An UPDATE of an interaction signed since the device last saw it: the
	// device edited a draft that is now clinical record. Never overwrite it,
	// never drop the edit: every differing field becomes an OPEN conflict.
	// An UPDATE from a device that saw the signing (or made it) is refused:
	// amend instead. (A record signed when it reached the server, e.g. by a
	// bulk load, has no clock for status: every version the device held was
	// signed.)
	signedUnseen := signed && ch.Op == OpUpdate && sn.unseen("status")
	if signed && ch.Op == OpUpdate && !signedUnseen {
		return mergePlan{}, care.Errorf(care.ECONFLICT, "signed interactions change only by amendment")
	}
	p := mergePlan{apply: map[string]bool{}, status: StatusApplied}
	for _, field := range sortedKeys(devVals) {
		dv, sv := devVals[field], current[field]
		if sameValue(dv, sv) {
			continue // both sides agree: nothing to do
		}
		col := columnOf(ch.Entity, field)
		if !signedUnseen && !sn.unseen(col) {
			p.apply[field] = true
			continue
		}
		pol := policyFor(ch.Entity, field, signed)
		outcome := OutcomeOpen
		if pol == PolicyLastWriterWins {
			outcome = OutcomeServerKept
			if sh, err := ParseHLC(sn.clocks[col].HLC); err != nil || lwwDeviceWins(h, sh) {
				outcome = OutcomeDeviceApplied
				p.apply[field] = true
			}
		}
		p.collided = append(p.collided, collision{field, sv, dv, pol, outcome})
	}
	switch {
	case len(p.collided) > 0:
		p.status = StatusConflict
	case sn.anyUnseen():
		p.status = StatusMerged
	}
	return p, nil
}

// write calls the store's write method for the fields to apply.
func (e *Engine) write(ctx context.Context, tx *postgres.DB, ch *ChangeInput, f *changeFields, apply map[string]bool) error {
	switch {
	case ch.Entity == EntityInteraction && ch.Op == OpUpdate:
		in, err := f.updateInteraction(ch.ID, apply)
		if err != nil {
			return err
		}
		_, err = tx.UpdateInteraction(ctx, in)
		return err
	case ch.Entity == EntityInteraction && ch.Op == OpAmend:
		_, err := tx.AmendInteractionKeepingConflicts(ctx, f.amendInteraction(ch.ID, apply))
		return err
	default:
		in, err := f.updateRelationship(ch.ID, apply)
		if err != nil {
			return err
		}
		_, err = tx.UpdateRelationship(ctx, in)
		return err
	}
}

func (e *Engine) recordConflict(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput, st *postgres.SyncRecordState,
	field string, server, device any, pol ConflictPolicy, outcome ConflictOutcome, recordVersion int64) (*Conflict, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("conflict id: %w", err)
	}
	sv, err := json.Marshal(server)
	if err != nil {
		return nil, fmt.Errorf("encode server value: %w", err)
	}
	dv, err := json.Marshal(device)
	if err != nil {
		return nil, fmt.Errorf("encode device value: %w", err)
	}
	prac := dev.PractitionerID
	row, err := tx.RecordConflict(ctx, postgres.SyncConflict{ID: id, Entity: string(ch.Entity), RecordID: ch.ID, Field: field,
		PatientID: st.PatientID, ServerValue: sv, DeviceValue: dv, Policy: string(pol), Outcome: string(outcome),
		DeviceID: dev.ID, MutationSeq: ch.MutationSeq, PractitionerID: &prac, RecordVersion: &recordVersion})
	if err != nil {
		return nil, err
	}
	return conflictOf(row), nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}
