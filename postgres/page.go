package postgres

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// Lists use keyset pagination: the opaque cursor is the base64url JSON of the
// last row's sort key, and the next page starts strictly after it.

// encodeCursor returns the opaque cursor for a sort key.
func encodeCursor(key []string) string {
	var buf [192]byte
	b, ok := appendPlainJSON(buf[:0], key)
	if !ok {
		b, _ = json.Marshal(key) // a []string always marshals
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// appendPlainJSON appends key as json.Marshal writes it, when no string of
// it needs escaping (printable ASCII but for '"', '\\' and the '<', '>' and
// '&' that json.Marshal escapes): a page writes a cursor for every edge, and
// most keys are ids, times and plain names. It reports false otherwise.
func appendPlainJSON(b []byte, key []string) ([]byte, bool) {
	b = append(b, '[')
	for i, k := range key {
		if i > 0 {
			b = append(b, ',')
		}
		for j := 0; j < len(k); j++ {
			if c := k[j]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				return b, false
			}
		}
		b = append(append(append(b, '"'), k...), '"')
	}
	return append(b, ']'), true
}

// decodeCursor returns the sort key in cursor, EINVALID if it is not one of ours.
func decodeCursor(cursor string, n int) ([]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	var key []string
	if err == nil {
		err = json.Unmarshal(b, &key)
	}
	if err != nil || len(key) != n {
		return nil, care.Errorf(care.EINVALID, "the cursor is not valid for this list")
	}
	return key, nil
}

// timeKey formats a time for a cursor, exactly enough to round-trip microseconds.
func timeKey(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// row is what a single-row or multi-row result can be scanned from.
type row interface{ Scan(dest ...any) error }

// scanner reads one row whose first columns are pre (e.g. a parent id).
type scanner[T any] func(r row, pre ...any) (*T, error)

// listSpec describes one list: rows, visibility and filters, and sort key.
type listSpec[T any] struct {
	from string // FROM clause, e.g. "patients p"
	// pageFrom, when set, is the FROM clause of the page (not of the count):
	// from joined to rows read with each item, cols and scan reading them too.
	pageFrom string
	cols     string // selected columns, in scan order
	// access, when set, is the access rule's predicate, ANDed with where.
	access string
	where  []string // predicates, ANDed (visibility and filters)
	// count, when set, counts the rows access admits among those where
	// admits, as an SQL expression given where (patientSetAccess); a list
	// with parents (listFor) counts with the predicates.
	count   func(filters string) string
	q       args
	keyCols []string // sort key columns, e.g. p.family_name, p.given_name, p.id
	keyCast []string // the SQL type of each, for cursor parameters
	desc    bool
	scan    scanner[T]
	key     func(*T) []string // a row's sort key, for its cursor
}

func (s *listSpec[T]) order() string {
	dir := ""
	if s.desc {
		dir = " DESC"
	}
	parts := make([]string, len(s.keyCols))
	for i, c := range s.keyCols {
		parts[i] = c + dir
	}
	return strings.Join(parts, ", ")
}

// after returns the keyset predicate for the cursor, or "true" without one.
func (s *listSpec[T]) after(cursor *string) (string, error) {
	if cursor == nil || *cursor == "" {
		return "true", nil
	}
	key, err := decodeCursor(*cursor, len(s.keyCols))
	if err != nil {
		return "", err
	}
	ph := make([]string, len(key))
	for i, k := range key {
		if s.keyCast[i] == "uuid" {
			if _, err := uuid.Parse(k); err != nil {
				return "", care.Errorf(care.EINVALID, "the cursor is not valid for this list")
			}
		}
		if s.keyCast[i] == "timestamptz" {
			if _, err := time.Parse(time.RFC3339Nano, k); err != nil {
				return "", care.Errorf(care.EINVALID, "the cursor is not valid for this list")
			}
		}
		ph[i] = s.q.add(k) + "::" + s.keyCast[i]
	}
	op := ">"
	if s.desc {
		op = "<"
	}
	return fmt.Sprintf("(%s) %s (%s)", strings.Join(s.keyCols, ", "), op, strings.Join(ph, ", ")), nil
}

func (s *listSpec[T]) whereSQL() string {
	if s.access != "" {
		return strings.Join(append([]string{s.access}, s.where...), " AND ")
	}
	return s.filtersSQL()
}

// filtersSQL is where without access.
func (s *listSpec[T]) filtersSQL() string {
	if len(s.where) == 0 {
		return "true"
	}
	return strings.Join(s.where, " AND ")
}

// makePage turns up to limit+1 rows into a page.
func makePage[T any](rows []*T, limit, total int, key func(*T) []string) *care.Page[T] {
	page := &care.Page[T]{TotalCount: total, Edges: []care.Edge[T]{}}
	if len(rows) > limit {
		page.HasNextPage = true
		rows = rows[:limit]
	}
	for _, r := range rows {
		page.Edges = append(page.Edges, care.Edge[T]{Node: r, Cursor: encodeCursor(key(r))})
	}
	return page
}

// list runs one page of the spec and its total count in one statement; a
// part the caller skips (p.SkipTotal, p.SkipEdges) is not computed, and a
// request that skips both sends nothing.
func list[T any](ctx context.Context, db *DB, s *listSpec[T], p care.PageArgs) (*care.Page[T], []*T, error) {
	pages, items, err := pageStatement(ctx, db, s, nil, parentOf{}, p)
	if err != nil {
		return nil, nil, err
	}
	return pages[uuid.Nil], items, nil
}

// parentOf ties a listFor row to its parent. cond gives the predicate on
// the row, given the parent id's SQL expression. shared, when set, is an
// expression of the parent id worth computing once per parent rather than
// in both the count and the page: it becomes a lateral subquery (OFFSET 0,
// so the planner does not fold it back into each), and cond reads it as
// sharedSQL.
type parentOf struct {
	cond, shared func(parent string) string
}

// sharedSQL is the value of parentOf.shared for the parent of the row.
const sharedSQL = "a.shared"

// listFor runs one page per parent and each parent's total count, in one
// statement whatever the number of parents (LATERAL joins per parent); a row
// belongs to a parent as parent says. As with list, skipped parts are not
// computed.
func listFor[T any](ctx context.Context, db *DB, s *listSpec[T], parents []uuid.UUID, parent parentOf, p care.PageArgs) (map[uuid.UUID]*care.Page[T], []*T, error) {
	parents = uniqueIDs(parents)
	if len(parents) == 0 {
		if _, err := p.Limit(); err != nil {
			return nil, nil, err
		}
		return map[uuid.UUID]*care.Page[T]{}, nil, nil
	}
	return pageStatement(ctx, db, s, parents, parent, p)
}

// pageStatement builds and runs the one statement behind list (parents nil:
// one page, keyed uuid.Nil in the result) and listFor. Each row carries the
// parent id (listFor only), the total count (0 when skipped), and a flag that
// is NULL when the row only carries a count (an empty page), then the row's
// columns:
//
//	SELECT x.parent_id, c.total, t.* FROM unnest($ids) x(parent_id)
//	  [CROSS JOIN LATERAL (SELECT <shared> AS shared OFFSET 0) a]
//	  CROSS JOIN LATERAL (SELECT count(*) AS total FROM … WHERE … AND <parent>) c
//	  LEFT JOIN LATERAL (SELECT true AS present_, <cols> FROM … WHERE … AND <parent> AND <after>
//	                     ORDER BY <key> LIMIT n+1) t ON true
func pageStatement[T any](ctx context.Context, db *DB, s *listSpec[T], parents []uuid.UUID, parent parentOf,
	p care.PageArgs) (map[uuid.UUID]*care.Page[T], []*T, error) {
	limit, err := p.Limit()
	if err != nil {
		return nil, nil, err
	}
	after, err := s.after(p.After)
	if err != nil {
		return nil, nil, err
	}
	keys := []uuid.UUID{uuid.Nil}
	var head, from, cond string
	if parents != nil {
		keys = parents
		head = "x.parent_id, "
		from = "unnest(" + s.q.add(parents) + "::uuid[]) AS x(parent_id) CROSS JOIN LATERAL "
		if parent.shared != nil {
			from += "(SELECT " + parent.shared("x.parent_id") + " AS shared OFFSET 0) a CROSS JOIN LATERAL "
		}
		cond = " AND " + parent.cond("x.parent_id")
	}
	countSQL := "(SELECT count(*) AS total FROM " + s.from + " WHERE " + s.whereSQL() + cond + ") c"
	if s.count != nil && parents == nil {
		countSQL = "(SELECT " + s.count(s.filtersSQL()) + " AS total) c"
	}
	var pageSQL string
	if !p.SkipEdges {
		pageFrom := s.from
		if s.pageFrom != "" {
			pageFrom = s.pageFrom
		}
		pageSQL = "(SELECT true AS present_, " + s.cols + " FROM " + pageFrom + " WHERE " + s.whereSQL() + cond + " AND " + after +
			" ORDER BY " + s.order() + " LIMIT " + s.q.add(limit+1) + ") t"
	}
	var sql string
	switch {
	case !p.SkipTotal && !p.SkipEdges:
		sql = "SELECT " + head + "c.total, t.* FROM " + from + countSQL + " LEFT JOIN LATERAL " + pageSQL + " ON true"
	case !p.SkipTotal:
		sql = "SELECT " + head + "c.total, NULL::boolean AS present_ FROM " + from + countSQL
	case !p.SkipEdges:
		if parents == nil {
			from = ""
		}
		sql = "SELECT " + head + "0::bigint AS total, t.* FROM " + from + pageSQL
	}
	out := make(map[uuid.UUID]*care.Page[T], len(keys))
	rowsOf := make(map[uuid.UUID][]*T, len(keys))
	totals := make(map[uuid.UUID]int, len(keys))
	if sql != "" {
		rows, err := db.q.Query(ctx, sql, s.q...)
		if err != nil {
			return nil, nil, fmt.Errorf("list: %w", translate(err))
		}
		// First the leading columns (the rest skipped), then, for a row of
		// the page, the row itself (the leading columns skipped); the
		// targets are the same for every row.
		var parent uuid.UUID
		var total int
		var present *bool
		lead := []any{&total, &present}
		if parents != nil {
			lead = []any{&parent, &total, &present}
		}
		skip := make([]any, len(rows.FieldDescriptions()))
		copy(skip, lead)
		skipLead := make([]any, len(lead))
		for rows.Next() {
			if err := rows.Scan(skip...); err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("list: %w", err)
			}
			totals[parent] = total
			if present == nil {
				continue
			}
			item, err := s.scan(rows, skipLead...)
			if err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("list: %w", err)
			}
			rowsOf[parent] = append(rowsOf[parent], item)
		}
		if err := rows.Err(); err != nil {
			return nil, nil, fmt.Errorf("list: %w", translate(err))
		}
	}
	var all []*T
	for _, k := range keys {
		page := makePage(rowsOf[k], limit, totals[k], s.key)
		out[k] = page
		all = append(all, nodes(page)...)
	}
	return out, all, nil
}

