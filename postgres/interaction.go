package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

const interactionCols = "i.id, i.patient_id, i.practitioner_id, i.organization_id, i.mode, i.occurred_at, i.duration_minutes, " +
	"i.participant_ids, i.other_present, i.purpose, i.notes, i.status, i.signed_at, i.signed_by_id, i.created_at, i.updated_at, i.version"

func scanInteraction(r row, pre ...any) (*care.Interaction, error) {
	var i care.Interaction
	err := r.Scan(appendInteractionDest(pre, &i)...)
	return &i, err
}

// appendInteractionDest appends the scan destinations of interactionCols.
func appendInteractionDest(dst []any, i *care.Interaction) []any {
	return append(dst, &i.ID, &i.PatientID, &i.PractitionerID, &i.OrganizationID, text(&i.Mode), &i.OccurredAt, &i.DurationMinutes,
		&i.ParticipantIDs, &i.OtherPresent, &i.Purpose, &i.Notes, text(&i.Status), &i.SignedAt, &i.SignedByID, &i.CreatedAt, &i.UpdatedAt, &i.Version)
}

// withPractitioners makes the page of s read each interaction's practitioner
// in the same statement (a primary-key join of the page's rows), collected in
// the map it returns as the rows are scanned. Practitioners are directory
// data: readable by any actor and not audited.
func withPractitioners(s *listSpec[care.Interaction]) map[uuid.UUID]*care.Practitioner {
	out := map[uuid.UUID]*care.Practitioner{}
	s.pageFrom = s.from + " JOIN practitioners pr ON pr.id = i.practitioner_id"
	s.cols += ", " + practitionerCols
	var dst []any // the rows are scanned one after another: one slice of destinations serves them all
	s.scan = func(r row, pre ...any) (*care.Interaction, error) {
		var i care.Interaction
		var p care.Practitioner
		dst = appendPractitionerDest(appendInteractionDest(append(dst[:0], pre...), &i), &p)
		err := r.Scan(dst...)
		if err == nil {
			out[p.ID] = &p
		}
		return &i, err
	}
	return out
}

func interactionSpec(a *care.Actor) *listSpec[care.Interaction] {
	s := &listSpec[care.Interaction]{
		from: "interactions i JOIN patients p ON p.id = i.patient_id", cols: interactionCols,
		keyCols: []string{"i.occurred_at", "i.id"}, keyCast: []string{"timestamptz", "uuid"}, desc: true,
		scan: scanInteraction,
		key:  func(i *care.Interaction) []string { return []string{timeKey(i.OccurredAt), i.ID.String()} },
	}
	s.where = append(s.where, patientAccessSQL(a, "p", &s.q))
	return s
}

func interactionFilterSQL(s *listSpec[care.Interaction], f care.InteractionFilter) {
	if f.PatientID != nil {
		s.where = append(s.where, "i.patient_id = "+s.q.add(*f.PatientID))
	}
	if f.PractitionerID != nil {
		s.where = append(s.where, "i.practitioner_id = "+s.q.add(*f.PractitionerID))
	}
	if f.From != nil {
		s.where = append(s.where, "i.occurred_at >= "+s.q.add(*f.From))
	}
	if f.To != nil {
		s.where = append(s.where, "i.occurred_at < "+s.q.add(*f.To))
	}
	if f.Mode != nil {
		s.where = append(s.where, "i.mode = "+s.q.add(string(*f.Mode)))
	}
	if f.Status != nil {
		s.where = append(s.where, "i.status = "+s.q.add(string(*f.Status)))
	}
}

