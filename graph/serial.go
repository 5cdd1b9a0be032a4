package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
)

// marshalSliceSerially marshals a list's elements one after another on the
// caller's goroutine. The generated code calls it, in place of
// graphql.MarshalSliceConcurrently, for lists whose elements never wait
// (graph/generate decides which) and, through marshalSliceIf, for settled
// lists (settle.go); each element gets its own field context
// with its index, and a panic in one is reported as that element's error
// and nulls the list, as gqlgen's own function does.
func marshalSliceSerially(ctx context.Context, length int, marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	ret := make(graphql.Array, length)
	failed := false
	for i := range length {
		elemCtx := graphql.WithFieldContext(ctx, &graphql.FieldContext{Index: &i})
		func() {
			defer func() {
				if r := recover(); r != nil {
					graphql.AddError(elemCtx, graphql.Recover(elemCtx, r))
					failed = true
				}
			}()
			ret[i] = marshalElement(elemCtx, i)
		}()
	}
	if failed {
		return nil
	}
	return ret
}
