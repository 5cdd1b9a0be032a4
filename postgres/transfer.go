package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// entityTransfer names registration transfers in the audit trail.
const entityTransfer = "RegistrationTransfer"

// Registration transfers. A practice that registers a patient whose NHS
// number is registered at another practice is not told where, nor given the
// record: a transfer request goes to the registered practice, and the
// registering caller gets ECONFLICT "registered at another practice; a
// transfer has been requested". The registered practice's GPs and practice
// admins see the request (and the patient, who is theirs) and accept it,
// which moves the registration, or decline it. Request and decision are
// audited against the patient.

// ErrTransferRequested is wrapped by CreatePatient's ECONFLICT when it filed
// a transfer request.
var ErrTransferRequested = errors.New("registration transfer requested")

const transferCols = "t.id, t.patient_id, t.from_practice_id, t.to_practice_id, t.requested_at, t.status"

func scanTransfer(r row) (*care.RegistrationTransfer, error) {
	var t care.RegistrationTransfer
	var status string
	err := r.Scan(&t.ID, &t.PatientID, &t.FromPracticeID, &t.ToPracticeID, &t.RequestedAt, &status)
	t.Status = care.TransferStatus(status)
	return &t, err
}

// requestTransfer files (or finds) the pending transfer of the patient with
// nhs to the actor's practice when that patient is registered elsewhere and
// not visible to the actor, audits it, and reports whether it did. It must
// run in a transaction that then commits.
func (db *DB) requestTransfer(ctx context.Context, a *care.Actor, nhs string, to uuid.UUID) (bool, error) {
	var pid, from uuid.UUID
	err := db.q.QueryRow(ctx, `SELECT id, registered_practice_id FROM patients WHERE nhs_number = $1`, nhs).Scan(&pid, &from)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("find registration: %w", err)
	}
	if from == to {
		return false, nil // registered here: the caller may see it
	}
	id, err := uuid.NewV7()
	if err != nil {
		return false, err
	}
	if _, err := db.q.Exec(ctx, `INSERT INTO registration_transfers (id, patient_id, from_practice_id, to_practice_id, requested_by)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (patient_id, to_practice_id) WHERE status = 'pending' DO NOTHING`,
		id, pid, from, to, nilIfZero(a.PractitionerID)); err != nil {
		return false, fmt.Errorf("request transfer: %w", translate(err))
	}
	return true, db.audit(ctx, a, care.AuditTransferRequest, []auditRec{{pid, entityTransfer, id}})
}

// RegistrationTransfers lists the pending transfer requests the caller's
// practice has received (GPs and practice admins; EFORBIDDEN otherwise),
// oldest first. Reading them reads the patients', so each is audited.
func (db *DB) RegistrationTransfers(ctx context.Context) ([]*care.RegistrationTransfer, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if !hasRole(a, care.RoleGP, care.RolePracticeAdmin, care.RoleSystem) {
		return nil, forbidden("read registration transfers")
	}
	rows, err := db.q.Query(ctx, `SELECT `+transferCols+` FROM registration_transfers t
		WHERE t.status = 'pending' AND ($1::uuid IS NULL OR t.from_practice_id = $1) ORDER BY t.requested_at, t.id`,
		map[bool]*uuid.UUID{true: nil, false: &a.OrganizationID}[a.Role == care.RoleSystem])
	if err != nil {
		return nil, fmt.Errorf("registration transfers: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*care.RegistrationTransfer, error) { return scanTransfer(r) })
	if err != nil {
		return nil, fmt.Errorf("registration transfers: %w", err)
	}
	recs := make([]auditRec, len(out))
	for i, t := range out {
		recs[i] = auditRec{t.PatientID, entityTransfer, t.ID}
	}
	return out, db.audit(ctx, a, care.AuditRead, recs)
}

// DecideRegistrationTransfer accepts (moving the patient's registration to
// the requesting practice) or declines a pending transfer request addressed
// to the caller's practice, and audits it. Errors: EFORBIDDEN (not a GP or
// practice admin), ENOTFOUND (no such pending request to this practice).
func (db *DB) DecideRegistrationTransfer(ctx context.Context, id uuid.UUID, accept bool) (*care.RegistrationTransfer, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if !hasRole(a, care.RoleGP, care.RolePracticeAdmin, care.RoleSystem) {
		return nil, forbidden("decide registration transfers")
	}
	status, action := "declined", care.AuditTransferDecline
	if accept {
		status, action = "accepted", care.AuditTransferAccept
	}
	var out *care.RegistrationTransfer
	err = db.InTx(ctx, func(tx *DB) error {
		t, err := scanTransfer(tx.q.QueryRow(ctx, `UPDATE registration_transfers t SET status = $2, decided_by = $3, decided_at = now()
			WHERE t.id = $1 AND t.status = 'pending' AND ($4 OR t.from_practice_id = $5) RETURNING `+transferCols,
			id, status, nilIfZero(a.PractitionerID), a.Role == care.RoleSystem, a.OrganizationID))
		if errors.Is(err, pgx.ErrNoRows) {
			return care.Errorf(care.ENOTFOUND, "no such transfer request")
		}
		if err != nil {
			return translate(err)
		}
		if accept {
			if _, err := tx.q.Exec(ctx, `UPDATE patients SET registered_practice_id = $2, version = version + 1, updated_at = now() WHERE id = $1`,
				t.PatientID, t.ToPracticeID); err != nil {
				return translate(err)
			}
		}
		out = t
		return tx.audit(ctx, a, action, []auditRec{{t.PatientID, entityTransfer, t.ID}})
	})
	if err != nil {
		return nil, fmt.Errorf("decide registration transfer: %w", err)
	}
	return out, nil
}
