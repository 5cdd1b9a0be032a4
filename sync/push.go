package sync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
)

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
// itself. Changes are applied in transactions of up to Config.TxChunk. An
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
	out := &PushPayload{Results: make([]*ChangeResult, 0, len(in.Changes))}
	for start := 0; start < len(in.Changes); start += e.cfg.TxChunk {
		chunk := in.Changes[start:min(start+e.cfg.TxChunk, len(in.Changes))]
		rs, err := e.pushChunk(ctx, dev, chunk)
		if err != nil {
			return nil, fmt.Errorf("sync push: changes %d to %d: %w", chunk[0].MutationSeq, chunk[len(chunk)-1].MutationSeq, err)
		}
		out.Results = append(out.Results, rs...)
	}
	out.ServerHlc = e.clock.Now().String()
	return out, nil
}

// pushChunk applies up to cfg.TxChunk changes in one transaction: one commit
// (one WAL flush, one commit-order stamp) for many changes. Each change still
// runs in its own savepoint, so a refused change rolls back alone; if the
// transaction fails, every change of the chunk is undone together and none is
// half-applied, and the device's retry replays the earlier chunks by mutation
// number and applies this one.
func (e *Engine) pushChunk(ctx context.Context, dev *postgres.SyncDevice, chunk []ChangeInput) ([]*ChangeResult, error) {
	var rs []*ChangeResult
	err := e.db.InTx(ctx, func(tx *postgres.DB) error {
		rs = rs[:0]
		for i := range chunk {
			r, err := e.pushOne(ctx, tx, dev, &chunk[i])
			if err != nil {
				return fmt.Errorf("change %d: %w", chunk[i].MutationSeq, err)
			}
			rs = append(rs, r)
		}
		return nil
	})
	return rs, err
}

// storedResult is how a change's result is kept in sync_mutations.
type storedResult struct {
	Status    ResultStatus     `json:"status"`
	Code      *string          `json:"code,omitempty"`
	Message   *string          `json:"message,omitempty"`
	Version   *int64           `json:"version,omitempty"`
	Record    map[string]any   `json:"record,omitempty"`
	Conflicts []storedConflict `json:"conflicts,omitempty"`
}

type storedConflict struct {
	ID uuid.UUID `json:"id"`
}

// pushOne applies one change exactly once inside tx: a mutation number
// already recorded returns its recorded result; otherwise the change is
// applied and its result recorded in the same transaction.
func (e *Engine) pushOne(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput) (*ChangeResult, error) {
	recorded, claimed, err := tx.ClaimMutation(ctx, dev.ID, ch.MutationSeq)
	if err != nil {
		return nil, err
	}
	if !claimed {
		return e.replay(ctx, tx, ch.MutationSeq, recorded)
	}
	res, err := e.apply(ctx, tx, dev, ch)
	if err != nil {
		return nil, err
	}
	st := storedResult{Status: res.Status, Code: res.Code, Message: res.Message, Version: res.Version, Record: res.Record}
	for _, c := range res.Conflicts {
		st.Conflicts = append(st.Conflicts, storedConflict{ID: c.ID})
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode result: %w", err)
	}
	return res, tx.RecordMutation(ctx, dev.ID, ch.MutationSeq, b)
}

