package graph

import (
	"bytes"
	"context"
	"fmt"
	"github.com/google/uuid"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// directCase is one object whose leaf fields graph/generate marshals
// directly (graph/generate/direct.go): a new empty value of its Go type, the
// leaf fields a query may select on it without the database (struct fields
// and global IDs), and its marshal function beside gqlgen's original, which
// the generator keeps in direct_gen_test.go.
type directCase struct {
	object   string
	new      func() any
	leaves   []string
	direct   func(ec *executionContext, ctx context.Context, sel ast.SelectionSet, obj any) graphql.Marshaler
	resolved func(ec *executionContext, ctx context.Context, sel ast.SelectionSet, obj any) graphql.Marshaler
}

// TestDirectFieldsMarshalAsResolved marshals random values of every object
// with direct fields, under random selections of their leaf fields (aliases,
// repeats, __typename, inline fragments, named fragments, @skip and
// @include), both through the rewritten marshal function and through
// gqlgen's original, and requires the same JSON and the same errors. The
// values include what tests a marshaller: quotes, backslashes, control
// characters, invalid UTF-8, nil pointers and slices, the zero time, NaN.
func TestDirectFieldsMarshalAsResolved(t *testing.T) {
	for _, want := range []string{"RxInteraction", "SyncRecord", "Interaction", "Patient"} {
		found := false
		for _, c := range directObjects {
			found = found || c.object == want
		}
		if !found {
			t.Errorf("%s has no direct fields: graph/generate no longer rewrites it", want)
		}
	}
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(7, seed))
	for _, c := range directObjects {
		def := parsedSchema.Types[c.object]
		for round := range 50 {
			obj := c.new()
			fill(rng, reflect.ValueOf(obj).Elem())
			doc, sel, vars := randomSelection(rng, def, c.leaves)
			got, gotErrs := marshalObject(c.direct, obj, doc, sel, vars)
			want, wantErrs := marshalObject(c.resolved, obj, doc, sel, vars)
			if got != want || gotErrs.Error() != wantErrs.Error() {
				t.Fatalf("%s, round %d (seed %d), selection %s:\n direct:   %s %v\n resolved: %s %v",
					c.object, round, seed, selectionString(sel), got, gotErrs, want, wantErrs)
			}
		}
	}
}

// TestNoFieldMiddleware holds the server to what direct fields assume: no
// extension intercepts fields (graphql.FieldInterceptor, which AroundFields
// also adds), so skipping the resolver middleware for a struct field skips
// nothing. Tracing or per-field checks would have to be added to the direct
// fields too, or graph/generate told to stop making them.
func TestNoFieldMiddleware(t *testing.T) {
	srv := newServer(nil, Limits{}, 0)
	exts := reflect.ValueOf(srv).Elem().FieldByName("exec").Elem().FieldByName("extensions")
	if !exts.IsValid() || exts.Len() == 0 {
		t.Fatal("cannot read the server's extensions: gqlgen's handler.Server has changed shape")
	}
	interceptor := reflect.TypeFor[graphql.FieldInterceptor]()
	for i := range exts.Len() {
		if typ := exts.Index(i).Elem().Type(); typ.Implements(interceptor) {
			t.Errorf("extension %v intercepts fields: direct fields would bypass it", typ)
		}
	}
}

// marshalObject runs one object marshal function as the executor would,
// in an operation of doc with vars, and returns the JSON and the errors.
func marshalObject(fn func(*executionContext, context.Context, ast.SelectionSet, any) graphql.Marshaler, obj any, doc *ast.QueryDocument, sel ast.SelectionSet, vars map[string]any) (string, gqlerror.List) {
	oc := &graphql.OperationContext{
		Doc: doc, Variables: vars, RecoverFunc: graphql.DefaultRecover,
		ResolverMiddleware: func(ctx context.Context, next graphql.Resolver) (any, error) { return next(ctx) },
	}
	ctx := graphql.WithOperationContext(context.Background(), oc)
	ctx = graphql.WithResponseContext(ctx, graphql.DefaultErrorPresenter, graphql.DefaultRecover)
	ctx = graphql.WithFieldContext(ctx, &graphql.FieldContext{Object: "Query", Field: graphql.CollectedField{Field: &ast.Field{Alias: "x", Name: "x"}}})
	// Resolvers without a store: a global ID is computed from the object.
	ec := newExecutionContext(oc, &executableSchema{Resolvers: &Resolver{}}, nil)
	var b bytes.Buffer
	fn(ec, ctx, sel, obj).MarshalGQL(&b)
	return b.String(), graphql.GetErrors(ctx)
}

