package sync

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// conflictOf converts a ledger row.
func conflictOf(c *postgres.SyncConflict) *Conflict {
	out := &Conflict{
		ID: c.ID, Entity: Entity(c.Entity), RecordID: c.RecordID, Field: c.Field, PatientID: c.PatientID,
		ServerValue: jsonValue(c.ServerValue), DeviceValue: jsonValue(c.DeviceValue), Policy: ConflictPolicy(c.Policy),
		Outcome: ConflictOutcome(c.Outcome), DeviceID: c.DeviceID, PractitionerID: c.PractitionerID, CreatedAt: c.CreatedAt,
		ResolvedByID: c.ResolvedByID, ResolvedAt: c.ResolvedAt, ResolvedValue: jsonValue(c.ResolvedValue),
		RecordVersion: c.RecordVersion,
	}
	return out
}

// jsonValue decodes a stored JSON value (nil for none or invalid).
func jsonValue(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil
	}
	return v
}

// Conflicts lists conflicts about records the caller may see (the patient
// access rule; conflicts without a patient only to the practitioner who
// raised them), newest first. Errors: EUNAUTHENTICATED, EINVALID (cursor),
// ELIMIT (page size).
func (e *Engine) Conflicts(ctx context.Context, f ConflictFilter, p care.PageArgs) (*care.Page[Conflict], error) {
	page, err := e.db.SyncConflicts(ctx, postgres.SyncConflictFilter{PatientID: f.PatientID, PractitionerID: f.PractitionerID, Open: f.Open}, p)
	if err != nil {
		return nil, err
	}
	out := &care.Page[Conflict]{Edges: make([]care.Edge[Conflict], len(page.Edges)), HasNextPage: page.HasNextPage, TotalCount: page.TotalCount}
	read := make(map[uuid.UUID]*uuid.UUID, len(page.Edges))
	for i, edge := range page.Edges {
		out.Edges[i] = care.Edge[Conflict]{Node: conflictOf(edge.Node), Cursor: edge.Cursor}
		read[edge.Node.ID] = edge.Node.PatientID
	}
	if err := e.db.AuditConflicts(ctx, care.AuditRead, read); err != nil {
		return nil, err
	}
	return out, nil
}

// ConflictsByID returns conflicts aligned with ids (nil where missing or not
// visible). EUNAUTHENTICATED without an actor.
func (e *Engine) ConflictsByID(ctx context.Context, ids []uuid.UUID) ([]*Conflict, error) {
	rows, err := e.db.SyncConflictsByID(ctx, ids, false)
	if err != nil {
		return nil, err
	}
	out := make([]*Conflict, len(rows))
	read := make(map[uuid.UUID]*uuid.UUID, len(rows))
	for i, r := range rows {
		if r != nil {
			out[i] = conflictOf(r)
			read[r.ID] = r.PatientID
		}
	}
	if err := e.db.AuditConflicts(ctx, care.AuditRead, read); err != nil {
		return nil, err
	}
	return out, nil
}

// defaultResolveReason is the amendment reason when the resolver gives none.
const defaultResolveReason = "Resolved a sync conflict"

