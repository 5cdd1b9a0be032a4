package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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

// CreateInteractionsFromSync creates interactions as CreateInteraction
// creates each (same checks, same refusals, same audit), in a few statements
// for them all: one read of the patients, one of the practitioners, one
// pipeline of INSERTs (each preceded by its clock when it differs from the
// previous one) and one audit INSERT, under a savepoint. The change log
// records device as their origin.
//
// It returns, aligned with cs, the interaction created or the refusal
// CreateInteraction would have returned (EINVALID, EFORBIDDEN, ENOTFOUND), or
// ErrIDTaken. The error is the database's (or EUNAUTHENTICATED): then nothing
// was written and the caller may apply the changes one by one instead. It
// must be called inside InTx.
func (db *DB) CreateInteractionsFromSync(ctx context.Context, device uuid.UUID, cs []SyncCreate) ([]*care.Interaction, []error, error) {
	if !db.inTx {
		return nil, nil, errNotInTx
	}
	a, err := writerOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*care.Interaction, len(cs))
	errs := make([]error, len(cs))
	drafts := make([]draft, len(cs))
	var patients, people []uuid.UUID
	for k, c := range cs {
		if drafts[k], errs[k] = db.draftOf(a, c.Input); errs[k] == nil {
			patients = append(patients, c.Input.PatientID)
			people = append(append(people, drafts[k].prac), drafts[k].participants...)
		}
	}
	if len(patients) == 0 {
		return out, errs, nil
	}
	ps, err := db.visiblePatients(ctx, a, uniqueIDs(patients), false)
	if err != nil {
		return nil, nil, err
	}
	visible := map[uuid.UUID]bool{}
	for _, p := range ps {
		if p != nil {
			visible[p.ID] = true
		}
	}
	people = uniqueIDs(people)
	prs, err := db.practitionersByID(ctx, people, false)
	if err != nil {
		return nil, nil, err
	}
	orgOf := map[uuid.UUID]uuid.UUID{}
	for _, p := range prs {
		if p != nil {
			orgOf[p.ID] = p.OrganizationID
		}
	}
	// The checks CreateInteraction makes in the database, in its order.
	var todo []int
	for k := range cs {
		if errs[k] != nil {
			continue
		}
		d := &drafts[k]
		if !visible[d.in.PatientID] {
			errs[k] = care.Errorf(care.ENOTFOUND, "no such patient")
			continue
		}
		if _, ok := orgOf[d.prac]; !ok {
			errs[k] = care.Errorf(care.ENOTFOUND, "no such practitioner")
			continue
		}
		for _, p := range d.participants {
			if _, ok := orgOf[p]; !ok {
				errs[k] = care.Errorf(care.ENOTFOUND, "no such practitioner among the participants")
				break
			}
		}
		if errs[k] == nil {
			todo = append(todo, k)
		}
	}
	if len(todo) == 0 {
		return out, errs, nil
	}
	err = db.Savepoint(ctx, func(sp *DB) error {
		b := &pgx.Batch{}
		b.Queue(`SELECT set_config('rapport.device_id', $1, true)`, device.String())
		hlc := ""
		for n, k := range todo {
			if n == 0 || cs[k].HLC != hlc {
				hlc = cs[k].HLC
				b.Queue(`SELECT set_config('rapport.hlc', $1, true)`, hlc)
			}
			d := &drafts[k]
			b.Queue(insertInteractionSQL, d.id, d.in.PatientID, d.prac, orgOf[d.prac], string(d.in.Mode), d.in.OccurredAt,
				d.in.DurationMinutes, d.participants, d.others, d.in.Purpose, d.in.Notes)
		}
		br := sp.q.SendBatch(ctx, b)
		defer br.Close()
		if _, err := br.Exec(); err != nil {
			return fmt.Errorf("set sync origin: %w", err)
		}
		var recs []auditRec
		hlc = ""
		for n, k := range todo {
			if n == 0 || cs[k].HLC != hlc {
				hlc = cs[k].HLC
				if _, err := br.Exec(); err != nil {
					return fmt.Errorf("set sync origin: %w", err)
				}
			}
			i, err := scanInteraction(br.QueryRow())
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				errs[k] = ErrIDTaken
			case err != nil:
				return fmt.Errorf("create interaction: %w", err)
			default:
				out[k] = i
				recs = append(recs, auditRec{i.PatientID, entityInteraction, i.ID})
			}
		}
		if err := br.Close(); err != nil {
			return fmt.Errorf("create interactions: %w", err)
		}
		return sp.audit(ctx, a, care.AuditCreate, recs)
	})
	if err != nil {
		return nil, nil, err
	}
	return out, errs, nil
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