// visibleInteractions loads the interactions among ids whose patient the actor
// may see, aligned with ids, optionally locking them. It does not audit.
//
// More than byPatientFrom ids without a lock (a page of a sync pull, a
// batch of a dataloader) are read once into a set, and the access rule is
// tested once for each patient among them rather than once for each row:
// a pull page holds hundreds of one patient's records, and the rule, tested
// per row, took a third of the page's load (a nurse's first pull on the
// medium demo data: 5.2-5.4 ms a page of 500 that way, 4.0-4.2 ms this way,
// psql, generic plans). A single id costs 15-25 µs more that way, so
// fewer keep the join. Locked rows keep it too: the set would lock rows
// the actor may not see.
func (db *DB) visibleInteractions(ctx context.Context, a *care.Actor, ids []uuid.UUID, lock bool) ([]*care.Interaction, error) {
	q := args{ids}
	access := patientAccessSQL(a, "p", &q)
	sql := "SELECT " + interactionCols + " FROM interactions i JOIN patients p ON p.id = i.patient_id WHERE i.id = ANY($1::uuid[]) AND " + access
	switch {
	case lock:
		sql += " FOR UPDATE OF i"
	case len(ids) > byPatientFrom:
		sql = `WITH i AS MATERIALIZED (SELECT * FROM interactions WHERE id = ANY($1::uuid[])),
			ok AS MATERIALIZED (SELECT p.id FROM patients p WHERE p.id = ANY(ARRAY(SELECT DISTINCT patient_id FROM i)) AND ` + access + `)
			SELECT ` + interactionCols + ` FROM i WHERE i.patient_id IN (SELECT id FROM ok)`
	}
	rows, err := db.q.Query(ctx, sql, q...)
	if err != nil {
		return nil, fmt.Errorf("load interactions: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*care.Interaction, error) { return scanInteraction(r) })
	if err != nil {
		return nil, fmt.Errorf("load interactions: %w", err)
	}
	return align(ids, items, func(i *care.Interaction) uuid.UUID { return i.ID }), nil
}

// byPatientFrom is how many ids visibleInteractions reads as a set,
// testing the access rule once per patient; a variable so that tests can
// drive either form.
var byPatientFrom = 16

func (db *DB) visibleInteraction(ctx context.Context, a *care.Actor, id uuid.UUID, lock bool) (*care.Interaction, error) {
	is, err := db.visibleInteractions(ctx, a, []uuid.UUID{id}, lock)
	if err != nil {
		return nil, err
	}
	if is[0] == nil {
		return nil, care.Errorf(care.ENOTFOUND, "no such interaction")
	}
	return is[0], nil
}

// Interaction returns one interaction with a visible patient, audited.
// ENOTFOUND when missing or not visible.
func (db *DB) Interaction(ctx context.Context, id uuid.UUID) (*care.Interaction, error) {
	out, err := db.InteractionsByID(ctx, []uuid.UUID{id})
	return one(out, err, "no such interaction")
}

// InteractionsByID returns interactions aligned with ids (nil where missing or
// not visible), audited.
func (db *DB) InteractionsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Interaction, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	out, err := db.visibleInteractions(ctx, a, ids, false)
	if err != nil {
		return nil, err
	}
	if err := db.audit(ctx, a, care.AuditRead, interactionRecs(out)); err != nil {
		return nil, err
	}
	return out, nil
}

// Interactions lists visible interactions, newest first (occurred_at desc, id
// desc), audited. EINVALID for a bad cursor, ELIMIT for a bad page size.
func (db *DB) Interactions(ctx context.Context, f care.InteractionFilter, p care.PageArgs) (*care.Page[care.Interaction], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := interactionSpec(a)
	interactionFilterSQL(s, f)
	page, items, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("list interactions: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, interactionRecs(items)); err != nil {
		return nil, err
	}
	return page, nil
}

// interactionsFor pages the interactions of each parent (col = parent id);
// with pracs, the practitioners of the pages' interactions too.
func (db *DB) interactionsFor(ctx context.Context, col string, parents []uuid.UUID, f care.InteractionFilter, p care.PageArgs,
	pracs bool) (map[uuid.UUID]*care.Page[care.Interaction], map[uuid.UUID]*care.Practitioner, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	s := interactionSpec(a)
	interactionFilterSQL(s, f)
	var ps map[uuid.UUID]*care.Practitioner
	if pracs {
		ps = withPractitioners(s)
	}
	out, items, err := listFor(ctx, db, s, parents, parentOf{cond: func(parent string) string { return col + " = " + parent }}, p)
	if err != nil {
		return nil, nil, err
	}
	if err := db.audit(ctx, a, care.AuditRead, interactionRecs(items)); err != nil {
		return nil, nil, err
	}
	return out, ps, nil
}

// InteractionsForPatients returns, per patient, a page of their visible
// interactions and its total count (one statement for any number of
// patients), audited.
func (db *DB) InteractionsForPatients(ctx context.Context, patientIDs []uuid.UUID, f care.InteractionFilter, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Interaction], error) {
	out, _, err := db.InteractionsForPatientsWithPractitioners(ctx, patientIDs, f, p, false)
	return out, err
}

