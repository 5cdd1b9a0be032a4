package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rapportcare/rapport/care"
)

// A sync push applies a run of offline edits, signings and deletes of
// draft interactions set-based too (see ChangeDraftsFromSync): one round
// trip reads what the checks and the merge need for the whole run
// (SyncEditStates), one writes the rows, their field clocks, change log and
// audit. One at a time, an edit takes about fifteen round trips.

// SyncEditState is what the push needs to judge one edit of an interaction:
// the state LockSyncRecord returns, the interaction itself when the caller
// may see it, and MayChange's answer for an UPDATE of it.
type SyncEditState struct {
	SyncRecordState
	Interaction *care.Interaction // nil unless Visible
	MayChange   error             // nil, or MayChange's refusal (EFORBIDDEN)
}

// syncEditStatesSQL reads the interactions of a run of edits, each after
// whether the caller may see its patient (the access rule tested once per
// patient, between the two parts).
const syncEditStatesSQL = `
WITH i AS MATERIALIZED (SELECT * FROM interactions WHERE id = ANY($1::uuid[])),
ok AS MATERIALIZED (SELECT p.id FROM patients p WHERE p.id = ANY(ARRAY(SELECT DISTINCT patient_id FROM i)) AND `
const syncEditStatesEndSQL = `)
SELECT i.patient_id IN (SELECT id FROM ok), ` + interactionCols + ` FROM i`

// SyncEditStates returns, for the interactions ids (locked already, by
// LockSyncRecords), what LockSyncRecord and MayChange("interaction",
// "update", id) would return for each, in one round trip; an id with no
// record has Exists false. As with LockSyncRecord, nothing of a record the
// caller may not see is returned beyond Exists, PatientID and
// PractitionerID. It reads no data it audits: the caller writes or refuses
// every one. It must be called inside InTx; EUNAUTHENTICATED without an
// actor.
func (db *DB) SyncEditStates(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]*SyncEditState, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if !db.inTx {
		return nil, errNotInTx
	}
	_, writerErr := writerOf(ctx)
	out := make(map[uuid.UUID]*SyncEditState, len(ids))
	q := args{ids}
	b := &pgx.Batch{}
	b.Queue(syncEditStatesSQL+patientAccessSQL(a, "p", &q)+syncEditStatesEndSQL, q...)
	b.Queue(`SELECT entity_id, field, hlc, version, device_id FROM sync_field_clocks WHERE entity = 'interaction' AND entity_id = ANY($1::uuid[])`, ids)
	br := db.q.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("sync edit states: %w", err)
	}
	for rows.Next() {
		var visible bool
		i, err := scanInteraction(rows, &visible)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("sync edit states: %w", err)
		}
		st := &SyncEditState{SyncRecordState: SyncRecordState{Exists: true, Visible: visible, PatientID: &i.PatientID,
			PractitionerID: &i.PractitionerID, Version: i.Version, Status: string(i.Status), FieldClocks: map[string]SyncFieldClock{}}}
		if visible {
			st.Interaction = i
			st.MayChange = writerErr
			if writerErr == nil {
				st.MayChange = mayChangeOwn(a, i)
			}
		}
		out[i.ID] = st
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sync edit states: %w", err)
	}
	rows, err = br.Query()
	if err != nil {
		return nil, fmt.Errorf("field clocks: %w", err)
	}
	var id uuid.UUID
	var field string
	var fc SyncFieldClock
	_, err = pgx.ForEachRow(rows, []any{&id, &field, &fc.HLC, &fc.Version, &fc.DeviceID}, func() error {
		if st := out[id]; st != nil {
			st.FieldClocks[field] = fc
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("field clocks: %w", err)
	}
	for _, id := range ids {
		if out[id] == nil {
			out[id] = &SyncEditState{SyncRecordState: SyncRecordState{FieldClocks: map[string]SyncFieldClock{}}}
		}
	}
	return out, br.Close()
}

// SyncEdit is one offline edit of a draft interaction: the fields to write
// (nil: unchanged; ParticipantIDs must be nil, as participants are checked
// against the directory one edit at a time), or Sign to sign the draft off
// (as SignInteraction does: its author is its signer), or Delete to delete
// it (as DeleteInteraction does), and the hybrid
// logical clock of the change, which the change log and the field clocks
// record.
type SyncEdit struct {
	Input  care.UpdateInteractionInput
	Sign   bool // sign the draft off (Input holds only its ID)
	Delete bool // delete the draft (Input holds only its ID)
	HLC    string
}

// interactionDiffColumns are the columns of interactions whose change the
// change log records (all but version and updated_at), in the order the
// trigger lists them (by name). TestInteractionDiffColumns holds it to the
// table.
var interactionDiffColumns = []string{"created_at", "duration_minutes", "id", "mode", "notes", "occurred_at", "organization_id",
	"other_present", "participant_ids", "patient_id", "practitioner_id", "purpose", "signed_at", "signed_by_id", "status"}

// changedColumnsSQL is the SQL of the names of cols (sorted) whose value
// differs between the rows after and before, as text[].
func changedColumnsSQL(after, before string, cols []string) string {
	var b strings.Builder
	b.WriteString("array_remove(ARRAY[")
	for k, c := range cols {
		if k > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "CASE WHEN %s.%s IS DISTINCT FROM %s.%s THEN '%s' END", after, c, before, c, c)
	}
	b.WriteString("]::text[], NULL)")
	return b.String()
}

