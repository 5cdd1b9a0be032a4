package httptransport

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// TestExecutedMarshalsAsResponse checks, over random responses, that the
// copying encoder of an executed response writes exactly the bytes
// json.Marshal writes for the same graphql.Response: data written as gqlgen
// writes it (compact, nothing HTML-escaped), strings drawn from characters
// json.Marshal escapes or leaves alone, with and without errors and
// extensions.
func TestExecutedMarshalsAsResponse(t *testing.T) {
	seed := rand.Uint64()
	rng := rand.New(rand.NewPCG(seed, 1))
	chars := []string{"a", "Z", "0", " ", "<", ">", "&", "\u2028", "\u2029", "\u2027", "é", "—", "🩺", `"`, `\`, "\n", "\t", "\x01", "/"}
	str := func() string {
		var b strings.Builder
		for n := rng.IntN(12); n > 0; n-- {
			b.WriteString(chars[rng.IntN(len(chars))])
		}
		return b.String()
	}
	var value func(depth int) any
	value = func(depth int) any {
		switch k := rng.IntN(8); {
		case depth > 3 || k == 0:
			return str()
		case k == 1:
			return rng.IntN(1000) - 500
		case k == 2:
			return rng.IntN(2) == 0
		case k == 3:
			return nil
		case k < 6:
			a := make([]any, rng.IntN(4))
			for i := range a {
				a[i] = value(depth + 1)
			}
			return a
		default:
			m := map[string]any{}
			for n := rng.IntN(4); n > 0; n-- {
				m[str()] = value(depth + 1)
			}
			return m
		}
	}
	// Data is written as gqlgen writes it: compact, strings through its own
	// marshaller (which escapes neither HTML nor U+2028 and U+2029).
	var write func(b *bytes.Buffer, v any)
	write = func(b *bytes.Buffer, v any) {
		switch v := v.(type) {
		case string:
			graphql.MarshalString(v).MarshalGQL(b)
		case map[string]any:
			b.WriteByte('{')
			first := true
			for k, x := range v {
				if !first {
					b.WriteByte(',')
				}
				first = false
				graphql.MarshalString(k).MarshalGQL(b)
				b.WriteByte(':')
				write(b, x)
			}
			b.WriteByte('}')
		case []any:
			b.WriteByte('[')
			for i, x := range v {
				if i > 0 {
					b.WriteByte(',')
				}
				write(b, x)
			}
			b.WriteByte(']')
		default:
			j, _ := json.Marshal(v)
			b.Write(j)
		}
	}
	gqlgenJSON := func(v any) json.RawMessage {
		var b bytes.Buffer
		write(&b, v)
		return b.Bytes()
	}
	copied := 0
	for i := 0; i < 3000; i++ {
		resp := &graphql.Response{}
		if rng.IntN(5) > 0 {
			resp.Data = gqlgenJSON(map[string]any{"q": value(0)})
		}
		for n := rng.IntN(3) * rng.IntN(2); n > 0; n-- {
			resp.Errors = append(resp.Errors, &gqlerror.Error{Message: str(), Extensions: map[string]any{"code": str()}})
		}
		if rng.IntN(3) == 0 {
			resp.Extensions = map[string]any{str(): value(1)}
		}
		want, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		got, err := executed{resp}.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("seed %d, response %d:\n got %s\nwant %s", seed, i, got, want)
		}
		if len(resp.Data) > 0 && !escapable(resp.Data) {
			copied++
		}
	}
	if copied < 300 {
		t.Fatalf("seed %d: only %d of 3000 responses took the copying path", seed, copied)
	}
}