// InteractionsForPatientsWithPractitioners is InteractionsForPatients that,
// with pracs, also returns the practitioner of every interaction on the
// pages, read in the same statement.
func (db *DB) InteractionsForPatientsWithPractitioners(ctx context.Context, patientIDs []uuid.UUID, f care.InteractionFilter, p care.PageArgs,
	pracs bool) (map[uuid.UUID]*care.Page[care.Interaction], map[uuid.UUID]*care.Practitioner, error) {
	f.PatientID = nil
	out, ps, err := db.interactionsFor(ctx, "i.patient_id", patientIDs, f, p, pracs)
	if err != nil {
		return nil, nil, fmt.Errorf("interactions for patients: %w", err)
	}
	return out, ps, nil
}

// InteractionsForPractitioners returns, per practitioner, a page of the
// visible interactions they led and its total count (one statement), audited.
func (db *DB) InteractionsForPractitioners(ctx context.Context, practitionerIDs []uuid.UUID, f care.InteractionFilter, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Interaction], error) {
	f.PractitionerID = nil
	out, _, err := db.interactionsFor(ctx, "i.practitioner_id", practitionerIDs, f, p, false)
	if err != nil {
		return nil, fmt.Errorf("interactions for practitioners: %w", err)
	}
	return out, nil
}

const amendmentsSQL = `
SELECT am.id, am.interaction_id, am.amended_by_id, am.amended_at, am.reason,
       am.before_purpose, am.before_notes, am.before_duration_minutes,
       am.after_purpose, am.after_notes, am.after_duration_minutes, i.patient_id
FROM interaction_amendments am JOIN interactions i ON i.id = am.interaction_id JOIN patients p ON p.id = i.patient_id
WHERE am.interaction_id = ANY($1::uuid[]) AND %s
ORDER BY am.interaction_id, am.amended_at, am.id`

// AmendmentsOf returns, per interaction with a visible patient, its
// amendments oldest first (one query), audited.
func (db *DB) AmendmentsOf(ctx context.Context, interactionIDs []uuid.UUID) (map[uuid.UUID][]*care.InteractionAmendment, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{interactionIDs}
	rows, err := db.q.Query(ctx, fmt.Sprintf(amendmentsSQL, patientAccessSQL(a, "p", &q)), q...)
	if err != nil {
		return nil, fmt.Errorf("amendments: %w", err)
	}
	out := make(map[uuid.UUID][]*care.InteractionAmendment, len(interactionIDs))
	var recs []auditRec
	_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
		var m care.InteractionAmendment
		var patient uuid.UUID
		err := r.Scan(&m.ID, &m.InteractionID, &m.AmendedByID, &m.AmendedAt, &m.Reason,
			&m.Before.Purpose, &m.Before.Notes, &m.Before.DurationMinutes,
			&m.After.Purpose, &m.After.Notes, &m.After.DurationMinutes, &patient)
		if err == nil {
			out[m.InteractionID] = append(out[m.InteractionID], &m)
			recs = append(recs, auditRec{patient, entityAmendment, m.ID})
		}
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("amendments: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, recs); err != nil {
		return nil, err
	}
	return out, nil
}

// checkParticipants returns ENOTFOUND unless every id is a practitioner.
func (db *DB) checkParticipants(ctx context.Context, ids []uuid.UUID) error {
	ids = uniqueIDs(ids)
	if len(ids) == 0 {
		return nil
	}
	var n int
	if err := db.q.QueryRow(ctx, `SELECT count(*) FROM practitioners WHERE id = ANY($1::uuid[])`, ids).Scan(&n); err != nil {
		return fmt.Errorf("check participants: %w", err)
	}
	if n != len(ids) {
		return care.Errorf(care.ENOTFOUND, "no such practitioner among the participants")
	}
	return nil
}

