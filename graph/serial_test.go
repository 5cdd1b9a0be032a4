package graph

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
)

// TestMarshalSliceSerially holds the serial list marshalling to what
// gqlgen's concurrent one does: each element sees its own index, the
// elements come back in order, and a panic in one element becomes that
// element's error (its path ends in its index) and nulls the list.
func TestMarshalSliceSerially(t *testing.T) {
	ctx := graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter,
		func(context.Context, any) error { return errors.New("internal system error") })

	got := marshalSliceSerially(ctx, 3, func(ctx context.Context, i int) graphql.Marshaler {
		if idx := graphql.GetFieldContext(ctx).Index; idx == nil || *idx != i {
			t.Errorf("element %d saw index %v", i, idx)
		}
		return graphql.MarshalInt(i * 10)
	})
	var out bytes.Buffer
	got.MarshalGQL(&out)
	if out.String() != "[0,10,20]" {
		t.Errorf("got %s, want [0,10,20]", out.String())
	}
	if errs := graphql.GetErrors(ctx); len(errs) != 0 {
		t.Fatalf("errors without a panic: %v", errs)
	}

	got = marshalSliceSerially(ctx, 3, func(ctx context.Context, i int) graphql.Marshaler {
		if i == 1 {
			panic("element 1 broke")
		}
		return graphql.MarshalInt(i)
	})
	if got != nil {
		t.Errorf("a panicking element left the list %v, want null", got)
	}
	errs := graphql.GetErrors(ctx)
	if len(errs) != 1 {
		t.Fatalf("got %d errors, want 1: %v", len(errs), errs)
	}
	if p := errs[0].Path; len(p) == 0 || p[len(p)-1] != ast.PathIndex(1) {
		t.Errorf("the error's path is %v, want it to end in index 1", p)
	}
}