// randomSelection builds a selection set on def from its leaf fields.
func randomSelection(rng *rand.Rand, def *ast.Definition, leaves []string) (*ast.QueryDocument, ast.SelectionSet, map[string]any) {
	doc := &ast.QueryDocument{}
	vars := map[string]any{"yes": true, "no": false}
	cond := func() ast.DirectiveList {
		if rng.IntN(4) > 0 {
			return nil
		}
		name, arg := []string{"skip", "include"}[rng.IntN(2)], []string{"yes", "no"}[rng.IntN(2)]
		return ast.DirectiveList{{Name: name, Definition: parsedSchema.Directives[name],
			Arguments: ast.ArgumentList{{Name: "if", Value: &ast.Value{Kind: ast.Variable, Raw: arg}}}}}
	}
	field := func() *ast.Field {
		name := "__typename"
		if rng.IntN(8) > 0 {
			name = leaves[rng.IntN(len(leaves))]
		}
		alias := name
		if rng.IntN(3) == 0 {
			alias = "a_" + name // one alias per field: a valid query never gives two fields one alias
		}
		var fd *ast.FieldDefinition
		if name != "__typename" {
			fd = def.Fields.ForName(name)
		}
		return &ast.Field{Alias: alias, Name: name, Definition: fd, ObjectDefinition: def, Directives: cond()}
	}
	var set func(depth int) ast.SelectionSet
	set = func(depth int) ast.SelectionSet {
		var out ast.SelectionSet
		for range 1 + rng.IntN(len(leaves)+2) {
			switch k := rng.IntN(10); {
			case k == 0 && depth < 2:
				out = append(out, &ast.InlineFragment{TypeCondition: def.Name, SelectionSet: set(depth + 1), ObjectDefinition: def, Directives: cond()})
			case k == 1 && depth < 2:
				name := fmt.Sprintf("F%d", len(doc.Fragments))
				doc.Fragments = append(doc.Fragments, &ast.FragmentDefinition{Name: name, TypeCondition: def.Name, SelectionSet: set(depth + 1), Definition: def})
				out = append(out, &ast.FragmentSpread{Name: name, ObjectDefinition: def, Directives: cond()})
			default:
				out = append(out, field())
			}
		}
		return out
	}
	return doc, set(0), vars
}

func selectionString(sel ast.SelectionSet) string {
	var parts []string
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			parts = append(parts, s.Alias+":"+s.Name+directivesString(s.Directives))
		case *ast.InlineFragment:
			parts = append(parts, "...on "+s.TypeCondition+directivesString(s.Directives)+"{"+selectionString(s.SelectionSet)+"}")
		case *ast.FragmentSpread:
			parts = append(parts, "..."+s.Name+directivesString(s.Directives))
		}
	}
	return strings.Join(parts, " ")
}

func directivesString(ds ast.DirectiveList) string {
	out := ""
	for _, d := range ds {
		out += "@" + d.Name + "($" + d.Arguments[0].Value.Raw + ")"
	}
	return out
}

// fill sets v's exported fields to random values of the kinds that leaf
// fields hold, nil pointers and slices included; other fields keep their
// zero values (no leaf reads them).
func fill(rng *rand.Rand, v reflect.Value) {
	switch {
	case v.Type() == reflect.TypeFor[time.Time]():
		if rng.IntN(4) > 0 {
			v.Set(reflect.ValueOf(time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).UTC()))
		}
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(rng, v.Field(i))
			}
		}
	case reflect.Pointer:
		if rng.IntN(4) > 0 && fillable(v.Type().Elem()) {
			p := reflect.New(v.Type().Elem())
			fill(rng, p.Elem())
			v.Set(p)
		}
	case reflect.Slice:
		if rng.IntN(4) > 0 && fillable(v.Type().Elem()) {
			s := reflect.MakeSlice(v.Type(), rng.IntN(4), rng.IntN(4)+4)
			for i := range s.Len() {
				fill(rng, s.Index(i))
			}
			v.Set(s)
		}
	case reflect.Array: // a UUID
		for i := range v.Len() {
			fill(rng, v.Index(i))
		}
	case reflect.Uint8:
		v.SetUint(rng.Uint64N(256))
	case reflect.String:
		v.SetString(randomString(rng))
	case reflect.Bool:
		v.SetBool(rng.IntN(2) == 0)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(rng.Int64N(1<<40) - 1<<39)
	case reflect.Float64:
		v.SetFloat([]float64{rng.NormFloat64() * 1e6, 0, 1, math.NaN(), math.Inf(1), 1e300}[rng.IntN(6)])
	}
}

// fillable reports whether fill gives a value of t something to hold (it
// leaves structs of other kinds, such as a record's nested objects, nil).
func fillable(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.String, reflect.Bool, reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		return true
	}
	return t == reflect.TypeFor[time.Time]() || t == reflect.TypeFor[uuid.UUID]()
}

func randomString(rng *rand.Rand) string {
	pieces := []string{"a", "visit", " ", `"`, `\`, "\n", "\t", "\r", "\x01", "\x1f", "é", "ü", "😀", "\xff", "\u2028", "<", "&", "/"}
	var b strings.Builder
	for range rng.IntN(12) {
		b.WriteString(pieces[rng.IntN(len(pieces))])
	}
	return b.String()
}

// TestObjectJSONWritesAsFieldSet: objectJSON writes the bytes gqlgen's
// FieldSet writes, aliases needing escapes included (a parsed query's never
// do, but nothing else stops them), and a value that is null.
func TestObjectJSONWritesAsFieldSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, uint64(time.Now().UnixNano())))
	for range 200 {
		var fields []graphql.CollectedField
		var values []graphql.Marshaler
		seen := map[string]bool{}
		for range rng.IntN(5) {
			alias := randomString(rng)
			if seen[alias] { // CollectFields gives one field per alias
				continue
			}
			seen[alias] = true
			fields = append(fields, graphql.CollectedField{Field: &ast.Field{Alias: alias}})
			values = append(values, []graphql.Marshaler{graphql.Null, graphql.MarshalString(randomString(rng)), graphql.MarshalInt(rng.IntN(100))}[rng.IntN(3)])
		}
		fs := graphql.NewFieldSet(fields)
		copy(fs.Values, values)
		var want, got bytes.Buffer
		fs.MarshalGQL(&want)
		objectJSON{fields, values}.MarshalGQL(&got)
		if got.String() != want.String() {
			t.Fatalf("objectJSON wrote %s, FieldSet %s", got.String(), want.String())
		}
	}
}
