package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rapportcare/rapport/care"
)

// A sync push applies a run of offline-created interactions set-based: a
// handful of statements for the whole run (see CreateInteractionsFromSync)
// where CreateInteraction, called once per change, takes a dozen each.

// ErrIDTaken is CreateInteractionsFromSync's answer for an input whose id a
// record already has: CreateInteraction decides what that means (the same
// record created again, or a conflict).
var ErrIDTaken = errors.New("postgres: the id is taken")

// SyncCreate is one interaction created offline: the store's input, and the
// hybrid logical clock of the change that created it, which the change log
// records with the row (as SetSyncOrigin does for one change).
type SyncCreate struct {
	Input care.CreateInteractionInput
	HLC   string
}

// SyncCreateFacts is what the checks of a run of offline-created
// interactions read from the database, in one statement (SyncCreateFacts):
// which ids are retired, which patients the caller may see now, which
// patients were ever in the device's scope, and which practitioners exist
// (with their organisation).
type SyncCreateFacts struct {
	Retired map[uuid.UUID]bool
	Visible map[uuid.UUID]bool
	Had     map[uuid.UUID]bool
	orgOf   map[uuid.UUID]uuid.UUID
}

// syncCreateFactsSQL reads the facts: kind 1 a retired id, 2 a visible
// patient, 3 a patient once in the device's scope, 4 a practitioner and
// their organisation. The access predicate is appended by SyncCreateFacts.
const syncCreateFactsSQL = `
SELECT 1, r.id, NULL::uuid FROM retired_ids r WHERE r.id = ANY($1::uuid[])
UNION ALL
SELECT 3, u.id, NULL FROM unnest($2::uuid[]) AS u(id)
WHERE EXISTS (SELECT 1 FROM device_scopes s WHERE s.device_id = $3 AND s.patient_id = u.id)
UNION ALL
SELECT 4, pr.id, pr.organization_id FROM practitioners pr WHERE pr.id = ANY($4::uuid[])
UNION ALL
SELECT 2, p.id, NULL FROM patients p WHERE p.id = ANY($2::uuid[]) AND `

