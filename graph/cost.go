package graph

import (
	"context"
	"fmt"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rapportcare/rapport/care"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
)

// Default shape limits, checked by costGuard before gqlgen validates or
// measures complexity. They are generous for real clients: GraphiQL's
// introspection query is about 500 tokens and 150 expanded fields; a sync
// pull about 300 tokens.
const (
	DefaultMaxTokens          = 10000
	DefaultMaxFields          = 2000
	DefaultMaxAliases         = 100
	DefaultMaxFragmentSpreads = 200
	DefaultMaxRepeatedFields  = 100
)

// costGuard refuses a query whose shape is too large before anything that is
// more than linear in it runs. gqlgen validates a new document with
// gqlparser's rules, of which OverlappingFieldsCanBeMerged compares the fields
// of a selection set pairwise (quadratic in repeated fields), and then
// measures complexity over the document with every fragment spread expanded
// (exponential in a ladder of fragments each spreading the previous one
// twice). costGuard runs first (an OperationParameterMutator, before parsing
// in the executor): it parses with a token limit and counts, in one pass per
// definition with each fragment's totals memoised, the fields, aliases and
// fragment spreads every operation would select once expanded, and the depth.
// Counts saturate, so a ladder of any height costs time linear in its text.
//
// A document already in the query cache passed the guard and validation
// before; it is not measured again.
type costGuard struct {
	limits Limits
	cache  graphql.Cache[*ast.QueryDocument]
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = costGuard{}

// ExtensionName names the extension in gqlgen's registry.
func (costGuard) ExtensionName() string { return "CostGuard" }

// Validate accepts any schema.
func (costGuard) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationParameters returns a BAD_USER_INPUT error when the query has
// more tokens, or any operation in it selects more fields, aliases, fragment
// spreads or depth, than the limits allow; nil otherwise (including for
// documents that do not parse: the executor reports those).
func (g costGuard) MutateOperationParameters(ctx context.Context, p *graphql.RawParams) *gqlerror.Error {
	if g.cache != nil {
		if _, ok := g.cache.Get(ctx, p.Query); ok {
			return nil
		}
	}
	return checkShape(p.Query, g.limits)
}

// checkShape parses query with the token limit and measures it against l.
func checkShape(query string, l Limits) *gqlerror.Error {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.MaxTokens)
	if err != nil {
		if ge, ok := err.(*gqlerror.Error); ok && isTokenLimit(ge, l.MaxTokens) {
			return refuse("query has more than %d tokens", l.MaxTokens)
		}
		return nil
	}
	m := shapeMeter{doc: doc, frags: map[string]*shape{}, cap: l.cap()}
	dm := depthMeter{doc: doc, frags: map[string]int{}, max: l.MaxDepth}
	for _, op := range doc.Operations {
		s := m.selectionSet(op.SelectionSet)
		switch {
		case s.fields > l.MaxFields:
			return refuse("query selects more than %d fields (fragments expanded)", l.MaxFields)
		case s.aliases > l.MaxAliases:
			return refuse("query uses more than %d aliases (fragments expanded)", l.MaxAliases)
		case s.spreads > l.MaxFragmentSpreads:
			return refuse("query expands more than %d fragment spreads", l.MaxFragmentSpreads)
		}
		if m.repeats > l.MaxRepeatedFields {
			return refuse("query repeats a field in one selection more than %d times", l.MaxRepeatedFields)
		}
		if d := dm.selectionSet(op.SelectionSet); d > l.MaxDepth {
			return refuse("query depth %d exceeds the limit of %d", d, l.MaxDepth)
		}
	}
	// Fragments no operation uses are still validated: bound them too.
	for _, f := range doc.Fragments {
		if s := m.fragment(f.Name); s.fields > l.MaxFields || s.aliases > l.MaxAliases || s.spreads > l.MaxFragmentSpreads || m.repeats > l.MaxRepeatedFields {
			return refuse("fragment %s is larger than the limits allow", f.Name)
		}
	}
	return nil
}

func isTokenLimit(e *gqlerror.Error, limit int) bool {
	return e.Message == fmt.Sprintf("exceeded token limit of %d", limit)
}

func refuse(format string, a ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, a...)
	setCode(err, CodeBadUserInput)
	return err
}

