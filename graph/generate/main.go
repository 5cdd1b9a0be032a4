// Command generate runs gqlgen over gqlgen.yml (go generate ./... runs it
// from graph/resolver.go), as `gqlgen generate` does, with four changes to
// the execution code. First, the resolver fields listed in inline run on the
// goroutine of the object that holds them instead of a goroutine of their own.
//
// gqlgen starts a goroutine for every resolver field of every object so that
// fields which wait (a dataloader gathering a batch) wait together. A global
// ID is computed from the object in memory and never waits, yet a page of 100
// patients with their usual GPs started 200 goroutines for ids alone, each
// growing its stack through gqlgen's call depth. Fields that load stay
// concurrent; TestInlineFieldsNeverWait holds the listed resolvers to
// answering without the database or the loaders.
//
// Second, a list whose elements never wait is marshalled on its field's
// goroutine, one element after another, instead of on a goroutine per element
// (graphql.MarshalSliceConcurrently). An element never waits when nothing in
// it is resolved concurrently: no field of its type, nor of any object type
// reachable through its fields, is a resolver field that runs on a goroutine
// of its own. A pull's page of 1,000 sync records started 1,000 goroutines to
// copy four values each. Lists of elements that may wait on a dataloader (a
// page of visits and their practitioners) stay concurrent, so that their loads
// still gather into one batch; TestSerialListsNeverWait holds the generated
// code to that.
//
// Third, plain struct fields of leaf types are written straight from the
// struct, and global IDs straight from their inline resolver, without
// gqlgen's per-field machinery (direct.go says when that is the same answer,
// and how the test that compares the two works).
//
// Fourth, an object without @defer fragments skips the @defer bookkeeping
// (skipEmptyDefers).
//
// Fifth, a list of the element types in settle is marshalled serially when
// the loads its elements would wait for can be made for the whole list first
// (settle.go).
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/api"
	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
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
//
// It also records, in lists, the marshal functions of lists whose elements
// never wait (serially) or are settled (settle.go), for main to rewrite once
// gqlgen has written them.
type inlineFields struct {
	lists  []listRewrite
	shapes []shapeObject
	direct []directObject
}

func (*inlineFields) Name() string { return "inline-fields" }

func (p *inlineFields) GenerateCode(data *codegen.Data) error {
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
	never := neverWaits(data)
	settled := 0
	for _, ref := range data.ReferencedTypes {
		switch name := ref.Definition.Name; {
		case !ref.IsSlice() || ref.IsScalar():
		case never(name):
			p.lists = append(p.lists, listRewrite{ref.MarshalFunc(), serialCall})
		case settle[name] != "":
			p.lists = append(p.lists, listRewrite{ref.MarshalFunc(), "marshalSliceIf(ctx, ec." + settle[name] + "(ctx, sel, v), len(v), "})
			settled++
		}
	}
	sort.Slice(p.lists, func(i, j int) bool { return p.lists[i].marshal < p.lists[j].marshal })
	if settled != len(settle) {
		return fmt.Errorf("settle: found %d lists of the %d listed element types", settled, len(settle))
	}
	p.shapes = shapes(data)
	p.direct = directObjects(data)
	return nil
}

// neverWaits reports whether marshalling a value of the named type never
// waits: it has no concurrent resolver field, no field with a directive, and
// every object, interface or union it reaches through its fields never
// waits either. A type on a cycle counts as waiting (a cautious answer).
func neverWaits(data *codegen.Data) func(name string) bool {
	objects := map[string]*codegen.Object{}
	for _, o := range data.Objects {
		objects[o.Name] = o
	}
	const visiting, yes, no = 1, 2, 3
	memo := map[string]int{}
	var never func(name string) bool
	never = func(name string) bool {
		switch memo[name] {
		case visiting, no:
			return false
		case yes:
			return true
		}
		memo[name] = visiting
		ok := false
		def := data.Schema.Types[name]
		switch {
		case def == nil:
		case def.Kind == ast.Scalar || def.Kind == ast.Enum:
			ok = true
		case def.Kind == ast.Object && objects[name] != nil:
			ok = true
			for _, f := range objects[name].Fields {
				if f.IsConcurrent() || len(f.Directives) > 0 || !never(f.Type.Name()) {
					ok = false
					break
				}
			}
		case def.Kind == ast.Interface || def.Kind == ast.Union:
			ok = true
			for _, impl := range data.Schema.GetPossibleTypes(def) {
				if !never(impl.Name) {
					ok = false
					break
				}
			}
		}
		memo[name] = no
		if ok {
			memo[name] = yes
		}
		return ok
	}
	return never
}

// concurrentSlice is how gqlgen's template marshals a list of objects
// (with the config's worker_limit and omit_panic_handler, both unset).
const concurrentSlice = "graphql.MarshalSliceConcurrently(ctx, len(v), 0, false, "

// listRewrite replaces, in the list marshal function marshal, gqlgen's
// concurrent marshal with call (the element function is unchanged).
type listRewrite struct{ marshal, call string }

