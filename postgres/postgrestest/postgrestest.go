// Package postgrestest gives each test its own PostgreSQL database, cloned
// from a template migrated with Rapport's migrations, and a fixture of
// realistic data written through the store's own write path.
package postgrestest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for pgtestdb
	"github.com/peterldowns/pgtestdb"
	"github.com/rapportcare/rapport/migrations"
	"github.com/rapportcare/rapport/postgres"
)

// DefaultURL is the server used when neither TEST_DATABASE_URL nor DATABASE_URL is set.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// baseURL returns the server to create test databases on.
func baseURL() string {
	for _, k := range []string{"TEST_DATABASE_URL", "DATABASE_URL"} {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return DefaultURL
}

// migrator hashes and applies migrations.FS for pgtestdb.
type migrator struct{}

// Hash returns a digest of every migration file's name and contents, so a
// changed migration gets a fresh template.
func (migrator) Hash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hash migrations: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// Migrate applies the migrations with postgres.Migrate, the production path.
func (migrator) Migrate(ctx context.Context, _ *sql.DB, conf pgtestdb.Config) error {
	return postgres.Migrate(ctx, conf.URL())
}

// config turns the base URL into a pgtestdb configuration, failing (CI=true)
// or skipping the test when the server is unreachable.
func config(t testing.TB) pgtestdb.Config {
	t.Helper()
	raw := baseURL()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("postgrestest: bad database URL: %v", err)
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		host = "127.0.0.1"
	}
	if port == "" {
		port = "5432"
	}
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 2*time.Second)
	if err != nil {
		msg := fmt.Sprintf("postgrestest: PostgreSQL at %s:%s is unreachable (%v); set TEST_DATABASE_URL", host, port, err)
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s", msg)
		}
		t.Skip(msg + " (skipping: CI is not true)")
	}
	_ = conn.Close()
	pw, _ := u.User.Password()
	return pgtestdb.Config{
		DriverName: "pgx",
		Host:       host,
		Port:       port,
		User:       orDefault(u.User.Username(), "postgres"),
		Password:   pw,
		Database:   orDefault(strings.TrimPrefix(u.Path, "/"), "postgres"),
		Options:    orDefault(u.RawQuery, "sslmode=disable"),
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// URL returns the connection URL of a fresh, migrated database of the test's
// own, dropped when the test passes. It fails the test if the database
// cannot be made (skips when Postgres is unreachable and CI is not true).
func URL(t testing.TB) string {
	t.Helper()
	conf := pgtestdb.Custom(t, config(t), migrator{})
	return conf.URL()
}

// New returns a store over a fresh, migrated database of the test's own; the
// pool is closed when the test ends. It fails the test if the database cannot
// be made (skips when Postgres is unreachable and CI is not true).
func New(t testing.TB) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("postgrestest: open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

// Digest returns an MD5 digest of every row of tables in the database at url,
// each table's rows in primary-key order, so two databases can be compared
// for identical content. It fails the test on any error.
func Digest(t testing.TB, url string, tables ...string) string {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatalf("postgrestest: digest: %v", err)
	}
	defer db.Close()
	h := sha256.New()
	for _, table := range tables {
		var sum sql.NullString
		q := fmt.Sprintf(`SELECT md5(string_agg(t::text, E'\n' ORDER BY t.id)) FROM %s t`, table)
		if err := db.QueryRow(q).Scan(&sum); err != nil {
			t.Fatalf("postgrestest: digest of %s: %v", table, err)
		}
		fmt.Fprintf(h, "%s=%s\n", table, sum.String)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Persistent returns the URL of a database named prefix plus a digest of the
// migrations, kept between runs (never dropped), creating and migrating it
// when missing: for benchmarks whose data take long to seed, which check
// what it holds themselves. A changed migration gets a fresh database. It
// fails the test if the database cannot be made (skips when Postgres is
// unreachable and CI is not true).
func Persistent(t testing.TB, prefix string) string {
	t.Helper()
	conf := config(t)
	hash, err := migrator{}.Hash()
	if err != nil {
		t.Fatal(err)
	}
	name := prefix + "_" + hash
	admin, err := sql.Open("pgx", conf.URL())
	if err != nil {
		t.Fatalf("postgrestest: persistent: %v", err)
	}
	defer admin.Close()
	var exists bool
	if err := admin.QueryRow(`SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		t.Fatalf("postgrestest: persistent: %v", err)
	}
	if !exists {
		if _, err := admin.Exec(`CREATE DATABASE "` + name + `"`); err != nil {
			t.Fatalf("postgrestest: persistent: create %s: %v", name, err)
		}
	}
	conf.Database = name
	url := conf.URL()
	if err := postgres.Migrate(context.Background(), url); err != nil {
		t.Fatalf("postgrestest: persistent: %v", err)
	}
	return url
}

// CopyOf returns the URL of a new database copied from the database at
// template (which nothing may be connected to), dropped when the test ends:
// a benchmark that writes works on its own copy, so every run starts from
// the same data however many ran before it.
func CopyOf(t testing.TB, template string) string {
	t.Helper()
	conf := config(t)
	u, err := url.Parse(template)
	if err != nil {
		t.Fatalf("postgrestest: copy: %v", err)
	}
	from := strings.TrimPrefix(u.Path, "/")
	name := fmt.Sprintf("%s_run_%d", from, time.Now().UnixNano())
	admin, err := sql.Open("pgx", conf.URL())
	if err != nil {
		t.Fatalf("postgrestest: copy: %v", err)
	}
	defer admin.Close()
	// FILE_COPY copies the files after a checkpoint instead of writing the
	// whole database to the WAL. A connection just closed may still be
	// ending, so "being accessed by other users" is retried briefly.
	for try := 0; ; try++ {
		_, err = admin.Exec(`CREATE DATABASE "` + name + `" TEMPLATE "` + from + `" STRATEGY FILE_COPY`)
		if err == nil || try == 50 || !strings.Contains(err.Error(), "being accessed by other users") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("postgrestest: copy %s: %v", from, err)
	}
	server := conf.URL()
	t.Cleanup(func() {
		admin, err := sql.Open("pgx", server)
		if err != nil {
			t.Errorf("postgrestest: drop %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
			t.Errorf("postgrestest: drop %s: %v", name, err)
		}
	})
	conf.Database = name
	return conf.URL()
}

// Replica starts a private PostgreSQL primary and a streaming replica of it
// with scripts/pg-replica.sh (the system's server binaries, pg_basebackup
// -R, an unprivileged owner when root) and returns their URLs; both are
// stopped and removed when the test ends. Without server binaries it fails
// under CI=true and skips otherwise.
func Replica(t testing.TB) (primary, replica string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
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
	// the clusters' owner (an unprivileged user when root) must reach it,
	// which a checkout under /root would not allow.
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
		t.Fatalf("postgrestest: start primary and replica: %v\n%s", err, stderr)
	}
	urls := strings.Fields(string(out))
	if len(urls) != 2 {
		t.Fatalf("postgrestest: pg-replica.sh printed %q", out)
	}
	return urls[0], urls[1]
}

// PauseReplay pauses (or, with pause false, resumes) WAL replay on the
// replica at url, so a test can hold it behind the primary. It fails the
// test on any error.
func PauseReplay(t testing.TB, url string, pause bool) {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	q := `SELECT pg_wal_replay_resume()`
	if pause {
		q = `SELECT pg_wal_replay_pause()`
	}
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("postgrestest: %s: %v", q, err)
	}
}

// Eventually polls cond every 20 ms for up to 20 s, failing the test with
// what if it never holds.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

// Replicated is a store over a fresh primary with a streaming replica, the
// fixture seeded and replayed on both (see NewReplicated).
type Replicated struct {
	DB      *postgres.DB
	Fixture *Fixture
	// Replica is the replica's URL.
	Replica string
	paused  bool
}

// NewReplicated starts a primary and a replica (Replica), migrates the
// primary, opens a store reading marked queries from the replica, seeds the
// fixture and waits until the replica has replayed it. Everything is closed
// and removed when the test ends. It fails (or skips, as Replica) the test
// on any error.
func NewReplicated(t testing.TB) *Replicated {
	t.Helper()
	primaryURL, replicaURL := Replica(t)
	ctx := context.Background()
	if err := postgres.Migrate(ctx, primaryURL); err != nil {
		t.Fatal(err)
	}
	db, err := postgres.OpenWith(ctx, primaryURL, postgres.Options{ReadURL: replicaURL})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	r := &Replicated{DB: db, Fixture: Seed(t, db), Replica: replicaURL}
	primary, err := sql.Open("pgx", primaryURL)
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	var target string
	if err := primary.QueryRow(`SELECT pg_current_wal_lsn()::text`).Scan(&target); err != nil {
		t.Fatal(err)
	}
	standby, err := sql.Open("pgx", replicaURL)
	if err != nil {
		t.Fatal(err)
	}
	defer standby.Close()
	Eventually(t, "the replica replays the fixture", func() bool {
		var caught bool
		err := standby.QueryRow(`SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn`, target).Scan(&caught)
		return err == nil && caught
	})
	t.Cleanup(func() { r.Resume(t) })
	return r
}

// Pause pauses WAL replay on the replica, holding it behind the primary.
func (r *Replicated) Pause(t testing.TB) {
	t.Helper()
	PauseReplay(t, r.Replica, true)
	r.paused = true
}

// Resume resumes WAL replay if it is paused.
func (r *Replicated) Resume(t testing.TB) {
	t.Helper()
	if r.paused {
		PauseReplay(t, r.Replica, false)
		r.paused = false
	}
}
