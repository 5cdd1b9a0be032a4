package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rapportcare/rapport/care"
	"github.com/vektah/gqlparser/v2/ast"
)

// Field lookahead: a resolver looks at what the query selects below it, so
// that the store computes only what will be read (a connection's count or its
// page) and fetches nested records with their parents. Fragments are
// collected whatever their type condition, so lookahead may over-include
// (and compute something unread) but never leaves out what is selected.

// selects reports whether the selection of the field being resolved reaches
// path, e.g. selects(ctx, "edges", "node", "practitioner"). Outside an
// operation (a resolver called directly) it reports true.
func selects(ctx context.Context, path ...string) bool {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return true
	}
	return reaches(graphql.GetOperationContext(ctx), fc.Field.Selections, path)
}

func reaches(oc *graphql.OperationContext, sel ast.SelectionSet, path []string) bool {
	if len(path) == 0 {
		return true
	}
	for _, f := range graphql.CollectFields(oc, sel, nil) {
		if f.Name == path[0] && reaches(oc, f.Selections, path[1:]) {
			return true
		}
	}
	return false
}

// pageOf returns the page a connection field asks for, marking the parts
// its selection does not read: TotalCount unless totalCount is selected, the
// edges and HasNextPage unless anything else is (edges, pageInfo).
func pageOf(ctx context.Context, first *int, after *string) care.PageArgs {
	p := care.PageArgs{First: first, After: after}
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Field.Field == nil || !graphql.HasOperationContext(ctx) {
		return p
	}
	total, rest := false, false
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, nil) {
		switch f.Name {
		case "totalCount":
			total = true
		case "__typename":
		default:
			rest = true
		}
	}
	p.SkipTotal, p.SkipEdges = !total, !rest
	return p
}
