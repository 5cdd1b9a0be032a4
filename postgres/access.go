package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// The access rule, in one place. care.Actor.Access (decided by auth) becomes a
// SQL predicate over a patients row; every read and write of a patient, of a
// relationship with a patient and of an interaction goes through it.
// Directory data (organisations, teams, practitioners) is readable by ID by
// any authenticated actor, like the public NHS service directory; lists of it
// are limited to the actor's organisation and its active partners.

// args collects bound parameters while a query is built.
type args []any

// add appends v and returns its placeholder.
func (a *args) add(v any) string {
	*a = append(*a, v)
	return fmt.Sprintf("$%d", len(*a))
}

// activeSQL is the "in force now" test for a care_relationships alias.
func activeSQL(r string) string {
	return fmt.Sprintf("(%[1]s.status = 'active' AND %[1]s.period_start <= now() AND (%[1]s.period_end IS NULL OR %[1]s.period_end > now()))", r)
}

// viaArmsSQL returns the two ways a patient (care_relationships alias vr,
// column vr.patient_id) is related to the practitioner prac: directly, or
// through a team of which prac is an active member. Each is "FROM ... WHERE
// conditions", for the two forms below to complete.
func viaArmsSQL(prac string) (direct, team string) {
	direct = fmt.Sprintf("FROM care_relationships vr WHERE vr.practitioner_id = %s AND %s", prac, activeSQL("vr"))
	team = fmt.Sprintf(`FROM care_relationships vm JOIN care_relationships vr ON vr.team_id = vm.team_id
		WHERE vm.kind = 'team_member' AND vm.practitioner_id = %s AND %s AND %s`, prac, activeSQL("vm"), activeSQL("vr"))
	return direct, team
}

// viaRelationshipsSQL admits the patients row p when it has an active
// relationship to the practitioner prac (an SQL expression), or to a team of
// which prac is an active member. (Two EXISTS rather than one with an OR
// inside: each can be probed through an index per row, or hashed once per
// statement, where the OR forced a scan of every relationship.) It is the
// form of the access rule: with the generic plans this service runs, a probe
// per row stays cheap whatever the planner guesses of the rows, where the IN
// form of viaRelationshipsInSQL, misjudging a list of patients as one row,
// was seen re-reading the whole set per row (usual GPs of a caseload page:
// 1.2 ms -> 15.7 ms).
func viaRelationshipsSQL(p, prac string) string {
	direct, team := viaArmsSQL(prac)
	return fmt.Sprintf(`(EXISTS (SELECT 1 %[2]s AND vr.patient_id = %[1]s.id)
	 OR EXISTS (SELECT 1 %[3]s AND vr.patient_id = %[1]s.id))`, p, direct, team)
}

// viaRelationshipsInSQL admits the same rows as viaRelationshipsSQL, written
// as p.id IN (the practitioner's patients UNION ALL her teams' patients). As
// a conjunct of a WHERE the planner turns it into a semi-join, reading the
// relationships once and the patients by key (or pushing a known patient id
// into both arms), where the OR of two EXISTS scans every patient probing two
// hashed subplans: on the medium demo data a nurse's caseload count took
// 7.6-9.2 ms that way and 1.5-2.1 ms this way. It is the form of the caseload
// filter (the patients of a practitioner, a set read once per statement); the
// access rule keeps viaRelationshipsSQL. Rows without a patient (team
// memberships) are left out so the IN is never NULL.
func viaRelationshipsInSQL(p, prac string) string {
	return p + ".id IN (" + patientsOfSQL(prac) + ")"
}

// patientsOfSQL selects the ids of the practitioner prac's patients, hers
// and her teams' (a patient in both, twice).
func patientsOfSQL(prac string) string {
	direct, team := viaArmsSQL(prac)
	return fmt.Sprintf(`SELECT vr.patient_id %[1]s AND vr.patient_id IS NOT NULL
	 UNION ALL SELECT vr.patient_id %[2]s AND vr.patient_id IS NOT NULL`, direct, team)
}