// shape is what a selection set selects once its fragments are expanded.
type shape struct {
	fields, aliases, spreads int
}

// add adds o to s, saturating each count at limit.
func (s *shape) add(o shape, limit int) {
	s.fields = min(s.fields+o.fields, limit)
	s.aliases = min(s.aliases+o.aliases, limit)
	s.spreads = min(s.spreads+o.spreads, limit)
}

// shapeMeter measures selection sets, each fragment once.
type shapeMeter struct {
	doc   *ast.QueryDocument
	frags map[string]*shape // nil value while being measured (a cycle adds nothing)
	cap   int               // counts saturate here
	// repeats counts, over the document as written, fields whose response
	// name already appeared in the same selection set (inline fragments
	// included). gqlparser compares such fields pairwise.
	repeats int
}

// countRepeats adds to m.repeats the fields of ss (and of its inline
// fragments) whose response name is already in seen.
func (m *shapeMeter) countRepeats(ss ast.SelectionSet, seen map[string]bool) {
	for _, sel := range ss {
		switch x := sel.(type) {
		case *ast.Field:
			key := x.Alias
			if key == "" {
				key = x.Name
			}
			if seen[key] {
				m.repeats++
			}
			seen[key] = true
		case *ast.InlineFragment:
			m.countRepeats(x.SelectionSet, seen)
		}
	}
}

func (m *shapeMeter) selectionSet(ss ast.SelectionSet) shape {
	if len(ss) > 1 {
		m.countRepeats(ss, make(map[string]bool, len(ss)))
	}
	var s shape
	for _, sel := range ss {
		switch x := sel.(type) {
		case *ast.Field:
			s.add(shape{fields: 1}, m.cap)
			if x.Alias != "" && x.Alias != x.Name {
				s.add(shape{aliases: 1}, m.cap)
			}
			s.add(m.selectionSet(x.SelectionSet), m.cap)
		case *ast.InlineFragment:
			s.add(m.selectionSet(x.SelectionSet), m.cap)
		case *ast.FragmentSpread:
			s.add(shape{spreads: 1}, m.cap)
			s.add(m.fragment(x.Name), m.cap)
		}
	}
	return s
}

func (m *shapeMeter) fragment(name string) shape {
	if s, ok := m.frags[name]; ok {
		if s == nil {
			return shape{} // a cycle: validation refuses it
		}
		return *s
	}
	def := m.doc.Fragments.ForName(name)
	if def == nil {
		return shape{}
	}
	m.frags[name] = nil
	s := m.selectionSet(def.SelectionSet)
	m.frags[name] = &s
	return s
}

// MaxStringLen is the longest string any argument may carry, literal or in a
// variable: the longest text field (care.MaxNotesLen). Fields with tighter
// limits (names, filters, cursors) check their own in care.
const MaxStringLen = care.MaxNotesLen

// stringLimit refuses, before any resolver runs, an operation whose
// variables or literal arguments hold a string longer than MaxStringLen, so
// no oversized text reaches validation code or SQL.
type stringLimit struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = stringLimit{}

// ExtensionName names the extension in gqlgen's registry.
func (stringLimit) ExtensionName() string { return "StringLimit" }

