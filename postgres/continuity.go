package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/rapportcare/rapport/care"
)

// Continuity of care reads. The measures themselves are pure functions in
// continuity/; the store hands them what they need without holding a
// practice's interactions in memory: the usual-clinician relationships of
// the patients in scope (a few per patient), then the counted contacts,
// streamed patient by patient in one ordered query.
//
// Two kinds of read, two permission rules:
//
//   - Aggregate (a practice's or a practitioner's list's series): no patient
//     identifier leaves the store's caller, so the patient access predicate is
//     not what decides; aggregateReader does. GPs and practice admins of the
//     organisation, the system, and integrations of the organisation holding
//     analytics:read may read them.
//   - Patient level (one patient, patients at risk): the access predicate
//     applies like on every other patient read, and integrations need
//     patients:read.

// ContinuityContact is one contact as the continuity measures need it.
type ContinuityContact struct {
	ID             uuid.UUID
	PractitionerID uuid.UUID
	At             time.Time
	Mode           care.InteractionMode
	Profession     care.Profession
}

// ContinuityQuery says which contacts and relationships to read.
type ContinuityQuery struct {
	// From and To bound the contacts' occurredAt: [From, To).
	From, To time.Time
	// Modes and Professions are the contacts that count; neither may be empty.
	Modes       []care.InteractionMode
	Professions []care.Profession
	// Kind is the relationship naming the usual clinician and the lists
	// (usual_gp or named_nurse).
	Kind care.RelationshipKind
}

// ContinuityScope selects the patients. Exactly one of the IDs is set.
type ContinuityScope struct {
	// Aggregate says only aggregates will leave the caller (see the package's
	// rule above); it is allowed with Practice and List only.
	Aggregate bool
	// Practice: the patients registered at this practice.
	Practice uuid.UUID
	// List: the patients with a Kind relationship with this practitioner
	// (active or ended) overlapping [From, To), and those she had a contact
	// with in it (her Own Patient Ratio needs all her contacts).
	List uuid.UUID
	// Caseload: the patients with an active relationship with this
	// practitioner or a team she is an active member of.
	Caseload uuid.UUID
	// Patient: one patient.
	Patient uuid.UUID
}

// aggregateReader reports whether a may read aggregates over the patients of
// organisation org (and, when practitioner is not uuid.Nil, that
// practitioner's own list).
func aggregateReader(a *care.Actor, org, practitioner uuid.UUID) bool {
	switch {
	case a.Role == care.RoleSystem:
		return true
	case practitioner != uuid.Nil && a.PractitionerID == practitioner && a.Role != care.RoleIntegration:
		return true
	case hasRole(a, care.RoleGP, care.RolePracticeAdmin):
		return a.OrganizationID == org
	case a.Role == care.RoleIntegration:
		return a.OrganizationID == org && a.HasScope(care.ScopeAnalyticsRead)
	}
	return false
}

