// Package postgres stores Rapport's data in PostgreSQL through pgx/v5. It is the
// only package that imports pgx; it translates driver errors into care error
// codes and enforces the access rule on every read and write.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rapportcare/rapport/care"
)

// StatementTimeout bounds every statement the pool runs, unless the URL sets
// statement_timeout itself.
const StatementTimeout = 15 * time.Second

// querier is what a pool and a transaction have in common, so every method
// works the same inside and outside InTx.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, tableName pgx.Identifier, columnNames []string, rowSrc pgx.CopyFromSource) (int64, error)
}

// DB is a handle on the database: a pool, or (inside InTx) one transaction.
type DB struct {
	pool    *pgxpool.Pool
	q       querier // the pool, or the transaction
	inTx    bool
	counter *queryCounter
	audits  *auditQueue // read audits, shared by the pool and its transactions
	// standing remembers recent CheckStanding answers (standing.go), shared
	// by the pool and its transactions.
	standing *standingCache
	router   *router // nil without a read replica
	// Now is the clock used for validation and defaults; tests replace it.
	// Row timestamps (created_at, updated_at, audit) come from the database.
	Now func() time.Time
}

// queryCounter is a pgx tracer that counts the statements sent, so tests can
// prove that nested GraphQL requests make a bounded number of queries.
type queryCounter struct{ n atomic.Int64 }

func (c *queryCounter) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	c.n.Add(1)
	return ctx
}

func (c *queryCounter) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// Options tune the pool Open makes. The zero value keeps pgxpool's defaults
// and whatever the URL says.
type Options struct {
	// MaxConns caps the pool's connections; zero keeps the URL's
	// pool_max_conns, or pgxpool's default (the larger of 4 and the CPU count).
	MaxConns int
	// AuditMaxLag and AuditMaxPending bound the read-audit queue (see
	// auditqueue.go): reads are refused once the oldest queued audit row has
	// waited AuditMaxLag, or AuditMaxPending rows wait. Zero means
	// DefaultAuditMaxLag and DefaultAuditMaxPending.
	AuditMaxLag     time.Duration
	AuditMaxPending int
	// ReadURL, if set, is a streaming replica of url: reads marked with
	// ReadFromReplica are served from it (see replica.go). It gets the same
	// pool settings as url.
	ReadURL string
}

// Open connects a pool to the database at url, with a statement timeout and
// query counting. The URL may carry pgxpool's parameters (pool_max_conns,
// pool_min_conns, …). It returns an error if the URL is malformed or the
// database does not answer a ping.
func Open(ctx context.Context, url string) (*DB, error) {
	return OpenWith(ctx, url, Options{})
}

// OpenWith is Open with options; a positive o.MaxConns overrides the URL's
// pool_max_conns. It returns an error if the URL is malformed, o is out of
// range or the database does not answer a ping.
func OpenWith(ctx context.Context, url string, o Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parse database url: %w", err)
	}
	if o.MaxConns < 0 || o.MaxConns > math.MaxInt32 {
		return nil, fmt.Errorf("open database pool: %d connections is out of range", o.MaxConns)
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = int32(o.MaxConns)
		cfg.MinConns = min(cfg.MinConns, cfg.MaxConns)
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["statement_timeout"]; !ok {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(StatementTimeout.Milliseconds())
	}
	// pgx prepares each statement once per connection and caches it. With the
	// default plan_cache_mode (auto) PostgreSQL re-plans the access rule on
	// every execution: its generic plan is estimated dearer than custom ones,
	// so planning (~0.6-1.4 ms) costs ten times the run (~0.1 ms). The
	// statements here are all keyed lookups whose best plan does not depend on
	// the values bound, so one generic plan per statement and connection is
	// reused. Analytic reads whose plan does depend on the values (continuity)
	// ask for custom plans themselves; a URL may still set plan_cache_mode.
	if _, ok := cfg.ConnConfig.RuntimeParams["plan_cache_mode"]; !ok {
		cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_generic_plan"
	}
	// JIT compilation pays off for long analytic scans only. The access rule's
	// subplans inflate cost estimates past jit_above_cost, so a 2 ms count
	// took 80 ms of compiling; no statement here wants it.
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	counter := &queryCounter{}
	cfg.ConnConfig.Tracer = counter
	cfg.AfterConnect = registerUUIDOnConnect
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping database: %w", err)
	}
	db := &DB{pool: pool, q: pool, counter: counter, standing: newStandingCache(StandingTTL), Now: time.Now}
	if o.ReadURL != "" {
		rcfg, err := pgxpool.ParseConfig(o.ReadURL)
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("parse read database url: %w", err)
		}
		for k, v := range cfg.ConnConfig.RuntimeParams {
			if _, ok := rcfg.ConnConfig.RuntimeParams[k]; !ok {
				rcfg.ConnConfig.RuntimeParams[k] = v
			}
		}
		rcfg.MaxConns, rcfg.MinConns = cfg.MaxConns, cfg.MinConns
		rcfg.ConnConfig.Tracer = counter
		rcfg.AfterConnect = registerUUIDOnConnect
		replica, err := pgxpool.NewWithConfig(ctx, rcfg)
		if err == nil {
			if err = replica.Ping(ctx); err != nil {
				replica.Close()
			}
		}
		if err != nil {
			pool.Close()
			return nil, fmt.Errorf("open read replica pool: %w", err)
		}
		db.router = &router{primary: pool, replica: replica, written: map[string]lsn{}}
		db.q = db.router
	}
	db.audits = newAuditQueue(pool, o.AuditMaxLag, o.AuditMaxPending)
	return db, nil
}

