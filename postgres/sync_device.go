package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// SyncDevice is a device that syncs, bound to the practitioner who first
// synced with it.
type SyncDevice struct {
	ID             uuid.UUID
	PractitionerID uuid.UUID
	OrganizationID uuid.UUID
	RegisteredAt   time.Time
	LastSeenAt     *time.Time
	RevokedAt      *time.Time
	RevokedBy      *uuid.UUID
	// ScopeFloor: the device's scope generations below it were compacted
	// (sync_housekeeping.go); a checkpoint that needs one must reset.
	ScopeFloor int64
}

const deviceCols = "d.id, d.practitioner_id, d.organization_id, d.registered_at, d.last_seen_at, d.revoked_at, d.revoked_by, d.scope_floor"

func scanDevice(r row) (*SyncDevice, error) {
	var d SyncDevice
	err := r.Scan(&d.ID, &d.PractitionerID, &d.OrganizationID, &d.RegisteredAt, &d.LastSeenAt, &d.RevokedAt, &d.RevokedBy, &d.ScopeFloor)
	return &d, err
}

// syncerOf returns the actor if it may sync: a practitioner's token (nurse,
// gp or practice admin). EUNAUTHENTICATED without an actor, EFORBIDDEN for
// integrations, the system and tokens without a practitioner.
func syncerOf(ctx context.Context) (*care.Actor, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if !hasRole(a, care.RoleNurse, care.RoleGP, care.RolePracticeAdmin) || a.PractitionerID == uuid.Nil {
		return nil, care.Errorf(care.EFORBIDDEN, "only a practitioner's token may sync a device")
	}
	return a, nil
}

const registerDeviceSQL = `
INSERT INTO devices AS d (id, practitioner_id, organization_id) VALUES ($1, $2, $3)
ON CONFLICT (id) DO NOTHING`