// nodes returns the items of a page.
func nodes[T any](p *care.Page[T]) []*T {
	out := make([]*T, len(p.Edges))
	for i, e := range p.Edges {
		out[i] = e.Node
	}
	return out
}

// loadByID runs query (which selects rows whose id = ANY($1)), with FOR
// UPDATE when lock is set, scans each row with scan and aligns the records
// with ids (nil where absent). what names the records in errors.
func loadByID[T any](ctx context.Context, db *DB, query, what string, ids []uuid.UUID, lock bool,
	scan func(r row, pre ...any) (*T, error), id func(*T) uuid.UUID) ([]*T, error) {
	if lock {
		query += " FOR UPDATE"
	}
	rows, err := db.q.Query(ctx, query, ids)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*T, error) { return scan(r) })
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", what, err)
	}
	return align(ids, items, id), nil
}

// groupByParent runs query, whose rows start with a parent id followed by the
// columns scan reads, and groups the scanned records by parent. what names
// the records in errors.
func groupByParent[T any](ctx context.Context, db *DB, query, what string, args []any,
	scan func(r row, pre ...any) (*T, error)) (map[uuid.UUID][]*T, error) {
	rows, err := db.q.Query(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, translate(err))
	}
	out := map[uuid.UUID][]*T{}
	_, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (struct{}, error) {
		var parent uuid.UUID
		item, err := scan(r, &parent)
		if err == nil {
			out[parent] = append(out[parent], item)
		}
		return struct{}{}, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, translate(err))
	}
	return out, nil
}

