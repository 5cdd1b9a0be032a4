package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// ExecRaw runs SQL directly, bypassing the store's rules, so tests can prove
// the database itself refuses what the store never attempts.
func (db *DB) ExecRaw(ctx context.Context, sql string, args ...any) error {
	_, err := db.q.Exec(ctx, sql, args...)
	return translate(err)
}

// QueryRowRaw runs a one-row query directly and scans its one column into dst.
func (db *DB) QueryRowRaw(ctx context.Context, sql string, dst any, args ...any) error {
	return translate(db.q.QueryRow(ctx, sql, args...).Scan(dst))
}

// ScanRaw runs a query directly and scans its one row into dest.
func (db *DB) ScanRaw(ctx context.Context, sql string, args []any, dest ...any) error {
	return db.q.QueryRow(ctx, sql, args...).Scan(dest...)
}

// CaseloadsForEachRead is CaseloadsFor with each practitioner's patients
// read in both the count and the page (caseloadSQL in each), as before
// caseloadParent shared them: the reference the shared form is held to.
func (db *DB) CaseloadsForEachRead(ctx context.Context, practitionerIDs []uuid.UUID, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Patient], error) {
	return db.caseloadsFor(ctx, practitionerIDs, p, parentOf{cond: func(parent string) string { return caseloadSQL("p", parent) }})
}

// SetByPatientMax sets how many visible patients SyncStream and
// ChangesVisibleSince read the log patient by patient for (below 0: never;
// above every count: always) and returns a function that restores them.
func SetByPatientMax(n int) (restore func()) {
	old := byPatientMax
	byPatientMax.stream, byPatientMax.check = n, n
	return func() { byPatientMax = old }
}

// SyncStreamInCommitOrder is SyncStream as it was written before it read the
// log patient by patient: one scan in commit order, each row filtered. The
// reference the two ways of SyncStream are held to.
func (db *DB) SyncStreamInCommitOrder(ctx context.Context, only string, afterSeq int64, after *SyncCursor, limit int) ([]SyncChange, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{afterSeq, limit}
	pos := "sc.seq > $1"
	if after != nil {
		pos = "(sc.seq, " + entityRankSQL("sc.entity") + ", sc.entity_id) > ($1, " + entityRankSQL(q.add(after.Entity)+"::text") + ", " + q.add(after.ID) + "::uuid)"
	}
	sql := `WITH vis AS MATERIALIZED (SELECT p.id FROM patients p WHERE ` + patientSetAccessSQL(a, "p", &q) + `),
		orgs AS MATERIALIZED (` + visibleOrgsSQL(a, &q) + `)
		SELECT ` + syncChangeCols + ` FROM sync_changes sc
		WHERE ` + pos + ` AND ` + onlySQL(only, &q) + `
		  AND (CASE WHEN sc.patient_id IS NOT NULL THEN sc.patient_id IN (SELECT id FROM vis) ELSE ` + directoryVisibleSQL(a, &q) + ` END)
		ORDER BY sc.seq, ` + entityRankSQL("sc.entity") + `, sc.entity_id LIMIT $2`
	out, err := db.collectChanges(ctx, sql, q)
	if err != nil {
		return nil, fmt.Errorf("sync stream in commit order: %w", err)
	}
	return out, nil
}

// ChangesVisibleSinceInCommitOrder is ChangesVisibleSince as it was written
// before it asked patient by patient: every change since the watermark
// filtered in turn. The reference its answers are held to.
func (db *DB) ChangesVisibleSinceInCommitOrder(ctx context.Context, since int64) (visible bool, maxSeq int64, err error) {
	a, err := actorOf(ctx)
	if err != nil {
		return false, 0, err
	}
	if _, err := db.StampSync(ctx); err != nil {
		return false, 0, err
	}
	var q args
	s := q.add(since) + "::bigint"
	pat := patientAccessSQL(a, "p", &q)
	org := orgVisibleSQL(a, "c.organization_id", &q)
	mine := "false"
	if a.PractitionerID != uuid.Nil {
		me := q.add(a.PractitionerID) + "::uuid"
		mine = fmt.Sprintf(`(c.entity = 'care_relationship' AND EXISTS (SELECT 1 FROM care_relationships cr
			WHERE cr.id = c.entity_id AND (cr.practitioner_id = %[1]s
			   OR cr.team_id IN (SELECT tm.team_id FROM care_relationships tm
			                     WHERE tm.kind = 'team_member' AND tm.practitioner_id = %[1]s AND %[2]s))))`,
			me, activeSQL("tm"))
	}
	sql := fmt.Sprintf(`SELECT coalesce(max(c.seq), %[1]s), coalesce(bool_or(
			CASE WHEN c.patient_id IS NOT NULL
				THEN EXISTS (SELECT 1 FROM patients p WHERE p.id = c.patient_id AND %[2]s) OR %[4]s
				ELSE %[3]s OR %[4]s END), false)
		FROM sync_changes c
		WHERE c.seq > %[1]s`, s, pat, org, mine)
	if err := db.q.QueryRow(onPrimary(ctx), sql, q...).Scan(&maxSeq, &visible); err != nil {
		return false, 0, fmt.Errorf("check sync changes since %d: %w", since, translate(err))
	}
	return visible, max(maxSeq, since), nil
}

// SetByPatientFrom sets how many ids visibleInteractions reads as a set,
// testing the access rule once per patient (below 0: always; above every
// count: never), and returns a function that restores it.
func SetByPatientFrom(n int) (restore func()) {
	old := byPatientFrom
	byPatientFrom = n
	return func() { byPatientFrom = old }
}

// VisiblePatientsBothForms returns the ids of every patient the actor may
// see by the set form of the access rule (patientSetAccessSQL) and by the
// per-row form (patientAccessSQL), each in id order.
func (db *DB) VisiblePatientsBothForms(ctx context.Context) (set, perRow []uuid.UUID, err error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, form := range []struct {
		sql  func(*care.Actor, string, *args) string
		into *[]uuid.UUID
	}{{patientSetAccessSQL, &set}, {patientAccessSQL, &perRow}} {
		var q args
		rows, err := db.q.Query(ctx, "SELECT p.id FROM patients p WHERE "+form.sql(a, "p", &q)+" ORDER BY p.id", q...)
		if err != nil {
			return nil, nil, err
		}
		if *form.into, err = pgx.CollectRows(rows, pgx.RowTo[uuid.UUID]); err != nil {
			return nil, nil, err
		}
	}
	return set, perRow, nil
}

// PatientsCountedByPredicate is Patients with its total counted through the
// access rule's predicate, as before patientSetAccess counted a practice's
// patients by practice: the reference the count is held to.
func (db *DB) PatientsCountedByPredicate(ctx context.Context, f care.PatientFilter, p care.PageArgs) (*care.Page[care.Patient], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := patientSpec(a)
	s.count = nil
	if err := patientFilterSQL(s, f); err != nil {
		return nil, err
	}
	page, _, err := list(ctx, db, s, p)
	return page, err
}

// InteractionDiffColumns is the list of columns whose changes the set-based
// edit write compares.
var InteractionDiffColumns = interactionDiffColumns