// syncEditSQL writes a run of edits, signings and deletes of drafts in one
// statement: the rows; then, as the change-log trigger of 002_sync.sql
// writes them (that trigger is off for the statement: rapport.bulk_load),
// the clocks of the fields that changed and the change-log row, each with
// its change's own clock and the device as origin (a deleted row's clocks
// dropped, its log row a 'delete'); and the audit rows (an update, a
// signing or a delete, as the store's one-at-a-time writes audit them). The
// fields that changed are found as the trigger finds them: every column
// whose value differs between the row before (old, read in the statement's
// snapshot) and after, but version and updated_at. The trigger compares the
// rows as JSON; here each column is compared as itself
// (interactionDiffColumns), which gives the same fields without making each
// row JSON twice (a third of the statement's time for 50 edits when it did,
// bench/sync_push_log.md).
var syncEditSQL = `
WITH u AS (
    SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::int[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::bool[])
        WITH ORDINALITY AS u(id, mode, occurred_at, duration_minutes, other_present, purpose, notes, hlc, sign, del, ord)),
old AS (SELECT o.* FROM interactions o WHERE o.id IN (SELECT id FROM u)),
upd AS (
    UPDATE interactions i SET mode = COALESCE(u.mode, i.mode), occurred_at = COALESCE(u.occurred_at, i.occurred_at),
           duration_minutes = COALESCE(u.duration_minutes, i.duration_minutes),
           other_present = COALESCE(CASE WHEN u.other_present IS NULL THEN NULL
                                         WHEN u.other_present = '[]' THEN '{}'::text[]
                                         ELSE ARRAY(SELECT e FROM jsonb_array_elements_text(u.other_present::jsonb) e) END, i.other_present),
           purpose = COALESCE(u.purpose, i.purpose), notes = COALESCE(u.notes, i.notes),
           status = CASE WHEN u.sign THEN 'signed' ELSE i.status END,
           signed_at = CASE WHEN u.sign THEN now() ELSE i.signed_at END,
           signed_by_id = CASE WHEN u.sign THEN i.practitioner_id ELSE i.signed_by_id END,
           version = i.version + 1, updated_at = now()
    FROM u WHERE i.id = u.id AND i.status = 'draft' AND NOT u.del
    RETURNING i.*),
del AS (DELETE FROM interactions i USING u WHERE i.id = u.id AND u.del AND i.status = 'draft' RETURNING i.*),
unclock AS (DELETE FROM sync_field_clocks WHERE entity = 'interaction' AND entity_id IN (SELECT id FROM del)),
changed AS MATERIALIZED (
    SELECT n.id, ` + changedColumnsSQL("n", "o", interactionDiffColumns) + ` AS fields
    FROM upd n JOIN old o ON o.id = n.id),
clocks AS (
    INSERT INTO sync_field_clocks AS fc (entity, entity_id, field, hlc, version, device_id)
    SELECT 'interaction', n.id, f, u.hlc, n.version, $11
    FROM upd n JOIN u ON u.id = n.id JOIN changed c ON c.id = n.id, unnest(c.fields) f
    ON CONFLICT (entity, entity_id, field) DO UPDATE
        SET hlc = EXCLUDED.hlc, version = EXCLUDED.version, device_id = EXCLUDED.device_id),
log AS (
    INSERT INTO sync_changes AS sc (entity, entity_id, seq, txid, op, patient_id, organization_id, version, changed_fields, hlc, device_id, changed_at)
    SELECT 'interaction', l.id, NULL::bigint, pg_current_xact_id(), l.op, l.patient_id, l.organization_id, l.version, l.fields, l.hlc, $11::uuid, now()
    FROM (SELECT n.id, 'upsert' AS op, n.patient_id, n.organization_id, n.version, COALESCE(c.fields, '{}') AS fields, u.hlc, u.ord
          FROM upd n JOIN u ON u.id = n.id LEFT JOIN changed c ON c.id = n.id
          UNION ALL
          SELECT d.id, 'delete', d.patient_id, d.organization_id, d.version, '{}', u.hlc, u.ord
          FROM del d JOIN u ON u.id = d.id) l
    ORDER BY l.ord
    ON CONFLICT (entity, entity_id) DO UPDATE SET
        seq = NULL, txid = EXCLUDED.txid, op = EXCLUDED.op, patient_id = EXCLUDED.patient_id,
        organization_id = EXCLUDED.organization_id, version = EXCLUDED.version,
        changed_fields = CASE WHEN sc.seq IS NULL AND sc.txid = EXCLUDED.txid
                              THEN ARRAY(SELECT DISTINCT x FROM unnest(sc.changed_fields || EXCLUDED.changed_fields) x ORDER BY x)
                              ELSE EXCLUDED.changed_fields END,
        hlc = EXCLUDED.hlc, device_id = EXCLUDED.device_id, changed_at = EXCLUDED.changed_at),
audit AS (
    ` + auditOfRowsSQL(12, entityInteraction, "(SELECT n.* FROM upd n JOIN u ON u.id = n.id WHERE NOT u.sign)") + `),
audit_sign AS (
    ` + auditOfRowsSQL(19, entityInteraction, "(SELECT n.* FROM upd n JOIN u ON u.id = n.id WHERE u.sign)") + `),
audit_delete AS (
    ` + auditOfRowsSQL(26, entityInteraction, "del") + `)
SELECT ` + interactionCols + ` FROM upd i
UNION ALL
SELECT ` + interactionCols + ` FROM del i`