// one returns the single record of a by-ID batch read, ENOTFOUND (with msg)
// when it is missing or not visible, or err.
func one[T any](out []*T, err error, msg string) (*T, error) {
	if err != nil {
		return nil, err
	}
	if len(out) == 0 || out[0] == nil {
		return nil, care.Errorf(care.ENOTFOUND, "%s", msg)
	}
	return out[0], nil
}

// align orders items by ids (nil where absent).
func align[T any](ids []uuid.UUID, items []*T, id func(*T) uuid.UUID) []*T {
	by := make(map[uuid.UUID]*T, len(items))
	for _, it := range items {
		by[id(it)] = it
	}
	out := make([]*T, len(ids))
	for i, x := range ids {
		out[i] = by[x]
	}
	return out
}

// likePattern returns a case-insensitive substring pattern for ILIKE.
func likePattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.TrimSpace(s)) + "%"
}

// prefixPattern returns a LIKE pattern matching lower-cased text that starts
// with s (lower-cased, LIKE's wildcards escaped).
func prefixPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(strings.ToLower(strings.TrimSpace(s))) + "%"
}

// newID returns the client's ID or, when it gave none, a fresh UUIDv7. The
// nil UUID is EINVALID: a client that sends it has a bug, and replacing it
// silently would give its record an id the client does not know.
func newID(id *uuid.UUID) (uuid.UUID, error) {
	if id != nil {
		if *id == uuid.Nil {
			return uuid.Nil, care.Errorf(care.EINVALID, "id must not be the nil UUID")
		}
		return *id, nil
	}
	v, err := uuid.NewV7()
	if err != nil {
		return uuid.Nil, fmt.Errorf("new id: %w", err)
	}
	return v, nil
}

// idConflict is the error for a client ID already used by a different record.
func idConflict() error {
	return care.Errorf(care.ECONFLICT, "a different record already has this id")
}

// uniqueIDs returns ids without repeats, in first-seen order.
func uniqueIDs(ids []uuid.UUID) []uuid.UUID {
	seen := make(map[uuid.UUID]bool, len(ids))
	out := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