// ResolveConflict settles an open conflict: it writes the chosen value
// through the store's write path (a draft is updated; a signed interaction is
// amended, with the reason, so the original is kept; a DELETE kept as a
// conflict is carried out for true and dropped for false), marks the
// conflict RESOLVED, and the change syncs out to every device in scope.
//
// A resolution is judged like any change, against what the person saw: the
// version in.BaseVersion (by default the record's version when the conflict
// was recorded). If the field (for a kept DELETE, any field) changed since,
// the resolution does not win: ECONFLICT, naming the current version, and
// nothing changes. Errors: EUNAUTHENTICATED; ENOTFOUND (no such conflict, or
// not visible, or its record is gone); ECONFLICT (already settled, or the
// field moved since the base); EINVALID (a value the field does not take, or
// a field a signed interaction cannot change); EFORBIDDEN (the write path
// refuses the caller, e.g. editing someone else's draft).
func (e *Engine) ResolveConflict(ctx context.Context, in ResolveConflictInput) (*Conflict, error) {
	var out *Conflict
	err := e.db.InTx(ctx, func(tx *postgres.DB) error {
		cs, err := tx.SyncConflictsByID(ctx, []uuid.UUID{in.ID}, true)
		if err != nil {
			return err
		}
		c := cs[0]
		if c == nil {
			return care.Errorf(care.ENOTFOUND, "no such conflict")
		}
		if c.Outcome != string(OutcomeOpen) {
			return care.Errorf(care.ECONFLICT, "the conflict is already settled")
		}
		ent := Entity(c.Entity)
		if err := tx.SetSyncOrigin(ctx, e.clock.Now().String(), uuid.Nil); err != nil {
			return err
		}
		st, err := tx.LockSyncRecord(ctx, c.Entity, c.RecordID)
		if err != nil {
			return err
		}
		if !st.Exists || !st.Visible {
			return care.Errorf(care.ENOTFOUND, "the record of this conflict no longer exists")
		}
		base := st.Version
		switch {
		case in.BaseVersion != nil:
			base = *in.BaseVersion
		case c.RecordVersion != nil:
			base = *c.RecordVersion
		}
		if base < 0 || base > st.Version {
			return care.Errorf(care.EINVALID, "baseVersion %d is not a version of this record (the server's is %d)", base, st.Version)
		}
		// Every change since the base counts, the resolver's own devices'
		// included: the person resolving looked at version base.
		sn := seen{base: base, clocks: st.FieldClocks}
		moved := sn.anyUnseen()
		if c.Field != FieldDeleted {
			moved = sn.unseen(columnOf(ent, c.Field))
		}
		if moved {
			return care.Errorf(care.ECONFLICT, "the record changed since version %d (it is now at version %d): review its current value and resolve again with baseVersion %d", base, st.Version, st.Version)
		}
		current, err := e.result(ctx, tx, ent, c.RecordID, StatusApplied, nil)
		if err != nil {
			return err
		}
		if current.Record == nil {
			return care.Errorf(care.ENOTFOUND, "the record of this conflict no longer exists")
		}
		value := in.Value
		if c.Field == FieldDeleted {
			del, ok := value.(bool)
			if !ok {
				return care.Errorf(care.EINVALID, "value must be true (delete the record) or false (keep it)")
			}
			if del {
				if err := tx.DeleteInteraction(ctx, c.RecordID); err != nil {
					return err
				}
			}
		} else if !sameValue(normaliseJSON(value), current.Record[c.Field]) {
			if err := e.writeResolution(ctx, tx, ent, c, current.Record, value, in.Reason); err != nil {
				return err
			}
		}
		b, err := json.Marshal(value)
		if err != nil {
			return care.Errorf(care.EINVALID, "value is not a JSON value")
		}
		row, err := tx.MarkConflictResolved(ctx, c.ID, b, in.Reason)
		if err != nil {
			return err
		}
		out = conflictOf(row)
		return tx.AuditConflicts(ctx, care.AuditUpdate, map[uuid.UUID]*uuid.UUID{row.ID: row.PatientID})
	})
	if err != nil {
		return nil, fmt.Errorf("resolve conflict: %w", err)
	}
	return out, nil
}

// normaliseJSON round-trips v through JSON, so it compares like a record value.
func normaliseJSON(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// writeResolution writes value into the conflict's field through the write path.
func (e *Engine) writeResolution(ctx context.Context, tx *postgres.DB, ent Entity, c *postgres.SyncConflict, record map[string]any, value any, reason *string) error {
	signed := ent == EntityInteraction && record["status"] != EnumText(care.InteractionDraft)
	op := OpUpdate
	fields := map[string]any{c.Field: value}
	if signed {
		op = OpAmend
		r := defaultResolveReason
		if reason != nil && strings.TrimSpace(*reason) != "" {
			r = *reason
		}
		fields["reason"] = r
	}
	f, err := decodeFields(ent, op, fields)
	if err != nil {
		if signed {
			return care.Errorf(care.EINVALID, "%s of a signed interaction cannot change; only purpose, notes and durationMinutes can be amended", c.Field)
		}
		return err
	}
	if !f.has(c.Field) {
		return care.Errorf(care.EINVALID, "value must not be null")
	}
	only := map[string]bool{c.Field: true}
	switch {
	case signed:
		_, err = tx.AmendInteraction(ctx, f.amendInteraction(c.RecordID, only))
	case ent == EntityInteraction:
		var in care.UpdateInteractionInput
		if in, err = f.updateInteraction(c.RecordID, only); err == nil {
			_, err = tx.UpdateInteraction(ctx, in)
		}
	default:
		var in care.UpdateRelationshipInput
		if in, err = f.updateRelationship(c.RecordID, only); err == nil {
			_, err = tx.UpdateRelationship(ctx, in)
		}
	}
	return err
}