// SyncCreateFacts reads, in one statement, what the checks of a run of
// offline-created interactions need (see SyncCreateFacts): ids are the
// records' ids, patients their patients, people the practitioners they name
// (author and participants; the caller's own practitioner is added). The
// access rule is the caller's. EUNAUTHENTICATED without an actor; otherwise
// the database's error.
func (db *DB) SyncCreateFacts(ctx context.Context, device uuid.UUID, ids, patients, people []uuid.UUID) (*SyncCreateFacts, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	f := &SyncCreateFacts{Retired: map[uuid.UUID]bool{}, Visible: map[uuid.UUID]bool{}, Had: map[uuid.UUID]bool{}, orgOf: map[uuid.UUID]uuid.UUID{}}
	if a.PractitionerID != uuid.Nil {
		people = append(people, a.PractitionerID)
	}
	if len(ids) == 0 && len(patients) == 0 && len(people) == 0 {
		return f, nil
	}
	q := args{uniqueIDs(ids), uniqueIDs(patients), device, uniqueIDs(people)}
	rows, err := db.q.Query(ctx, syncCreateFactsSQL+patientAccessSQL(a, "p", &q), q...)
	if err != nil {
		return nil, fmt.Errorf("sync create checks: %w", err)
	}
	var kind int
	var id uuid.UUID
	var org *uuid.UUID
	_, err = pgx.ForEachRow(rows, []any{&kind, &id, &org}, func() error {
		switch kind {
		case 1:
			f.Retired[id] = true
		case 2:
			f.Visible[id] = true
		case 3:
			f.Had[id] = true
		case 4:
			f.orgOf[id] = *org
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sync create checks: %w", err)
	}
	return f, nil
}

// syncCreateSQL writes a run of interactions in one statement: the rows
// (ON CONFLICT DO NOTHING: an id taken is not returned), their audit rows
// and their change-log rows, as the change-log trigger of 002_sync.sql
// writes them (that trigger is off for the statement: rapport.bulk_load),
// with each change's own clock and the device as origin. It returns the rows
// written.
//
// The change-log rows are plain INSERTs, where the trigger upserts: a row
// the statement created is new, and a record's id with a change-log row
// already (a deleted record's tombstone) is retired, which
// interactions_refuse_retired refuses. Should one ever be there, the
// statement fails whole and each change is applied alone, through the
// trigger (CreateInteractionsFromSync's error). Not upserting saves the
// push about 3% (ZZ measurement in bench/sync_push_log.md).
var syncCreateSQL = `
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::timestamptz[], $7::int[],
                         $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
        WITH ORDINALITY AS u(id, patient_id, practitioner_id, organization_id, mode, occurred_at, duration_minutes,
                             participant_ids, other_present, purpose, notes, hlc, ord)),
ins AS (
    INSERT INTO interactions AS i (id, patient_id, practitioner_id, organization_id, mode, occurred_at, duration_minutes,
           participant_ids, other_present, purpose, notes)
    SELECT u.id, u.patient_id, u.practitioner_id, u.organization_id, u.mode, u.occurred_at, u.duration_minutes,
           CASE WHEN u.participant_ids = '[]' THEN '{}'::uuid[]
                ELSE ARRAY(SELECT e::uuid FROM jsonb_array_elements_text(u.participant_ids::jsonb) e) END,
           CASE WHEN u.other_present = '[]' THEN '{}'::text[]
                ELSE ARRAY(SELECT e FROM jsonb_array_elements_text(u.other_present::jsonb) e) END,
           u.purpose, u.notes
    FROM u ORDER BY u.ord
    ON CONFLICT (id) DO NOTHING
    RETURNING ` + interactionCols + `),
audit AS (
    ` + auditOfRowsSQL(13, entityInteraction, "ins") + `),
log AS (
    INSERT INTO sync_changes AS sc (entity, entity_id, seq, txid, op, patient_id, organization_id, version, changed_fields, hlc, device_id, changed_at)
    SELECT 'interaction', i.id, NULL, pg_current_xact_id(), 'upsert', i.patient_id, i.organization_id, i.version, '{}', u.hlc, $20, now()
    FROM ins i JOIN u ON u.id = i.id ORDER BY u.ord)
SELECT * FROM ins i`

// CreateInteractionsFromSync creates interactions as CreateInteraction
// creates each (same checks, same refusals, same audit), set-based: the
// checks read nothing (facts holds what SyncCreateFacts read), and the rows,
// their audit rows and their change-log rows are written together, in one
// statement under a savepoint (the change-log rows are numbered after
// commit, by sync_stamp(), 009_sync_stamp_after_commit.sql). The change log records device as
// their origin and each input's HLC as its clock.
//
// It returns, aligned with cs, the interaction created (the row the INSERT
// returned: nothing is read back) or the refusal CreateInteraction would
// have returned (EINVALID, EFORBIDDEN, ENOTFOUND), or ErrIDTaken. The error
// is the database's (or EUNAUTHENTICATED): then nothing was written and the
// caller may apply the changes one by one instead. It must be called inside
// InTx.
func (db *DB) CreateInteractionsFromSync(ctx context.Context, device uuid.UUID, cs []SyncCreate, facts *SyncCreateFacts) ([]*care.Interaction, []error, error) {
	if !db.inTx {
		return nil, nil, errNotInTx
	}
	a, err := writerOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*care.Interaction, len(cs))
	errs := make([]error, len(cs))
	// The checks CreateInteraction makes, in its order.
	var todo []int
	drafts := make([]draft, len(cs))
	for k, c := range cs {
		d, err := db.draftOf(a, c.Input)
		drafts[k] = d
		switch {
		case err != nil:
			errs[k] = err
		case !facts.Visible[d.in.PatientID]:
			errs[k] = care.Errorf(care.ENOTFOUND, "no such patient")
		case !facts.exists(d.prac):
			errs[k] = care.Errorf(care.ENOTFOUND, "no such practitioner")
		case !facts.exist(d.participants):
			errs[k] = care.Errorf(care.ENOTFOUND, "no such practitioner among the participants")
		default:
			todo = append(todo, k)
		}
	}
	if len(todo) == 0 {
		return out, errs, nil
	}
	w := &syncCreateWrite{}
	for _, k := range todo {
		if err := w.add(drafts[k], cs[k].HLC, facts); err != nil {
			return nil, nil, err
		}
	}
	made, err := db.writeUntriggered(ctx, "create interactions", syncCreateSQL, w.args(ctx, a, device, 0, len(todo)), nil)
	if err != nil {
		return nil, nil, err
	}
	for n, k := range todo {
		if i := made[w.ids[n]]; i != nil {
			out[k] = i
		} else {
			errs[k] = ErrIDTaken
		}
	}
	return out, errs, nil
}

// writeUntriggered runs query, a statement that writes interactions and
// their change log itself and returns the rows written (interactionCols),
// with the change-log triggers off, under a savepoint, in one round trip.
// check, if not nil, judges the rows before the savepoint is released: an
// error rolls them back. It returns the rows by id; the error is the
// database's or check's, and then nothing of the statement was kept.
func (db *DB) writeUntriggered(ctx context.Context, what, query string, qargs []any, check func(map[uuid.UUID]*care.Interaction) error) (map[uuid.UUID]*care.Interaction, error) {
	made := map[uuid.UUID]*care.Interaction{}
	err := db.Savepoint(ctx, func(sp *DB) error {
		b := &pgx.Batch{}
		b.Queue(bulkLoadOffSQL)
		b.Queue(query, qargs...)
		b.Queue(changeLogOnSQL)
		br := sp.q.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		rows, err := br.Query()
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		for rows.Next() {
			i, err := scanInteraction(rows)
			if err != nil {
				rows.Close()
				return fmt.Errorf("%s: %w", what, err)
			}
			made[i.ID] = i
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if check != nil {
			if err := check(made); err != nil {
				return err
			}
		}
		return br.Close()
	})
	if err != nil {
		return nil, err
	}
	return made, nil
}

// changeLogOnSQL turns the change-log triggers back on (see bulkLoadOffSQL).
const changeLogOnSQL = `SELECT set_config('rapport.bulk_load', '', true)`

// exists reports whether the practitioner exists.
func (f *SyncCreateFacts) exists(id uuid.UUID) bool {
	_, ok := f.orgOf[id]
	return ok
}

// exist reports whether every practitioner of ids exists.
func (f *SyncCreateFacts) exist(ids []uuid.UUID) bool {
	for _, id := range ids {
		if !f.exists(id) {
			return false
		}
	}
	return true
}

// syncCreateWrite holds the columns of syncCreateSQL, one slice per column.
type syncCreateWrite struct {
	ids, patients, pracs, orgs []uuid.UUID
	modes                      []string
	at                         []time.Time
	durations                  []pgtype.Int4 // not []*int: see RecordMutations
	participants, others       []string      // JSON arrays
	purposes, notes, hlcs      []string
}

// add appends an interaction that passed the checks.
func (w *syncCreateWrite) add(d draft, hlc string, facts *SyncCreateFacts) error {
	ps, err := json.Marshal(d.participants)
	if err != nil {
		return fmt.Errorf("encode participants: %w", err)
	}
	os, err := json.Marshal(d.others)
	if err != nil {
		return fmt.Errorf("encode others present: %w", err)
	}
	w.ids = append(w.ids, d.id)
	w.patients = append(w.patients, d.in.PatientID)
	w.pracs = append(w.pracs, d.prac)
	w.orgs = append(w.orgs, facts.orgOf[d.prac])
	w.modes = append(w.modes, string(d.in.Mode))
	w.at = append(w.at, d.in.OccurredAt)
	dur := pgtype.Int4{}
	if n := d.in.DurationMinutes; n != nil {
		if *n < 0 || *n > math.MaxInt32 { // validated (0 to 1440) before: never
			return fmt.Errorf("duration %d out of range", *n)
		}
		dur = pgtype.Int4{Int32: int32(*n), Valid: true}
	}
	w.durations = append(w.durations, dur)
	w.participants = append(w.participants, string(ps))
	w.others = append(w.others, string(os))
	w.purposes = append(w.purposes, d.in.Purpose)
	w.notes = append(w.notes, d.in.Notes)
	w.hlcs = append(w.hlcs, hlc)
	return nil
}

// args are syncCreateSQL's arguments for rows [from, to).
func (w *syncCreateWrite) args(ctx context.Context, a *care.Actor, device uuid.UUID, from, to int) []any {
	cols := []any{w.ids[from:to], w.patients[from:to], w.pracs[from:to], w.orgs[from:to], w.modes[from:to], w.at[from:to],
		w.durations[from:to], w.participants[from:to], w.others[from:to], w.purposes[from:to], w.notes[from:to], w.hlcs[from:to]}
	return append(append(cols, auditParams(ctx, a, care.AuditCreate)...), device)
}

// RetiredIDs returns which of ids belonged to a deleted record (see IDRetired).
func (db *DB) RetiredIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	return db.idSet(ctx, "retired ids", `SELECT id FROM retired_ids WHERE id = ANY($1::uuid[])`, ids)
}

// VisiblePatientIDs returns which of the patients ids the caller may see now
// (see PatientVisible). EUNAUTHENTICATED without an actor.
func (db *DB) VisiblePatientIDs(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{ids}
	return db.idSet(ctx, "visible patients", `SELECT p.id FROM patients p WHERE p.id = ANY($1::uuid[]) AND `+patientAccessSQL(a, "p", &q), q...)
}

// DevicePatientIDs returns which of the patients ids were ever in the
// device's sync scope (see DeviceHadPatient).
func (db *DB) DevicePatientIDs(ctx context.Context, device uuid.UUID, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	return db.idSet(ctx, "device scope", `SELECT DISTINCT patient_id FROM device_scopes WHERE device_id = $2 AND patient_id = ANY($1::uuid[])`, ids, device)
}

// idSet runs query, which selects ids, and returns them as a set; nothing is
// asked for no ids (the first argument).
func (db *DB) idSet(ctx context.Context, what, query string, args ...any) (map[uuid.UUID]bool, error) {
	out := map[uuid.UUID]bool{}
	if ids, _ := args[0].([]uuid.UUID); len(ids) == 0 {
		return out, nil
	}
	rows, err := db.q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	var id uuid.UUID
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { out[id] = true; return nil }); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
