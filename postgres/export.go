package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// FHIR Bulk Data export (package fhir speaks the protocol). A job is fixed
// and audited at kick-off; its files are streamed from the tables, row by
// row, when downloaded. Who may: integrations holding bulk:export, for the
// patients the access rule lets them see (auth decides, as everywhere).

// ExportJob is one bulk export.
type ExportJob struct {
	ID              uuid.UUID
	OrganizationID  uuid.UUID
	Requester       string
	ClientID        string
	Level           string // system, patient or group
	TeamID          *uuid.UUID
	PracticeID      *uuid.UUID
	Types           []string
	Since           *time.Time
	TransactionTime time.Time
	Patients        int
	CancelledAt     *time.Time
}

const entityBulkExport = "BulkExport"

// exporter returns the actor if it may run bulk exports: EFORBIDDEN otherwise.
func exporter(ctx context.Context) (*care.Actor, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if a.Role != care.RoleIntegration || !a.HasScope(care.ScopeBulkExport) {
		return nil, forbidden("run a bulk export (needs an integration token with bulk:export)")
	}
	return a, nil
}

// exportPatientsSQL is the predicate over the patients alias p of the
// patients a job covers: visible to the actor, in the job's group, and
// registered by its transaction time.
func exportPatientsSQL(a *care.Actor, j *ExportJob, q *args) string {
	w := patientSetAccessSQL(a, "p", q) + " AND p.created_at <= " + q.add(j.TransactionTime)
	if j.TeamID != nil {
		w += " AND EXISTS (SELECT 1 FROM care_relationships fr WHERE fr.patient_id = p.id AND fr.team_id = " + q.add(*j.TeamID) + " AND " + activeSQL("fr") + ")"
	}
	if j.PracticeID != nil {
		w += " AND p.registered_practice_id = " + q.add(*j.PracticeID)
	}
	return w
}

// StartExport records a job for the actor and audits, once per patient, the
// access it grants to the patients it covers; one statement whatever their
// number. It sets j's id, requester and transaction time. EFORBIDDEN for
// actors without bulk:export; ENOTFOUND for a group (team or practice) that
// is not the actor's organisation's or a partner's.
func (db *DB) StartExport(ctx context.Context, j *ExportJob) error {
	a, err := exporter(ctx)
	if err != nil {
		return err
	}
	id, err := newID(nil)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *DB) error {
		if _, err := tx.q.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return fmt.Errorf("start export: %w", err)
		}
		if j.TeamID != nil {
			q := args{*j.TeamID}
			var ok bool
			if err := tx.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM teams t WHERE t.id = $1 AND `+orgVisibleSQL(a, "t.organization_id", &q)+`)`, q...).Scan(&ok); err != nil {
				return fmt.Errorf("start export: %w", err)
			}
			if !ok {
				return care.Errorf(care.ENOTFOUND, "no such group")
			}
		}
		if j.PracticeID != nil && *j.PracticeID != a.OrganizationID {
			return care.Errorf(care.ENOTFOUND, "no such group")
		}
		j.ID, j.OrganizationID, j.Requester, j.ClientID = id, a.OrganizationID, a.Subject, a.ClientID
		if err := tx.q.QueryRow(ctx, `SELECT now()`).Scan(&j.TransactionTime); err != nil {
			return fmt.Errorf("start export: %w", err)
		}
		q := args{nilIfZero(a.PractitionerID), a.Subject, string(a.Role), a.OrganizationID, string(care.AuditRead),
			care.RequestIDFromContext(ctx), care.OperationFromContext(ctx), j.ID}
		tag, err := tx.q.Exec(ctx, `INSERT INTO access_audit (actor_id, actor_subject, actor_role, organization_id, patient_ids,
				action, entities, entity_ids, request_id, operation)
			SELECT $1, $2, $3, $4, ARRAY[p.id], $5, ARRAY['`+entityBulkExport+`'], ARRAY[$8::uuid], $6, $7 FROM patients p WHERE `+exportPatientsSQL(a, j, &q), q...)
		if err != nil {
			return fmt.Errorf("start export: audit: %w", err)
		}
		j.Patients = int(tag.RowsAffected())
		_, err = tx.q.Exec(ctx, `INSERT INTO bulk_exports (id, organization_id, requester, client_id, level, team_id, practice_id, types, since,
				transaction_time, patients) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			j.ID, j.OrganizationID, j.Requester, j.ClientID, j.Level, j.TeamID, j.PracticeID, j.Types, j.Since, j.TransactionTime, j.Patients)
		if err != nil {
			return fmt.Errorf("start export: %w", translate(err))
		}
		return nil
	})
}

// Export returns the actor's job: ENOTFOUND when there is none, it is
// another requester's, or it was cancelled.
func (db *DB) Export(ctx context.Context, id uuid.UUID) (*ExportJob, error) {
	a, err := exporter(ctx)
	if err != nil {
		return nil, err
	}
	var j ExportJob
	err = db.q.QueryRow(ctx, `SELECT id, organization_id, requester, client_id, level, team_id, practice_id, types, since, transaction_time,
			patients, cancelled_at FROM bulk_exports WHERE id = $1 AND organization_id = $2 AND requester = $3 AND cancelled_at IS NULL`,
		id, a.OrganizationID, a.Subject).
		Scan(&j.ID, &j.OrganizationID, &j.Requester, &j.ClientID, &j.Level, &j.TeamID, &j.PracticeID, &j.Types, &j.Since, &j.TransactionTime,
			&j.Patients, &j.CancelledAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, care.Errorf(care.ENOTFOUND, "no such export")
	} else if err != nil {
		return nil, fmt.Errorf("load export: %w", err)
	}
	return &j, nil
}

