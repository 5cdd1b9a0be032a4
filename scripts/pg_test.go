// Package scripts_test checks scripts/pg.sh against a real private cluster.
package scripts_test

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPrivateClusterPort starts a private cluster on one port, then asks
// pg.sh with the default port: status must report the port the cluster
// really listens on, and the URL must point there, not at RAPPORT_PG_PORT.
// It runs a copy of pg.sh from a temporary directory, so its .pgdata/ is
// temporary too. It needs PostgreSQL's server binaries (pg.sh bindir):
// without them it fails under CI=true (.ci/run installs them) and skips
// elsewhere.
func TestPrivateClusterPort(t *testing.T) {
	if out, err := exec.Command("./pg.sh", "bindir").CombinedOutput(); err != nil {
		msg := "no PostgreSQL server binaries (apt-get install postgresql): " + string(out)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg) // .ci/run installs them
		}
		t.Skip(msg)
	}
	// The cluster's owner (postgres, when the test runs as root) must reach
	// root, or pg.sh keeps the cluster under /tmp instead, beyond the
	// test's cleanup.
	root := t.TempDir()
	for _, d := range []string{filepath.Dir(root), root} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "scripts"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("pg.sh")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "pg.sh")
	if err := os.WriteFile(script, src, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	run := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(script, args...)
		cmd.Env = append(os.Environ(), append(env, "RAPPORT_PG_FORCE_PRIVATE=1")...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	started := []string{"RAPPORT_PG_PORT=" + strconv.Itoa(port)}
	if out, err := run(started); err != nil {
		t.Fatalf("pg.sh on port %d: %v\n%s", port, err, out)
	}
	t.Cleanup(func() { _, _ = run(started, "stop") })

	defaultPort := []string{"RAPPORT_PG_PORT="} // unset: 54329
	out, err := run(defaultPort, "status")
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if !strings.Contains(out, "running in") || !strings.Contains(out, "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("status does not report the port the cluster listens on (%d):\n%s", port, out)
	}
	out, err = run(defaultPort)
	if err != nil {
		t.Fatalf("url with the default port: %v\n%s", err, out)
	}
	if !strings.Contains(out, "postgres://postgres@127.0.0.1:"+strconv.Itoa(port)+"/") {
		t.Errorf("the URL does not point at the running cluster's port %d:\n%s", port, out)
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