// RegisterDevice returns the device id, binding it to the caller's
// practitioner on first use. A revoked device is returned as it is (the
// caller decides what a revoked device gets). Errors: EUNAUTHENTICATED,
// EFORBIDDEN (not a practitioner's token, or a device bound to someone else),
// ENOTFOUND (the token's practitioner does not exist).
func (db *DB) RegisterDevice(ctx context.Context, id uuid.UUID) (*SyncDevice, error) {
	a, err := syncerOf(ctx)
	if err != nil {
		return nil, err
	}
	if id == uuid.Nil {
		return nil, care.Errorf(care.EINVALID, "deviceId must be a UUID other than the nil UUID")
	}
	d, err := scanDevice(db.q.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := db.q.Exec(ctx, registerDeviceSQL, id, a.PractitionerID, a.OrganizationID); err != nil {
			return nil, fmt.Errorf("register device: %w", translate(err))
		}
		d, err = scanDevice(db.q.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.id = $1`, id))
	}
	if err != nil {
		return nil, fmt.Errorf("register device: %w", translate(err))
	}
	if d.PractitionerID != a.PractitionerID {
		return nil, care.Errorf(care.EFORBIDDEN, "this device is registered to another practitioner")
	}
	return d, nil
}

// TouchDevice records that the device synced now and, for a pull, the
// lowest scope generation its checkpoint still needed (scopeNeed; a retry
// may send the same checkpoint, so older generations can be compacted). A
// fresh pull (fresh true) started the device's scopes over: nothing is
// compacted any more. It returns the database's error.
func (db *DB) TouchDevice(ctx context.Context, id uuid.UUID, scopeNeed int64, fresh bool) error {
	if _, err := db.q.Exec(ctx, `UPDATE devices SET last_seen_at = now(),
		scope_pulled = CASE WHEN $3 THEN 0 ELSE GREATEST(scope_pulled, $2) END,
		scope_floor = CASE WHEN $3 THEN 0 ELSE scope_floor END WHERE id = $1`, id, scopeNeed, fresh); err != nil {
		return fmt.Errorf("touch device: %w", err)
	}
	return nil
}

// Devices lists the caller's devices, or for a practice admin every device
// of the organisation's practitioners, by registration time. EUNAUTHENTICATED
// without an actor.
func (db *DB) Devices(ctx context.Context) ([]*SyncDevice, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{}
	where := "d.practitioner_id = " + q.add(a.PractitionerID)
	switch {
	case a.Role == care.RoleSystem:
		where = "true"
	case a.Role == care.RolePracticeAdmin:
		where = "(" + where + " OR d.organization_id = " + q.add(a.OrganizationID) + ")"
	}
	rows, err := db.q.Query(ctx, `SELECT `+deviceCols+` FROM devices d WHERE `+where+` ORDER BY d.registered_at, d.id`, q...)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*SyncDevice, error) { return scanDevice(r) })
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	return out, nil
}

// RevokeDevice revokes a device: it will receive nothing more and be told to
// wipe. The device's practitioner, a practice admin of its organisation or the
// system may revoke it; revoking a revoked device returns it unchanged.
// Errors: EUNAUTHENTICATED, ENOTFOUND (no such device, or one the caller may
// not manage).
func (db *DB) RevokeDevice(ctx context.Context, id uuid.UUID) (*SyncDevice, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	var out *SyncDevice
	err = db.InTx(ctx, func(tx *DB) error {
		d, err := scanDevice(tx.q.QueryRow(ctx, `SELECT `+deviceCols+` FROM devices d WHERE d.id = $1 FOR UPDATE`, id))
		if err != nil {
			return translate(err)
		}
		if !(a.Role == care.RoleSystem || d.PractitionerID == a.PractitionerID && a.PractitionerID != uuid.Nil || adminOf(a, d.OrganizationID)) {
			return care.Errorf(care.ENOTFOUND, "no such device")
		}
		if d.RevokedAt != nil {
			out = d
			return nil
		}
		out, err = scanDevice(tx.q.QueryRow(ctx, `UPDATE devices d SET revoked_at = now(), revoked_by = $2 WHERE d.id = $1 RETURNING `+deviceCols,
			id, nilIfZero(a.PractitionerID)))
		return translate(err)
	})
	if err != nil {
		return nil, fmt.Errorf("revoke device: %w", err)
	}
	return out, nil
}

// ClaimMutation claims (device, seq) for the current transaction. When the
// mutation was already applied it returns its recorded result and false; at
// or below the device's acknowledged mark with its row compacted, it returns
// AlreadyAppliedResult and false (sync_housekeeping.go); otherwise it
// reserves the slot (a concurrent claim of the same slot waits for this
// transaction) and returns nil and true. Record the result with
// RecordMutation before committing. It must be called inside InTx.
func (db *DB) ClaimMutation(ctx context.Context, device uuid.UUID, seq int64) ([]byte, bool, error) {
	if !db.inTx {
		return nil, false, errNotInTx
	}
	tag, err := db.q.Exec(ctx, `INSERT INTO sync_mutations (device_id, mutation_seq, result)
		SELECT $1, $2, 'null' FROM devices WHERE id = $1 AND acked_through < $2 ON CONFLICT DO NOTHING`, device, seq)
	if err != nil {
		return nil, false, fmt.Errorf("claim mutation: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return nil, true, nil
	}
	var res []byte
	err = db.q.QueryRow(ctx, `SELECT result FROM sync_mutations WHERE device_id = $1 AND mutation_seq = $2`, device, seq).Scan(&res)
	if errors.Is(err, pgx.ErrNoRows) {
		return AlreadyAppliedResult, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read mutation result: %w", err)
	}
	return res, false, nil
}

// RecordMutation stores the result (JSON) of a claimed mutation and, for a
// change that reached a record, what it was judged against (nil otherwise).
// It returns the database's error.
func (db *DB) RecordMutation(ctx context.Context, device uuid.UUID, seq int64, result []byte, j *MutationJudgement) error {
	var rec *uuid.UUID
	var base, ver *int64
	if j != nil {
		rec, base, ver = &j.RecordID, &j.BaseVersion, &j.ResultVersion
	}
	_, err := db.q.Exec(ctx, `UPDATE sync_mutations SET result = $3, applied_at = now(), record_id = $4, base_version = $5, result_version = $6
		WHERE device_id = $1 AND mutation_seq = $2`, device, seq, result, rec, base, ver)
	if err != nil {
		return fmt.Errorf("record mutation: %w", err)
	}
	return nil
}

// MutationResults returns the recorded results of the device's mutations
// among seqs (absent when not applied yet), without claiming anything.
func (db *DB) MutationResults(ctx context.Context, device uuid.UUID, seqs []int64) (map[int64][]byte, error) {
	rows, err := db.q.Query(ctx, `SELECT mutation_seq, result FROM sync_mutations WHERE device_id = $1 AND mutation_seq = ANY($2::bigint[])`, device, seqs)
	if err != nil {
		return nil, fmt.Errorf("mutation results: %w", err)
	}
	out := make(map[int64][]byte, len(seqs))
	var s int64
	var res []byte
	_, err = pgx.ForEachRow(rows, []any{&s, &res}, func() error {
		out[s] = append([]byte(nil), res...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutation results: %w", err)
	}
	return out, nil
}
