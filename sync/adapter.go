package sync

import (
	"context"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/postgres"
)

// These methods let an adapter (sync/rxdb) speak another replication
// protocol over the engine without a second write or read path: every record
// is loaded through the same access rule and audit as a pull.

// Current returns the current state of the records of entity ent named by
// ids that the caller may see, by id, as loaded (Record.Loaded); records
// that do not exist or are not visible are absent (never told apart). Reads
// of patient data are audited.
// Errors: EUNAUTHENTICATED, or the database's.
func (e *Engine) Current(ctx context.Context, ent Entity, ids []uuid.UUID) (map[uuid.UUID]*Record, error) {
	refs := make([]postgres.SyncRef, len(ids))
	for i, id := range ids {
		refs[i] = postgres.SyncRef{Entity: string(ent), ID: id}
	}
	rows, err := e.db.LoadSyncRows(ctx, refs)
	if err != nil {
		return nil, err
	}
	out := make(map[uuid.UUID]*Record, len(ids))
	for _, id := range ids {
		if l, version, ok := loadedOf(rows, ent, id); ok {
			out[id] = &Record{Entity: ent, ID: id, Version: version, Loaded: &l}
		}
	}
	return out, nil
}

// Recorded returns, for those of the device's mutation numbers in seqs that
// were already applied, the status first answered. The device is registered
// to the caller if new. Errors: EFORBIDDEN (not a practitioner's token,
// another's device), EUNAUTHENTICATED, or the database's.
func (e *Engine) Recorded(ctx context.Context, device uuid.UUID, seqs []int64) (map[int64]ResultStatus, error) {
	if _, err := e.db.RegisterDevice(ctx, device); err != nil {
		return nil, err
	}
	got, err := e.db.RecordedMutations(ctx, device, seqs)
	if err != nil {
		return nil, err
	}
	out := make(map[int64]ResultStatus, len(got))
	for k, v := range got {
		out[k] = ResultStatus(v)
	}
	return out, nil
}

// RecordsOfPatients returns up to limit ids of ent's records of the given
// patients (who left a device's scope), in id order after after: the
// records the device must delete. Ids only, never content.
// EUNAUTHENTICATED without an actor.
func (e *Engine) RecordsOfPatients(ctx context.Context, ent Entity, patients []uuid.UUID, after uuid.UUID, limit int) ([]uuid.UUID, error) {
	return e.db.SyncRecordsOfPatients(ctx, string(ent), patients, after, limit)
}

// MaxPullLimit is the most records one pull page may hold.
func (e *Engine) MaxPullLimit() int { return e.cfg.MaxPullLimit }