// caseloadSQL admits the same rows as viaRelationshipsInSQL, written as
// p.id = ANY(ARRAY(the practitioner's patients, her teams' patients)): the
// set is read once into an array and the patients are fetched by key. It is
// the form of a caseload page's filter, a practitioner's patients being a
// few hundred rows at most: the planner, taking the IN form's set for
// thousands of rows, hash-joined it against a scan of every patient, once
// for the page and once for its count (a nurse's page of 100 with its count
// on the medium demo data: 2.2 ms that way, 1.1 ms this way, pgbench, one
// client). Not for the access rule: beside an OR (the patients of a
// practice) a scan testing each row against an array is linear in the
// array, where the IN form hashes it.
func caseloadSQL(p, prac string) string {
	return p + ".id = ANY(" + caseloadArraySQL(prac) + ")"
}

// caseloadArraySQL is caseloadSQL's array: the practitioner prac's
// patients, hers and her teams'.
func caseloadArraySQL(prac string) string {
	return "ARRAY(" + patientsOfSQL(prac) + ")"
}

// patientAccessSQL turns the actor's access into a predicate over the patients
// alias p, binding its parameters in q. The zero access admits nobody.
func patientAccessSQL(a *care.Actor, p string, q *args) string {
	return accessSQL(a, p, q, viaRelationshipsSQL)
}

// patientSetAccessSQL admits exactly the rows patientAccessSQL admits, with
// the relationships written as viaRelationshipsInSQL: for statements that
// read the whole set of the actor's patients (lists and counts, a device's
// scope, a bulk export) rather than test a few known ones. The set is then
// read once and joined, where the OR of two EXISTS probes it for every
// patient of the table: on the medium demo data a nurse's visible patients
// took 17 ms that way and 2 ms this way, a GP's count 17 ms and 1.8 ms
// (generic plans, psql). For one patient or a handful, patientAccessSQL.
//
// When the relationships are the actor's only way in (a nurse, who sees
// no practice's list), they are written as caseloadSQL: read into an array,
// the patients fetched by key, where the IN form led the planner to hash
// them against a scan of every patient. A sync page's start, which compares
// a nurse's visible patients with her device's scope, took 1.1-1.9 ms that
// way and 0.7-1.0 ms this way (psql, generic plans).
func patientSetAccessSQL(a *care.Actor, p string, q *args) string {
	pred, _ := patientSetAccess(a, p, q)
	return pred
}

// patientSetAccess returns patientSetAccessSQL's predicate and, for an actor
// who sees the lists of practices, how to count the patients it admits among
// those a list's other predicates (filters, over the same alias p, "true"
// for none) admit: an SQL expression, sharing the predicate's parameters.
// Otherwise count is nil, and a count is the predicate's.
//
// The count adds two disjoint sets: each practice's patients, counted
// through the index on (registered_practice_id, ...), one practice at a time
// so that the pool's generic plan, which cannot see how many patients one
// array of practices holds, still takes the index; and the actor's related
// patients registered elsewhere, fetched by key. With the predicate, a GP's
// count scanned the 10,000 patients of the medium demo data, each tested
// against the practices and a hash of the GP's patients: 1.9-2.1 ms,
// against 1.0 ms this way (pgbench, one client, generic plans, a vacuumed
// database). TestPatientCountEitherWay holds the two to the same answers.
func patientSetAccess(a *care.Actor, p string, q *args) (pred string, count func(filters string) string) {
	acc := a.Access
	if acc.All || len(acc.RegisteredAt) == 0 {
		return accessSQL(a, p, q, caseloadSQL), nil
	}
	b := bindAccess(acc, q)
	count = func(filters string) string {
		sql := `coalesce((SELECT sum((SELECT count(*) FROM patients ` + p + ` WHERE ` + p + `.registered_practice_id = x.id AND ` + filters + `))
			FROM (SELECT DISTINCT unnest(` + b.practices + `) AS id) x), 0)`
		if b.prac != "" {
			sql += ` + (SELECT count(*) FROM patients ` + p + ` WHERE ` + p + `.id = ANY(` + caseloadArraySQL(b.prac) + `)
				AND NOT ` + p + `.registered_practice_id = ANY(` + b.practices + `) AND ` + filters + `)`
		}
		return sql
	}
	return accessPred(p, b, viaRelationshipsInSQL), count
}

// accessSQL is patientAccessSQL with the relationship arm written by via.
func accessSQL(a *care.Actor, p string, q *args, via func(p, prac string) string) string {
	if a.Access.All {
		return "true"
	}
	return accessPred(p, bindAccess(a.Access, q), via)
}

