package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// A relationship started with a future date is PROPOSED until that date; the
// access rule counts only ACTIVE relationships, so something must make it
// ACTIVE when its start arrives. ActivateDueRelationships does, in one
// transaction: for USUAL_GP and NAMED_NURSE (at most one active per patient)
// it first ends the active one at the instant the new one starts (a planned
// handover), then activates. When several proposals of one of those kinds are
// due for a patient, only the latest-starting one is activated; the others,
// and any that would sit beside an active one starting later, stay PROPOSED
// for a person to sort out.

const endReplacedSQL = `
WITH due AS (
    SELECT DISTINCT ON (patient_id, kind) id, patient_id, kind, period_start
    FROM care_relationships
    WHERE status = 'proposed' AND period_start <= now() AND kind IN ('usual_gp', 'named_nurse')
    ORDER BY patient_id, kind, period_start DESC, id
)
UPDATE care_relationships r
SET status = 'ended', period_end = LEAST(COALESCE(r.period_end, d.period_start), d.period_start),
    updated_at = now(), version = r.version + 1
FROM due d
WHERE r.patient_id = d.patient_id AND r.kind = d.kind AND r.status = 'active' AND r.id <> d.id
  AND r.period_start < d.period_start
RETURNING ` + relCols

const activateDueSQL = `
WITH due AS (
    SELECT id FROM care_relationships
    WHERE status = 'proposed' AND period_start <= now() AND kind NOT IN ('usual_gp', 'named_nurse')
  UNION ALL
    SELECT id FROM (
        SELECT DISTINCT ON (patient_id, kind) id
        FROM care_relationships
        WHERE status = 'proposed' AND period_start <= now() AND kind IN ('usual_gp', 'named_nurse')
        ORDER BY patient_id, kind, period_start DESC, id) latest
)
UPDATE care_relationships r
SET status = CASE WHEN r.period_end IS NOT NULL AND r.period_end <= now() THEN 'ended' ELSE 'active' END,
    updated_at = now(), version = r.version + 1
FROM due d
WHERE r.id = d.id
  AND (r.kind NOT IN ('usual_gp', 'named_nurse') OR NOT EXISTS (
      SELECT 1 FROM care_relationships o
      WHERE o.patient_id = r.patient_id AND o.kind = r.kind AND o.status = 'active' AND o.id <> r.id))
RETURNING ` + relCols

// ActivateDueRelationships stores ENDED on ACTIVE relationships whose period
// has ended, makes PROPOSED relationships whose start has come ACTIVE (or
// ENDED, if their planned end has passed too), ending the usual GP or named
// nurse they replace, and audits every change. It returns how many
// relationships it activated. Only the system actor may run it (EFORBIDDEN
// otherwise); it is safe to run from several instances at once.
func (db *DB) ActivateDueRelationships(ctx context.Context) (int, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return 0, err
	}
	if a.Role != care.RoleSystem {
		return 0, forbidden("activate relationships")
	}
	var activated int
	err = db.InTx(ctx, func(tx *DB) error {
		if err := tx.endExpired(ctx, a, nil); err != nil {
			return err
		}
		ended, err := tx.relsFrom(ctx, endReplacedSQL)
		if err != nil {
			return fmt.Errorf("end replaced relationships: %w", err)
		}
		if err := tx.audit(ctx, a, care.AuditEnd, relationshipRecs(ended)); err != nil {
			return err
		}
		started, err := tx.relsFrom(ctx, activateDueSQL)
		if err != nil {
			return fmt.Errorf("activate due relationships: %w", err)
		}
		activated = len(started)
		return tx.audit(ctx, a, care.AuditUpdate, relationshipRecs(started))
	})
	return activated, err
}

// endExpiredSQL stores ENDED on ACTIVE relationships whose period has ended
// (of one patient when $1 is not null), so the stored status, the sync log
// and the one-active-usual-GP rule agree with what every read already says.
const endExpiredSQL = `
UPDATE care_relationships r SET status = 'ended', updated_at = now(), version = r.version + 1
WHERE r.status = 'active' AND r.period_end IS NOT NULL AND r.period_end <= now()
  AND ($1::uuid IS NULL OR r.patient_id = $1)
RETURNING ` + relCols

// endExpired runs endExpiredSQL and audits each relationship it ends.
func (db *DB) endExpired(ctx context.Context, a *care.Actor, patient *uuid.UUID) error {
	ended, err := db.relsFrom(ctx, endExpiredSQL, patient)
	if err != nil {
		return fmt.Errorf("end expired relationships: %w", err)
	}
	return db.audit(ctx, a, care.AuditEnd, relationshipRecs(ended))
}

func (db *DB) relsFrom(ctx context.Context, sql string, args ...any) ([]*care.CareRelationship, error) {
	rows, err := db.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, translate(err)
	}
	rs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*care.CareRelationship, error) { return scanRel(r) })
	return rs, translate(err)
}