const insertInteractionSQL = `
INSERT INTO interactions AS i (id, patient_id, practitioner_id, organization_id, mode, occurred_at, duration_minutes,
       participant_ids, other_present, purpose, notes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (id) DO NOTHING
RETURNING ` + interactionCols

// CreateInteraction records a draft for a visible patient (nurse, gp, system)
// and audits it. The practitioner defaults to the caller, and only the system
// may record for someone else. Creating again with the same ID, patient, mode
// and time returns the existing interaction, unless it is unchanged since and
// the repeat's content differs from it (ECONFLICT: nothing is dropped
// silently). Errors: EINVALID, EFORBIDDEN, ENOTFOUND (patient not visible, no
// such practitioner), ECONFLICT (ID used).
func (db *DB) CreateInteraction(ctx context.Context, in care.CreateInteractionInput) (*care.Interaction, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	d, err := db.draftOf(a, in)
	if err != nil {
		return nil, err
	}
	in = d.in // as validated (purpose trimmed), as the one-statement path writes it
	id, prac, participants, others := d.id, d.prac, d.participants, d.others
	if !db.inTx {
		if i, err := db.createInteractionAtOnce(ctx, a, d); err != nil || i != nil {
			return i, err
		}
	}
	var out *care.Interaction
	err = db.InTx(ctx, func(tx *DB) error {
		if _, err := tx.visiblePatient(ctx, a, in.PatientID, false); err != nil {
			return err
		}
		ps, err := tx.practitionersByID(ctx, []uuid.UUID{prac}, false)
		if err != nil {
			return err
		}
		if ps[0] == nil {
			return care.Errorf(care.ENOTFOUND, "no such practitioner")
		}
		if err := tx.checkParticipants(ctx, participants); err != nil {
			return err
		}
		i, err := scanInteraction(tx.q.QueryRow(ctx, insertInteractionSQL, id, in.PatientID, prac, ps[0].OrganizationID,
			string(in.Mode), in.OccurredAt, in.DurationMinutes, participants, others, in.Purpose, in.Notes))
		if errors.Is(err, pgx.ErrNoRows) {
			ex, err := tx.visibleInteraction(ctx, a, id, false)
			if care.ErrorCode(err) == care.ENOTFOUND {
				return idConflict() // the same answer whoever's record has the id
			}
			if err != nil {
				return err
			}
			if ex.PatientID != in.PatientID || ex.Mode != in.Mode || !ex.OccurredAt.Equal(in.OccurredAt.Truncate(time.Microsecond)) {
				return idConflict()
			}
			if ex.Version == 1 && !sameDraft(ex, d) {
				// A repeat that differs from the record it repeats would be
				// answered with the record, its own content silently
				// dropped (a client that edited its draft before retrying).
				// Once the record has changed, a late retry of the first
				// create cannot be told from it, and gets the record.
				return care.Errorf(care.ECONFLICT, "an interaction with this id was already recorded, with other content: nothing was saved; read it and make the changes as an edit")
			}
			out = ex
			return tx.audit(ctx, a, care.AuditRead, interactionRecs([]*care.Interaction{ex}))
		}
		if err != nil {
			return translate(err)
		}
		out = i
		return tx.audit(ctx, a, care.AuditCreate, interactionRecs([]*care.Interaction{i}))
	})
	if err != nil {
		return nil, fmt.Errorf("create interaction: %w", err)
	}
	return out, nil
}