// continuityScopeSQL authorises the read and returns a predicate over the
// patients alias p. EFORBIDDEN when the actor may not read it, ENOTFOUND for
// an unknown practitioner or practice, EINVALID for a malformed scope.
func (db *DB) continuityScopeSQL(ctx context.Context, a *care.Actor, s ContinuityScope, cq ContinuityQuery, q *args) (string, error) {
	set := 0
	for _, id := range []uuid.UUID{s.Practice, s.List, s.Caseload, s.Patient} {
		if id != uuid.Nil {
			set++
		}
	}
	if set != 1 {
		return "", care.Errorf(care.EINVALID, "exactly one continuity scope is needed")
	}
	var where string
	switch {
	case s.Practice != uuid.Nil:
		where = "p.registered_practice_id = " + q.add(s.Practice) + "::uuid"
	case s.List != uuid.Nil:
		l, k, from, to := q.add(s.List)+"::uuid", q.add(string(cq.Kind)), q.add(cq.From), q.add(cq.To)
		where = fmt.Sprintf(`(EXISTS (SELECT 1 FROM care_relationships lr
			WHERE lr.patient_id = p.id AND lr.kind = %[2]s AND lr.practitioner_id = %[1]s AND lr.status IN ('active', 'ended')
			  AND lr.period_start < %[4]s AND (lr.period_end IS NULL OR lr.period_end > %[3]s))
		 OR EXISTS (SELECT 1 FROM interactions li
			WHERE li.patient_id = p.id AND li.practitioner_id = %[1]s AND li.occurred_at >= %[3]s AND li.occurred_at < %[4]s))`,
			l, k, from, to)
	case s.Caseload != uuid.Nil:
		where = viaRelationshipsInSQL("p", q.add(s.Caseload)+"::uuid")
	default:
		where = "p.id = " + q.add(s.Patient) + "::uuid"
	}
	if s.Aggregate {
		var org uuid.UUID
		switch {
		case s.Practice != uuid.Nil:
			org = s.Practice
			var kind string
			err := db.q.QueryRow(ctx, `SELECT kind FROM organizations WHERE id = $1`, s.Practice).Scan(&kind)
			if err != nil {
				return "", fmt.Errorf("continuity: practice: %w", translate(err))
			}
		case s.List != uuid.Nil:
			err := db.q.QueryRow(ctx, `SELECT organization_id FROM practitioners WHERE id = $1`, s.List).Scan(&org)
			if err != nil {
				return "", fmt.Errorf("continuity: practitioner: %w", translate(err))
			}
		default:
			return "", care.Errorf(care.EINVALID, "aggregates are read for a practice or a practitioner's list")
		}
		if !aggregateReader(a, org, s.List) {
			return "", forbidden("read continuity aggregates for this organisation")
		}
		return where, nil
	}
	if a.Role == care.RoleIntegration && !a.HasScope(care.ScopePatientsRead) {
		return "", forbidden("read patient-level continuity with this token")
	}
	return where + " AND " + patientAccessSQL(a, "p", q), nil
}

func checkContinuityQuery(cq ContinuityQuery) error {
	switch {
	case !cq.To.After(cq.From):
		return care.Errorf(care.EINVALID, "the continuity window must end after it starts")
	case len(cq.Modes) == 0 || len(cq.Professions) == 0:
		return care.Errorf(care.EINVALID, "at least one mode and one profession must count")
	case cq.Kind != care.KindUsualGP && cq.Kind != care.KindNamedNurse:
		return care.Errorf(care.EINVALID, "the usual relationship must be USUAL_GP or NAMED_NURSE")
	}
	return nil
}

// ContinuityRelationships returns, per patient in scope, the patient's
// relationships of kind cq.Kind with a practitioner, whatever their status
// (continuity.AssignmentsFrom decides which were in force), oldest first. For
// a one-patient scope the read is audited (entity "Continuity"). Errors as
// for StreamContinuityContacts.
func (db *DB) ContinuityRelationships(ctx context.Context, s ContinuityScope, cq ContinuityQuery) (map[uuid.UUID][]care.CareRelationship, error) {
	return db.continuityRelationships(ctx, s, cq, func() {})
}

