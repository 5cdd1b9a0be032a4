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
	return db.baselineInsert(ctx, rows, batch, false)
}

// BaselineInsertInteractionsOrdered is BaselineInsertInteractions plus the
// one thing every sync write does at COMMIT to keep commit order: each
// transaction ends by locking and rewriting (unchanged) the one sync_clock
// row. Beside BaselineInsertInteractions it shows what that row costs
// concurrent writers.
func (db *DB) BaselineInsertInteractionsOrdered(ctx context.Context, rows []care.Interaction, batch int) error {
	return db.baselineInsert(ctx, rows, batch, true)
}

func (db *DB) baselineInsert(ctx context.Context, rows []care.Interaction, batch int, ordered bool) error {
	return db.baselineBatches(ctx, len(rows), batch, "insert", func(b *pgx.Batch, from, to int) {
		for _, r := range rows[from:to] {
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
		if ordered {
			b.Queue(`UPDATE sync_clock SET seq = seq`)
		}
	})
}

// BaselineUpdateInteractions sets the notes and duration of the
// interactions ids with plain UPDATEs (bumping each row's version), batch
// rows per round trip and transaction, without the sync change-log
// triggers. It returns the first database error.
func (db *DB) BaselineUpdateInteractions(ctx context.Context, ids []uuid.UUID, notes string, minutes, batch int) error {
	const q = `UPDATE interactions SET notes = $2, duration_minutes = $3, version = version + 1, updated_at = now() WHERE id = $1`
	return db.baselineBatches(ctx, len(ids), batch, "update", func(b *pgx.Batch, from, to int) {
		for _, id := range ids[from:to] {
			b.Queue(q, id, notes, minutes)
		}
	})
}

// baselineBatches sends n rows' statements, batch rows per round trip and
// transaction, each batch queued by queue (rows from to to) after the
// setting that skips the sync change-log triggers: the baseline is the bare
// table. what names the statements in the error.
func (db *DB) baselineBatches(ctx context.Context, n, batch int, what string, queue func(b *pgx.Batch, from, to int)) error {
	batch = max(batch, 1)
	for from := 0; from < n; from += batch {
		to := min(from+batch, n)
		err := db.InTx(ctx, func(tx *DB) error {
			b := &pgx.Batch{}
			b.Queue(`SELECT set_config('rapport.bulk_load', 'on', true)`)
			queue(b, from, to)
			return tx.q.SendBatch(ctx, b).Close()
		})
		if err != nil {
			return fmt.Errorf("baseline %s of %d interactions: %w", what, to-from, err)
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

// The minimal SQL of the read benchmark (bench/): each answers one of its
// requests with one statement that returns the response's rows as JSON,
// with no access rule and no audit. For benchmarks only, like the rest of
// this file; each returns the database's error.

// BaselineInteractionJSON returns one interaction's fields as a JSON object
// (null when there is none).
func (db *DB) BaselineInteractionJSON(ctx context.Context, id uuid.UUID) ([]byte, error) {
	const q = `SELECT json_build_object('id', i.id, 'mode', i.mode, 'occurredAt', i.occurred_at, 'durationMinutes', i.duration_minutes,
		'purpose', i.purpose, 'notes', i.notes, 'status', i.status) FROM interactions i WHERE i.id = $1`
	return db.baselineJSON(ctx, q, id)
}

// BaselinePatientJSON returns a patient with the number of their
// interactions and the newest limit of them, each with its practitioner.
func (db *DB) BaselinePatientJSON(ctx context.Context, id uuid.UUID, limit int) ([]byte, error) {
	const q = `SELECT json_build_object('familyName', p.family_name, 'nhsNumber', p.nhs_number,
		'totalCount', (SELECT count(*) FROM interactions c WHERE c.patient_id = p.id),
		'interactions', (SELECT coalesce(json_agg(x), '[]') FROM (
			SELECT i.id, i.mode, i.occurred_at, i.purpose, i.status, pr.given_name, pr.family_name
			FROM interactions i JOIN practitioners pr ON pr.id = i.practitioner_id
			WHERE i.patient_id = p.id ORDER BY i.occurred_at DESC, i.id DESC LIMIT $2) x))
		FROM patients p WHERE p.id = $1`
	return db.baselineJSON(ctx, q, id, limit)
}

// BaselineCaseloadJSON returns the number of patients in a practitioner's
// caseload (an active relationship to them or to a team they are an active
// member of) and the first limit by name, each with their usual GP.
func (db *DB) BaselineCaseloadJSON(ctx context.Context, practitioner uuid.UUID, limit int) ([]byte, error) {
	q := `WITH cl AS (SELECT p.id, p.family_name, p.given_name, p.birth_date FROM patients p WHERE ` + caseloadSQL("p", "$1::uuid") + `),
		page AS (SELECT * FROM cl ORDER BY family_name, given_name, id LIMIT $2)
		SELECT json_build_object('totalCount', (SELECT count(*) FROM cl), 'patients', (SELECT coalesce(json_agg(json_build_object(
			'id', page.id, 'familyName', page.family_name, 'givenName', page.given_name, 'birthDate', page.birth_date,
			'usualGP', (SELECT json_build_object('id', g.id, 'familyName', g.family_name)
				FROM care_relationships r JOIN practitioners g ON g.id = r.practitioner_id
				WHERE r.patient_id = page.id AND r.kind = 'usual_gp' AND ` + activeSQL("r") + ` LIMIT 1))
			ORDER BY page.family_name, page.given_name, page.id), '[]') FROM page))`
	return db.baselineJSON(ctx, q, practitioner, limit)
}

// BaselinePatientCountJSON returns how many patients a practice registers.
func (db *DB) BaselinePatientCountJSON(ctx context.Context, practice uuid.UUID) ([]byte, error) {
	return db.baselineJSON(ctx, `SELECT json_build_object('totalCount', count(*)) FROM patients WHERE registered_practice_id = $1`, practice)
}

// BaselineCreateInteractionJSON inserts a draft interaction and returns its
// id, status and time.
func (db *DB) BaselineCreateInteractionJSON(ctx context.Context, in care.Interaction) ([]byte, error) {
	const q = `INSERT INTO interactions (id, patient_id, practitioner_id, organization_id, mode, occurred_at, purpose, notes)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		RETURNING json_build_object('id', id, 'status', status, 'occurredAt', occurred_at)`
	return db.baselineJSON(ctx, q, in.ID, in.PatientID, in.PractitionerID, in.OrganizationID, string(in.Mode), in.OccurredAt, in.Purpose, in.Notes)
}

func (db *DB) baselineJSON(ctx context.Context, q string, args ...any) ([]byte, error) {
	var out []byte
	if err := db.q.QueryRow(ctx, q, args...).Scan(&out); err != nil {
		return nil, fmt.Errorf("baseline: %w", translate(err))
	}
	return out, nil
}

// BenchIDs returns up to n IDs the read benchmark asks for: "interaction"
// (interactions of practice's patients), "patient" (practice's patients with
// at least 50 interactions). For benchmarks only.
func (db *DB) BenchIDs(ctx context.Context, what string, practice uuid.UUID, n int) ([]uuid.UUID, error) {
	var q string
	switch what {
	case "interaction":
		q = `SELECT i.id FROM interactions i JOIN patients p ON p.id = i.patient_id WHERE p.registered_practice_id = $1 ORDER BY i.id LIMIT $2`
	case "patient":
		q = `SELECT p.id FROM patients p WHERE p.registered_practice_id = $1
			AND (SELECT count(*) FROM interactions i WHERE i.patient_id = p.id) >= 50 ORDER BY p.id LIMIT $2`
	default:
		return nil, fmt.Errorf("bench ids: unknown %q", what)
	}
	rows, err := db.q.Query(ctx, q, practice, n)
	if err != nil {
		return nil, fmt.Errorf("bench ids: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}

// BenchLockWaiters returns how many sessions of this database are waiting,
// now, for a heavyweight lock (a row or transaction lock another session
// holds): the benchmarks sample it to show writers queueing on each other.
// It returns the database's error.
func (db *DB) BenchLockWaiters(ctx context.Context) (int, error) {
	var n int
	err := db.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("lock waiters: %w", err)
	}
	return n, nil
}