// createInteractionAtOnce is CreateInteraction's usual case in one
// statement, its own transaction: the checks (the patient visible to a, the
// practitioner, the participants), the row, its audit row (and, by the
// trigger, its change-log row) written together, or nothing. It returns nil
// and no error when it wrote nothing (a check failed, the id is taken, or
// the statement failed): CreateInteraction then answers as it always did,
// in a transaction. A create is 1 statement instead of 6 (BEGIN, the
// patient, the practitioner, the row, the audit, COMMIT).
func (db *DB) createInteractionAtOnce(ctx context.Context, a *care.Actor, d draft) (*care.Interaction, error) {
	in := d.in
	q := append(args{d.id, in.PatientID, d.prac, string(in.Mode), in.OccurredAt, in.DurationMinutes, d.participants, d.others, in.Purpose, in.Notes},
		auditParams(ctx, a, care.AuditCreate)...)
	sql := `
WITH ok AS (
    SELECT pr.organization_id FROM practitioners pr
    WHERE pr.id = $3
      AND EXISTS (SELECT 1 FROM patients p WHERE p.id = $2 AND ` + patientAccessSQL(a, "p", &q) + `)
      AND (SELECT count(*) FROM practitioners x WHERE x.id = ANY($7::uuid[])) = cardinality(ARRAY(SELECT DISTINCT unnest($7::uuid[])))),
ins AS (
    INSERT INTO interactions AS i (id, patient_id, practitioner_id, organization_id, mode, occurred_at, duration_minutes,
           participant_ids, other_present, purpose, notes)
    SELECT $1, $2, $3, ok.organization_id, $4, $5, $6, $7, $8, $9, $10 FROM ok
    ON CONFLICT (id) DO NOTHING
    RETURNING ` + interactionCols + `),
audit AS (
    ` + auditOfRowsSQL(11, entityInteraction, "ins") + `)
SELECT * FROM ins i`
	i, err := scanInteraction(db.q.QueryRow(ctx, sql, q...))
	if err != nil && ctx.Err() != nil {
		return nil, fmt.Errorf("create interaction: %w", translate(err))
	}
	if err != nil {
		// Nothing was written (no row; or the statement failed, as a whole):
		// the transaction answers, and retries what is worth retrying.
		return nil, nil
	}
	if db.router != nil {
		_ = db.router.wrote(ctx) // as runTx: the actor's next reads see it
	}
	return i, nil
}

// draft is a new interaction checked as far as it can be without the
// database: its id, its practitioner and its lists (never nil).
type draft struct {
	in           care.CreateInteractionInput
	id, prac     uuid.UUID
	participants []uuid.UUID
	others       []string
}

// draftOf makes the checks CreateInteraction makes before it reads the
// database, in its order: EINVALID, EFORBIDDEN.
func (db *DB) draftOf(a *care.Actor, in care.CreateInteractionInput) (draft, error) {
	if err := in.Validate(db.now()); err != nil {
		return draft{}, err
	}
	if !hasRole(a, care.RoleNurse, care.RoleGP, care.RoleSystem) {
		return draft{}, forbidden("record interactions")
	}
	prac := a.PractitionerID
	if in.PractitionerID != nil {
		if a.Role != care.RoleSystem && *in.PractitionerID != a.PractitionerID {
			return draft{}, forbidden("record an interaction for another practitioner")
		}
		prac = *in.PractitionerID
	}
	if prac == uuid.Nil {
		return draft{}, care.Errorf(care.EINVALID, "practitionerId is required")
	}
	id, err := newID(in.ID)
	if err != nil {
		return draft{}, err
	}
	d := draft{in: in, id: id, prac: prac, participants: in.ParticipantIDs, others: in.OtherPresent}
	if d.participants == nil {
		d.participants = []uuid.UUID{}
	}
	if d.others == nil {
		d.others = []string{}
	}
	return d, nil
}

// lockOwnInteraction loads a visible interaction for update and checks the
// actor is its author (or the system): ENOTFOUND, EFORBIDDEN.
func (db *DB) lockOwnInteraction(ctx context.Context, a *care.Actor, id uuid.UUID) (*care.Interaction, error) {
	ex, err := db.visibleInteraction(ctx, a, id, true)
	if err != nil {
		return nil, err
	}
	if err := mayChangeOwn(a, ex); err != nil {
		return nil, err
	}
	return ex, nil
}

// mayChangeOwn is the author-only rule for editing, signing and deleting a
// draft: its author or the system, EFORBIDDEN otherwise.
func mayChangeOwn(a *care.Actor, ex *care.Interaction) error {
	if a.Role != care.RoleSystem && ex.PractitionerID != a.PractitionerID {
		return forbidden("change an interaction someone else recorded")
	}
	return nil
}