// replay rebuilds a recorded result, with its conflicts as the ledger holds them.
func (e *Engine) replay(ctx context.Context, tx *postgres.DB, seq int64, recorded []byte) (*ChangeResult, error) {
	var st storedResult
	if err := json.Unmarshal(recorded, &st); err != nil {
		return nil, fmt.Errorf("decode recorded result: %w", err)
	}
	res := &ChangeResult{MutationSeq: seq, Status: st.Status, Code: st.Code, Message: st.Message, Version: st.Version,
		Record: st.Record, Conflicts: []*Conflict{}}
	if len(st.Conflicts) > 0 {
		ids := make([]uuid.UUID, len(st.Conflicts))
		for i, c := range st.Conflicts {
			ids[i] = c.ID
		}
		cs, err := tx.SyncConflictsByID(ctx, ids, false)
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
// rolls back the change alone and is returned as a REJECTED result.
func (e *Engine) apply(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput) (*ChangeResult, error) {
	if ch.MutationSeq <= 0 {
		return rejected(ch.MutationSeq, CodeBadUserInput, "mutationSeq must be a positive number"), nil
	}
	h, err := ParseHLC(ch.Hlc)
	if err != nil {
		return rejected(ch.MutationSeq, CodeBadUserInput, care.ErrorMessage(err)), nil
	}
	// Clock skew: a timestamp more than MaxClockSkew ahead of the server is
	// rejected (not clamped): clamping would silently reorder the device's
	// own edits, and a wrong clock is something the nurse can fix.
	if _, err := e.clock.Receive(h); err != nil {
		return rejected(ch.MutationSeq, CodeBadUserInput, care.ErrorMessage(err)), nil
	}
	if err := tx.SetSyncOrigin(ctx, h.String(), dev.ID); err != nil {
		return nil, err
	}
	var res *ChangeResult
	err = tx.Savepoint(ctx, func(sp *postgres.DB) error {
		var err error
		res, err = e.applyChange(ctx, sp, dev, ch, h)
		return err
	})
	if err != nil {
		if code, msg, ok := rejectionOf(err); ok && ctx.Err() == nil {
			return rejected(ch.MutationSeq, code, msg), nil
		}
		return nil, err
	}
	res.MutationSeq = ch.MutationSeq
	return res, nil
}

// applyChange runs one change through the store's write path.
func (e *Engine) applyChange(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput, h HLC) (*ChangeResult, error) {
	if ch.Entity == EntityFeedback {
		return e.applyFeedback(ctx, tx, ch)
	}
	if ch.ID == uuid.Nil {
		return nil, care.Errorf(care.EINVALID, "id must be a UUID other than the nil UUID")
	}
	f, err := decodeFields(ch.Entity, ch.Op, ch.Fields)
	if err != nil {
		return nil, err
	}
	if ch.Op == OpCreate {
		return e.create(ctx, tx, dev, ch, f)
	}
	st, err := tx.LockSyncRecord(ctx, string(ch.Entity), ch.ID)
	if err != nil {
		return nil, err
	}
	if err := e.checkScope(ctx, tx, dev, ch.Entity, st); err != nil {
		return nil, err
	}
	if ch.BaseVersion != nil && *ch.BaseVersion > st.Version {
		return nil, care.Errorf(care.EINVALID, "baseVersion %d is newer than the server's version %d", *ch.BaseVersion, st.Version)
	}
	switch ch.Op {
	case OpDelete:
		if err := tx.DeleteInteraction(ctx, ch.ID); err != nil {
			return nil, err
		}
		return &ChangeResult{Status: StatusApplied, Conflicts: []*Conflict{}}, nil
	case OpSign:
		if _, err := tx.SignInteraction(ctx, care.SignInteractionInput{ID: ch.ID}); err != nil {
			return nil, err
		}
		return e.result(ctx, tx, ch.Entity, ch.ID, StatusApplied, nil)
	}
	if ch.BaseVersion == nil {
		return nil, care.Errorf(care.EINVALID, "baseVersion is required for %s", strings.ToUpper(string(ch.Op)))
	}
	return e.merge(ctx, tx, dev, ch, f, st, h)
}

// checkScope refuses a change to a record the caller may no longer see:
// OUT_OF_SCOPE when the patient was once in this device's scope (the device
// holds the record and must be told why its edit was not applied),
// NOT_FOUND otherwise (nothing is revealed about records it never had).
func (e *Engine) checkScope(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ent Entity, st *postgres.SyncRecordState) error {
	if !st.Exists {
		return care.Errorf(care.ENOTFOUND, "no such %s", strings.ReplaceAll(string(ent), "_", " "))
	}
	if st.Visible {
		return nil
	}
	if st.PatientID != nil {
		had, err := tx.DeviceHadPatient(ctx, dev.ID, *st.PatientID)
		if err != nil {
			return err
		}
		if had {
			return outOfScope()
		}
	}
	return care.Errorf(care.ENOTFOUND, "no such %s", strings.ReplaceAll(string(ent), "_", " "))
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

// merge applies an UPDATE or AMEND field by field against changes the device
// had not seen (those after its base version, made by others): fields the
// server did not change are applied; fields both changed are settled by the
// policy (policy.go) and recorded in the conflict ledger.
func (e *Engine) merge(ctx context.Context, tx *postgres.DB, dev *postgres.SyncDevice, ch *ChangeInput, f *changeFields,
	st *postgres.SyncRecordState, h HLC) (*ChangeResult, error) {
	base := *ch.BaseVersion
	all := allFields(f.keys)
	// The device's values, validated and normalised as the store will store them.
	var devVals map[string]any
	now := e.cfg.Now()
	signed := ch.Entity == EntityInteraction && st.Status != string(care.InteractionDraft)
	switch {
	case ch.Entity == EntityInteraction && ch.Op == OpUpdate:
		in, err := f.updateInteraction(ch.ID, all)
		if err != nil {
			return nil, err
		}
		if err := in.Validate(now); err != nil {
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

	current, err := e.result(ctx, tx, ch.Entity, ch.ID, StatusApplied, nil)
	if err != nil {
		return nil, err
	}
	if current.Record == nil {
		return nil, care.Errorf(care.ENOTFOUND, "no such %s", strings.ReplaceAll(string(ch.Entity), "_", " "))
	}
	// An UPDATE of an interaction signed since the device last saw it: the
	// device edited a draft that is now clinical record. Never overwrite it,
	// never drop the edit: every differing field becomes an OPEN conflict.
	// (An UPDATE from a device that saw the signing is refused: amend instead.)
	if signed && ch.Op == OpUpdate {
		// No clock for status: it was signed when it reached the server (e.g. a
		// bulk load), so every version the device holds is signed.
		if fc, ok := st.FieldClocks["status"]; !ok || base >= fc.Version {
			return nil, care.Errorf(care.ECONFLICT, "signed interactions change only by amendment")
		}
	}

	apply := map[string]bool{}
	var conflicts []*Conflict
	for _, field := range sortedKeys(devVals) {
		dv, sv := devVals[field], current.Record[field]
		if sameValue(dv, sv) {
			continue // both sides agree: nothing to do
		}
		fc, touched := st.FieldClocks[columnOf(ch.Entity, field)]
		unseen := touched && fc.Version > base && (fc.DeviceID == nil || *fc.DeviceID != dev.ID)
		if signed && ch.Op == OpUpdate {
			unseen = true // the signing itself is the change the device had not seen
		}
		if !unseen {
			apply[field] = true
			continue
		}
		pol := policyFor(ch.Entity, field, signed)
		outcome := OutcomeOpen
		if pol == PolicyLastWriterWins {
			outcome = OutcomeServerKept
			if sh, err := ParseHLC(fc.HLC); err != nil || lwwDeviceWins(h, sh) {
				outcome = OutcomeDeviceApplied
				apply[field] = true
			}
		}
		c, err := e.recordConflict(ctx, tx, dev, ch, st, field, sv, dv, pol, outcome)
		if err != nil {
			return nil, err
		}
		conflicts = append(conflicts, c)
	}

	if len(apply) > 0 {
		if err := e.write(ctx, tx, ch, f, apply); err != nil {
			return nil, err
		}
	}
	status := StatusApplied
	switch {
	case len(conflicts) > 0:
		status = StatusConflict
	case base < st.Version:
		status = StatusMerged
	}
	return e.result(ctx, tx, ch.Entity, ch.ID, status, conflicts)
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
		_, err := tx.AmendInteraction(ctx, f.amendInteraction(ch.ID, apply))
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
	field string, server, device any, pol ConflictPolicy, outcome ConflictOutcome) (*Conflict, error) {
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
		DeviceID: dev.ID, MutationSeq: ch.MutationSeq, PractitionerID: &prac})
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
