package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// FHIR search (package fhir) asks for a few things the GraphQL filters do not
// carry: a list of ids (_id), a window on the last change (_lastUpdated) and
// one on the record's own date. The methods below run the very list specs of
// Patients, Interactions and CareRelationships — the same access predicate,
// ordering, cursors and audit — with those predicates added.

// TimeRange bounds a timestamp: From inclusive, To exclusive; nil is open.
type TimeRange struct {
	From, To *time.Time
}

// Empty reports whether the range admits nothing (From at or after To).
func (r TimeRange) Empty() bool {
	return r.From != nil && r.To != nil && !r.From.Before(*r.To)
}

// Search is what FHIR search adds to a list's filter; zero fields do not filter.
type Search struct {
	// IDs keeps only these records (_id); a non-nil empty list keeps none.
	IDs []uuid.UUID
	// Updated bounds the record's last change (_lastUpdated).
	Updated TimeRange
	// Date bounds the record's own date: an interaction's occurred_at, a
	// relationship's period (which must overlap it).
	Date TimeRange
}

// where adds the search's predicates for the table alias t, whose own date
// column (or, for periods, start and end columns) is given.
func (x Search) where(q *args, t, dateStart, dateEnd string) []string {
	var w []string
	if x.IDs != nil {
		w = append(w, t+".id = ANY("+q.add(x.IDs)+"::uuid[])")
	}
	if x.Updated.From != nil {
		w = append(w, t+".updated_at >= "+q.add(*x.Updated.From))
	}
	if x.Updated.To != nil {
		w = append(w, t+".updated_at < "+q.add(*x.Updated.To))
	}
	if dateStart != "" && x.Date.To != nil {
		w = append(w, dateStart+" < "+q.add(*x.Date.To))
	}
	if x.Date.From != nil {
		if dateEnd == "" {
			w = append(w, dateStart+" >= "+q.add(*x.Date.From))
		} else {
			w = append(w, "("+dateEnd+" IS NULL OR "+dateEnd+" > "+q.add(*x.Date.From)+")")
		}
	}
	return w
}

// SearchPatients is Patients narrowed by x (x.Date is ignored). Errors as Patients.
func (db *DB) SearchPatients(ctx context.Context, f care.PatientFilter, x Search, p care.PageArgs) (*care.Page[care.Patient], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := patientSpec(a)
	if err := patientFilterSQL(s, f); err != nil {
		return nil, err
	}
	x.Date = TimeRange{}
	s.where = append(s.where, x.where(&s.q, "p", "", "")...)
	page, items, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("search patients: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, patientRecs(items)); err != nil {
		return nil, err
	}
	return page, nil
}

// SearchInteractions is Interactions narrowed by x (x.Date on occurred_at).
// Errors as Interactions.
func (db *DB) SearchInteractions(ctx context.Context, f care.InteractionFilter, x Search, p care.PageArgs) (*care.Page[care.Interaction], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := interactionSpec(a)
	interactionFilterSQL(s, f)
	s.where = append(s.where, x.where(&s.q, "i", "i.occurred_at", "")...)
	page, items, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("search interactions: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, interactionRecs(items)); err != nil {
		return nil, err
	}
	return page, nil
}

// SearchRelationships is CareRelationships narrowed by x (x.Date overlapping
// the period), keeping only relationships with a patient when patientKinds
// is set. Errors as CareRelationships.
func (db *DB) SearchRelationships(ctx context.Context, f care.RelationshipFilter, x Search, patientKinds bool, p care.PageArgs) (*care.Page[care.CareRelationship], error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	s := relSpec(a)
	relFilterSQL(s, f)
	if patientKinds {
		s.where = append(s.where, "r.patient_id IS NOT NULL")
	}
	s.where = append(s.where, x.where(&s.q, "r", "r.period_start", "r.period_end")...)
	page, items, err := list(ctx, db, s, p)
	if err != nil {
		return nil, fmt.Errorf("search relationships: %w", err)
	}
	if err := db.audit(ctx, a, care.AuditRead, relationshipRecs(items)); err != nil {
		return nil, err
	}
	return page, nil
}

// IdentifiedFeedback returns up to limit (1..MaxFeedbackPage+1) responses the
// caller may see whose respondent is identified (a colleague, or the
// practitioner's own reflection), newest first, before the response `before`
// when given, audited as FeedbackResponses. Anonymous responses (patients,
// carers) are never returned one by one. f.Respondent, if set, must be an
// identified kind or nothing is returned.
func (db *DB) IdentifiedFeedback(ctx context.Context, f FeedbackFilter, ids []uuid.UUID, limit int, before *uuid.UUID) ([]*feedback.Response, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > MaxFeedbackPage+1 { // one more tells a pager whether a next page exists
		return nil, care.Errorf(care.ELIMIT, "limit must be 1 to %d", MaxFeedbackPage+1)
	}
	var q args
	where := feedbackVisibleSQL(a, "f", &q, false) + " AND " + feedbackFilterSQL(f, &q) +
		" AND f.respondent IN ('" + string(feedback.RespondentColleague) + "', '" + string(feedback.RespondentSelf) + "')"
	if ids != nil {
		where += " AND f.id = ANY(" + q.add(ids) + "::uuid[])"
	}
	if before != nil {
		b := q.add(*before)
		where += ` AND (f.submitted_on, f.id) < (SELECT b.submitted_on, b.id FROM feedback_responses b WHERE b.id = ` + b + `)`
	}
	sql := "SELECT " + feedbackCols + " FROM " + feedbackFrom + " WHERE " + where +
		" ORDER BY f.submitted_on DESC, f.id DESC LIMIT " + q.add(limit)
	return db.readFeedback(ctx, a, sql, q)
}

// OrganizationByODS returns the organisation with this ODS code; like any
// directory read by identifier, open to every authenticated actor.
// ENOTFOUND when there is none.
func (db *DB) OrganizationByODS(ctx context.Context, ods string) (*care.Organization, error) {
	if _, err := actorOf(ctx); err != nil {
		return nil, err
	}
	o, err := scanOrg(db.q.QueryRow(ctx, `SELECT `+orgCols+` FROM organizations o WHERE o.ods_code = $1`, ods))
	if err != nil {
		return nil, fmt.Errorf("organization by ODS code: %w", translate(err))
	}
	return o, nil
}

// SourceID is the identifier an imported record had in the system it came from.
type SourceID struct {
	System, Value string
}

// ImportedSources returns, for the interactions among ids that were imported,
// the identifier they had in their source system. The caller has already
// read the interactions through the access rule; nothing else is revealed.
func (db *DB) ImportedSources(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]SourceID, error) {
	out := map[uuid.UUID]SourceID{}
	if len(ids) == 0 {
		return out, nil
	}
	rows, err := db.q.Query(ctx, `SELECT entity_id, source_system, source_id FROM imported_records
		WHERE entity = 'interaction' AND entity_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("imported sources: %w", err)
	}
	var id uuid.UUID
	var s SourceID
	_, err = pgx.ForEachRow(rows, []any{&id, &s.System, &s.Value}, func() error { out[id] = s; return nil })
	if err != nil {
		return nil, fmt.Errorf("imported sources: %w", err)
	}
	return out, nil
}
