package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

const orgCols = "o.id, o.name, o.kind, o.ods_code, o.created_at, o.updated_at, o.version"

func scanOrg(row row, pre ...any) (*care.Organization, error) {
	var o care.Organization
	err := row.Scan(append(pre, &o.ID, &o.Name, text(&o.Kind), &o.ODSCode, &o.CreatedAt, &o.UpdatedAt, &o.Version)...)
	return &o, err
}

func orgSpec(a *care.Actor) *listSpec[care.Organization] {
	s := &listSpec[care.Organization]{
		from: "organizations o", cols: orgCols,
		keyCols: []string{"o.name", "o.id"}, keyCast: []string{"text", "uuid"},
		scan: scanOrg,
		key:  func(o *care.Organization) []string { return []string{o.Name, o.ID.String()} },
	}
	s.where = append(s.where, orgVisibleSQL(a, "o.id", &s.q))
	return s
}

const orgByIDsSQL = `SELECT ` + orgCols + ` FROM organizations o WHERE o.id = ANY($1::uuid[])`

func (db *DB) orgsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Organization, error) {
	return loadByID(ctx, db, orgByIDsSQL, "organizations", ids, false, scanOrg,
		func(o *care.Organization) uuid.UUID { return o.ID })
}

// Organization returns one organisation; any authenticated actor may read the
// directory by ID. ENOTFOUND if there is none.
func (db *DB) Organization(ctx context.Context, id uuid.UUID) (*care.Organization, error) {
	out, err := db.OrganizationsByID(ctx, []uuid.UUID{id})
	return one(out, err, "no such organization")
}

// OrganizationsByID returns organisations aligned with ids (nil where missing).
// It returns EUNAUTHENTICATED without an actor.
func (db *DB) OrganizationsByID(ctx context.Context, ids []uuid.UUID) ([]*care.Organization, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	return db.orgsByID(ctx, ids)
}

// Organizations lists organisations by name: the actor's own and its active
// partners (all for system). EINVALID for a bad cursor, ELIMIT for a bad page size.
func (db *DB) Organizations(ctx context.Context, f care.OrganizationFilter, p care.PageArgs) (*care.Page[care.Organization], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := orgSpec(a)
	if f.Kind != nil {
		s.where = append(s.where, "o.kind = "+s.q.add(string(*f.Kind)))
	}
	if f.Name != nil {
		s.where = append(s.where, "o.name ILIKE "+s.q.add(likePattern(*f.Name)))
	}
	page, _, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("list organizations: %w", err)
	}
	return page, nil
}

// partnersSQL finds, per organisation, its active partners, for partnerships
// the actor may see (its own, or all for system).
const partnersSQL = `
SELECT x.org_id, ` + orgCols + `
FROM unnest($1::uuid[]) AS x(org_id)
JOIN care_relationships r ON r.kind = 'partnership'
     AND (r.organization_id = x.org_id OR r.partner_organization_id = x.org_id)
JOIN organizations o ON o.id = CASE WHEN r.organization_id = x.org_id THEN r.partner_organization_id ELSE r.organization_id END
WHERE r.status = 'active' AND r.period_start <= now() AND (r.period_end IS NULL OR r.period_end > now())
  AND ($2::boolean OR r.organization_id = $3 OR r.partner_organization_id = $3)
ORDER BY x.org_id, o.name, o.id`

// PartnersOf returns, per organisation, the organisations in an active
// PARTNERSHIP with it that the actor may see (partnerships are visible to
// both organisations; all for system).
func (db *DB) PartnersOf(ctx context.Context, orgIDs []uuid.UUID) (map[uuid.UUID][]*care.Organization, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	return groupByParent(ctx, db, partnersSQL, "partners", []any{orgIDs, a.Role == care.RoleSystem, a.OrganizationID}, scanOrg)
}

const insertOrgSQL = `
INSERT INTO organizations AS o (id, name, kind, ods_code) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO NOTHING
RETURNING ` + orgCols

// CreateOrganization creates an organisation (practice_admin, system).
// Creating again with the same ID and name returns the existing one. Errors:
// EINVALID input, EFORBIDDEN role, ECONFLICT for a used ID or ODS code.
func (db *DB) CreateOrganization(ctx context.Context, in care.CreateOrganizationInput) (*care.Organization, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if !hasRole(a, care.RolePracticeAdmin, care.RoleSystem) {
		return nil, forbidden("create organizations")
	}
	id, err := newID(in.ID)
	if err != nil {
		return nil, err
	}
	var out *care.Organization
	err = db.InTx(ctx, func(tx *DB) error {
		o, err := scanOrg(tx.q.QueryRow(ctx, insertOrgSQL, id, in.Name, string(in.Kind), in.ODSCode))
		if errors.Is(err, pgx.ErrNoRows) {
			ex, err := tx.orgsByID(ctx, []uuid.UUID{id})
			if err != nil {
				return err
			}
			if ex[0] == nil || ex[0].Name != in.Name {
				return idConflict()
			}
			out = ex[0]
			return nil
		}
		if err != nil {
			return translate(err)
		}
		out = o
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create organization: %w", err)
	}
	return out, nil
}

const updateOrgSQL = `
UPDATE organizations o SET name = COALESCE($2, o.name), ods_code = COALESCE($3, o.ods_code),
       version = o.version + 1, updated_at = now()
WHERE o.id = $1
RETURNING ` + orgCols

// UpdateOrganization changes an organisation (its practice_admin, system).
// Errors: EINVALID input, EFORBIDDEN, ENOTFOUND, ECONFLICT for a used ODS code.
func (db *DB) UpdateOrganization(ctx context.Context, in care.UpdateOrganizationInput) (*care.Organization, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if !adminOf(a, in.ID) {
		return nil, forbidden("change this organization")
	}
	var out *care.Organization
	err = db.InTx(ctx, func(tx *DB) error {
		o, err := scanOrg(tx.q.QueryRow(ctx, updateOrgSQL, in.ID, in.Name, in.ODSCode))
		if errors.Is(err, pgx.ErrNoRows) {
			return care.Errorf(care.ENOTFOUND, "no such organization")
		}
		out = o
		return translate(err)
	})
	if err != nil {
		return nil, fmt.Errorf("update organization: %w", err)
	}
	return out, nil
}