// mayAmend is the rule for amending a signed interaction the actor may see:
// a nurse, a GP or the system, EFORBIDDEN otherwise.
func mayAmend(a *care.Actor) error {
	if !hasRole(a, care.RoleNurse, care.RoleGP, care.RoleSystem) {
		return forbidden("amend interactions")
	}
	return nil
}

const updateInteractionSQL = `
UPDATE interactions i SET mode = COALESCE($2, i.mode), occurred_at = COALESCE($3, i.occurred_at),
       duration_minutes = COALESCE($4, i.duration_minutes), participant_ids = COALESCE($5, i.participant_ids),
       other_present = COALESCE($6, i.other_present), purpose = COALESCE($7, i.purpose), notes = COALESCE($8, i.notes),
       version = i.version + 1, updated_at = now()
WHERE i.id = $1
RETURNING ` + interactionCols

// UpdateInteraction edits a draft (its author only) and audits it. Errors:
// EINVALID, EFORBIDDEN, ENOTFOUND, ECONFLICT for a signed interaction
// ("signed interactions change only by amendment").
func (db *DB) UpdateInteraction(ctx context.Context, in care.UpdateInteractionInput) (*care.Interaction, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(db.now()); err != nil {
		return nil, err
	}
	var out *care.Interaction
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.lockOwnInteraction(ctx, a, in.ID)
		if err != nil {
			return err
		}
		if ex.Status != care.InteractionDraft {
			return care.Errorf(care.ECONFLICT, "signed interactions change only by amendment")
		}
		if err := tx.refuseUnseen(ctx, "interaction", ex.ID, ex.Version, in.BaseVersion, editedColumns(ex, in)); err != nil {
			return err
		}
		if err := tx.checkParticipants(ctx, in.ParticipantIDs); err != nil {
			return err
		}
		i, err := scanInteraction(tx.q.QueryRow(ctx, updateInteractionSQL, in.ID, (*string)(in.Mode), in.OccurredAt,
			in.DurationMinutes, in.ParticipantIDs, in.OtherPresent, in.Purpose, in.Notes))
		if err != nil {
			return translate(err)
		}
		out = i
		return tx.audit(ctx, a, care.AuditUpdate, interactionRecs([]*care.Interaction{i}))
	})
	if err != nil {
		return nil, fmt.Errorf("update interaction: %w", err)
	}
	return out, nil
}

const signInteractionSQL = `
UPDATE interactions i SET status = 'signed', signed_at = now(), signed_by_id = $2, version = i.version + 1, updated_at = now()
WHERE i.id = $1
RETURNING ` + interactionCols

// SignInteraction signs a draft (its author only) and audits it; signing a
// signed one returns it unchanged. Errors: EFORBIDDEN, ENOTFOUND.
func (db *DB) SignInteraction(ctx context.Context, in care.SignInteractionInput) (*care.Interaction, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	var out *care.Interaction
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.lockOwnInteraction(ctx, a, in.ID)
		if err != nil {
			return err
		}
		if ex.Status != care.InteractionDraft {
			out = ex
			return tx.audit(ctx, a, care.AuditRead, interactionRecs([]*care.Interaction{ex}))
		}
		if changed, err := changedSince("interaction", ex.Version, in.BaseVersion); err != nil {
			return err
		} else if changed {
			return care.Errorf(care.ECONFLICT, "the draft changed since version %d, which its signer read (it is at version %d): read it again before signing; it was not signed",
				*in.BaseVersion, ex.Version)
		}
		i, err := scanInteraction(tx.q.QueryRow(ctx, signInteractionSQL, in.ID, ex.PractitionerID))
		if err != nil {
			return translate(err)
		}
		out = i
		return tx.audit(ctx, a, care.AuditSign, interactionRecs([]*care.Interaction{i}))
	})
	if err != nil {
		return nil, fmt.Errorf("sign interaction: %w", err)
	}
	return out, nil
}