// CancelExport cancels the actor's job: its files are no longer served.
// ENOTFOUND as Export.
func (db *DB) CancelExport(ctx context.Context, id uuid.UUID) error {
	a, err := exporter(ctx)
	if err != nil {
		return err
	}
	tag, err := db.q.Exec(ctx, `UPDATE bulk_exports SET cancelled_at = now() WHERE id = $1 AND organization_id = $2 AND requester = $3
		AND cancelled_at IS NULL`, id, a.OrganizationID, a.Subject)
	if err != nil {
		return fmt.Errorf("cancel export: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return care.Errorf(care.ENOTFOUND, "no such export")
	}
	return nil
}

// exportRange adds the job's _since and transaction time on the alias t.
func exportRange(j *ExportJob, t string, q *args) string {
	w := t + ".updated_at <= " + q.add(j.TransactionTime)
	if j.Since != nil {
		w += " AND " + t + ".updated_at > " + q.add(*j.Since)
	}
	return w
}

// streamExport runs query in a read-only snapshot without a statement
// timeout (a large export outlasts it; the caller's context still bounds
// it) and hands each row to fn as it arrives: memory stays flat.
func streamExport[T any](ctx context.Context, db *DB, query string, q args, scan scanner[T], fn func(*T) error) error {
	if _, err := exporter(ctx); err != nil {
		return err
	}
	return db.inTxWith(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx *DB) error {
		if _, err := tx.q.Exec(ctx, `SET LOCAL statement_timeout = 0`); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		rows, err := tx.q.Query(ctx, query, q...)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			item, err := scan(rows)
			if err != nil {
				return fmt.Errorf("export: %w", err)
			}
			if err := fn(item); err != nil {
				return err
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		return nil
	})
}

// StreamExportPatients calls fn with each patient of the job (by id).
func (db *DB) StreamExportPatients(ctx context.Context, j *ExportJob, fn func(*care.Patient) error) error {
	a, err := exporter(ctx)
	if err != nil {
		return err
	}
	var q args
	sql := "SELECT " + patientCols + " FROM patients p WHERE " + exportPatientsSQL(a, j, &q) + " AND " + exportRange(j, "p", &q) + " ORDER BY p.id"
	return streamExport(ctx, db, sql, q, scanPatient, fn)
}

// StreamExportInteractions calls fn with each interaction of the job's patients.
func (db *DB) StreamExportInteractions(ctx context.Context, j *ExportJob, fn func(*care.Interaction) error) error {
	a, err := exporter(ctx)
	if err != nil {
		return err
	}
	var q args
	// Notes are not part of a FHIR Encounter: they are not read at all.
	sql := "SELECT " + strings.Replace(interactionCols, "i.notes", "''::text", 1) + " FROM interactions i JOIN patients p ON p.id = i.patient_id WHERE " +
		exportPatientsSQL(a, j, &q) + " AND " + exportRange(j, "i", &q)
	return streamExport(ctx, db, sql, q, scanInteraction, fn)
}

// StreamExportRelationships calls fn with each care relationship of the job's patients.
func (db *DB) StreamExportRelationships(ctx context.Context, j *ExportJob, fn func(*care.CareRelationship) error) error {
	a, err := exporter(ctx)
	if err != nil {
		return err
	}
	var q args
	sql := "SELECT " + relCols + " FROM care_relationships r JOIN patients p ON p.id = r.patient_id WHERE " +
		exportPatientsSQL(a, j, &q) + " AND " + exportRange(j, "r", &q)
	return streamExport(ctx, db, sql, q, scanRel, fn)
}

// StreamExportPractitioners calls fn with each practitioner of the actor's
// organisation and its partners (the directory an export's references need).
func (db *DB) StreamExportPractitioners(ctx context.Context, j *ExportJob, fn func(*care.Practitioner) error) error {
	a, err := exporter(ctx)
	if err != nil {
		return err
	}
	var q args
	sql := "SELECT " + practitionerCols + " FROM practitioners pr WHERE " + orgVisibleSQL(a, "pr.organization_id", &q) + " AND " + exportRange(j, "pr", &q)
	return streamExport(ctx, db, sql, q, scanPractitioner, fn)
}

// StreamExportOrganizations calls fn with the actor's organisation and its partners.
func (db *DB) StreamExportOrganizations(ctx context.Context, j *ExportJob, fn func(*care.Organization) error) error {
	a, err := exporter(ctx)
	if err != nil {
		return err
	}
	var q args
	sql := "SELECT " + orgCols + " FROM organizations o WHERE " + orgVisibleSQL(a, "o.id", &q) + " AND " + exportRange(j, "o", &q)
	return streamExport(ctx, db, sql, q, scanOrg, fn)
}
