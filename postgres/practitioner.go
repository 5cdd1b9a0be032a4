package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

const practitionerCols = "pr.id, pr.organization_id, pr.given_name, pr.family_name, pr.profession, pr.active, pr.created_at, pr.updated_at, pr.version"

func scanPractitioner(r row, pre ...any) (*care.Practitioner, error) {
	var p care.Practitioner
	err := r.Scan(appendPractitionerDest(pre, &p)...)
	return &p, err
}

// appendPractitionerDest appends the scan destinations of practitionerCols.
func appendPractitionerDest(dst []any, p *care.Practitioner) []any {
	return append(dst, &p.ID, &p.OrganizationID, &p.GivenName, &p.FamilyName, text(&p.Profession), &p.Active, &p.CreatedAt, &p.UpdatedAt, &p.Version)
}

const practitionersByIDSQL = `SELECT ` + practitionerCols + ` FROM practitioners pr WHERE pr.id = ANY($1::uuid[])`

func (db *DB) practitionersByID(ctx context.Context, ids []uuid.UUID, lock bool) ([]*care.Practitioner, error) {
	return loadByID(ctx, db, practitionersByIDSQL, "practitioners", ids, lock, scanPractitioner,
		func(p *care.Practitioner) uuid.UUID { return p.ID })
}

// Practitioner returns one practitioner; any authenticated actor may read the
// directory by ID. ENOTFOUND if there is none.
func (db *DB) Practitioner(ctx context.Context, id uuid.UUID) (*care.Practitioner, error) {
	out, err := db.PractitionersByID(ctx, []uuid.UUID{id})
	return one(out, err, "no such practitioner")
}

// PractitionersByID returns practitioners aligned with ids (nil where missing).
func (db *DB) PractitionersByID(ctx context.Context, ids []uuid.UUID) ([]*care.Practitioner, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	return db.practitionersByID(ctx, ids, false)
}

// Practitioners lists practitioners of the actor's organisation and its
// partners (all for system) by family name, given name, id. EINVALID for a bad
// cursor, ELIMIT for a bad page size.
func (db *DB) Practitioners(ctx context.Context, f care.PractitionerFilter, p care.PageArgs) (*care.Page[care.Practitioner], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	s := &listSpec[care.Practitioner]{
		from: "practitioners pr", cols: practitionerCols,
		keyCols: []string{"pr.family_name", "pr.given_name", "pr.id"}, keyCast: []string{"text", "text", "uuid"},
		scan: scanPractitioner,
		key:  func(p *care.Practitioner) []string { return []string{p.FamilyName, p.GivenName, p.ID.String()} },
	}
	s.where = append(s.where, orgVisibleSQL(a, "pr.organization_id", &s.q))
	if f.OrganizationID != nil {
		s.where = append(s.where, "pr.organization_id = "+s.q.add(*f.OrganizationID))
	}
	if f.Profession != nil {
		s.where = append(s.where, "pr.profession = "+s.q.add(string(*f.Profession)))
	}
	if f.Name != nil {
		n := s.q.add(likePattern(*f.Name))
		s.where = append(s.where, "(pr.given_name ILIKE "+n+" OR pr.family_name ILIKE "+n+")")
	}
	if f.TeamID != nil {
		s.where = append(s.where, "EXISTS (SELECT 1 FROM care_relationships m WHERE m.kind = 'team_member' AND m.practitioner_id = pr.id AND m.team_id = "+
			s.q.add(*f.TeamID)+" AND "+activeSQL("m")+")")
	}
	page, _, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("list practitioners: %w", err)
	}
	return page, nil
}

const insertPractitionerSQL = `
INSERT INTO practitioners AS pr (id, organization_id, given_name, family_name, profession) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO NOTHING
RETURNING ` + practitionerCols

// CreatePractitioner creates a practitioner (practice_admin of the
// organisation, system). Creating again with the same ID and name returns the
// existing one. Errors: EINVALID, EFORBIDDEN, ENOTFOUND (organisation), ECONFLICT.
func (db *DB) CreatePractitioner(ctx context.Context, in care.CreatePractitionerInput) (*care.Practitioner, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if !adminOf(a, in.OrganizationID) {
		return nil, forbidden("create practitioners in this organization")
	}
	id, err := newID(in.ID)
	if err != nil {
		return nil, err
	}
	var out *care.Practitioner
	err = db.InTx(ctx, func(tx *DB) error {
		p, err := scanPractitioner(tx.q.QueryRow(ctx, insertPractitionerSQL, id, in.OrganizationID, in.GivenName, in.FamilyName, string(in.Profession)))
		if errors.Is(err, pgx.ErrNoRows) {
			ex, err := tx.practitionersByID(ctx, []uuid.UUID{id}, false)
			if err != nil {
				return err
			}
			if e := ex[0]; e == nil || e.GivenName != in.GivenName || e.FamilyName != in.FamilyName || e.OrganizationID != in.OrganizationID {
				return idConflict()
			}
			out = ex[0]
			return nil
		}
		out = p
		return translate(err)
	})
	if err != nil {
		return nil, fmt.Errorf("create practitioner: %w", err)
	}
	return out, nil
}

const updatePractitionerSQL = `
UPDATE practitioners pr SET given_name = COALESCE($2, pr.given_name), family_name = COALESCE($3, pr.family_name),
       profession = COALESCE($4, pr.profession), active = COALESCE($5, pr.active),
       version = pr.version + 1, updated_at = now()
WHERE pr.id = $1
RETURNING ` + practitionerCols

// UpdatePractitioner changes a practitioner (practice_admin of their
// organisation, system). Errors: EINVALID, EFORBIDDEN, ENOTFOUND.
func (db *DB) UpdatePractitioner(ctx context.Context, in care.UpdatePractitionerInput) (*care.Practitioner, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if err := in.Validate(); err != nil {
		return nil, err
	}
	var out *care.Practitioner
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.practitionersByID(ctx, []uuid.UUID{in.ID}, true)
		if err != nil {
			return err
		}
		if ex[0] == nil {
			return care.Errorf(care.ENOTFOUND, "no such practitioner")
		}
		if !adminOf(a, ex[0].OrganizationID) {
			return forbidden("change this practitioner")
		}
		var prof *string
		if in.Profession != nil {
			s := string(*in.Profession)
			prof = &s
		}
		p, err := scanPractitioner(tx.q.QueryRow(ctx, updatePractitionerSQL, in.ID, in.GivenName, in.FamilyName, prof, in.Active))
		out = p
		return translate(err)
	})
	// Whatever happened, the standing remembered of them may be stale now.
	db.standing.forget(in.ID)
	if err != nil {
		return nil, fmt.Errorf("update practitioner: %w", err)
	}
	return out, nil
}
