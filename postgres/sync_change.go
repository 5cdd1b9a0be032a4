package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// LockSyncRecords locks the interactions and care relationships named, in
// one order (by table, then id) for every caller, so that pushes touching the
// same records in different orders queue behind each other instead of
// deadlocking. Records that do not exist are skipped; nothing is read or
// returned. It must be called inside InTx.
func (db *DB) LockSyncRecords(ctx context.Context, refs []SyncRef) error {
	if !db.inTx {
		return errNotInTx
	}
	byTable := map[string][]uuid.UUID{}
	for _, r := range refs {
		switch r.Entity {
		case "interaction":
			byTable["interactions"] = append(byTable["interactions"], r.ID)
		case "care_relationship":
			byTable["care_relationships"] = append(byTable["care_relationships"], r.ID)
		}
	}
	// care_relationships before interactions, always.
	for _, table := range []string{"care_relationships", "interactions"} {
		ids := byTable[table]
		if len(ids) == 0 {
			continue
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i].String() < ids[j].String() })
		if _, err := db.q.Exec(ctx, `SELECT 1 FROM `+table+` WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, ids); err != nil {
			return fmt.Errorf("lock %s: %w", table, err)
		}
	}
	return nil
}

// IDRetired reports whether id belonged to a record that was deleted: ids are
// never reused (the retired_ids table of 004_sync_safety.sql).
func (db *DB) IDRetired(ctx context.Context, id uuid.UUID) (bool, error) {
	var ok bool
	if err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM retired_ids WHERE id = $1)`, id).Scan(&ok); err != nil {
		return false, fmt.Errorf("retired id: %w", err)
	}
	return ok, nil
}

// MayChange decides, before anything is merged or recorded, whether the
// caller may make a change of kind op ("update", "sign", "delete", "amend")
// to a record it can see, by the same rules as the write path: a draft
// interaction is edited, signed and deleted by its author only; a signed one
// is amended by any nurse or GP who may see the patient; a care relationship
// is changed with the rights needed to start it. EFORBIDDEN when not,
// ENOTFOUND when the record is missing or not visible, EUNAUTHENTICATED
// without an actor (or with a read-only one: EFORBIDDEN).
func (db *DB) MayChange(ctx context.Context, entity, op string, id uuid.UUID) error {
	a, err := writerOf(ctx)
	if err != nil {
		return err
	}
	switch entity {
	case "interaction":
		is, err := db.visibleInteractions(ctx, a, []uuid.UUID{id}, false)
		if err != nil {
			return err
		}
		if is[0] == nil {
			return care.Errorf(care.ENOTFOUND, "no such interaction")
		}
		if op == "amend" {
			return mayAmend(a)
		}
		return mayChangeOwn(a, is[0])
	case "care_relationship":
		rs, err := db.visibleRels(ctx, a, []uuid.UUID{id}, false)
		if err != nil {
			return err
		}
		if rs[0] == nil {
			return care.Errorf(care.ENOTFOUND, "no such care relationship")
		}
		return authoriseRel(a, rs[0].Kind, rs[0].OrganizationID, rs[0].PartnerOrganizationID)
	}
	return care.Errorf(care.EINVALID, "%s records are not changed through sync", entity)
}

// MutationJudgement is what an applied sync change was judged against.
type MutationJudgement struct {
	RecordID      uuid.UUID
	BaseVersion   int64 // the base it was judged against
	ResultVersion int64 // the version it produced (or found)
}

// ChainedBase returns the base version that the device's latest earlier
// change to record, the one whose result was version, was judged against;
// ok is false when no earlier change of the device produced that version.
// A version 1 device sends such a result version as the base of a change
// queued behind that earlier one.
func (db *DB) ChainedBase(ctx context.Context, device, record uuid.UUID, version, beforeSeq int64) (base int64, ok bool, err error) {
	err = db.q.QueryRow(ctx, `SELECT base_version FROM sync_mutations
		WHERE device_id = $1 AND record_id = $2 AND result_version = $3 AND mutation_seq < $4 AND base_version IS NOT NULL
		ORDER BY mutation_seq DESC LIMIT 1`, device, record, version, beforeSeq).Scan(&base)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("chained base: %w", err)
	}
	return base, true, nil
}
