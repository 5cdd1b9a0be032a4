package graph_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
)

// fragmentLadder is a query of n fragments, each spreading the previous one
// twice: 2^n fields once expanded, in about 40n bytes.
func fragmentLadder(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "query Ladder { viewer { ...F%d } }\nfragment F0 on Viewer { role }\n", n)
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "fragment F%d on Viewer { ...F%d ...F%d }\n", i, i-1, i-1)
	}
	return b.String()
}

// repeated selects field n times under viewer.
func repeated(field string, n int) string {
	return "{ viewer { " + strings.Repeat(field+" ", n) + "} }"
}

// manyFragments spreads n fragments under viewer, each selecting role and
// organization { name }.
func manyFragments(n int) string {
	var b strings.Builder
	b.WriteString("{ viewer { ")
	for i := range n {
		fmt.Fprintf(&b, "...F%d ", i)
	}
	b.WriteString("} }")
	for i := range n {
		fmt.Fprintf(&b, " fragment F%d on Viewer { role organization { name } }", i)
	}
	return b.String()
}

// aliased selects role n times under n different aliases.
func aliased(n int) string {
	var b strings.Builder
	b.WriteString("{ viewer { ")
	for i := range n {
		fmt.Fprintf(&b, "a%d: role ", i)
	}
	b.WriteString("} }")
	return b.String()
}

// hostileActor is a read-only integration: the least a hostile caller needs.
func hostileActor() *care.Actor {
	a := &care.Actor{Role: care.RoleIntegration, OrganizationID: uuid.New(), Subject: "probe", ExpiresAt: time.Now().Add(time.Hour)}
	return a
}

// TestCostGuard asserts that queries whose cost grows exponentially or
// quadratically with their size are refused as BAD_USER_INPUT before gqlgen
// validates them or measures their complexity. Nothing here touches the
// database (the guard runs before any resolver), so the server has none. The
// two-second bound is only a safety net: without the guard the 30-level ladder
// does not answer within two minutes. How fast the refusal is, is measured by
// BenchmarkCostGuard.
func TestCostGuard(t *testing.T) {
	t.Parallel()
	refused := func(t *testing.T, q string, want string) {
		t.Helper()
		c := newClient(t, nil, hostileActor(), graph.Limits{})
		start := time.Now()
		res := c.fails(q, nil, graph.CodeBadUserInput)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("refusal took %s", d) // a safety net: unguarded, the 24-level ladder took 3.7 s, the 30-level over 2 min
		}
		if !strings.Contains(res.Errors[0].Message, want) {
			t.Fatalf("message %q does not say %q", res.Errors[0].Message, want)
		}
		if len(res.Data) > 0 && string(res.Data) != "null" {
			t.Fatalf("data for a refused query: %s", res.Data)
		}
	}
	for _, n := range []int{24, 30, 60} {
		t.Run(fmt.Sprintf("fragment ladder of %d", n), func(t *testing.T) {
			refused(t, fragmentLadder(n), "fields (fragments expanded)")
		})
	}
	t.Run("one field repeated 10000 times", func(t *testing.T) {
		refused(t, repeated("role", 10000), "tokens")
	})
	t.Run("one field repeated 1500 times, within the token and field limits", func(t *testing.T) {
		refused(t, repeated("role", 1500), "repeats a field")
	})
	t.Run("2500 fields through distinct aliases and fragments", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("{ viewer { ...A ...B ...C ...D ...E } }")
		for _, f := range []string{"A", "B", "C", "D", "E"} {
			fmt.Fprintf(&b, " fragment %s on Viewer { %s }", f, strings.Repeat("role organization { id } ", 1)+strings.Repeat("practitioner { id } ", 99))
		}
		refused(t, b.String(), "repeats a field")
	})
	t.Run("one field in 400 fragments", func(t *testing.T) {
		refused(t, manyFragments(400), "fragment spreads")
	})
	t.Run("200 aliases", func(t *testing.T) {
		refused(t, aliased(200), "aliases")
	})
	t.Run("fragment spreads of an unused fragment count", func(t *testing.T) {
		q := fragmentLadder(30)
		q = strings.Replace(q, "{ viewer { ...F30 } }", "{ viewer { role } }", 1)
		refused(t, q, "larger than the limits")
	})
	t.Run("a deep selection is refused before validation", func(t *testing.T) {
		q := "{ " + strings.Repeat("viewer { ", 200) + "role" + strings.Repeat(" }", 200) + " }"
		refused(t, q, "depth")
	})
	t.Run("shapes within the limits still run", func(t *testing.T) {
		c := newClient(t, nil, hostileActor(), graph.Limits{})
		var out struct{ Viewer map[string]any }
		c.ok(fragmentLadder(6), nil, &out)     // 64 fields, 126 spreads
		c.ok(repeated("role", 101), nil, &out) // 100 repeats
		c.ok(aliased(50), nil, &out)
		if out.Viewer["a49"] != "INTEGRATION" {
			t.Fatalf("viewer = %v", out.Viewer)
		}
	})
	t.Run("limits are configurable", func(t *testing.T) {
		small := newClient(t, nil, hostileActor(), graph.Limits{MaxFields: 10, MaxAliases: 2, MaxTokens: 50, MaxFragmentSpreads: 3})
		small.ok(repeated("role", 9), nil, nil) // viewer and nine roles: ten fields
		small.fails(repeated("role", 10), nil, graph.CodeBadUserInput)
		small.fails(aliased(3), nil, graph.CodeBadUserInput)
		small.fails(fragmentLadder(2), nil, graph.CodeBadUserInput) // 7 spreads expanded: F2, twice F1, four times F0
		small.fails(repeated("role", 60), nil, graph.CodeBadUserInput)
		c := newClient(t, nil, hostileActor(), graph.Limits{MaxRepeatedFields: 5})
		c.ok(repeated("role", 6), nil, nil)
		c.fails(repeated("role", 7), nil, graph.CodeBadUserInput)
	})
}