// ChangeDraftsFromSync writes edits, signings and deletes of drafts that
// the caller has judged as UpdateInteraction, SignInteraction,
// DeleteInteraction and the sync merge judge each (the draft is visible,
// its author's, and every field written is one its author had seen or
// nobody else changed; a draft signed or deleted is one nobody else
// changed since its author saw it), set-based: the rows, their field
// clocks, change-log rows and audit rows (AuditUpdate, AuditSign or
// AuditDelete, as those write) in one statement under a savepoint. The edits' records must be
// distinct and locked (LockSyncRecords).
//
// It returns, aligned with es, the interactions as written (the rows the
// UPDATE returned: nothing is read back; a deleted one as it was). The error is the database's (or
// EUNAUTHENTICATED, EFORBIDDEN for a read-only caller, or a record that was
// not a draft): then nothing was written and the caller may apply the edits
// one by one instead. It must be called inside InTx.
func (db *DB) ChangeDraftsFromSync(ctx context.Context, device uuid.UUID, es []SyncEdit) ([]*care.Interaction, error) {
	if !db.inTx {
		return nil, errNotInTx
	}
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	n := len(es)
	ids := make([]uuid.UUID, n)
	modes, others, purposes, notes, hlcs := make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n), make([]pgtype.Text, n), make([]string, n)
	at := make([]pgtype.Timestamptz, n)
	durations := make([]pgtype.Int4, n)
	signs, dels := make([]bool, n), make([]bool, n)
	text := func(s *string) pgtype.Text {
		if s == nil {
			return pgtype.Text{}
		}
		return pgtype.Text{String: *s, Valid: true}
	}
	for k, e := range es {
		in := e.Input
		if in.ParticipantIDs != nil {
			return nil, fmt.Errorf("change drafts: participants are changed one edit at a time")
		}
		ids[k], hlcs[k], signs[k], dels[k] = in.ID, e.HLC, e.Sign, e.Delete
		modes[k], purposes[k], notes[k] = text((*string)(in.Mode)), text(in.Purpose), text(in.Notes)
		if in.OccurredAt != nil {
			at[k] = pgtype.Timestamptz{Time: *in.OccurredAt, Valid: true}
		}
		if d := in.DurationMinutes; d != nil {
			if *d < 0 || *d > math.MaxInt32 { // validated (0 to 1440) before: never
				return nil, fmt.Errorf("duration %d out of range", *d)
			}
			durations[k] = pgtype.Int4{Int32: int32(*d), Valid: true}
		}
		if in.OtherPresent != nil {
			b, err := json.Marshal(in.OtherPresent)
			if err != nil {
				return nil, fmt.Errorf("encode others present: %w", err)
			}
			others[k] = pgtype.Text{String: string(b), Valid: true}
		}
	}
	made, err := db.writeUntriggered(ctx, "change drafts", syncEditSQL,
		slices.Concat([]any{ids, modes, at, durations, others, purposes, notes, hlcs, signs, dels, device},
			auditParams(ctx, a, care.AuditUpdate), auditParams(ctx, a, care.AuditSign), auditParams(ctx, a, care.AuditDelete)),
		func(made map[uuid.UUID]*care.Interaction) error {
			if len(made) != n {
				return fmt.Errorf("change drafts: %d of %d were drafts", len(made), n)
			}
			return nil
		})
	if err != nil {
		return nil, err
	}
	out := make([]*care.Interaction, n)
	for k, id := range ids {
		out[k] = made[id]
	}
	return out, nil
}
