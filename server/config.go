package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
)

// Defaults for Config fields left unset.
const (
	DefaultAddr            = ":8080"
	DefaultIssuer          = "rapport-dev"
	DefaultAudience        = "rapport"
	DefaultMaxBodyBytes    = 1 << 20
	DefaultMaxDepth        = 12
	DefaultMaxComplexity   = 5000
	DefaultRequestTimeout  = 30 * time.Second
	DefaultShutdownTimeout = 15 * time.Second
	// DefaultMetricsAddr is where ConfigFromEnv serves /metrics: loopback
	// only, on its own port (9464, the OpenTelemetry Prometheus exporter's),
	// never on the public listener.
	DefaultMetricsAddr = "127.0.0.1:9464"
	// DefaultSyncRetention is how long sync tombstones are kept; a device
	// offline for longer must reset.
	DefaultSyncRetention = 30 * 24 * time.Hour
	// DefaultSyncPurgeInterval is how often expired tombstones are purged.
	DefaultSyncPurgeInterval = time.Hour
	// DefaultSyncMaxClockSkew is how far ahead of the server a device's clock may be.
	DefaultSyncMaxClockSkew = 5 * time.Minute
	// DefaultSyncRecordCache is how many encoded interactions each instance
	// keeps for other devices' pulls (about 750 bytes each).
	DefaultSyncRecordCache = offline.DefaultRecordCache
)

// Config is how the HTTP server is set up. The zero value of a field means its
// default (see DefaultConfig).
type Config struct {
	// Addr is the address to listen on, host:port; port 0 picks a free port.
	Addr string
	// DatabaseURL is the PostgreSQL connection URL; cmd opens it and passes
	// the store in Deps.
	DatabaseURL string
	// ReadDatabaseURL, if set, is a streaming replica of DatabaseURL that
	// serves GraphQL queries (read-your-writes for the writer); cmd opens it.
	ReadDatabaseURL string
	// AuditMaxLag and AuditMaxPending bound the read-audit queue: reads are
	// refused (UNAVAILABLE) once the oldest unwritten audit row has waited
	// AuditMaxLag or AuditMaxPending rows wait (zero: postgres defaults,
	// 1s and 20,000).
	AuditMaxLag     time.Duration
	AuditMaxPending int
	// DBMaxConns caps the database pool's connections; zero keeps the URL's
	// pool_max_conns or pgxpool's default (the larger of 4 and the CPU count).
	DBMaxConns int
	// JWT says which tokens to trust; cmd builds the auth.Verifier from it.
	JWT auth.Config
	// MaxBodyBytes is the largest request body accepted.
	MaxBodyBytes int64
	// FHIRMaxImportBytes is the largest FHIR import Bundle accepted.
	FHIRMaxImportBytes int64
	// MaxDepth and MaxComplexity bound one GraphQL operation.
	MaxDepth      int
	MaxComplexity int
	// MaxTokens, MaxFields, MaxAliases, MaxFragmentSpreads and
	// MaxRepeatedFields bound a query's shape, checked in linear time before
	// it is validated (zero: graph's defaults, 10000, 2000, 100, 200, 100).
	MaxTokens          int
	MaxFields          int
	MaxAliases         int
	MaxFragmentSpreads int
	MaxRepeatedFields  int
	// Introspection turns GraphQL schema introspection on or off; nil means
	// on in development (an HMAC secret and no public keys configured) and
	// off in production.
	Introspection *bool
	// MetricsAddr is the address of the separate listener that serves
	// /metrics (Prometheus); empty serves none. /metrics is never served on
	// Addr. ConfigFromEnv defaults it to DefaultMetricsAddr.
	MetricsAddr string
	// StandingCheckInterval is how often an open GraphQL WebSocket re-checks
	// that its practitioner is still active (zero: 30 s).
	StandingCheckInterval time.Duration
	// RequestTimeout bounds the time one request may take.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the wait for in-flight requests on shutdown.
	ShutdownTimeout time.Duration
	// LogLevel is the least severe level logged.
	LogLevel zerolog.Level
	// WSInitTimeout is how long a GraphQL WebSocket may stay open without a
	// connection_init (zero: wstransport.DefaultInitTimeout, 10 s).
	WSInitTimeout time.Duration
	// FeedbackSecret signs feedback links (at least 32 bytes). Unset, it is
	// derived from the JWT HMAC secret (development); with neither, feedback
	// links are disabled.
	FeedbackSecret []byte
	// WSPingInterval is how often the server pings a GraphQL WebSocket (zero:
	// wstransport.DefaultPingInterval, 15 s; negative disables keep-alive).
	WSPingInterval time.Duration
	// SyncRetention is how long tombstones of deleted records are kept for
	// devices to learn of them; a device whose checkpoint is older must reset.
	SyncRetention time.Duration
	// SyncPurgeInterval is how often Run purges tombstones past SyncRetention.
	SyncPurgeInterval time.Duration
	// SyncMaxClockSkew is how far ahead of server time a device's hybrid
	// logical clock may be before its changes are rejected.
	SyncMaxClockSkew time.Duration
	// SyncRecordCache is how many interactions' JSON the sync engine keeps
	// for other devices' pulls (zero: DefaultSyncRecordCache; negative:
	// none).
	SyncRecordCache int
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Addr:               DefaultAddr,
		JWT:                auth.Config{Issuer: DefaultIssuer, Audience: DefaultAudience},
		MaxBodyBytes:       DefaultMaxBodyBytes,
		FHIRMaxImportBytes: DefaultFHIRMaxImportBytes,
		MaxDepth:           DefaultMaxDepth,
		MaxComplexity:      DefaultMaxComplexity,
		RequestTimeout:     DefaultRequestTimeout,
		ShutdownTimeout:    DefaultShutdownTimeout,
		LogLevel:           zerolog.InfoLevel,
		MetricsAddr:        DefaultMetricsAddr,

		SyncRetention:     DefaultSyncRetention,
		SyncPurgeInterval: DefaultSyncPurgeInterval,
		SyncMaxClockSkew:  DefaultSyncMaxClockSkew,
		SyncRecordCache:   DefaultSyncRecordCache,
	}
}

