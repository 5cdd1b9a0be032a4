package graph_test

import (
	"strings"
	"testing"

	"github.com/rapportcare/rapport/graph"
)

// The schema's descriptions are the API documentation integrators read, so
// every type, field, argument and enum value must have one.
func TestSchemaDescribesEverything(t *testing.T) {
	t.Parallel()
	s := graph.NewExecutableSchema(graph.Config{Resolvers: &graph.Resolver{}}).Schema()
	roots := map[string]bool{"Query": true, "Mutation": true, "Subscription": true}
	for name, d := range s.Types {
		if d.BuiltIn || strings.HasPrefix(name, "__") {
			continue
		}
		if d.Description == "" && !roots[name] {
			t.Errorf("type %s has no description", name)
		}
		for _, f := range d.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if f.Description == "" {
				t.Errorf("field %s.%s has no description", name, f.Name)
			}
			for _, a := range f.Arguments {
				if a.Description == "" {
					t.Errorf("argument %s.%s(%s) has no description", name, f.Name, a.Name)
				}
			}
		}
		for _, v := range d.EnumValues {
			if v.Description == "" {
				t.Errorf("enum value %s.%s has no description", name, v.Name)
			}
		}
	}
}
