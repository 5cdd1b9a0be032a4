package postgres_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// startReplica starts a private primary and a streaming replica of it with
// scripts/pg-replica.sh (Debian's PostgreSQL binaries, pg_basebackup -R) and
// returns their URLs; both are stopped and removed when the test ends. It
// fails under CI=true, and skips otherwise, when there are no server binaries.
func startReplica(t *testing.T) (primary, replica string) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(root, "scripts", "pg-replica.sh")
	if out, err := exec.Command(filepath.Join(root, "scripts", "pg.sh"), "bindir").CombinedOutput(); err != nil {
		msg := "no PostgreSQL server binaries for a replica (apt-get install postgresql): " + strings.TrimSpace(string(out))
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	freePort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	}
	// Under the system's temporary directory rather than the repository:
	// the clusters' owner (an unprivileged user when root) must be able to
	// reach it, which a checkout under /root would not allow.
	dir, err := os.MkdirTemp("", "rapport-replica-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = exec.Command(script, "stop", dir).Run() })
	out, err := exec.Command(script, "start", dir, freePort(), freePort()).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("start primary and replica: %v\n%s", err, stderr)
	}
	urls := strings.Fields(string(out))
	if len(urls) != 2 {
		t.Fatalf("pg-replica.sh printed %q", out)
	}
	return urls[0], urls[1]
}

// eventually polls cond every 20 ms for up to 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// TestReadReplica proves that marked reads are served by a real streaming
// replica, and that the caller who just wrote reads its write all the same.
func TestReadReplica(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two PostgreSQL clusters")
	}
	t.Parallel()
	primaryURL, replicaURL := startReplica(t)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, primaryURL); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.OpenWith(ctx, primaryURL, postgres.Options{ReadURL: replicaURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if !db.HasReplica() {
		t.Fatal("no replica")
	}
	standby, err := postgres.Open(ctx, replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(standby.Close)
	f := postgrestest.Seed(t, db)
	reader := func(a *care.Actor) context.Context { return postgres.ReadFromReplica(as(a)) }

	// The replica catches up with the fixture.
	eventually(t, "the replica has the fixture", func() bool {
		_, err := db.Patient(reader(f.GPAActor), f.PatientA1)
		return err == nil
	})

	if err := standby.ExecRaw(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := standby.ExecRaw(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
				t.Fatal(err)
			}
		}
	}
	defer resume()

	// The nurse writes while the replica is paused.
	in, err := db.CreateInteraction(as(f.Nurse1Actor), care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModePhone,
		OccurredAt: time.Now().Add(-time.Hour), Purpose: "Replica check"})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("another caller's marked reads come from the replica", func(t *testing.T) {
		_, err := db.Interaction(reader(f.GPAActor), in.ID)
		wantCode(t, err, care.ENOTFOUND) // not replayed yet: the replica answered
		if _, err := db.Interaction(as(f.GPAActor), in.ID); err != nil {
			t.Fatalf("unmarked read (the primary): %v", err)
		}
	})
	t.Run("the writer reads its own write at once", func(t *testing.T) {
		got, err := db.Interaction(reader(f.Nurse1Actor), in.ID)
		if err != nil || got.Purpose != "Replica check" {
			t.Fatalf("writer's read after its write: %v, %v", got, err)
		}
	})
	t.Run("once replayed, everyone reads it from the replica", func(t *testing.T) {
		resume()
		eventually(t, "the replica replays the write", func() bool {
			_, err := db.Interaction(reader(f.GPAActor), in.ID)
			return err == nil
		})
		if _, err := db.Interaction(reader(f.Nurse1Actor), in.ID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("reads from the replica are audited on the primary", func(t *testing.T) {
		n := 0
		for _, e := range must[[]*care.AuditEntry](t)(db.AuditEntries(as(care.SystemActor()), f.PatientA1)) {
			if e.EntityID == in.ID && e.Action == care.AuditRead && e.ActorID == f.GPA {
				n++
			}
		}
		if n == 0 {
			t.Fatal("the GP's reads from the replica are not in the audit trail")
		}
	})
}
