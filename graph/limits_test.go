package graph

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/rapportcare/rapport/care"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

func depthOf(t *testing.T, query string, limit int) (int, error) {
	t.Helper()
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m := depthMeter{doc: doc, frags: map[string]int{}, max: limit}
	d := m.selectionSet(doc.Operations[0].SelectionSet)
	oc := &graphql.OperationContext{Doc: doc, Operation: doc.Operations[0]}
	if gerr := (depthLimit{Max: limit}).MutateOperationContext(context.Background(), oc); gerr != nil {
		return d, gerr
	}
	return d, nil
}

func TestDepthLimit(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		query string
		depth int
	}{
		{"flat", `{ a b c }`, 1},
		{"nested", `{ a { b { c } } d }`, 3},
		{"inline fragments add no depth", `{ a { ... on T { b { ... { c } } } } }`, 3},
		{"fragment spreads count their fields", `{ a { ...F } } fragment F on T { b { ...G } } fragment G on T { c { d } }`, 4},
		{"introspection is not counted", `{ __schema { types { fields { type { ofType { ofType { name } } } } } } a { b } }`, 2},
		{"fragment cycle terminates", `{ a { ...F } } fragment F on T { b { ...G } } fragment G on T { c { ...F } }`, 3},
		{"self cycle terminates", `{ a { ...F } } fragment F on T { b { ...F } }`, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if d, _ := depthOf(t, tc.query, 100); d != tc.depth {
				t.Fatalf("depth = %d, want %d", d, tc.depth)
			}
		})
	}
	t.Run("over the limit is BAD_USER_INPUT", func(t *testing.T) {
		t.Parallel()
		_, err := depthOf(t, `{ a { b { c { d } } } }`, 3)
		if err == nil {
			t.Fatal("depth 4 passed a limit of 3")
		}
		if !strings.Contains(err.Error(), "query depth 4 exceeds the limit of 3") {
			t.Fatalf("error = %v", err)
		}
		if _, err := depthOf(t, `{ a { b { c } } }`, 3); err != nil {
			t.Fatalf("depth 3 refused at limit 3: %v", err)
		}
	})
	t.Run("fragment fan-out is measured once per fragment", func(t *testing.T) {
		t.Parallel()
		// F0 spreads F1 twice, F1 spreads F2 twice, ...: 2^40 paths, depth 41.
		var b strings.Builder
		b.WriteString(`{ x { ...F0 } }`)
		const n = 40
		for i := range n {
			fmt.Fprintf(&b, " fragment F%d on T { a: y { ...F%d } b: y { ...F%d } }", i, i+1, i+1)
		}
		fmt.Fprintf(&b, " fragment F%d on T { z }", n)
		if d, _ := depthOf(t, b.String(), 1000); d != n+2 {
			t.Fatalf("depth = %d, want %d", d, n+2)
		}
	})
}

func TestPresentError(t *testing.T) {
	t.Parallel()
	cases := []struct {
		code string
		want string
	}{
		{"invalid", CodeBadUserInput},
		{"limit_exceeded", CodeBadUserInput},
		{"not_found", CodeNotFound},
		{"conflict", CodeConflict},
		{"unauthenticated", CodeUnauthenticated},
		{"forbidden", CodeForbidden},
		{"internal", CodeInternal},
	}
	for _, tc := range cases {
		t.Run(tc.code+" becomes "+tc.want, func(t *testing.T) {
			t.Parallel()
			err := fmt.Errorf("wrapped: %w", care.Errorf(tc.code, "the message"))
			got := presentError(context.Background(), err)
			if got.Extensions["code"] != tc.want {
				t.Fatalf("code = %v, want %s", got.Extensions["code"], tc.want)
			}
			if want := "the message"; tc.want == CodeInternal {
				if got.Message != internalMessage {
					t.Fatalf("internal message shown: %q", got.Message)
				}
			} else if got.Message != want {
				t.Fatalf("message = %q, want %q", got.Message, want)
			}
		})
	}
	t.Run("other errors are INTERNAL with a generic message", func(t *testing.T) {
		t.Parallel()
		got := presentError(context.Background(), fmt.Errorf("select patients: connection reset by 10.0.0.7"))
		if got.Extensions["code"] != CodeInternal || got.Message != internalMessage {
			t.Fatalf("got %+v", got)
		}
	})
	t.Run("panics are INTERNAL with a generic message", func(t *testing.T) {
		t.Parallel()
		got := presentError(context.Background(), recoverPanic(context.Background(), "boom with secret"))
		if got.Extensions["code"] != CodeInternal || got.Message != internalMessage {
			t.Fatalf("got %+v", got)
		}
	})
}
