package graph

import (
	"io"

	"github.com/99designs/gqlgen/graphql"
)

// objectJSON writes an object's fields as gqlgen's FieldSet does, without
// the map FieldSet builds for every object it writes to skip a repeated
// alias: the fields come from graphql.CollectFields, which merges the
// selections of one alias into one field. The marshal functions
// graph/generate rewrites for direct fields (graph/generate/direct.go)
// return it in place of the FieldSet.
type objectJSON struct {
	fields []graphql.CollectedField
	values []graphql.Marshaler
}

var (
	openBrace  = []byte{'{'}
	closeBrace = []byte{'}'}
	comma      = []byte{','}
	quote      = []byte{'"'}
	quoteColon = []byte{'"', ':'}
)

func (o objectJSON) MarshalGQL(w io.Writer) {
	_, _ = w.Write(openBrace)
	for i := range o.fields {
		alias := o.fields[i].Alias
		if i > 0 {
			_, _ = w.Write(comma)
		}
		if plainName(alias) {
			_, _ = w.Write(quote)
			_, _ = io.WriteString(w, alias)
			_, _ = w.Write(quoteColon)
		} else {
			graphql.MarshalString(alias).MarshalGQL(w)
			_, _ = io.WriteString(w, ":")
		}
		o.values[i].MarshalGQL(w)
	}
	_, _ = w.Write(closeBrace)
}

// plainName reports whether s needs no escaping in a JSON string (a GraphQL
// name never does; anything else goes through gqlgen's quoting).
func plainName(s string) bool {
	for i := range len(s) {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			return false
		}
	}
	return true
}
