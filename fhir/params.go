package fhir

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// params reads a search's query parameters, refusing unknown ones and
// malformed values with EINVALID naming the parameter.
type params struct {
	q url.Values
}

// Parameters every search accepts besides its own.
var commonParams = []string{"_count", "_cursor", "_format", "_include", "_revinclude", "_total"}

func newParams(q url.Values, allowed []string) (*params, error) {
	ok := map[string]bool{}
	for _, a := range append(allowed, commonParams...) {
		ok[a] = true
	}
	for k := range q {
		name, _, _ := strings.Cut(k, ":")
		if !ok[k] && !ok[name] {
			return nil, care.Errorf(care.EINVALID, "unknown search parameter %q", k)
		}
	}
	if f := q.Get("_format"); f != "" && f != "json" && !strings.Contains(f, "json") {
		return nil, care.Errorf(care.EINVALID, "only JSON is supported (_format=%s)", f)
	}
	return &params{q: q}, nil
}

// one returns the single value of name, or "" when absent; EINVALID when repeated.
func (p *params) one(name string) (string, error) {
	vs := p.q[name]
	if len(vs) > 1 {
		return "", care.Errorf(care.EINVALID, "search parameter %s may be given once", name)
	}
	if len(vs) == 0 {
		return "", nil
	}
	if strings.Contains(vs[0], ",") {
		return "", care.Errorf(care.EINVALID, "search parameter %s takes one value", name)
	}
	return vs[0], nil
}

// page returns the page asked for by _count (0..100, default 20) and _cursor.
func (p *params) page() (care.PageArgs, error) {
	var pa care.PageArgs
	c, err := p.one("_count")
	if err != nil {
		return pa, err
	}
	n := care.DefaultPageSize
	if c != "" {
		n, err = strconv.Atoi(c)
		if err != nil || n < 0 || n > care.MaxPageSize {
			return pa, care.Errorf(care.EINVALID, "_count must be 0 to %d", care.MaxPageSize)
		}
	}
	pa.First = &n
	if cur, err := p.one("_cursor"); err != nil {
		return pa, err
	} else if cur != "" {
		pa.After = &cur
	}
	return pa, nil
}

// ref returns the id of a reference parameter ("Type/id" or "id"), nil when
// absent; EINVALID when it names another type or is not an id of ours.
func (p *params) ref(name string, types ...string) (*uuid.UUID, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return nil, err
	}
	id := v
	if typ, rest, ok := strings.Cut(v, "/"); ok {
		known := false
		for _, t := range types {
			known = known || t == typ
		}
		if !known {
			return nil, care.Errorf(care.EINVALID, "%s must reference %s", name, strings.Join(types, " or "))
		}
		id = rest
	}
	u, err := uuid.Parse(id)
	if err != nil {
		return nil, care.Errorf(care.EINVALID, "%s is not a Rapport id", name)
	}
	return &u, nil
}

// ids returns the _id values (comma-separated allowed), nil when absent. An
// id that is not one of ours matches nothing.
func (p *params) ids() []uuid.UUID {
	vs := p.q["_id"]
	if len(vs) == 0 {
		return nil
	}
	out := []uuid.UUID{}
	for _, v := range vs {
		for _, s := range strings.Split(v, ",") {
			if u, err := uuid.Parse(strings.TrimSpace(s)); err == nil {
				out = append(out, u)
			}
		}
	}
	return out
}

// token returns system and value of a token parameter (system|value,
// |value or value); EINVALID when the system is not the one expected.
func (p *params) token(name, system string) (string, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return "", err
	}
	if sys, val, ok := strings.Cut(v, "|"); ok {
		if sys != "" && sys != system {
			return "", care.Errorf(care.EINVALID, "%s supports the system %s", name, system)
		}
		v = val
	}
	if v == "" {
		return "", care.Errorf(care.EINVALID, "%s needs a value", name)
	}
	return v, nil
}

// dates returns the range that the (possibly repeated) date parameter name
// admits: each value a prefix (eq, ge, gt, le, lt; default eq) and a date
// of year, month, day or instant precision.
func (p *params) dates(name string) (postgres.TimeRange, error) {
	var r postgres.TimeRange
	for _, v := range p.q[name] {
		prefix := "eq"
		if len(v) > 2 && v[0] >= 'a' && v[0] <= 'z' {
			prefix, v = v[:2], v[2:]
		}
		lo, hi, err := parseDate(v)
		if err != nil {
			return r, care.Errorf(care.EINVALID, "%s: %s", name, err.(*care.Error).Message)
		}
		var from, to *time.Time
		switch prefix {
		case "eq":
			from, to = &lo, &hi
		case "ge":
			from = &lo
		case "gt":
			from = &hi
		case "lt":
			to = &lo
		case "le":
			to = &hi
		default:
			return r, care.Errorf(care.EINVALID, "%s: the prefix %q is not supported (eq, ge, gt, le, lt)", name, prefix)
		}
		if from != nil && (r.From == nil || from.After(*r.From)) {
			r.From = from
		}
		if to != nil && (r.To == nil || to.Before(*r.To)) {
			r.To = to
		}
	}
	return r, nil
}

// parseDate returns the instants a FHIR date or dateTime covers: [lo, hi).
func parseDate(v string) (lo, hi time.Time, err error) {
	layouts := []struct {
		layout string
		next   func(time.Time) time.Time
	}{
		{"2006", func(t time.Time) time.Time { return t.AddDate(1, 0, 0) }},
		{"2006-01", func(t time.Time) time.Time { return t.AddDate(0, 1, 0) }},
		{"2006-01-02", func(t time.Time) time.Time { return t.AddDate(0, 0, 1) }},
		{"2006-01-02T15:04Z07:00", func(t time.Time) time.Time { return t.Add(time.Minute) }},
		{"2006-01-02T15:04:05Z07:00", func(t time.Time) time.Time { return t.Add(time.Second) }},
	}
	for _, l := range layouts {
		if t, err := time.Parse(l.layout, v); err == nil {
			return t, l.next(t), nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, t.Add(time.Microsecond), nil
	}
	return lo, hi, care.Errorf(care.EINVALID, "%q is not a FHIR date (YYYY, YYYY-MM, YYYY-MM-DD or a dateTime with a time zone)", v)
}

// includes returns the _include (or _revinclude) values, each of which must
// be among allowed; EINVALID otherwise.
func (p *params) includes(name string, allowed ...string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, v := range p.q[name] {
		for _, s := range strings.Split(v, ",") {
			ok := false
			for _, a := range allowed {
				ok = ok || a == s
			}
			if !ok {
				return nil, care.Errorf(care.EINVALID, "%s=%s is not supported here", name, s)
			}
			out[s] = true
		}
	}
	return out, nil
}

// str returns a string parameter as a pointer, nil when absent.
func (p *params) str(name string) (*string, error) {
	v, err := p.one(name)
	if err != nil || v == "" {
		return nil, err
	}
	return &v, nil
}

// enumParam returns a token parameter of system as one of Rapport's enum
// values, nil when absent; EINVALID when valid refuses it.
func enumParam[T ~string](p *params, name, system string, valid func(T) bool) (*T, error) {
	v, err := p.token(name, system)
	if err != nil || v == "" {
		return nil, err
	}
	t := T(v)
	if !valid(t) {
		return nil, care.Errorf(care.EINVALID, "%s: unknown code %q", name, v)
	}
	return &t, nil
}
