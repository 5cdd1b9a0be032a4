package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
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

// mutationResultsSQL reads the results of the device $1's numbers $2, a
// compacted one at or below its acknowledged mark as $3. Each number is
// looked up by the primary key on its own (a subquery per number), and a
// number with no result comes back NULL. As a join, the generic plan read
// every result the device had left (a bitmap scan of its 9,000 rows, 1.9 ms
// for a push of 50, in BenchmarkSyncPush), so a push cost more the more the
// device had pushed (TestMutationResultsByKey).
const mutationResultsSQL = `SELECT s.seq,
	coalesce((SELECT m.result FROM sync_mutations m WHERE m.device_id = $1 AND m.mutation_seq = s.seq),
	         CASE WHEN s.seq <= (SELECT acked_through FROM devices WHERE id = $1) THEN $3::jsonb END)
	FROM unnest($2::bigint[]) AS s(seq)`

// MutationResults returns the recorded results of the device's mutations
// among seqs (absent when not applied yet), without claiming anything. A
// number at or below the device's acknowledged mark whose row was compacted
// gets AlreadyAppliedResult (sync_housekeeping.go), so it is never applied twice.
func (db *DB) MutationResults(ctx context.Context, device uuid.UUID, seqs []int64) (map[int64][]byte, error) {
	rows, err := db.q.Query(ctx, mutationResultsSQL, device, seqs, string(AlreadyAppliedResult))
	if err != nil {
		return nil, fmt.Errorf("mutation results: %w", err)
	}
	out := make(map[int64][]byte, len(seqs))
	var s int64
	var res []byte
	_, err = pgx.ForEachRow(rows, []any{&s, &res}, func() error {
		if res != nil {
			out[s] = append([]byte(nil), res...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mutation results: %w", err)
	}
	return out, nil
}

// MutationResult returns the recorded result of one of the device's
// mutations. It returns the database's error (ENOTFOUND wrapped when none).
func (db *DB) MutationResult(ctx context.Context, device uuid.UUID, seq int64) ([]byte, error) {
	var res []byte
	if err := db.q.QueryRow(ctx, `SELECT coalesce((SELECT result FROM sync_mutations WHERE device_id = $1 AND mutation_seq = $2),
		(SELECT $3::jsonb FROM devices WHERE id = $1 AND $2 <= acked_through))`, device, seq, string(AlreadyAppliedResult)).Scan(&res); err != nil || res == nil {
		if err == nil {
			err = pgx.ErrNoRows
		}
		return nil, fmt.Errorf("read mutation result: %w", translate(err))
	}
	return res, nil
}

// MutationRecord is the result of one claimed mutation, for RecordMutations.
type MutationRecord struct {
	Seq       int64
	Result    []byte             // JSON
	Judgement *MutationJudgement // nil for a change that reached no record
}

// ErrRecordedConcurrently is RecordMutations' error when another
// transaction recorded one of the mutations first (the device retried a
// push while the first attempt was still running). The transaction must be
// rolled back; InTx runs it again, and the mutation is then found recorded.
var ErrRecordedConcurrently = errors.New("postgres: a mutation was recorded by a concurrent transaction")

// recordSeparator starts each result RecordMutations sends.
const recordSeparator = 0x1e

// RecordMutations records the results of mutations the current transaction
// applied, in one statement. Exactly once: a mutation number is recorded in
// the transaction that applied it, and recording one that a concurrent
// transaction recorded first waits for that transaction and, if it
// committed, fails with ErrRecordedConcurrently, so nothing this
// transaction applied is kept. (Recording at the end, rather than claiming
// the number first and updating the claim, writes each result row once.)
// It must be called inside InTx; otherwise it returns the database's error.
func (db *DB) RecordMutations(ctx context.Context, device uuid.UUID, recs []MutationRecord) error {
	if !db.inTx {
		return errNotInTx
	}
	if len(recs) == 0 {
		return nil
	}
	seqs := make([]int64, len(recs))
	// pgtype's nullable values, not pointers: pgx encodes a slice of
	// pointers element by element through reflection, and a *uuid.UUID as
	// text (driver.Valuer).
	ids := make([]pgtype.UUID, len(recs))
	bases := make([]pgtype.Int8, len(recs))
	vers := make([]pgtype.Int8, len(recs))
	size := 0
	for k, r := range recs {
		seqs[k] = r.Seq
		if j := r.Judgement; j != nil {
			ids[k] = pgtype.UUID{Bytes: j.RecordID, Valid: true}
			bases[k] = pgtype.Int8{Int64: j.BaseVersion, Valid: true}
			vers[k] = pgtype.Int8{Int64: j.ResultVersion, Valid: true}
		}
		size += len(r.Result) + 1
	}
	// The results go as one text, a JSON text sequence (RFC 7464: each
	// value after an ASCII record separator, which JSON text cannot hold
	// unescaped): a push's 500 results as a text[] cost about 3 ms of its
	// CPU in pgx's array encoding, and the server parses each the same way.
	results := make([]byte, 0, size)
	for _, r := range recs {
		if bytes.IndexByte(r.Result, recordSeparator) >= 0 {
			return fmt.Errorf("record mutations: result %d is not JSON", r.Seq)
		}
		results = append(append(results, recordSeparator), r.Result...)
	}
	// Both statements go in one round trip; the second still runs after the
	// first, with a snapshot of its own.
	b := &pgx.Batch{}
	b.Queue(`INSERT INTO sync_mutations (device_id, mutation_seq, result, record_id, base_version, result_version)
		SELECT $1, u.seq, r.result::jsonb, u.record_id, u.base_version, u.result_version
		FROM unnest($2::bigint[], $4::uuid[], $5::bigint[], $6::bigint[]) WITH ORDINALITY AS u(seq, record_id, base_version, result_version, n)
		JOIN string_to_table(substr($3::text, 2), chr(30)) WITH ORDINALITY AS r(result, n) USING (n)
		ORDER BY u.seq
		ON CONFLICT DO NOTHING`, device, seqs, results, ids, bases, vers)
	// A concurrent transaction's rows may be gone: an attempt of the same
	// push that committed first, whose answers the device then acknowledged
	// with a later push and housekeeping compacted, leaves nothing to
	// conflict with. Compaction deletes only rows at or below the mark, and
	// the mark committed before it ran, so this statement (a fresh snapshot,
	// taken after the INSERT waited for any concurrent recording) sees it: a
	// number at or below it was applied before, and nothing this transaction
	// applied may be kept.
	b.Queue(`SELECT coalesce((SELECT acked_through < $2 FROM devices WHERE id = $1), true)`, device, slices.Min(seqs))
	br := db.q.SendBatch(ctx, b)
	defer br.Close()
	tag, err := br.Exec()
	if err != nil {
		return fmt.Errorf("record mutations: %w", err)
	}
	var fresh bool
	if err := br.QueryRow().Scan(&fresh); err != nil {
		return fmt.Errorf("record mutations: %w", err)
	}
	if err := br.Close(); err != nil {
		return fmt.Errorf("record mutations: %w", err)
	}
	if tag.RowsAffected() != int64(len(recs)) {
		return fmt.Errorf("record mutations: %w", ErrRecordedConcurrently)
	}
	if !fresh {
		return fmt.Errorf("record mutations: %w", ErrRecordedConcurrently)
	}
	return nil
}
