package server

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// nodeHarness returns the node binary and the directory of the npm test
// harness test/<harness>, whose node_modules must hold pkg. When either is
// missing it fails the test under CI=true (a skipped conformance check proves
// nothing there) and otherwise skips it, saying what to run.
func nodeHarness(t *testing.T, harness, pkg string) (node, dir string) {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "test", harness))
	if err != nil {
		t.Fatal(err)
	}
	node, err = exec.LookPath("node")
	if err == nil {
		_, err = os.Stat(filepath.Join(dir, "node_modules", pkg))
	}
	if err != nil {
		msg := "test/" + harness + " needs node and its packages: run `npm ci --prefix test/" + harness + "` (" + err.Error() + ")"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return node, dir
}
