package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

const teamCols = "t.id, t.organization_id, t.name, t.created_at, t.updated_at, t.version"

func scanTeam(r row, pre ...any) (*care.Team, error) {
	var t care.Team
	err := r.Scan(append(pre, &t.ID, &t.OrganizationID, &t.Name, &t.CreatedAt, &t.UpdatedAt, &t.Version)...)
	return &t, err
}

const teamsByIDSQL = `SELECT ` + teamCols + ` FROM teams t WHERE t.id = ANY($1::uuid[])`

func (db *DB) teamsByID(ctx context.Context, ids []uuid.UUID, lock bool) ([]*care.Team, error) {
	return loadByID(ctx, db, teamsByIDSQL, "teams", ids, lock, scanTeam, func(t *care.Team) uuid.UUID { return t.ID })
}

// Team returns one team; any authenticated actor may read the directory by
// ID. ENOTFOUND if there is none.
func (db *DB) Team(ctx context.Context, id uuid.UUID) (*care.Team, error) {
	out, err := db.TeamsByID(ctx, []uuid.UUID{id})
	return one(out, err, "no such team")
}

// TeamsByID returns teams aligned with ids (nil where missing).
func (db *DB) TeamsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Team, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	return db.teamsByID(ctx, ids, false)
}

// Teams lists teams of the actor's organisation and its partners (all for
// system), by name. EINVALID for a bad cursor, ELIMIT for a bad page size.
func (db *DB) Teams(ctx context.Context, f care.TeamFilter, p care.PageArgs) (*care.Page[care.Team], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := &listSpec[care.Team]{
		from: "teams t", cols: teamCols,
		keyCols: []string{"t.name", "t.id"}, keyCast: []string{"text", "uuid"},
		scan: scanTeam,
		key:  func(t *care.Team) []string { return []string{t.Name, t.ID.String()} },
	}
	s.where = append(s.where, orgVisibleSQL(a, "t.organization_id", &s.q))
	if f.OrganizationID != nil {
		s.where = append(s.where, "t.organization_id = "+s.q.add(*f.OrganizationID))
	}
	if f.Name != nil {
		s.where = append(s.where, "t.name ILIKE "+s.q.add(likePattern(*f.Name)))
	}
	page, _, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("list teams: %w", err)
	}
	return page, nil
}

// teamsOfSQL lists, per practitioner, the teams of which they are an active
// member, where the membership is visible to the actor ($2: system).
const teamsOfSQL = `
SELECT m.practitioner_id, ` + teamCols + `
FROM care_relationships m JOIN teams t ON t.id = m.team_id
WHERE m.kind = 'team_member' AND m.practitioner_id = ANY($1::uuid[])
  AND m.status = 'active' AND m.period_start <= now() AND (m.period_end IS NULL OR m.period_end > now())
  AND %s
ORDER BY m.practitioner_id, t.name, t.id`

// TeamsOfPractitioners returns, per practitioner, the teams they are active
// members of, as far as the actor may see the memberships.
func (db *DB) TeamsOfPractitioners(ctx context.Context, practitionerIDs []uuid.UUID) (map[uuid.UUID][]*care.Team, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{practitionerIDs}
	sql := fmt.Sprintf(teamsOfSQL, orgVisibleSQL(a, "t.organization_id", &q))
	return groupByParent(ctx, db, sql, "teams of practitioners", q, scanTeam)
}

const teamMembersSQL = `
SELECT m.team_id, ` + practitionerCols + `
FROM care_relationships m JOIN teams t ON t.id = m.team_id JOIN practitioners pr ON pr.id = m.practitioner_id
WHERE m.kind = 'team_member' AND m.team_id = ANY($1::uuid[])
  AND m.status = 'active' AND m.period_start <= now() AND (m.period_end IS NULL OR m.period_end > now())
  AND %s
ORDER BY m.team_id, pr.family_name, pr.given_name, pr.id`

// TeamMembers returns, per team, its active members, as far as the actor may
// see the memberships (the team's organisation and its partners).
func (db *DB) TeamMembers(ctx context.Context, teamIDs []uuid.UUID) (map[uuid.UUID][]*care.Practitioner, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{teamIDs}
	sql := fmt.Sprintf(teamMembersSQL, orgVisibleSQL(a, "t.organization_id", &q))
	return groupByParent(ctx, db, sql, "team members", q, scanPractitioner)
}

const insertTeamSQL = `
INSERT INTO teams AS t (id, organization_id, name) VALUES ($1, $2, $3)
ON CONFLICT (id) DO NOTHING
RETURNING ` + teamCols

// CreateTeam creates a team (practice_admin of its organisation, system).
// Creating again with the same ID, organisation and name returns the existing
// team. Errors: EINVALID, EFORBIDDEN, ENOTFOUND (no such organisation), ECONFLICT.
func (db *DB) CreateTeam(ctx context.Context, in care.CreateTeamInput) (*care.Team, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if !adminOf(a, in.OrganizationID) {
		return nil, forbidden("create teams in this organization")
	}
	id, err := newID(in.ID)
	if err != nil {
		return nil, err
	}
	var out *care.Team
	err = db.InTx(ctx, func(tx *DB) error {
		t, err := scanTeam(tx.q.QueryRow(ctx, insertTeamSQL, id, in.OrganizationID, in.Name))
		if errors.Is(err, pgx.ErrNoRows) {
			ex, err := tx.teamsByID(ctx, []uuid.UUID{id}, false)
			if err != nil {
				return err
			}
			if ex[0] == nil || ex[0].Name != in.Name || ex[0].OrganizationID != in.OrganizationID {
				return idConflict()
			}
			out = ex[0]
			return nil
		}
		out = t
		return translate(err)
	})
	if err != nil {
		return nil, fmt.Errorf("create team: %w", err)
	}
	return out, nil
}

const updateTeamSQL = `
UPDATE teams t SET name = COALESCE($2, t.name), version = t.version + 1, updated_at = now()
WHERE t.id = $1
RETURNING ` + teamCols

// UpdateTeam renames a team (practice_admin of its organisation, system).
// Errors: EINVALID, EFORBIDDEN, ENOTFOUND.
func (db *DB) UpdateTeam(ctx context.Context, in care.UpdateTeamInput) (*care.Team, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *care.Team
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.teamsByID(ctx, []uuid.UUID{in.ID}, true)
		if err != nil {
			return err
		}
		if ex[0] == nil {
			return care.Errorf(care.ENOTFOUND, "no such team")
		}
		if !adminOf(a, ex[0].OrganizationID) {
			return forbidden("change this team")
		}
		t, err := scanTeam(tx.q.QueryRow(ctx, updateTeamSQL, in.ID, in.Name))
		out = t
		return translate(err)
	})
	if err != nil {
		return nil, fmt.Errorf("update team: %w", err)
	}
	return out, nil
}
