package postgres

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// These methods serve sync/rxdb, the RxDB replication surface over the sync
// engine: what a device already pushed, and which records of patients who
// left a device's scope it must delete.

// RecordedMutations returns the recorded result status of each of the
// device's mutation numbers in seqs that was already applied (absent
// otherwise). The caller must have registered the device to itself
// (RegisterDevice). It returns the database's error.
func (db *DB) RecordedMutations(ctx context.Context, device uuid.UUID, seqs []int64) (map[int64]string, error) {
	rows, err := db.q.Query(ctx, `SELECT mutation_seq, result FROM sync_mutations WHERE device_id = $1 AND mutation_seq = ANY($2)`, device, seqs)
	if err != nil {
		return nil, fmt.Errorf("recorded mutations: %w", err)
	}
	out := map[int64]string{}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var res []byte
		if err := rows.Scan(&seq, &res); err != nil {
			return nil, fmt.Errorf("recorded mutations: %w", err)
		}
		var st struct {
			Status string `json:"status"`
		}
		if json.Unmarshal(res, &st) == nil && st.Status != "" {
			out[seq] = st.Status
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("recorded mutations: %w", err)
	}
	return out, nil
}

// SyncRecordsOfPatients returns up to limit ids of entity's records (live or
// tombstoned) whose patient is one of patients, in id order after the id
// after: what a device that held those patients must delete when they leave
// its scope. It reveals ids only, never content. EUNAUTHENTICATED without an
// actor.
func (db *DB) SyncRecordsOfPatients(ctx context.Context, entity string, patients []uuid.UUID, after uuid.UUID, limit int) ([]uuid.UUID, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	rows, err := db.q.Query(ctx, `SELECT entity_id FROM sync_changes WHERE entity = $1 AND patient_id = ANY($2) AND entity_id > $3
		ORDER BY entity_id LIMIT $4`, entity, patients, after, limit)
	if err != nil {
		return nil, fmt.Errorf("records of patients: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("records of patients: %w", err)
	}
	return out, nil
}