// Close writes the queued read audits, then closes the pool. Calling it on a
// transaction-bound DB does nothing.
func (db *DB) Close() {
	if !db.inTx {
		db.audits.close()
		db.pool.Close()
		if db.router != nil {
			db.router.replica.Close()
		}
	}
}

// MaxConns returns the most connections the pool opens.
func (db *DB) MaxConns() int { return int(db.pool.Config().MaxConns) }

// Ping checks the database answers; it returns the driver's error if not.
func (db *DB) Ping(ctx context.Context) error { return db.pool.Ping(ctx) }

// QueryCount returns how many statements this DB's pool has sent since Open
// (including those of transactions begun from it).
func (db *DB) QueryCount() int64 { return db.counter.n.Load() }

// now returns the DB clock's time.
func (db *DB) now() time.Time {
	if db.Now == nil {
		return time.Now()
	}
	return db.Now()
}

// translate turns a driver error into a care error where one applies; other
// errors are returned unchanged (they become EINTERNAL upstream).
func translate(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return care.Errorf(care.ENOTFOUND, "not found")
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case pe.Code == "23505":
		return care.Errorf(care.ECONFLICT, "%s", uniqueMessage(pe.ConstraintName))
	case pe.Code == "23503":
		return care.Errorf(care.ENOTFOUND, "%s", foreignKeyMessage(pe.ConstraintName))
	case pe.Code == "23514" || pe.Code == "23502" || strings.HasPrefix(pe.Code, "22"):
		return care.Errorf(care.EINVALID, "the input breaks a rule of the data (%s)", orDefault(pe.ConstraintName, pe.Code))
	case pe.Code == "P0001":
		return care.Errorf(care.ECONFLICT, "signed interactions change only by amendment")
	}
	return err
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func uniqueMessage(constraint string) string {
	switch {
	case constraint == "patients_nhs_number_key":
		return "a patient with this NHS number is already registered"
	case constraint == "care_relationships_one_usual_gp":
		return "the patient already has an active usual GP"
	case constraint == "care_relationships_one_named_nurse":
		return "the patient already has an active named nurse"
	case constraint == "organizations_ods_code_key":
		return "an organization with this ODS code already exists"
	case constraint == "retired_ids_pkey":
		return "this id belonged to a record that was deleted; ids are never reused: create the record with a new id"
	case strings.HasSuffix(constraint, "_pkey"):
		return "a different record already has this id"
	}
	return "the change conflicts with an existing record"
}

func foreignKeyMessage(constraint string) string {
	switch {
	case strings.Contains(constraint, "practitioner_id"), strings.Contains(constraint, "signed_by_id"), strings.Contains(constraint, "amended_by_id"):
		return "no such practitioner"
	case strings.Contains(constraint, "patient_id"):
		return "no such patient"
	case strings.Contains(constraint, "team_id"):
		return "no such team"
	case strings.Contains(constraint, "interaction_id"):
		return "no such interaction"
	case strings.Contains(constraint, "organization_id"), strings.Contains(constraint, "registered_practice_id"):
		return "no such organization"
	}
	return "a record it refers to does not exist"
}
