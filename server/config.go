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
	// DefaultSyncRetention is how long sync tombstones are kept; a device
	// offline for longer must reset.
	DefaultSyncRetention = 30 * 24 * time.Hour
	// DefaultSyncPurgeInterval is how often expired tombstones are purged.
	DefaultSyncPurgeInterval = time.Hour
	// DefaultSyncMaxClockSkew is how far ahead of the server a device's clock may be.
	DefaultSyncMaxClockSkew = 5 * time.Minute
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
	// MaxDepth and MaxComplexity bound one GraphQL operation.
	MaxDepth      int
	MaxComplexity int
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
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config {
	return Config{
		Addr:            DefaultAddr,
		JWT:             auth.Config{Issuer: DefaultIssuer, Audience: DefaultAudience},
		MaxBodyBytes:    DefaultMaxBodyBytes,
		MaxDepth:        DefaultMaxDepth,
		MaxComplexity:   DefaultMaxComplexity,
		RequestTimeout:  DefaultRequestTimeout,
		ShutdownTimeout: DefaultShutdownTimeout,
		LogLevel:        zerolog.InfoLevel,

		SyncRetention:     DefaultSyncRetention,
		SyncPurgeInterval: DefaultSyncPurgeInterval,
		SyncMaxClockSkew:  DefaultSyncMaxClockSkew,
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
	return cfg
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
//	RAPPORT_REQUEST_TIMEOUT   per-request time limit ("30s")
//	RAPPORT_SHUTDOWN_TIMEOUT  graceful shutdown limit ("15s")
//	RAPPORT_LOG_LEVEL         trace, debug, info, warn or error ("info")
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
	if v, ok := get("RAPPORT_MAX_BODY_BYTES"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("RAPPORT_MAX_BODY_BYTES: %q is not a positive integer", v))
		} else {
			cfg.MaxBodyBytes = n
		}
	}
	positiveInt("RAPPORT_DB_MAX_CONNS", &cfg.DBMaxConns)
	positiveInt("RAPPORT_AUDIT_MAX_PENDING", &cfg.AuditMaxPending)
	duration("RAPPORT_AUDIT_MAX_LAG", &cfg.AuditMaxLag, false)
	positiveInt("RAPPORT_MAX_DEPTH", &cfg.MaxDepth)
	positiveInt("RAPPORT_MAX_COMPLEXITY", &cfg.MaxComplexity)
	duration("RAPPORT_REQUEST_TIMEOUT", &cfg.RequestTimeout, false)
	duration("RAPPORT_SHUTDOWN_TIMEOUT", &cfg.ShutdownTimeout, false)
	duration("RAPPORT_SYNC_RETENTION", &cfg.SyncRetention, false)
	duration("RAPPORT_SYNC_PURGE_INTERVAL", &cfg.SyncPurgeInterval, false)
	duration("RAPPORT_SYNC_MAX_CLOCK_SKEW", &cfg.SyncMaxClockSkew, false)
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
