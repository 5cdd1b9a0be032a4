package main

import (
	"context"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
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

// TestSerialListsNeverWait reads the generated execution code and follows
// the calls from every list marshalled serially (marshalSliceSerially):
// nothing they reach may start work on another goroutine (out.Concurrently,
// graphql.MarshalSliceConcurrently). Such work is a field that may wait on a
// dataloader, and the elements of a serial list would wait one after
// another instead of together. It checks the code gqlgen wrote, not the rule
// neverWaits applies, and it fails if no list is serial at all (a pull's
// page of sync records must be).
func TestSerialListsNeverWait(t *testing.T) {
	funcs := generatedFuncs(t, "../generated.go")
	var serial []string
	for name, body := range funcs {
		if strings.Contains(body, "marshalSliceSerially(") {
			serial = append(serial, name)
		}
	}
	sort.Strings(serial)
	if !slices.ContainsFunc(serial, func(n string) bool { return strings.HasPrefix(n, "marshalNSyncRecord2ᚕ") }) {
		t.Fatalf("the list of sync records is not marshalled serially; serial lists: %v", serial)
	}
	call := regexp.MustCompile(`\bec\.([A-Za-z_][\wᚕᚖᚗᚋᚐᚄ]*)\(`)
	for _, list := range serial {
		seen := map[string]bool{list: true}
		todo := []string{list}
		for len(todo) > 0 {
			name := todo[len(todo)-1]
			todo = todo[:len(todo)-1]
			body := funcs[name]
			if strings.Contains(body, "Concurrently(") {
				t.Errorf("%s is marshalled serially but reaches %s, which starts goroutines", list, name)
			}
			for _, m := range call.FindAllStringSubmatch(body, -1) {
				if _, ok := funcs[m[1]]; ok && !seen[m[1]] {
					seen[m[1]] = true
					todo = append(todo, m[1])
				}
			}
		}
	}
}

// generatedFuncs returns the source of every method of executionContext in
// file, by name.
func generatedFuncs(t *testing.T, file string) map[string]string {
	t.Helper()
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv != nil && fn.Body != nil {
			out[fn.Name.Name] = string(src[fset.Position(fn.Body.Pos()).Offset:fset.Position(fn.Body.End()).Offset])
		}
	}
	return out
}

// TestNothingUnmarshalsInputFromContext reads every Go file of the module:
// none may call graphql.UnmarshalInputFromContext, which reads the map of
// input unmarshalers that dropUnmarshalerMap takes out of the generated code
// (without it, the call fails at run time), and the generated code must no
// longer build that map.
func TestNothingUnmarshalsInputFromContext(t *testing.T) {
	root := "../.."
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
		if err != nil {
			return err
		}
		files++
		ast.Inspect(f, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				switch sel.Sel.Name {
				case "UnmarshalInputFromContext", "BuildUnmarshalerMap", "WithUnmarshalerMap":
					t.Errorf("%s calls %s", path, sel.Sel.Name)
				}
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 100 {
		t.Fatalf("read %d Go files, expected the whole module", files)
	}
}
