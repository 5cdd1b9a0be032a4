package main

import (
	"context"
	"reflect"
	"testing"

	"github.com/99designs/gqlgen/codegen/templates"

	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres"
)

// TestInlineFieldsNeverWait calls every resolver that inline runs without a
// goroutine of its own with an empty store (no pool: any query panics) and a
// context without the request's loaders (a load would build loaders over that
// store and query it). Each must answer from the object alone: a resolver
// that starts loading is a field that must wait with its siblings, and so
// must not be listed.
func TestInlineFieldsNeverWait(t *testing.T) {
	root := reflect.ValueOf(&graph.Resolver{DB: &postgres.DB{}})
	for typ, fields := range inline {
		of := root.MethodByName(typ)
		if !of.IsValid() {
			t.Fatalf("the root resolver has no %s()", typ)
		}
		r := of.Call(nil)[0]
		for _, f := range fields {
			name := templates.ToGo(f) // the resolver method's name, as gqlgen writes it
			m := r.MethodByName(name)
			if !m.IsValid() {
				t.Fatalf("%s has no resolver %s", typ, name)
			}
			obj := reflect.New(m.Type().In(1).Elem())
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Errorf("%s.%s reached beyond its object: %v", typ, f, p)
					}
				}()
				out := m.Call([]reflect.Value{reflect.ValueOf(context.Background()), obj})
				if err, _ := out[1].Interface().(error); err != nil {
					t.Errorf("%s.%s: %v", typ, f, err)
				}
			}()
		}
	}
}