// insertAmendmentSQL leaves amended_at to its default, now(): the guard
// trigger of 001_care.sql matches the amendment by amended_at = now().
const insertAmendmentSQL = `
INSERT INTO interaction_amendments (id, interaction_id, amended_by_id, reason,
       before_purpose, before_notes, before_duration_minutes, after_purpose, after_notes, after_duration_minutes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

const amendInteractionSQL = `
UPDATE interactions i SET purpose = $2, notes = $3, duration_minutes = $4, status = 'amended',
       version = i.version + 1, updated_at = now()
WHERE i.id = $1
RETURNING ` + interactionCols

// AmendInteraction corrects a signed interaction (nurse, gp, system who may
// see the patient), recording the values it replaces, and audits it. Errors:
// EINVALID, EFORBIDDEN, ENOTFOUND, ECONFLICT for a draft (edit it instead).
func (db *DB) AmendInteraction(ctx context.Context, in care.AmendInteractionInput) (*care.Interaction, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	return db.amend(ctx, in)
}

// AmendInteractionKeepingConflicts records an amendment from a sync push
// whose content fields may all have been left to a person as open conflicts:
// the amendment (author, time, reason) is an append and is always kept, with
// the fields in that did not collide applied. Same errors as AmendInteraction,
// but no field is required.
func (db *DB) AmendInteractionKeepingConflicts(ctx context.Context, in care.AmendInteractionInput) (*care.Interaction, error) {
	if in.Purpose != nil || in.Notes != nil || in.DurationMinutes != nil {
		if err := in.Validate(); err != nil {
			return nil, err
		}
	} else if in.Reason = strings.TrimSpace(in.Reason); in.Reason == "" || len(in.Reason) > care.MaxReasonLen {
		return nil, care.Errorf(care.EINVALID, "an amendment needs a reason of at most %d characters", care.MaxReasonLen)
	}
	return db.amend(ctx, in)
}

// amend writes a validated amendment.
func (db *DB) amend(ctx context.Context, in care.AmendInteractionInput) (*care.Interaction, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := mayAmend(a); err != nil {
		return nil, err
	}
	amID, err := newID(nil)
	if err != nil {
		return nil, err
	}
	var out *care.Interaction
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.visibleInteraction(ctx, a, in.ID, true)
		if err != nil {
			return err
		}
		if ex.Status == care.InteractionDraft {
			return care.Errorf(care.ECONFLICT, "a draft is edited, not amended")
		}
		if err := tx.refuseUnseen(ctx, "interaction", ex.ID, ex.Version, in.BaseVersion, amendedColumns(ex, in)); err != nil {
			return err
		}
		by := a.PractitionerID
		if by == uuid.Nil {
			by = ex.PractitionerID // the system amends on the author's behalf
		}
		after := care.InteractionContent{Purpose: ex.Purpose, Notes: ex.Notes, DurationMinutes: ex.DurationMinutes}
		if in.Purpose != nil {
			after.Purpose = *in.Purpose
		}
		if in.Notes != nil {
			after.Notes = *in.Notes
		}
		if in.DurationMinutes != nil {
			after.DurationMinutes = in.DurationMinutes
		}
		if _, err := tx.q.Exec(ctx, insertAmendmentSQL, amID, ex.ID, by, in.Reason, ex.Purpose, ex.Notes, ex.DurationMinutes,
			after.Purpose, after.Notes, after.DurationMinutes); err != nil {
			return translate(err)
		}
		i, err := scanInteraction(tx.q.QueryRow(ctx, amendInteractionSQL, ex.ID, after.Purpose, after.Notes, after.DurationMinutes))
		if err != nil {
			return translate(err)
		}
		out = i
		return tx.audit(ctx, a, care.AuditAmend, interactionRecs([]*care.Interaction{i}))
	})
	if err != nil {
		return nil, fmt.Errorf("amend interaction: %w", err)
	}
	return out, nil
}

// refuseUnseen refuses a write to the record id of entity (an interaction or
// a care relationship, now at version) by an author who last read it at
// version base, when a column it writes to a new value (cols) changed since
// then: ECONFLICT, so that nothing the author never saw is overwritten. The
// change-log trigger keeps, for each field of those entities, the version
// that last changed it (sync_field_clocks), so columns nobody changed since
// base are written (the merge the sync engine makes). Nothing is checked
// when base is nil; a base ahead of the record is EINVALID.
func (db *DB) refuseUnseen(ctx context.Context, entity string, id uuid.UUID, version int64, base *int64, cols []string) error {
	if changed, err := changedSince(entity, version, base); err != nil || !changed || len(cols) == 0 {
		return err
	}
	var changed []string
	if err := db.q.QueryRow(ctx, `SELECT coalesce(array_agg(field ORDER BY field), '{}') FROM sync_field_clocks
		WHERE entity = $1 AND entity_id = $2 AND version > $3 AND field = ANY($4)`, entity, id, *base, cols).Scan(&changed); err != nil {
		return fmt.Errorf("fields changed since the base version: %w", translate(err))
	}
	if len(changed) == 0 {
		return nil
	}
	for k, c := range changed {
		changed[k] = camelCase(c)
	}
	return care.Errorf(care.ECONFLICT, "%s changed since version %d, which this change was based on (the %s is at version %d): nothing was saved; read it again and reapply the change",
		strings.Join(changed, ", "), *base, nounOf(entity), version)
}

// changedSince reports whether a record of entity, now at version, changed
// since base, the version its author last read (false when base is nil); a
// base the record has not reached is EINVALID.
func changedSince(entity string, version int64, base *int64) (bool, error) {
	switch {
	case base == nil:
		return false, nil
	case *base > version:
		return false, care.Errorf(care.EINVALID, "baseVersion %d is ahead of the %s (version %d)", *base, nounOf(entity), version)
	}
	return *base < version, nil
}

// nounOf is how messages name an entity of the change log (care_relationship:
// care relationship).
func nounOf(entity string) string { return strings.ReplaceAll(entity, "_", " ") }

// editedColumns lists the columns to which the edit in gives a value other
// than ex's.
func editedColumns(ex *care.Interaction, in care.UpdateInteractionInput) []string {
	var cols []string
	add := func(changes bool, col string) {
		if changes {
			cols = append(cols, col)
		}
	}
	add(in.Mode != nil && *in.Mode != ex.Mode, "mode")
	add(in.OccurredAt != nil && !in.OccurredAt.Equal(ex.OccurredAt), "occurred_at")
	add(in.DurationMinutes != nil && !equalInt(in.DurationMinutes, ex.DurationMinutes), "duration_minutes")
	add(in.ParticipantIDs != nil && !slices.Equal(in.ParticipantIDs, ex.ParticipantIDs), "participant_ids")
	add(in.OtherPresent != nil && !slices.Equal(in.OtherPresent, ex.OtherPresent), "other_present")
	add(in.Purpose != nil && *in.Purpose != ex.Purpose, "purpose")
	add(in.Notes != nil && *in.Notes != ex.Notes, "notes")
	return cols
}

// amendedColumns lists the columns to which the amendment in gives a value
// other than ex's.
func amendedColumns(ex *care.Interaction, in care.AmendInteractionInput) []string {
	return editedColumns(ex, care.UpdateInteractionInput{Purpose: in.Purpose, Notes: in.Notes, DurationMinutes: in.DurationMinutes})
}

func equalInt(a, b *int) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

// camelCase is a column's name as the API spells the field (duration_minutes: durationMinutes).
func camelCase(col string) string {
	parts := strings.Split(col, "_")
	for k := 1; k < len(parts); k++ {
		if parts[k] != "" {
			parts[k] = strings.ToUpper(parts[k][:1]) + parts[k][1:]
		}
	}
	return strings.Join(parts, "")
}

// sameDraft reports whether ex holds what the create d would write.
func sameDraft(ex *care.Interaction, d draft) bool {
	return ex.PractitionerID == d.prac && ex.Purpose == d.in.Purpose && ex.Notes == d.in.Notes &&
		equalInt(ex.DurationMinutes, d.in.DurationMinutes) && slices.Equal(ex.ParticipantIDs, d.participants) &&
		slices.Equal(ex.OtherPresent, d.others)
}