// Validate accepts any schema.
func (stringLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext returns BAD_USER_INPUT for an oversized string.
func (stringLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	for _, v := range oc.Variables {
		if tooLong(v) {
			return refuse("a string argument is longer than %d characters", MaxStringLen)
		}
	}
	if oc.Operation != nil && literalTooLong(oc.Doc, oc.Operation.SelectionSet) {
		return refuse("a string argument is longer than %d characters", MaxStringLen)
	}
	return nil
}

// tooLong reports whether a decoded JSON variable holds an oversized string.
func tooLong(v any) bool {
	switch x := v.(type) {
	case string:
		return len(x) > MaxStringLen
	case []any:
		for _, e := range x {
			if tooLong(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if tooLong(e) {
				return true
			}
		}
	}
	return false
}

// anyField reports whether visit holds for a field of ss, following inline
// fragments and each named fragment once (seen); deep also descends into the
// fields' own selections.
func anyField(doc *ast.QueryDocument, ss ast.SelectionSet, deep bool, seen map[string]bool, visit func(*ast.Field) bool) bool {
	return anySelection(doc, ss, deep, seen, func(sel ast.Selection) bool {
		f, ok := sel.(*ast.Field)
		return ok && visit(f)
	})
}

// anySelection is anyField for every kind of selection: fields, inline
// fragments and fragment spreads, each visited before what it holds.
func anySelection(doc *ast.QueryDocument, ss ast.SelectionSet, deep bool, seen map[string]bool, visit func(ast.Selection) bool) bool {
	for _, sel := range ss {
		if visit(sel) {
			return true
		}
		switch x := sel.(type) {
		case *ast.Field:
			if deep && anySelection(doc, x.SelectionSet, deep, seen, visit) {
				return true
			}
		case *ast.InlineFragment:
			if anySelection(doc, x.SelectionSet, deep, seen, visit) {
				return true
			}
		case *ast.FragmentSpread:
			if seen[x.Name] || doc == nil {
				continue
			}
			seen[x.Name] = true
			if f := doc.Fragments.ForName(x.Name); f != nil && anySelection(doc, f.SelectionSet, deep, seen, visit) {
				return true
			}
		}
	}
	return false
}

// literalTooLong reports whether an argument literal in ss holds an
// oversized string.
func literalTooLong(doc *ast.QueryDocument, ss ast.SelectionSet) bool {
	return anyField(doc, ss, true, map[string]bool{}, func(f *ast.Field) bool {
		for _, a := range f.Arguments {
			if valueTooLong(a.Value) {
				return true
			}
		}
		return false
	})
}

func valueTooLong(v *ast.Value) bool {
	if v == nil {
		return false
	}
	if (v.Kind == ast.StringValue || v.Kind == ast.BlockValue) && len(v.Raw) > MaxStringLen {
		return true
	}
	for _, c := range v.Children {
		if valueTooLong(c.Value) {
			return true
		}
	}
	return false
}

// deferOff refuses, before execution, an operation with a @defer fragment
// (gqlgen declares the directive). The HTTP transport sends one response,
// not the incremental ones @defer asks for, so a deferred fragment's
// resolver fields came back null, without an error: a client lost data it
// had asked for and was told nothing.
type deferOff struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = deferOff{}

// ExtensionName names the extension in gqlgen's registry.
func (deferOff) ExtensionName() string { return "DeferOff" }

// Validate accepts any schema.
func (deferOff) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext returns BAD_USER_INPUT when a fragment of the
// operation (named or inline, at any depth) carries @defer.
func (deferOff) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation != nil && anySelection(oc.Doc, oc.Operation.SelectionSet, true, map[string]bool{}, deferred) {
		return refuse("@defer is not supported: responses are sent whole; ask for the fields without it")
	}
	return nil
}

// deferred reports whether sel is a fragment (inline or spread) with @defer.
func deferred(sel ast.Selection) bool {
	switch x := sel.(type) {
	case *ast.InlineFragment:
		return x.Directives.ForName("defer") != nil
	case *ast.FragmentSpread:
		return x.Directives.ForName("defer") != nil
	}
	return false
}

// introspectionOff refuses, before execution, an operation that asks for
// __schema or __type when introspection is turned off: BAD_USER_INPUT with a
// message that says so (gqlgen itself would fail the field with an error the
// presenter cannot tell from a fault). __typename stays available.
type introspectionOff struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = introspectionOff{}

// ExtensionName names the extension in gqlgen's registry.
func (introspectionOff) ExtensionName() string { return "IntrospectionOff" }

// Validate accepts any schema.
func (introspectionOff) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext returns BAD_USER_INPUT when the operation's root
// selection (fragments included) names __schema or __type.
func (introspectionOff) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation != nil && asksSchema(oc.Doc, oc.Operation.SelectionSet) {
		return refuse("introspection is turned off on this server; the schema is published in its documentation")
	}
	return nil
}

// asksSchema reports whether the root selection ss (fragments included)
// names __schema or __type.
func asksSchema(doc *ast.QueryDocument, ss ast.SelectionSet) bool {
	return anyField(doc, ss, false, map[string]bool{}, func(f *ast.Field) bool {
		return f.Name == "__schema" || f.Name == "__type"
	})
}