// withDefaults returns cfg with zero fields replaced by their defaults.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	if cfg.Addr == "" {
		cfg.Addr = d.Addr
	}
	if cfg.JWT.Issuer == "" {
		cfg.JWT.Issuer = d.JWT.Issuer
	}
	if cfg.JWT.Audience == "" {
		cfg.JWT.Audience = d.JWT.Audience
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = d.MaxBodyBytes
	}
	if cfg.FHIRMaxImportBytes <= 0 {
		cfg.FHIRMaxImportBytes = d.FHIRMaxImportBytes
	}
	if cfg.MaxDepth <= 0 {
		cfg.MaxDepth = d.MaxDepth
	}
	if cfg.MaxComplexity <= 0 {
		cfg.MaxComplexity = d.MaxComplexity
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = d.RequestTimeout
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = d.ShutdownTimeout
	}
	if cfg.SyncRetention <= 0 {
		cfg.SyncRetention = d.SyncRetention
	}
	if cfg.SyncPurgeInterval <= 0 {
		cfg.SyncPurgeInterval = d.SyncPurgeInterval
	}
	if cfg.SyncMaxClockSkew <= 0 {
		cfg.SyncMaxClockSkew = d.SyncMaxClockSkew
	}
	if cfg.SyncRecordCache == 0 {
		cfg.SyncRecordCache = d.SyncRecordCache
	}
	if cfg.StandingCheckInterval <= 0 {
		cfg.StandingCheckInterval = DefaultStandingCheckInterval
	}
	if cfg.Introspection == nil {
		dev := len(cfg.JWT.HMACSecret) > 0 && len(cfg.JWT.PublicKeyFiles) == 0 && cfg.JWT.JWKSFile == ""
		cfg.Introspection = &dev
	}
	return cfg
}

// DefaultStandingCheckInterval is how often an open WebSocket re-checks that
// its practitioner is still active.
const DefaultStandingCheckInterval = 30 * time.Second

// graphLimits returns the GraphQL limits of cfg.
func (cfg Config) graphLimits() graph.Limits {
	return graph.Limits{
		MaxDepth: cfg.MaxDepth, MaxComplexity: cfg.MaxComplexity,
		MaxTokens: cfg.MaxTokens, MaxFields: cfg.MaxFields, MaxAliases: cfg.MaxAliases,
		MaxFragmentSpreads: cfg.MaxFragmentSpreads, MaxRepeatedFields: cfg.MaxRepeatedFields,
	}
}