// serialCall marshals the elements one after another (graph/serial.go).
const serialCall = "marshalSliceSerially(ctx, len(v), "

// rewriteLists applies lists to the generated execution code src.
func rewriteLists(src string, lists []listRewrite) (string, error) {
	for _, l := range lists {
		start, end, err := funcBounds(src, l.marshal)
		if err != nil {
			return "", fmt.Errorf("lists: %w", err)
		}
		body := src[start:end]
		if strings.Count(body, concurrentSlice) != 1 {
			return "", fmt.Errorf("lists: %s does not call graphql.MarshalSliceConcurrently as expected", l.marshal)
		}
		src = src[:start] + strings.Replace(body, concurrentSlice, l.call, 1) + src[end:]
	}
	return src, nil
}

// deferBlock is how gqlgen's template ends every object's marshal function:
// it hands the object's @defer fragments to the executor, computing the
// object's path first, although ProcessDeferredGroup returns at once when
// there are none.
const deferBlock = `
	atomic.AddInt32(&ec.Deferred, int32(min(len(deferLabelToView), math.MaxInt32)))

	ec.ProcessDeferredGroup(graphql.DeferredGroup{
		Defers:   deferLabelToView,
		Path:     graphql.GetPath(ctx),
		FieldSet: deferredFieldSet,
		Context:  ctx,
	})
`

// skipEmptyDefers rewrites every deferBlock to run only when the object has
// @defer fragments: the path of every object written (a walk up its field
// contexts into a new slice) was computed for nothing, a query without
// @defer being every query this service answers today.
func skipEmptyDefers(src string) (string, error) {
	n := strings.Count(src, deferBlock)
	if n == 0 || n != strings.Count(src, "graphql.GetPath(ctx)") {
		return "", fmt.Errorf("defer: %d of %d object marshal functions end as expected", n, strings.Count(src, "graphql.GetPath(ctx)"))
	}
	guarded := "\n\tif len(deferLabelToView) > 0 {" + strings.ReplaceAll(deferBlock, "\n\t", "\n\t\t") + "\t}\n"
	return strings.ReplaceAll(src, deferBlock, guarded), nil
}

// unmarshalerMapStart opens the map of every input type's unmarshaler that
// gqlgen's Exec builds for each operation; unmarshalerMapUse puts it in the
// operation's context.
const (
	unmarshalerMapStart = "\tinputUnmarshalMap := graphql.BuildUnmarshalerMap(\n"
	unmarshalerMapUse   = "ctx = graphql.WithUnmarshalerMap(ctx, inputUnmarshalMap)\n"
)

// dropUnmarshalerMap removes that map. Only graphql.UnmarshalInputFromContext
// reads it, and nothing in this module calls that
// (TestNothingUnmarshalsInputFromContext); building it took a method value
// and a map entry, through reflect, for each of the schema's 45 input types,
// on every request, a tenth of the GraphQL handler's CPU for one interaction
// by id.
func dropUnmarshalerMap(src string) (string, error) {
	start := strings.Index(src, unmarshalerMapStart)
	if start < 0 || strings.Count(src, unmarshalerMapStart) != 1 {
		return "", fmt.Errorf("unmarshaler map: %d maps built, want 1", strings.Count(src, unmarshalerMapStart))
	}
	end := strings.Index(src[start:], "\n\t)\n")
	if end < 0 {
		return "", fmt.Errorf("unmarshaler map: no end")
	}
	src = src[:start] + src[start+end+len("\n\t)\n"):]
	uses := regexp.MustCompile(`\n\t*` + regexp.QuoteMeta(unmarshalerMapUse))
	if n := len(uses.FindAllStringIndex(src, -1)); n == 0 {
		return "", fmt.Errorf("unmarshaler map: never put in a context")
	}
	src = uses.ReplaceAllString(src, "\n")
	if strings.Contains(src, "inputUnmarshalMap") {
		return "", fmt.Errorf("unmarshaler map: still used")
	}
	return src, nil
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
	p := &inlineFields{}
	if err := api.Generate(cfg, api.AddPlugin(p)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	dir := filepath.Dir(cfg.Exec.Filename)
	if err := writeShapes(filepath.Join(dir, "settle_gen.go"), p.shapes); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(8)
	}
	// The execution code is read once, rewritten step by step, written once.
	b, err := os.ReadFile(cfg.Exec.Filename)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
	src := string(b)
	for _, step := range []struct {
		rewrite func(string) (string, error)
		exit    int
	}{
		{func(s string) (string, error) { return rewriteLists(s, p.lists) }, 4},
		{func(s string) (string, error) {
			return directize(s, filepath.Join(dir, "direct_gen_test.go"), p.direct)
		}, 5},
		{skipEmptyDefers, 6},
		{dropUnmarshalerMap, 9},
	} {
		if src, err = step.rewrite(src); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(step.exit)
		}
	}
	if err := os.WriteFile(cfg.Exec.Filename, []byte(src), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(4)
	}
}
