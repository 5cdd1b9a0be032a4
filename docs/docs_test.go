// Package docs_test runs the documentation: every code block in docs/*.md
// whose info string says "runnable" is executed against a live server, so
// no example can rot, and every link in README.md and docs/ must lead to a
// file in this repository.
//
// How a document is run: the test builds bin/rapport, gives the document a
// fresh database and starts `rapport serve` on a free port (with the demo
// data when the document says <!-- docs-test: demo -->, on an empty database
// when it says <!-- docs-test: empty -->). The document's runnable blocks
// then run in order in ONE bash process (set -euo pipefail), from a
// directory holding bin/rapport, with DATABASE_URL, RAPPORT_JWT_HMAC_SECRET,
// issuer and audience exported as a reader of the docs has them, and with every
// "localhost:8080" of the text pointing at the test server. So a block
// may use what an earlier one exported. ```js runnable``` blocks run with
// node inside test/graphql-ws (whose node_modules hold graphql-ws and ws).
//
// A block passes when the script does not fail in it and its output holds no
// GraphQL "errors" — or, for a block marked expect=CODE, when its output
// holds CODE (an example that shows an error).
package docs_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rapportcare/rapport/postgres/postgrestest"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/validator/rules"
)

const docsSecret = "docs-test-secret-0123456789abcdef0123"

// block is one fenced code block of a document.
type block struct {
	lang     string
	runnable bool
	expect   string // expect=CODE: the output must hold CODE
	line     int
	text     string
}

var fence = regexp.MustCompile("^```([a-z]*)(.*)$")

// blocks returns the fenced code blocks of a Markdown document.
func blocks(md string) []block {
	var out []block
	var cur *block
	for i, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur != nil {
			if trimmed == "```" {
				out = append(out, *cur)
				cur = nil
				continue
			}
			cur.text += line + "\n"
			continue
		}
		if m := fence.FindStringSubmatch(trimmed); m != nil {
			b := &block{lang: m[1], line: i + 1}
			for _, w := range strings.Fields(m[2]) {
				switch {
				case w == "runnable":
					b.runnable = true
				case strings.HasPrefix(w, "expect="):
					b.expect = strings.TrimPrefix(w, "expect=")
				}
			}
			cur = b
		}
	}
	return out
}

// TestRunnableExamples runs every runnable block of every document in docs/.
func TestRunnableExamples(t *testing.T) {
	docs, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildRapport(t)
	ran := 0
	for _, doc := range docs {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		md := string(b)
		var runnable []block
		for _, bl := range blocks(md) {
			if bl.runnable {
				runnable = append(runnable, bl)
			}
		}
		if len(runnable) == 0 {
			continue
		}
		ran += len(runnable)
		t.Run(doc, func(t *testing.T) {
			demo := strings.Contains(md, "<!-- docs-test: demo -->")
			if !demo && !strings.Contains(md, "<!-- docs-test: empty -->") {
				t.Fatalf("%s has runnable blocks but says neither <!-- docs-test: demo --> nor <!-- docs-test: empty -->", doc)
			}
			addr, dbURL := startServer(t, bin, demo)
			runDoc(t, doc, bin, addr, dbURL, runnable)
		})
	}
	if ran == 0 {
		t.Fatal("no runnable blocks found in docs/*.md")
	}
}

// runDoc runs a document's runnable blocks in one bash process and checks
// each block's share of the output.
func runDoc(t *testing.T, doc, bin, addr, dbURL string, runnable []block) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(bin, filepath.Join(dir, "bin", "rapport")); err != nil {
		t.Fatal(err)
	}
	wsHarness, _ := filepath.Abs(filepath.Join("..", "test", "graphql-ws"))
	var script strings.Builder
	script.WriteString("set -euo pipefail\n")
	for i, bl := range runnable {
		text := strings.ReplaceAll(bl.text, "localhost:8080", addr)
		fmt.Fprintf(&script, "echo; echo '@@block %d@@'\n", i)
		switch bl.lang {
		case "sh", "bash", "":
			script.WriteString(text)
		case "js":
			needNode(t, wsHarness)
			fmt.Fprintf(&script, "(cd %q && node --input-type=module) <<'RAPPORT_DOCS_JS'\n%sRAPPORT_DOCS_JS\n", wsHarness, text)
		default:
			t.Fatalf("%s:%d: a runnable block must be sh or js, not %q", doc, bl.line, bl.lang)
		}
		script.WriteString("\n")
	}
	fmt.Fprintf(&script, "echo; echo '@@block %d@@'\n", len(runnable))

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script.String())
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "DATABASE_URL="+dbURL,
		"RAPPORT_JWT_HMAC_SECRET="+docsSecret, "RAPPORT_JWT_ISSUER=rapport-dev", "RAPPORT_JWT_AUDIENCE=rapport")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	runErr := cmd.Run()

	// Split the output at the markers: part i belongs to block i.
	parts := make([]string, len(runnable)+1)
	cur := -1
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "@@block %d@@", &n); err == nil {
			cur = n
			continue
		}
		if cur >= 0 {
			parts[cur] += sc.Text() + "\n"
		}
	}
	for i, bl := range runnable {
		got := parts[i]
		switch {
		case i == cur && runErr != nil:
			t.Errorf("%s:%d: the example fails (%v):\n%s\noutput:\n%s", doc, bl.line, runErr, bl.text, got)
		case i > cur:
			t.Errorf("%s:%d: not reached", doc, bl.line)
		case bl.expect != "" && !strings.Contains(got, bl.expect):
			t.Errorf("%s:%d: output should show %s:\n%s", doc, bl.line, bl.expect, got)
		case bl.expect == "" && strings.Contains(got, `"errors"`):
			t.Errorf("%s:%d: the example answers with errors:\n%s\noutput:\n%s", doc, bl.line, bl.text, got)
		default:
			t.Logf("%s:%d: ok", doc, bl.line)
		}
	}
	if runErr != nil && cur == len(runnable) {
		t.Errorf("%s: the script failed after its last block: %v\n%s", doc, runErr, parts[len(runnable)])
	}
}

