package main

// Direct fields: gqlgen resolves every field of every object through
// graphql.ResolveField, even a struct field holding a string: a field
// context, a context.Context value, three closures, the resolver middleware
// and a type assertion, per field, per object. An RxDB document of 19 fields
// cost about 14 µs to marshal this way, most of it allocation, and a pull
// page holds 1,000 of them.
//
// A field is direct when that machinery cannot change its answer: a plain
// struct field (no resolver, method, arguments or directive) of a leaf type
// whose gqlgen marshal function cannot fail and cannot answer null where the
// schema forbids it, and whose Go value cannot be nil where the schema
// forbids null. Its case in the object's marshal function then calls the
// marshal function on the struct field itself, as ResolveField would have
// after all its steps. What is skipped is what such a field never uses: the
// field context serves errors and child fields (it has neither), the
// resolver middleware is empty (TestNoFieldMiddleware in package graph holds
// the server to that), and the panic guard guards a read of a struct field.
//
// Fields whose marshalling may fail (Float refuses NaN; JSON may be nil
// where null is forbidden) keep gqlgen's path; a bare UUID, whose marshal
// function takes a context only for a write error that cannot happen, is
// direct. A non-null DateTime is direct when it is not the zero time, the
// one value its marshal function answers null for: its case tests the
// struct field and takes gqlgen's path for the zero time, which reports the
// null as before.
//
// A global ID is a resolver field, but one of the inline fields (main.go),
// computed from the object alone. Its case calls the resolver itself and
// writes the answer; only when the resolver fails or answers "" (none does)
// does the case take gqlgen's path, which calls it again and reports the
// error at the field's path as before.
//
// The original function of each rewritten object is kept, renamed
// _<Object>_resolved, in a generated test file;
// TestDirectFieldsMarshalAsResolved compares the two on random objects and
// selections.

import (
	"fmt"
	"go/types"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/99designs/gqlgen/codegen"
	"github.com/99designs/gqlgen/codegen/config"
	"github.com/vektah/gqlparser/v2/ast"
	"golang.org/x/tools/imports"
)

// directField is one rewritten case: out.Values[i] = ec.<marshal>(ctx,
// field.Selections, obj.<goField>) (unless obj.<goField>.<zero>() when zero
// is set), or, for an inline ID (resolver set), the resolver's answer
// through <marshal>.
type directField struct {
	name, marshal, goField, zero string
	resolver                     bool
}

// directObject is an object with at least one direct field, and the leaf
// fields (direct or not) a test may select on it without a resolver.
type directObject struct {
	name   string
	fields []directField
	leaves []string
}

// plainMarshalers are the gqlgen and Rapport scalar marshal functions that
// return a graphql.Marshaler without a context, by full name, and whether
// they may answer graphql.Null (graphql.MarshalTime does, for the zero time).
var plainMarshalers = map[string]bool{
	"github.com/99designs/gqlgen/graphql.MarshalString":       false,
	"github.com/99designs/gqlgen/graphql.MarshalInt":          false,
	"github.com/99designs/gqlgen/graphql.MarshalInt64":        false,
	"github.com/99designs/gqlgen/graphql.MarshalBoolean":      false,
	"github.com/99designs/gqlgen/graphql.MarshalTime":         true,
	"github.com/rapportcare/rapport/graph/scalar.MarshalDate": false,
}

// writerOnlyErrors are context marshal functions (gqlgen hands them the
// field's context for their errors) whose only error is the writer's, and
// gqlgen writes a response into a buffer, which never fails: a bare UUID.
var writerOnlyErrors = map[string]bool{
	"github.com/rapportcare/rapport/graph/scalar.MarshalUUID": true,
}

