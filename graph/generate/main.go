// Command generate runs gqlgen over gqlgen.yml (go generate ./... runs it
// from graph/resolver.go), as `gqlgen generate` does, with one change to the
// execution code: the resolver fields listed in inline run on the goroutine
// of the object that holds them instead of a goroutine of their own.
//
// gqlgen starts a goroutine for every resolver field of every object so that
// fields which wait (a dataloader gathering a batch) wait together. A global
// ID is computed from the object in memory and never waits, yet a page of 100
// patients with their usual GPs started 200 goroutines for ids alone, each
// growing its stack through gqlgen's call depth. Fields that load stay
// concurrent; TestInlineFieldsNeverWait holds the listed resolvers to
// answering without the database or the loaders.
package main

import (
	"fmt"
	"os"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
)

// inline lists, by type, the resolver fields computed from the object
// alone: global IDs and a relationship's activity at the request's time.
var inline = map[string][]string{
	"CareRelationship":     {"id", "active"},
	"Interaction":          {"id"},
	"InteractionAmendment": {"id"},
	"Organization":         {"id"},
	"Patient":              {"id"},
	"Practitioner":         {"id"},
	"SyncConflict":         {"id"},
	"Team":                 {"id"},
}

// inlineFields is a gqlgen plugin. gqlgen decides a field's concurrency from
// its object (codegen.Field.IsConcurrent reads Object.DisableConcurrency, which
// gqlgen sets only for Mutation), so each listed field gets its own copy of
// its object with concurrency off; the generated names come from the
// definition, which the copy shares.
type inlineFields struct{}

func (inlineFields) Name() string { return "inline-fields" }

func (inlineFields) GenerateCode(data *codegen.Data) error {
	found := 0
	for _, o := range data.Objects {
		for _, name := range inline[o.Name] {
			f := field(o, name)
			if f == nil || !f.IsResolver {
				return fmt.Errorf("inline: %s.%s is not a resolver field of the schema", o.Name, name)
			}
			sequential := *o
			sequential.DisableConcurrency = true
			f.Object = &sequential
			found++
		}
	}
	want := 0
	for _, fs := range inline {
		want += len(fs)
	}
	if found != want {
		return fmt.Errorf("inline: found %d of the %d listed fields", found, want)
	}
	return nil
}

func field(o *codegen.Object, name string) *codegen.Field {
	for _, f := range o.Fields {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func main() {
	cfg, err := config.LoadConfigFromDefaultLocations()
	if err != nil {
		fmt.Fprintln(os.Stderr, "load gqlgen config:", err)
		os.Exit(2)
	}
	if err := api.Generate(cfg, api.AddPlugin(inlineFields{})); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
}