// needNode fails (CI=true) or skips when node or the graphql-ws harness is missing.
func needNode(t *testing.T, dir string) {
	t.Helper()
	_, err := exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", "ws"))
	}
	if err != nil {
		msg := "js examples need node and test/graphql-ws: run `npm ci --prefix test/graphql-ws` (" + err.Error() + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// cleanEnv is the process environment without RAPPORT_*, DATABASE_URL and TOKEN
// variables, so the examples see only what the test gives them.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "RAPPORT_") || strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "TOKEN=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func buildRapport(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "rapport")
	build := exec.Command("go", "build", "-o", bin, "../cmd/rapport")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startServer runs `rapport serve` on a fresh database and returns its
// address and the database's URL.
func startServer(t *testing.T, bin string, demo bool) (addr, dbURL string) {
	t.Helper()
	dbURL = postgrestest.URL(t)
	addrFile := filepath.Join(t.TempDir(), "addr")
	args := []string{"serve", "--addr-file", addrFile}
	if demo {
		args = append(args, "--seed-demo")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), "DATABASE_URL="+dbURL, "RAPPORT_ADDR=127.0.0.1:0",
		"RAPPORT_JWT_HMAC_SECRET="+docsSecret, "RAPPORT_LOG_LEVEL=warn")
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	deadline := time.After(2 * time.Minute)
	for {
		if b, err := os.ReadFile(addrFile); err == nil && len(bytes.TrimSpace(b)) > 0 {
			return strings.TrimSpace(string(b)), dbURL
		}
		select {
		case err := <-done:
			t.Fatalf("rapport serve exited: %v\n%s", err, logs.String())
		case <-deadline:
			t.Fatalf("rapport serve did not listen within 2 minutes\n%s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestLinksStayInRepository checks that README.md and docs/ name nothing
// outside the repository and that every relative link leads to a file here.
func TestLinksStayInRepository(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.md")
	files = append(files, "../README.md")
	link := regexp.MustCompile(`\]\(([^)#\s]+)(#[^)]*)?\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.Contains(text, "../shared") {
			t.Errorf("%s names ../shared, which a clone of the repository does not have", f)
		}
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			p, err := filepath.Abs(filepath.Join(filepath.Dir(f), target))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(p, root+string(filepath.Separator)) {
				t.Errorf("%s links to %s, outside the repository", f, target)
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s links to %s, which does not exist", f, target)
			}
		}
	}
}

// TestBlocksParse guards the parser the other tests rely on.
func TestBlocksParse(t *testing.T) {
	md := "a\n```sh runnable expect=UNAUTHENTICATED\necho hi\n```\n```json\n{}\n```\n"
	got := blocks(md)
	want := []block{{lang: "sh", runnable: true, expect: "UNAUTHENTICATED", line: 2, text: "echo hi\n"}, {lang: "json", line: 5, text: "{}\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("blocks = %+v; want %+v", got, want)
	}
}

// notYetValidated lists documents whose graphql blocks do not validate yet
// (none: keep it that way).
var notYetValidated = map[string]bool{}

// TestGraphQLBlocksValidate checks every ```graphql block in docs/ against
// schema.graphql, so an example query cannot name a field that is gone.
func TestGraphQLBlocksValidate(t *testing.T) {
	src, err := os.ReadFile("../schema.graphql")
	if err != nil {
		t.Fatal(err)
	}
	schema, gerr := gqlparser.LoadSchema(&ast.Source{Name: "schema.graphql", Input: string(src)})
	if gerr != nil {
		t.Fatal(gerr)
	}
	docs, _ := filepath.Glob("*.md")
	n := 0
	for _, doc := range docs {
		if notYetValidated[doc] {
			t.Logf("%s: graphql blocks not checked yet (see notYetValidated)", doc)
			continue
		}
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, bl := range blocks(string(b)) {
			if bl.lang != "graphql" {
				continue
			}
			n++
			if _, errs := gqlparser.LoadQueryWithRules(schema, bl.text, rules.NewDefaultRules()); len(errs) > 0 {
				t.Errorf("%s:%d: the example does not validate against schema.graphql: %v\n%s", doc, bl.line, errs, bl.text)
			}
		}
	}
	if n == 0 {
		t.Fatal("no graphql blocks found in docs/*.md")
	}
}