// accessBinds are the placeholders of an access's parameters: the array of
// practices whose lists it sees and the practitioner whose relationships
// admit patients, each "" when the access has none.
type accessBinds struct{ practices, prac string }

// bindAccess adds acc's parameters to q.
func bindAccess(acc care.PatientAccess, q *args) accessBinds {
	var b accessBinds
	if len(acc.RegisteredAt) > 0 {
		b.practices = q.add(acc.RegisteredAt) + "::uuid[]"
	}
	if acc.ViaRelationshipsOf != uuid.Nil {
		b.prac = q.add(acc.ViaRelationshipsOf) + "::uuid"
	}
	return b
}

// accessPred is the predicate of an access (not All) over the patients
// alias p with its parameters bound as b, the relationship arm written by
// via.
func accessPred(p string, b accessBinds, via func(p, prac string) string) string {
	var ors []string
	if b.practices != "" {
		ors = append(ors, fmt.Sprintf("%s.registered_practice_id = ANY(%s)", p, b.practices))
	}
	if b.prac != "" {
		ors = append(ors, via(p, b.prac))
	}
	if len(ors) == 0 {
		return "false"
	}
	return "(" + strings.Join(ors, " OR ") + ")"
}

// orgVisibleSQL admits the organisation whose id is the SQL expression col
// when it is the actor's own or in an active partnership with it (any for system).
func orgVisibleSQL(a *care.Actor, col string, q *args) string {
	if a.Role == care.RoleSystem {
		return "true"
	}
	o := q.add(a.OrganizationID) + "::uuid"
	return fmt.Sprintf(`(%[1]s = %[2]s OR EXISTS (SELECT 1 FROM care_relationships po
		WHERE po.kind = 'partnership' AND %[3]s
		  AND ((po.organization_id = %[2]s AND po.partner_organization_id = %[1]s)
		    OR (po.partner_organization_id = %[2]s AND po.organization_id = %[1]s))))`, col, o, activeSQL("po"))
}

// relationshipVisibleSQL admits the care_relationships alias r: a patient's
// relationship when the patient is visible, TEAM_MEMBER when the team's
// organisation (the owner) is visible, PARTNERSHIP to both organisations.
func relationshipVisibleSQL(a *care.Actor, r string, q *args) string {
	if a.Role == care.RoleSystem {
		return "true"
	}
	pat := patientAccessSQL(a, "rp", q)
	org := orgVisibleSQL(a, r+".organization_id", q)
	own := q.add(a.OrganizationID) + "::uuid"
	return fmt.Sprintf(`(CASE WHEN %[1]s.patient_id IS NOT NULL
			THEN EXISTS (SELECT 1 FROM patients rp WHERE rp.id = %[1]s.patient_id AND %[2]s)
		WHEN %[1]s.kind = 'team_member' THEN %[3]s
		ELSE (%[1]s.organization_id = %[4]s OR %[1]s.partner_organization_id = %[4]s) END)`, r, pat, org, own)
}

// actorOf returns the actor in ctx, or EUNAUTHENTICATED.
func actorOf(ctx context.Context) (*care.Actor, error) {
	a := care.ActorFromContext(ctx)
	if a == nil {
		return nil, care.Errorf(care.EUNAUTHENTICATED, "authentication required")
	}
	return a, nil
}

// writerOf returns the actor in ctx if it may write at all: EUNAUTHENTICATED
// without one, EFORBIDDEN for integrations (read-only by design).
func writerOf(ctx context.Context) (*care.Actor, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if a.Role == care.RoleIntegration || !a.Role.Valid() {
		return nil, care.Errorf(care.EFORBIDDEN, "this token may not change data")
	}
	return a, nil
}

// hasRole reports whether the actor has one of roles.
func hasRole(a *care.Actor, roles ...care.Role) bool {
	for _, r := range roles {
		if a.Role == r {
			return true
		}
	}
	return false
}

// adminOf reports whether the actor administers org (or is the system).
func adminOf(a *care.Actor, org uuid.UUID) bool {
	return a.Role == care.RoleSystem || (a.Role == care.RolePracticeAdmin && a.OrganizationID == org)
}

func forbidden(what string) error {
	return care.Errorf(care.EFORBIDDEN, "you may not %s", what)
}