// continuityRelationships is ContinuityRelationships, calling sent once its
// statement holds a connection (and not at all when it fails before).
func (db *DB) continuityRelationships(ctx context.Context, s ContinuityScope, cq ContinuityQuery, sent func()) (map[uuid.UUID][]care.CareRelationship, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkContinuityQuery(cq); err != nil {
		return nil, err
	}
	var q args
	where, err := db.continuityScopeSQL(ctx, a, s, cq, &q)
	if err != nil {
		return nil, err
	}
	sql := `SELECT ` + relCols + ` FROM care_relationships r JOIN patients p ON p.id = r.patient_id
		WHERE r.kind = ` + q.add(string(cq.Kind)) + ` AND r.practitioner_id IS NOT NULL AND ` + where +
		` ORDER BY r.patient_id, r.period_start, r.id`
	rows, err := db.q.Query(ctx, sql, append(args{customPlan}, q...)...)
	if err != nil {
		return nil, fmt.Errorf("continuity relationships: %w", err)
	}
	sent()
	out := make(map[uuid.UUID][]care.CareRelationship)
	_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
		rel, err := scanRel(r)
		if err == nil {
			out[*rel.PatientID] = append(out[*rel.PatientID], *rel)
		}
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("continuity relationships: %w", err)
	}
	if s.Patient != uuid.Nil && !s.Aggregate {
		if err := db.audit(ctx, a, care.AuditRead, []auditRec{{s.Patient, entityContinuity, s.Patient}}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ContinuityData reads the scope's relationships, as ContinuityRelationships,
// and hands them to prepare; then streams its contacts to fn, as
// StreamContinuityContacts. The two overlap: the relationships are read and
// prepared on one connection while the database gathers and sorts the
// contacts on another (for a practice's series, the sort is most of the
// wait before the first contact). The contacts' statement asks for its
// connection only once the relationships' statement holds one, so the
// relationships never wait for the pool while the stream holds a connection
// waiting for them: requests filling the pool cannot wait on each other.
// fn is first called after prepare has returned. Inside a transaction the
// two run one after the other. Errors as for both.
func (db *DB) ContinuityData(ctx context.Context, s ContinuityScope, cq ContinuityQuery,
	prepare func(map[uuid.UUID][]care.CareRelationship) error, fn func(patient uuid.UUID, contacts []ContinuityContact) error) error {
	relationships := func(ctx context.Context, sent func()) error {
		rels, err := db.continuityRelationships(ctx, s, cq, sent)
		if err != nil {
			return err
		}
		return prepare(rels)
	}
	if db.inTx {
		if err := relationships(ctx, func() {}); err != nil {
			return err
		}
		return db.StreamContinuityContacts(ctx, s, cq, fn)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sent, ready := make(chan struct{}), make(chan struct{})
	var relErr error
	go func() {
		defer close(ready)
		relErr = relationships(ctx, func() { close(sent) })
	}()
	select {
	case <-sent:
	case <-ready: // done already, or failed before holding a connection
		if relErr != nil {
			return relErr
		}
	}
	err := db.StreamContinuityContacts(ctx, s, cq, func(patient uuid.UUID, contacts []ContinuityContact) error {
		select {
		case <-ready:
		case <-ctx.Done():
			return ctx.Err()
		}
		if relErr != nil {
			return relErr
		}
		return fn(patient, contacts)
	})
	if err != nil {
		cancel()
	}
	<-ready
	if relErr != nil {
		return relErr
	}
	return err
}

// entityContinuity names a patient's continuity in the audit trail.
const entityContinuity = "Continuity"

// StreamContinuityContacts calls fn once per patient in scope with at least
// one counted contact in [cq.From, cq.To) (mode and profession in cq's lists),
// with that patient's contacts ordered by time then ID. Patients come in
// ascending ID order, one at a time: the rows are streamed from one query,
// never all held at once, and fn must not use the store (the connection is
// busy). fn's error stops the stream and is returned. Errors: EUNAUTHENTICATED
// without an actor; EFORBIDDEN when the actor may not read the scope (see
// ContinuityScope); ENOTFOUND for an unknown practice or practitioner of an
// aggregate scope; EINVALID for a bad query or scope.
func (db *DB) StreamContinuityContacts(ctx context.Context, s ContinuityScope, cq ContinuityQuery, fn func(patient uuid.UUID, contacts []ContinuityContact) error) error {
	a, err := actorOf(ctx)
	if err != nil {
		return err
	}
	if err := checkContinuityQuery(cq); err != nil {
		return err
	}
	var q args
	where, err := db.continuityScopeSQL(ctx, a, s, cq, &q)
	if err != nil {
		return err
	}
	// Mode and profession come back as their positions in the query's lists:
	// a small integer each rather than a string per row of a million.
	modes, profs := q.add(strs(cq.Modes))+"::text[]", q.add(strs(cq.Professions))+"::text[]"
	sql := `SELECT i.patient_id, i.id, i.practitioner_id, i.occurred_at,
			array_position(` + modes + `, i.mode), array_position(` + profs + `, pr.profession)
		FROM patients p
		JOIN interactions i ON i.patient_id = p.id
		JOIN practitioners pr ON pr.id = i.practitioner_id
		WHERE ` + where + `
		  AND i.occurred_at >= ` + q.add(cq.From) + ` AND i.occurred_at < ` + q.add(cq.To) + `
		  AND i.mode = ANY(` + modes + `) AND pr.profession = ANY(` + profs + `)
		ORDER BY i.patient_id, i.occurred_at, i.id`
	rows, err := db.q.Query(ctx, sql, append(args{customPlan}, q...)...)
	if err != nil {
		return fmt.Errorf("continuity contacts: %w", err)
	}
	defer rows.Close()
	var (
		cur      uuid.UUID
		contacts []ContinuityContact
	)
	// UUIDs are scanned as pgtype.UUID, the wire's 16 bytes: uuid.UUID would
	// go through its sql.Scanner and a text round trip, a quarter of this
	// loop's time over a million rows.
	var rawPID, rawID, rawPr pgtype.UUID
	var mode, prof int32
	for rows.Next() {
		var c ContinuityContact
		if err := rows.Scan(&rawPID, &rawID, &rawPr, &c.At, &mode, &prof); err != nil {
			return fmt.Errorf("continuity contacts: scan: %w", err)
		}
		if mode < 1 || int(mode) > len(cq.Modes) || prof < 1 || int(prof) > len(cq.Professions) {
			return fmt.Errorf("continuity contacts: mode %d or profession %d outside the query's lists", mode, prof)
		}
		c.Mode, c.Profession = cq.Modes[mode-1], cq.Professions[prof-1]
		pid := uuid.UUID(rawPID.Bytes)
		c.ID, c.PractitionerID = uuid.UUID(rawID.Bytes), uuid.UUID(rawPr.Bytes)
		if pid != cur && len(contacts) > 0 {
			if err := fn(cur, contacts); err != nil {
				return err
			}
			contacts = contacts[:0]
		}
		cur = pid
		contacts = append(contacts, c)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("continuity contacts: %w", err)
	}
	if len(contacts) > 0 {
		return fn(cur, contacts)
	}
	return nil
}

// customPlan, given as a statement's first argument, sends it unnamed, so
// PostgreSQL plans it for the values bound (a custom plan) whatever the
// pool's plan_cache_mode: a scan over a window of months must know how wide
// the window is. Planning is noise beside such a scan.
const customPlan = pgx.QueryExecModeCacheDescribe

// strs converts an enumeration's values to plain strings for a text[] parameter.
func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// BaselineContinuityScan is what the continuity benchmark measures itself
// against: a plain SQL scan that groups the interactions of a practice's
// patients in [from, to) with the given modes and professions by patient and
// clinician, reads every group and returns how many there were. No access
// check, audit or computation: for benchmarks only. It returns the database's
// error.
func (db *DB) BaselineContinuityScan(ctx context.Context, practice uuid.UUID, from, to time.Time, modes []care.InteractionMode, professions []care.Profession) (int, error) {
	const sql = `SELECT i.patient_id, i.practitioner_id, count(*)
		FROM patients p
		JOIN interactions i ON i.patient_id = p.id
		JOIN practitioners pr ON pr.id = i.practitioner_id
		WHERE p.registered_practice_id = $1 AND i.occurred_at >= $2 AND i.occurred_at < $3
		  AND i.mode = ANY($4::text[]) AND pr.profession = ANY($5::text[])
		GROUP BY i.patient_id, i.practitioner_id`
	rows, err := db.q.Query(ctx, sql, customPlan, practice, from, to, strs(modes), strs(professions))
	if err != nil {
		return 0, fmt.Errorf("baseline continuity scan: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var p, c uuid.UUID
		var count int64
		if err := rows.Scan(&p, &c, &count); err != nil {
			return n, fmt.Errorf("baseline continuity scan: %w", err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("baseline continuity scan: %w", err)
	}
	return n, nil
}
