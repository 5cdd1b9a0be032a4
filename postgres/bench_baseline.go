package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// The baselines below are what the sync benchmarks measure themselves
// against: the same rows written and read with plain pgx and no access
// checks, audit, change log or conflict handling. They are for benchmarks
// only and bypass every rule; nothing else may call them.

// BaselineInsertInteractions inserts rows (their ID, PatientID,
// PractitionerID, OrganizationID, Mode, OccurredAt, DurationMinutes,
// ParticipantIDs, OtherPresent, Purpose and Notes) with plain INSERTs, batch
// rows per round trip and transaction, without the sync change-log triggers.
// It returns the first database error.
func (db *DB) BaselineInsertInteractions(ctx context.Context, rows []care.Interaction, batch int) error {
	batch = max(batch, 1)
	for start := 0; start < len(rows); start += batch {
		chunk := rows[start:min(start+batch, len(rows))]
		err := db.InTx(ctx, func(tx *DB) error {
			// Skip the sync change-log triggers: the baseline is the bare table.
			b := &pgx.Batch{}
			b.Queue(`SELECT set_config('rapport.bulk_load', 'on', true)`)
			for _, r := range chunk {
				participants, others := r.ParticipantIDs, r.OtherPresent
				if participants == nil {
					participants = []uuid.UUID{}
				}
				if others == nil {
					others = []string{}
				}
				b.Queue(insertInteractionSQL, r.ID, r.PatientID, r.PractitionerID, r.OrganizationID, string(r.Mode), r.OccurredAt,
					r.DurationMinutes, participants, others, r.Purpose, r.Notes)
			}
			return tx.q.SendBatch(ctx, b).Close()
		})
		if err != nil {
			return fmt.Errorf("baseline insert of %d interactions: %w", len(chunk), err)
		}
	}
	return nil
}

// BaselineSelectInteractions reads up to limit interactions in pages of
// pageSize with a plain keyset SELECT over the primary key, scanning every
// column, and returns how many rows it read. It returns the first database error.
func (db *DB) BaselineSelectInteractions(ctx context.Context, limit, pageSize int) (int, error) {
	const q = `SELECT ` + interactionCols + ` FROM interactions i WHERE i.id > $1 ORDER BY i.id LIMIT $2`
	pageSize = max(pageSize, 1)
	after, n := uuid.Nil, 0
	for n < limit {
		rows, err := db.q.Query(ctx, q, after, min(pageSize, limit-n))
		if err != nil {
			return n, fmt.Errorf("baseline select: %w", err)
		}
		got := 0
		for rows.Next() {
			i, err := scanInteraction(rows)
			if err != nil {
				rows.Close()
				return n, fmt.Errorf("baseline select: scan: %w", err)
			}
			after = i.ID
			got++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, fmt.Errorf("baseline select: %w", err)
		}
		n += got
		if got == 0 {
			break
		}
	}
	return n, nil
}
