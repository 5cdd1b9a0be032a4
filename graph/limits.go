package graph

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rapportcare/rapport/care"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Limits bounds what one GraphQL request may ask.
type Limits struct {
	MaxDepth      int // deepest selection allowed (default 12)
	MaxComplexity int // largest complexity allowed (default 5000)
	// The shape limits below are checked in linear time before the query is
	// validated (see costGuard).
	MaxTokens          int // most lexical tokens in a query document (default 10000)
	MaxFields          int // most fields an operation selects, fragments expanded (default 2000)
	MaxAliases         int // most aliased fields, fragments expanded (default 100)
	MaxFragmentSpreads int // most fragment spreads, expanded (default 200)
	MaxRepeatedFields  int // most fields repeating a response name already in their selection set (default 100)
}

// Default limits.
const (
	DefaultMaxDepth      = 12
	DefaultMaxComplexity = 5000
)

func (l Limits) withDefaults() Limits {
	for _, f := range []struct {
		v *int
		d int
	}{
		{&l.MaxDepth, DefaultMaxDepth}, {&l.MaxComplexity, DefaultMaxComplexity},
		{&l.MaxTokens, DefaultMaxTokens}, {&l.MaxFields, DefaultMaxFields}, {&l.MaxAliases, DefaultMaxAliases},
		{&l.MaxRepeatedFields, DefaultMaxRepeatedFields}, {&l.MaxFragmentSpreads, DefaultMaxFragmentSpreads},
	} {
		if *f.v <= 0 {
			*f.v = f.d
		}
	}
	return l
}

// cap is where the shape counts saturate: one past the largest limit, so a
// count over its limit stays over it.
func (l Limits) cap() int {
	return max(l.MaxFields, l.MaxAliases, l.MaxFragmentSpreads) + 1
}

// depthLimit refuses operations whose selections nest deeper than Max fields.
// A root field is depth 1; fragments and inline fragments add no depth of
// their own; introspection fields (__schema, __type) are not counted, so
// tools can still load the schema.
type depthLimit struct {
	Max int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = depthLimit{}

// ExtensionName names the extension in gqlgen's registry.
func (depthLimit) ExtensionName() string { return "DepthLimit" }

// Validate accepts any schema.
func (depthLimit) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext measures the operation's depth and returns a
// BAD_USER_INPUT error when it exceeds the limit.
func (d depthLimit) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	if oc.Operation == nil {
		return nil
	}
	m := depthMeter{doc: oc.Doc, frags: map[string]int{}, max: d.Max}
	if depth := m.selectionSet(oc.Operation.SelectionSet); depth > d.Max {
		err := gqlerror.Errorf("query depth %d exceeds the limit of %d", depth, d.Max)
		setCode(err, CodeBadUserInput)
		return err
	}
	return nil
}

// depthMeter measures selection depth. Each fragment's depth is computed once
// (so fragments spreading fragments cannot make it exponential); a fragment
// met again while being measured is a cycle and adds nothing (validation
// rejects cycles before this runs, but the meter must not loop on its own).
type depthMeter struct {
	doc   *ast.QueryDocument
	frags map[string]int // fragment name -> depth; -1 while being measured
	max   int
}

func (m *depthMeter) selectionSet(ss ast.SelectionSet) int {
	deepest := 0
	for _, sel := range ss {
		d := 0
		switch s := sel.(type) {
		case *ast.Field:
			if strings.HasPrefix(s.Name, "__") {
				d = 1
			} else {
				d = 1 + m.selectionSet(s.SelectionSet)
			}
		case *ast.InlineFragment:
			d = m.selectionSet(s.SelectionSet)
		case *ast.FragmentSpread:
			d = m.fragment(s.Name)
		}
		deepest = max(deepest, d)
	}
	return deepest
}

func (m *depthMeter) fragment(name string) int {
	if d, ok := m.frags[name]; ok {
		return max(d, 0) // -1: a cycle
	}
	var def *ast.FragmentDefinition
	if m.doc != nil {
		def = m.doc.Fragments.ForName(name)
	}
	if def == nil {
		return 0
	}
	m.frags[name] = -1
	d := m.selectionSet(def.SelectionSet)
	m.frags[name] = d
	return d
}

// pageCost is the complexity of a connection field: each of up to first
// items (the default page when unset; at most the largest page, since a
// larger first is refused with its own error) costs what its selection costs.
func pageCost(child int, first *int) int {
	n := care.DefaultPageSize
	if first != nil {
		n = min(max(*first, 0), care.MaxPageSize)
	}
	return 1 + n*child
}