// EnvVar is one environment variable ConfigFromEnv reads.
type EnvVar struct {
	// Name is the variable, e.g. RAPPORT_ADDR.
	Name string
	// Default is the value used when it is unset, as README writes it
	// (e.g. "30s"); "" when the default is not a value of ours (a secret
	// made by make run, a URL found by scripts/pg.sh, no key files).
	Default string
}

// EnvVars lists every variable ConfigFromEnv reads with its default, taken
// from DefaultConfig: the one source README's configuration table is
// checked against.
func EnvVars() []EnvVar {
	d := DefaultConfig()
	return []EnvVar{
		{"DATABASE_URL", ""},
		{"RAPPORT_READ_DATABASE_URL", ""},
		{"RAPPORT_AUDIT_MAX_LAG", shortDuration(postgres.DefaultAuditMaxLag)},
		{"RAPPORT_AUDIT_MAX_PENDING", strconv.Itoa(postgres.DefaultAuditMaxPending)},
		{"RAPPORT_DB_MAX_CONNS", ""}, // the URL's pool_max_conns, else from the CPU count
		{"RAPPORT_ADDR", d.Addr},
		{"RAPPORT_JWT_ISSUER", d.JWT.Issuer},
		{"RAPPORT_JWT_AUDIENCE", d.JWT.Audience},
		{"RAPPORT_JWT_HMAC_SECRET", ""},
		{"RAPPORT_JWT_PUBLIC_KEYS", ""},
		{"RAPPORT_JWT_JWKS_FILE", ""},
		{"RAPPORT_JWT_LEEWAY", shortDuration(d.JWT.Leeway)},
		{"RAPPORT_MAX_BODY_BYTES", strconv.FormatInt(d.MaxBodyBytes, 10)},
		{"RAPPORT_FHIR_MAX_IMPORT_BYTES", strconv.FormatInt(d.FHIRMaxImportBytes, 10)},
		{"RAPPORT_MAX_DEPTH", strconv.Itoa(d.MaxDepth)},
		{"RAPPORT_MAX_COMPLEXITY", strconv.Itoa(d.MaxComplexity)},
		{"RAPPORT_MAX_TOKENS", strconv.Itoa(graph.DefaultMaxTokens)},
		{"RAPPORT_MAX_FIELDS", strconv.Itoa(graph.DefaultMaxFields)},
		{"RAPPORT_MAX_ALIASES", strconv.Itoa(graph.DefaultMaxAliases)},
		{"RAPPORT_MAX_FRAGMENT_SPREADS", strconv.Itoa(graph.DefaultMaxFragmentSpreads)},
		{"RAPPORT_MAX_REPEATED_FIELDS", strconv.Itoa(graph.DefaultMaxRepeatedFields)},
		{"RAPPORT_INTROSPECTION", ""}, // on in development, off in production: no one value
		{"RAPPORT_METRICS_ADDR", d.MetricsAddr},
		{"RAPPORT_STANDING_CHECK_INTERVAL", shortDuration(DefaultStandingCheckInterval)},
		{"RAPPORT_REQUEST_TIMEOUT", shortDuration(d.RequestTimeout)},
		{"RAPPORT_SHUTDOWN_TIMEOUT", shortDuration(d.ShutdownTimeout)},
		{"RAPPORT_LOG_LEVEL", d.LogLevel.String()},
		{"RAPPORT_SYNC_RETENTION", shortDuration(d.SyncRetention)},
		{"RAPPORT_SYNC_PURGE_INTERVAL", shortDuration(d.SyncPurgeInterval)},
		{"RAPPORT_SYNC_MAX_CLOCK_SKEW", shortDuration(d.SyncMaxClockSkew)},
		{"RAPPORT_SYNC_RECORD_CACHE", strconv.Itoa(d.SyncRecordCache)},
		{"RAPPORT_FEEDBACK_SECRET", ""},
	}
}