// BenchmarkCostGuard times the refusal of each hostile shape beside a small
// valid query served by the same handler in the same run, and reports the
// ratio (hostile refusal / small query).
func BenchmarkCostGuard(b *testing.B) {
	c := newClient(b, nil, hostileActor(), graph.Limits{})
	timeOf := func(run func()) time.Duration {
		const n = 20
		start := time.Now()
		for range n {
			run()
		}
		return time.Since(start) / n
	}
	base := timeOf(func() { c.ok(`{ viewer { role } }`, nil, nil) })
	for _, tc := range []struct {
		name string
		q    string
	}{
		{"ladder24", fragmentLadder(24)},
		{"ladder30", fragmentLadder(30)},
		{"ladder60", fragmentLadder(60)},
		{"repeat10000", repeated("role", 10000)},
		{"repeat1500", repeated("role", 1500)},
		{"fragments400", manyFragments(400)},
		{"aliases200", aliased(200)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				c.fails(tc.q, nil, graph.CodeBadUserInput)
			}
			per := b.Elapsed() / time.Duration(b.N)
			b.ReportMetric(float64(per.Microseconds()), "µs/refusal")
			b.ReportMetric(float64(base.Microseconds()), "µs/baseline")
			b.ReportMetric(float64(per)/float64(base), "ratio")
			b.Logf("%s refused in %s; baseline { viewer { role } } %s; ratio %.1f", tc.name, per, base, float64(per)/float64(base))
		})
	}
}

// TestStringLimit: an oversized string, in a variable or a literal, is
// refused as BAD_USER_INPUT before any resolver (the server here has no
// database: a resolver reaching SQL would fail INTERNAL).
func TestStringLimit(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("a", 900_000)
	c := newClient(t, nil, hostileActor(), graph.Limits{})
	c.fails(`query P($n: String) { patients(filter: {name: $n}) { totalCount } }`, map[string]any{"n": huge}, graph.CodeBadUserInput)
	c.fails(`{ patients(filter: {name: "`+huge+`"}) { totalCount } }`, nil, graph.CodeBadUserInput)
	c.fails(`query P($f: PatientFilter) { patients(filter: $f) { totalCount } }`, map[string]any{"f": map[string]any{"name": huge}}, graph.CodeBadUserInput)
	c.fails(`{ viewer { ...F } } fragment F on Viewer { practitioner { caseload(after: "`+huge+`") { totalCount } } }`, nil, graph.CodeBadUserInput)
}

// TestDeferRefused: a @defer fragment, inline or named, at any depth, is
// refused as BAD_USER_INPUT before execution. The HTTP transport answers
// once, so gqlgen's deferred resolver fields came back null without an
// error (seen before deferOff: caseload null in the viewer's practitioner).
// Fragments without @defer are answered.
func TestDeferRefused(t *testing.T) {
	t.Parallel()
	c := newClient(t, nil, hostileActor(), graph.Limits{})
	for _, q := range []string{
		`{ viewer { practitioner { id ... @defer(label: "n") { caseload(first: 1) { totalCount } } } } }`,
		`{ viewer { practitioner { ... on Practitioner @defer { id } } } }`,
		`{ viewer { ...V } } fragment V on Viewer { practitioner { ...P @defer } } fragment P on Practitioner { id }`,
		`{ viewer { ...V } } fragment V on Viewer { practitioner { ... @defer(if: false) { id } } }`,
	} {
		res := c.fails(q, nil, graph.CodeBadUserInput)
		if !strings.Contains(res.Errors[0].Message, "@defer is not supported") {
			t.Fatalf("%s: message %q", q, res.Errors[0].Message)
		}
	}
	var out struct {
		Typename string `json:"__typename"`
	}
	c.ok(`{ ...Q } fragment Q on Query { ... on Query { __typename } }`, nil, &out)
	if out.Typename != "Query" {
		t.Fatalf("a query with fragments and no @defer answered %+v", out)
	}
}