// directObjects lists the objects with direct fields, sorted by name.
func directObjects(data *codegen.Data) []directObject {
	var out []directObject
	for _, o := range data.Objects {
		if o.Root || o.Stream || len(o.Directives) > 0 {
			continue
		}
		d := directObject{name: o.Name}
		for _, f := range o.Fields {
			if inlineID(o.Name, f) {
				d.leaves = append(d.leaves, f.Name)
				d.fields = append(d.fields, directField{name: f.Name, marshal: f.TypeReference.MarshalFunc(), resolver: true})
				continue
			}
			if !plainField(f) {
				continue
			}
			d.leaves = append(d.leaves, f.Name)
			if ok, zero := directType(f.TypeReference); ok {
				d.fields = append(d.fields, directField{name: f.Name, marshal: f.TypeReference.MarshalFunc(), goField: f.GoFieldName, zero: zero})
			}
		}
		if len(d.fields) > 0 {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// inlineID reports whether f is an inline resolver field (main.go's list)
// of type ID!, without arguments or directives: a global ID.
func inlineID(object string, f *codegen.Field) bool {
	return f.IsResolver && len(f.Args) == 0 && len(f.Directives) == 0 && f.TypeReference != nil &&
		f.TypeReference.GQL.String() == "ID!" && slices.Contains(inline[object], f.Name)
}

// plainField reports whether f is a struct field of a leaf type (or a list
// of one) that gqlgen reads without a resolver, a method or a directive.
func plainField(f *codegen.Field) bool {
	if f.IsResolver || f.GoFieldType != codegen.GoFieldVariable || len(f.Args) > 0 || len(f.Directives) > 0 ||
		f.HasHaser || f.Batch || f.Stream || strings.HasPrefix(f.Name, "__") || f.TypeReference == nil {
		return false
	}
	kind := f.TypeReference.Definition.Kind
	return kind == ast.Scalar || kind == ast.Enum
}

// zeroNull names, for plain marshal functions that answer null only for
// their type's zero value, the method that tells the zero value.
var zeroNull = map[string]string{
	"github.com/99designs/gqlgen/graphql.MarshalTime": "IsZero",
}

// directType reports whether a value of ref marshals the same without the
// field's context: every level the schema makes non-null holds a Go value
// that cannot be nil, and the leaf's marshaler is a plain function that
// cannot fail (and cannot answer null where null is forbidden), a context
// one that fails only when writing fails (writerOnlyErrors), or the Go
// type's own MarshalGQL (an enum: it writes itself). A non-null field (not
// a list) whose marshaler answers null only for the zero value is direct
// but for that value: zero names the method that tells it.
func directType(ref *config.TypeReference) (ok bool, zero string) {
	gql, goType := ref.GQL, ref.GO
	for {
		if gql.NonNull && nilable(goType) {
			return false, ""
		}
		if gql.Elem == nil {
			break
		}
		s, ok := goType.(*types.Slice)
		if !ok {
			return false, ""
		}
		gql, goType = gql.Elem, s.Elem()
	}
	leaf := ref
	for leaf.IsSlice() {
		leaf = leaf.Elem()
	}
	if leaf.IsOmittable || leaf.CastType != nil {
		return false, ""
	}
	if leaf.Marshaler == nil {
		return !leaf.IsContext && leaf.IsMarshaler && leaf.Definition.Kind == ast.Enum, ""
	}
	name := leaf.Marshaler.FullName()
	if leaf.IsContext {
		return writerOnlyErrors[name], ""
	}
	mayBeNull, ok := plainMarshalers[name]
	switch {
	case !ok:
		return false, ""
	case !mayBeNull || !gql.NonNull:
		return true, ""
	case leaf == ref && zeroNull[name] != "":
		return true, zeroNull[name]
	}
	return false, ""
}

func nilable(t types.Type) bool {
	switch t.Underlying().(type) {
	case *types.Pointer, *types.Slice, *types.Map, *types.Interface, *types.Signature, *types.Chan:
		return true
	}
	return false
}

// directize rewrites, in the generated execution code src, the cases of
// each object's direct fields to call their marshal functions on the struct
// field, and writes the original functions, renamed _<Object>_resolved, with
// the list of objects to testFile.
func directize(src, testFile string, objects []directObject) (string, error) {
	var kept strings.Builder
	var table strings.Builder
	for _, o := range objects {
		start, end, err := funcBounds(src, "_"+o.name)
		if err != nil {
			return "", err
		}
		body := src[start:end]
		sig := body[:strings.Index(body, "\n")]
		objType := sig[strings.LastIndex(sig, "obj ")+len("obj ") : strings.LastIndex(sig, ")")]
		kept.WriteString(strings.Replace(body, "_"+o.name+"(", "_"+o.name+"_resolved(", 1) + "\n}\n\n")
		for _, f := range o.fields {
			call := "ec._" + o.name + "_" + f.name + "(ctx, field, obj)"
			if strings.Count(body, call) != 1 {
				return "", fmt.Errorf("direct: %s does not call %s once", "_"+o.name, call)
			}
			direct := "ec." + f.marshal + "(ctx, field.Selections, obj." + f.goField + ")"
			if !f.resolver && f.zero == "" {
				body = strings.Replace(body, call, direct, 1)
				continue
			}
			assign := "out.Values[i] = " + call
			if strings.Count(body, assign) != 1 {
				return "", fmt.Errorf("direct: %s does not assign %s once", "_"+o.name, call)
			}
			// The direct answer when cond holds, else gqlgen's path.
			var cond string
			if f.resolver {
				resolve, err := resolverCall(src, "_"+o.name+"_"+f.name)
				if err != nil {
					return "", err
				}
				cond, direct = "v, err := "+resolve+"; err == nil && v != \"\"", "ec."+f.marshal+"(ctx, field.Selections, v)"
			} else {
				cond = "!obj." + f.goField + "." + f.zero + "()"
			}
			body = strings.Replace(body, assign, "if "+cond+" {\n\t\t\t\tout.Values[i] = "+direct+
				"\n\t\t\t} else {\n\t\t\t\t"+assign+"\n\t\t\t}", 1)
		}
		if !strings.HasSuffix(body, "\n\treturn out") {
			return "", fmt.Errorf("direct: %s does not end in return out", "_"+o.name)
		}
		body = strings.TrimSuffix(body, "out") + "objectJSON{fields, out.Values}"
		src = src[:start] + body + src[end:]
		fmt.Fprintf(&table, "\t{%q, func() any { return new(%s) }, []string{%s},\n", o.name, strings.TrimPrefix(objType, "*"), quoted(o.leaves))
		fmt.Fprintf(&table, "\t\tfunc(ec *executionContext, ctx context.Context, sel ast.SelectionSet, obj any) graphql.Marshaler { return ec._%s(ctx, sel, obj.(%s)) },\n", o.name, objType)
		fmt.Fprintf(&table, "\t\tfunc(ec *executionContext, ctx context.Context, sel ast.SelectionSet, obj any) graphql.Marshaler { return ec._%s_resolved(ctx, sel, obj.(%s)) }},\n", o.name, objType)
	}
	importsAt := strings.Index(src, "import (")
	importsEnd := strings.Index(src[importsAt:], "\n)\n") + importsAt + 3
	test := "// Code generated by graph/generate (direct fields). DO NOT EDIT.\n\npackage graph\n\n" +
		src[importsAt:importsEnd] + "\n" +
		"// directObjects pairs the marshal function of each object with direct\n" +
		"// fields with gqlgen's original, and names the leaf fields a test may select.\n" +
		"var directObjects = []directCase{\n" + table.String() + "}\n\n" +
		kept.String()
	out, err := imports.Process(testFile, []byte(test), nil)
	if err != nil {
		return "", fmt.Errorf("direct: %s: %w", testFile, err)
	}
	return src, os.WriteFile(testFile, out, 0o644)
}

// resolverCall returns the resolver call of the generated field function
// name ("ec.Resolvers.Patient().ID(ctx, obj)"), which it must make once.
func resolverCall(src, name string) (string, error) {
	start, end, err := funcBounds(src, name)
	if err != nil {
		return "", err
	}
	const head = "return ec.Resolvers."
	body := src[start:end]
	if strings.Count(body, head) != 1 {
		return "", fmt.Errorf("direct: %s does not call its resolver once", name)
	}
	call := body[strings.Index(body, head)+len("return "):]
	call = call[:strings.Index(call, "\n")]
	if !strings.HasSuffix(call, "(ctx, obj)") {
		return "", fmt.Errorf("direct: %s calls its resolver as %s", name, call)
	}
	return call, nil
}

// funcBounds finds the generated method name of executionContext in src: the
// offset of its "func" and of the "\n}" that closes it.
func funcBounds(src, name string) (int, int, error) {
	head := "func (ec *executionContext) " + name + "("
	start := strings.Index(src, head)
	if start < 0 {
		return 0, 0, fmt.Errorf("%s is not in the generated code", name)
	}
	n := strings.Index(src[start:], "\n}\n")
	if n < 0 {
		return 0, 0, fmt.Errorf("%s has no end in the generated code", name)
	}
	return start, start + n, nil
}

func quoted(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