// shortDuration writes d as people do: 720h, 1h, 5m, 30s, 0s (not 720h0m0s).
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// ConfigFromEnv reads the configuration from environment variables through
// getenv (os.Getenv in production), starting from DefaultConfig:
//
//	RAPPORT_ADDR              listen address (":8080")
//	DATABASE_URL              PostgreSQL URL
//	RAPPORT_READ_DATABASE_URL streaming replica serving GraphQL queries (optional)
//	RAPPORT_AUDIT_MAX_LAG     longest a served read's audit row may wait unwritten ("1s")
//	RAPPORT_AUDIT_MAX_PENDING most read-audit rows waiting at once (20000)
//	RAPPORT_DB_MAX_CONNS      database pool size (default: the URL's pool_max_conns, else max(4, CPUs))
//	RAPPORT_JWT_ISSUER        required token issuer ("rapport-dev")
//	RAPPORT_JWT_AUDIENCE      required token audience ("rapport")
//	RAPPORT_JWT_HMAC_SECRET   HS256 secret, development only
//	RAPPORT_JWT_PUBLIC_KEYS   comma-separated PEM public key files
//	RAPPORT_JWT_JWKS_FILE     JWKS file
//	RAPPORT_JWT_LEEWAY        clock skew tolerated, a duration ("0s")
//	RAPPORT_MAX_BODY_BYTES    largest request body (1048576)
//	RAPPORT_MAX_DEPTH         deepest GraphQL selection (12)
//	RAPPORT_MAX_COMPLEXITY    largest GraphQL complexity (5000)
//	RAPPORT_MAX_TOKENS        most tokens in a GraphQL document (10000)
//	RAPPORT_MAX_FIELDS        most fields selected, fragments expanded (2000)
//	RAPPORT_MAX_ALIASES       most aliases, fragments expanded (100)
//	RAPPORT_MAX_FRAGMENT_SPREADS most fragment spreads, expanded (200)
//	RAPPORT_MAX_REPEATED_FIELDS  most repeats of a response name in one selection (100)
//	RAPPORT_INTROSPECTION     true or false (default: true in development, false in production)
//	RAPPORT_STANDING_CHECK_INTERVAL how often open WebSockets re-check their practitioner is active ("30s")
//	RAPPORT_METRICS_ADDR      separate listener for /metrics ("127.0.0.1:9464"; "off" for none)
//	RAPPORT_REQUEST_TIMEOUT   per-request time limit ("30s")
//	RAPPORT_SHUTDOWN_TIMEOUT  graceful shutdown limit ("15s")
//	RAPPORT_LOG_LEVEL         trace, debug, info, warn or error ("info")
//	RAPPORT_FHIR_MAX_IMPORT_BYTES  largest FHIR import Bundle (default 64 MiB)
//	RAPPORT_FEEDBACK_SECRET   signs feedback links, 32+ bytes (default: derived from the JWT HMAC secret)
//
// Unset or blank variables keep their defaults. It returns an error naming
// every variable whose value is malformed or out of range.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	var errs []error
	get := func(name string) (string, bool) {
		v := strings.TrimSpace(getenv(name))
		return v, v != ""
	}
	positiveInt := func(name string, dst *int) {
		if v, ok := get(name); ok {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive integer", name, v))
				return
			}
			*dst = n
		}
	}
	duration := func(name string, dst *time.Duration, allowZero bool) {
		if v, ok := get(name); ok {
			d, err := time.ParseDuration(v)
			switch {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %q is not a duration (e.g. 30s, 2m)", name, v))
			case d < 0 || (d == 0 && !allowZero):
				errs = append(errs, fmt.Errorf("%s: %q must be positive", name, v))
			default:
				*dst = d
			}
		}
	}

	if v, ok := get("RAPPORT_ADDR"); ok {
		if !strings.Contains(v, ":") {
			errs = append(errs, fmt.Errorf("RAPPORT_ADDR: %q is not host:port (e.g. :8080)", v))
		} else {
			cfg.Addr = v
		}
	}
	if v, ok := get("DATABASE_URL"); ok {
		cfg.DatabaseURL = v
	}
	if v, ok := get("RAPPORT_READ_DATABASE_URL"); ok {
		cfg.ReadDatabaseURL = v
	}
	if v, ok := get("RAPPORT_JWT_ISSUER"); ok {
		cfg.JWT.Issuer = v
	}
	if v, ok := get("RAPPORT_JWT_AUDIENCE"); ok {
		cfg.JWT.Audience = v
	}
	// The secret is taken verbatim: spaces may be part of it.
	if v := getenv("RAPPORT_JWT_HMAC_SECRET"); v != "" {
		if len(v) < auth.MinHMACSecretSize {
			errs = append(errs, fmt.Errorf("RAPPORT_JWT_HMAC_SECRET: is %d bytes, need at least %d", len(v), auth.MinHMACSecretSize))
		} else {
			cfg.JWT.HMACSecret = []byte(v)
		}
	}
	if v := getenv("RAPPORT_FEEDBACK_SECRET"); v != "" {
		if len(v) < feedback.MinSecretSize {
			errs = append(errs, fmt.Errorf("RAPPORT_FEEDBACK_SECRET: is %d bytes, need at least %d", len(v), feedback.MinSecretSize))
		} else {
			cfg.FeedbackSecret = []byte(v)
		}
	}
	if v, ok := get("RAPPORT_JWT_PUBLIC_KEYS"); ok {
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				cfg.JWT.PublicKeyFiles = append(cfg.JWT.PublicKeyFiles, f)
			}
		}
	}
	if v, ok := get("RAPPORT_JWT_JWKS_FILE"); ok {
		cfg.JWT.JWKSFile = v
	}
	duration("RAPPORT_JWT_LEEWAY", &cfg.JWT.Leeway, true)
	positiveInt64 := func(name string, dst *int64) {
		if v, ok := get(name); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("%s: %q is not a positive integer", name, v))
				return
			}
			*dst = n
		}
	}
	positiveInt64("RAPPORT_MAX_BODY_BYTES", &cfg.MaxBodyBytes)
	positiveInt64("RAPPORT_FHIR_MAX_IMPORT_BYTES", &cfg.FHIRMaxImportBytes)
	positiveInt("RAPPORT_DB_MAX_CONNS", &cfg.DBMaxConns)
	positiveInt("RAPPORT_AUDIT_MAX_PENDING", &cfg.AuditMaxPending)
	duration("RAPPORT_AUDIT_MAX_LAG", &cfg.AuditMaxLag, false)
	positiveInt("RAPPORT_MAX_DEPTH", &cfg.MaxDepth)
	positiveInt("RAPPORT_MAX_COMPLEXITY", &cfg.MaxComplexity)
	positiveInt("RAPPORT_MAX_TOKENS", &cfg.MaxTokens)
	positiveInt("RAPPORT_MAX_FIELDS", &cfg.MaxFields)
	positiveInt("RAPPORT_MAX_ALIASES", &cfg.MaxAliases)
	positiveInt("RAPPORT_MAX_FRAGMENT_SPREADS", &cfg.MaxFragmentSpreads)
	positiveInt("RAPPORT_MAX_REPEATED_FIELDS", &cfg.MaxRepeatedFields)
	if v, ok := get("RAPPORT_INTROSPECTION"); ok {
		on, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("RAPPORT_INTROSPECTION: %q is not true or false", v))
		} else {
			cfg.Introspection = &on
		}
	}
	if v, ok := get("RAPPORT_METRICS_ADDR"); ok {
		switch {
		case strings.EqualFold(v, "off"):
			cfg.MetricsAddr = ""
		case !strings.Contains(v, ":"):
			errs = append(errs, fmt.Errorf("RAPPORT_METRICS_ADDR: %q is not host:port or off", v))
		default:
			cfg.MetricsAddr = v
		}
	}
	duration("RAPPORT_REQUEST_TIMEOUT", &cfg.RequestTimeout, false)
	duration("RAPPORT_SHUTDOWN_TIMEOUT", &cfg.ShutdownTimeout, false)
	duration("RAPPORT_SYNC_RETENTION", &cfg.SyncRetention, false)
	duration("RAPPORT_SYNC_PURGE_INTERVAL", &cfg.SyncPurgeInterval, false)
	duration("RAPPORT_SYNC_MAX_CLOCK_SKEW", &cfg.SyncMaxClockSkew, false)
	duration("RAPPORT_STANDING_CHECK_INTERVAL", &cfg.StandingCheckInterval, false)
	if v, ok := get("RAPPORT_SYNC_RECORD_CACHE"); ok && strings.EqualFold(v, "off") {
		cfg.SyncRecordCache = -1
	} else {
		positiveInt("RAPPORT_SYNC_RECORD_CACHE", &cfg.SyncRecordCache)
	}
	if v, ok := get("RAPPORT_LOG_LEVEL"); ok {
		lvl, err := zerolog.ParseLevel(strings.ToLower(v))
		if err != nil || lvl == zerolog.NoLevel {
			errs = append(errs, fmt.Errorf("RAPPORT_LOG_LEVEL: %q is not one of trace, debug, info, warn, error", v))
		} else {
			cfg.LogLevel = lvl
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("server: configuration: %w", errors.Join(errs...))
	}
	return cfg, nil
}
