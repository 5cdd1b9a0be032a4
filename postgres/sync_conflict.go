package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// SyncConflict is one row of the conflict ledger. Values are JSON.
type SyncConflict struct {
	ID             uuid.UUID
	Entity         string
	RecordID       uuid.UUID
	Field          string
	PatientID      *uuid.UUID
	ServerValue    []byte
	DeviceValue    []byte
	Policy         string
	Outcome        string
	DeviceID       uuid.UUID
	MutationSeq    int64
	PractitionerID *uuid.UUID
	CreatedAt      time.Time
	ResolvedByID   *uuid.UUID
	ResolvedAt     *time.Time
	ResolvedValue  []byte
	Reason         *string
	RecordVersion  *int64 // the record's version when the conflict was recorded
}

const conflictCols = "c.id, c.entity, c.record_id, c.field, c.patient_id, c.server_value, c.device_value, c.policy, c.outcome, " +
	"c.device_id, c.mutation_seq, c.practitioner_id, c.created_at, c.resolved_by, c.resolved_at, c.resolved_value, c.reason, c.record_version"

func scanConflict(r row, pre ...any) (*SyncConflict, error) {
	var c SyncConflict
	err := r.Scan(append(pre, &c.ID, &c.Entity, &c.RecordID, &c.Field, &c.PatientID, &c.ServerValue, &c.DeviceValue, &c.Policy, &c.Outcome,
		&c.DeviceID, &c.MutationSeq, &c.PractitionerID, &c.CreatedAt, &c.ResolvedByID, &c.ResolvedAt, &c.ResolvedValue, &c.Reason, &c.RecordVersion)...)
	return &c, err
}

// conflictVisibleSQL admits a ledger row c: about a patient the actor may
// see, or (without a patient) raised by the actor's own change.
func conflictVisibleSQL(a *care.Actor, q *args) string {
	return `(CASE WHEN c.patient_id IS NOT NULL
		THEN EXISTS (SELECT 1 FROM patients cp WHERE cp.id = c.patient_id AND ` + patientAccessSQL(a, "cp", q) + `)
		ELSE c.practitioner_id = ` + q.add(a.PractitionerID) + `::uuid END)`
}

const insertConflictSQL = `
INSERT INTO sync_conflicts AS c (id, entity, record_id, field, patient_id, server_value, device_value, policy, outcome,
       device_id, mutation_seq, practitioner_id, record_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
RETURNING ` + conflictCols

// RecordConflict writes c to the ledger (its ID, entity, record, field,
// values, policy, outcome, device, mutation and practitioner; the rest is
// set by the database) and returns the stored row. It returns the
// database's error.
func (db *DB) RecordConflict(ctx context.Context, c SyncConflict) (*SyncConflict, error) {
	out, err := scanConflict(db.q.QueryRow(ctx, insertConflictSQL, c.ID, c.Entity, c.RecordID, c.Field, c.PatientID, c.ServerValue, c.DeviceValue,
		c.Policy, c.Outcome, c.DeviceID, c.MutationSeq, c.PractitionerID, c.RecordVersion))
	if err != nil {
		return nil, fmt.Errorf("record conflict: %w", translate(err))
	}
	return out, nil
}

// SyncConflictFilter narrows a list of conflicts.
type SyncConflictFilter struct {
	PatientID      *uuid.UUID
	PractitionerID *uuid.UUID
	Open           *bool
}

// SyncConflicts lists the conflicts the caller may see, newest first.
// EINVALID for a bad cursor, ELIMIT for a bad page size, EUNAUTHENTICATED
// without an actor.
func (db *DB) SyncConflicts(ctx context.Context, f SyncConflictFilter, p care.PageArgs) (*care.Page[SyncConflict], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := &listSpec[SyncConflict]{
		from: "sync_conflicts c", cols: conflictCols,
		keyCols: []string{"c.created_at", "c.id"}, keyCast: []string{"timestamptz", "uuid"}, desc: true,
		scan: scanConflict,
		key:  func(c *SyncConflict) []string { return []string{timeKey(c.CreatedAt), c.ID.String()} },
	}
	s.where = append(s.where, conflictVisibleSQL(a, &s.q))
	if f.PatientID != nil {
		s.where = append(s.where, "c.patient_id = "+s.q.add(*f.PatientID))
	}
	if f.PractitionerID != nil {
		s.where = append(s.where, "c.practitioner_id = "+s.q.add(*f.PractitionerID))
	}
	if f.Open != nil {
		if *f.Open {
			s.where = append(s.where, "c.outcome = 'open'")
		} else {
			s.where = append(s.where, "c.outcome <> 'open'")
		}
	}
	page, _, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	return page, nil
}

// SyncConflictsByID returns conflicts aligned with ids (nil where missing or
// not visible), optionally locking them. EUNAUTHENTICATED without an actor.
func (db *DB) SyncConflictsByID(ctx context.Context, ids []uuid.UUID, lock bool) ([]*SyncConflict, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{ids}
	sql := `SELECT ` + conflictCols + ` FROM sync_conflicts c WHERE c.id = ANY($1::uuid[]) AND ` + conflictVisibleSQL(a, &q)
	if lock {
		sql += " FOR UPDATE OF c"
	}
	rows, err := db.q.Query(ctx, sql, q...)
	if err != nil {
		return nil, fmt.Errorf("load conflicts: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*SyncConflict, error) { return scanConflict(r) })
	if err != nil {
		return nil, fmt.Errorf("load conflicts: %w", err)
	}
	return align(ids, items, func(c *SyncConflict) uuid.UUID { return c.ID }), nil
}

// MarkConflictResolved records that the caller settled an open conflict
// with value (JSON) for reason, and returns the updated row. ECONFLICT when
// it is no longer open, ENOTFOUND when missing.
func (db *DB) MarkConflictResolved(ctx context.Context, id uuid.UUID, value []byte, reason *string) (*SyncConflict, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	out, err := scanConflict(db.q.QueryRow(ctx, `UPDATE sync_conflicts c SET outcome = 'resolved', resolved_by = $2, resolved_at = now(),
		resolved_value = $3, reason = $4 WHERE c.id = $1 AND c.outcome = 'open' RETURNING `+conflictCols, id, nilIfZero(a.PractitionerID), value, reason))
	if err != nil {
		if err == pgx.ErrNoRows {
			return nil, care.Errorf(care.ECONFLICT, "the conflict is not open")
		}
		return nil, fmt.Errorf("resolve conflict: %w", translate(err))
	}
	return out, nil
}
