package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// logLines collects a process's JSON log lines and announces the listening address.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, s)
}

func (l *logLines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *logLines) has(message string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.lines {
		var e struct{ Message string }
		if json.Unmarshal([]byte(s), &e) == nil && e.Message == message {
			return true
		}
	}
	return false
}

// TestServeSmoke runs the real binary: it starts on port 0 against a fresh
// database, answers a GraphQL request with a token minted by `rapport token`,
// and shuts down cleanly on SIGTERM.
func TestServeSmoke(t *testing.T) {
	dbURL := postgrestest.URL(t)
	bin := filepath.Join(t.TempDir(), "rapport")
	buildArgs := []string{"build", "-o", bin}
	if raceEnabled {
		buildArgs = append(buildArgs, "-race")
	}
	build := exec.Command("go", append(buildArgs, ".")...)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	environ := append(os.Environ(),
		"DATABASE_URL="+dbURL,
		"RAPPORT_ADDR=127.0.0.1:0",
		"RAPPORT_METRICS_ADDR=127.0.0.1:0",
		"RAPPORT_JWT_HMAC_SECRET="+testSecret,
		"RAPPORT_JWT_ISSUER=rapport-dev",
		"RAPPORT_JWT_AUDIENCE=rapport",
		"RAPPORT_LOG_LEVEL=info",
	)

	addrFile := filepath.Join(t.TempDir(), "addr")
	cmd := exec.Command(bin, "serve", "--addr-file", addrFile)
	cmd.Env = environ
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process has been waited for; waitErr is then its outcome.
	exited := make(chan struct{})
	var waitErr error
	logs := &logLines{}
	addrs := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			logs.add(line)
			var e struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal([]byte(line), &e) == nil && e.Message == "listening" && e.Addr != "" {
				select {
				case addrs <- e.Addr:
				default:
				}
			}
		}
	}()
	go func() {
		<-scanned // Wait closes the pipe: drain it first.
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // a no-op once it has exited
		<-exited
	})

	var addr string
	select {
	case addr = <-addrs:
	case <-exited:
		t.Fatalf("rapport serve exited before listening: %v\nlogs:\n%s", waitErr, logs)
	case <-time.After(60 * time.Second):
		t.Fatalf("no \"listening\" log line within 60s\nlogs:\n%s", logs)
	}
	base := "http://" + addr

	t.Run("--addr-file holds the address listened on", func(t *testing.T) {
		b, err := os.ReadFile(addrFile)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimSpace(string(b)); got != addr {
			t.Errorf("--addr-file holds %q; the server listens on %q", got, addr)
		}
	})

	t.Run("healthz", func(t *testing.T) {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET /healthz: %s", resp.Status)
		}
	})

	// askViewer mints a token for role with `rapport token` and asks
	// { viewer { role } } with it, returning the status and body.
	askViewer := func(t *testing.T, role string) (int, []byte) {
		t.Helper()
		mint := exec.Command(bin, "token", "--role", role)
		mint.Env = environ
		out, err := mint.Output()
		if err != nil {
			t.Fatalf("rapport token: %v", err)
		}
		req, err := http.NewRequest(http.MethodPost, base+"/graphql", strings.NewReader(`{"query":"{ viewer { role } }"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(out)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, body
	}

	// The database is not seeded, so the demo nurse a nurse token speaks
	// for does not exist: the departed-staff rule refuses such tokens. An
	// integration token speaks for no practitioner.
	t.Run("viewer with a minted token", func(t *testing.T) {
		status, body := askViewer(t, "integration")
		if status != http.StatusOK {
			t.Fatalf("POST /graphql: %d: %s", status, body)
		}
		var got struct {
			Data struct {
				Viewer struct{ Role string }
			}
			Errors []json.RawMessage
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, body)
		}
		if len(got.Errors) > 0 || got.Data.Viewer.Role != "INTEGRATION" {
			t.Errorf("answer = %s; want viewer.role INTEGRATION and no errors", body)
		}
	})

	t.Run("a token for a practitioner the database does not know is refused", func(t *testing.T) {
		if status, body := askViewer(t, "nurse"); status != http.StatusUnauthorized {
			t.Errorf("POST /graphql with an unknown practitioner's token: %d %s, want 401", status, body)
		}
	})

	t.Run("no token is unauthenticated", func(t *testing.T) {
		resp, err := http.Post(base+"/graphql", "application/json", strings.NewReader(`{"query":"{ viewer { role } }"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(body), "UNAUTHENTICATED") {
			t.Errorf("answer without a token = %s %s; want extensions.code UNAUTHENTICATED", resp.Status, body)
		}
	})

	t.Run("SIGTERM shuts down cleanly", func(t *testing.T) {
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		select {
		case <-exited:
			err := waitErr
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				t.Fatalf("exit status %d after SIGTERM\nlogs:\n%s", exit.ExitCode(), logs)
			}
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("still running 15s after SIGTERM\nlogs:\n%s", logs)
		}
		if !logs.has("stopped") {
			t.Errorf("no \"stopped\" log line:\n%s", logs)
		}
	})

	t.Run("logs carry no token", func(t *testing.T) {
		if strings.Contains(logs.String(), "eyJ") {
			t.Errorf("a JWT appears in the logs:\n%s", logs)
		}
	})
}
