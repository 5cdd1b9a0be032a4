package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/server"
)

// demoTokenTTL is how long the tokens printed by --seed-demo and --demo live.
const demoTokenTTL = 12 * time.Hour

func serveFlags(fs *flag.FlagSet) func(context.Context, environment) error {
	seedDemo := fs.Bool("seed-demo", false, "load the small demo dataset if the database lacks it, and print tokens for its personas")
	addrFile := fs.String("addr-file", "", "write the address actually listened on to this file (make run uses it so make tokens knows where the server is)")
	return func(ctx context.Context, env environment) error {
		return serve(ctx, env, *seedDemo, *addrFile)
	}
}

// config reads the server configuration and checks what every database
// command needs.
func config(env environment, needDB bool) (server.Config, error) {
	cfg, err := server.ConfigFromEnv(env.getenv)
	if err != nil {
		return server.Config{}, err
	}
	if needDB && cfg.DatabaseURL == "" {
		return server.Config{}, errors.New("DATABASE_URL is not set (e.g. DATABASE_URL=$(scripts/pg.sh), or use 'make run')")
	}
	return cfg, nil
}

func newLogger(w io.Writer, level zerolog.Level) zerolog.Logger {
	return zerolog.New(w).Level(level).With().Timestamp().Logger()
}

// openMigrated applies migrations, then opens the store; the caller closes it.
func openMigrated(ctx context.Context, cfg server.Config, log zerolog.Logger) (*postgres.DB, error) {
	start := time.Now()
	if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
		return nil, err
	}
	log.Info().Dur("took", time.Since(start)).Msg("migrations applied")
	db, err := postgres.OpenWith(ctx, cfg.DatabaseURL, postgres.Options{MaxConns: cfg.DBMaxConns, ReadURL: cfg.ReadDatabaseURL,
		AuditMaxLag: cfg.AuditMaxLag, AuditMaxPending: cfg.AuditMaxPending})
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	return db, nil
}

func serve(ctx context.Context, env environment, seedDemo bool, addrFile string) error {
	cfg, err := config(env, true)
	if err != nil {
		return err
	}
	server.TuneGC(env.getenv)
	log := newLogger(env.stderr, cfg.LogLevel)
	verifier, err := auth.NewVerifier(cfg.JWT)
	if err != nil {
		return fmt.Errorf("token verification: %w (set RAPPORT_JWT_HMAC_SECRET for development, or RAPPORT_JWT_PUBLIC_KEYS / RAPPORT_JWT_JWKS_FILE)", err)
	}
	db, err := openMigrated(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()

	var tokens []demoToken
	if seedDemo {
		if err := seedIfEmpty(ctx, db, log); err != nil {
			return err
		}
		if cfg.JWT.HMACSecret == nil {
			log.Warn().Msg("no RAPPORT_JWT_HMAC_SECRET: cannot mint demo tokens")
		} else if tokens, err = demoTokens(verifier); err != nil {
			return err
		}
	}
	ready := func(addr string) {
		if addrFile != "" {
			if err := os.WriteFile(addrFile, []byte(addr+"\n"), 0o644); err != nil {
				log.Warn().Err(err).Msg("could not write --addr-file")
			}
		}
		if seedDemo {
			printWelcome(env.stdout, baseURL(addr), tokens)
		}
	}
	return server.Run(ctx, cfg, server.Deps{DB: db, Verifier: verifier, Log: log, Ready: ready})
}

// seedIfEmpty loads demo.Small unless the database already holds the demo data.
func seedIfEmpty(ctx context.Context, db *postgres.DB, log zerolog.Logger) error {
	seeded, err := demo.Seeded(ctx, db)
	if err != nil {
		return err
	}
	if seeded {
		log.Info().Msg("demo data already present")
		return nil
	}
	log.Info().Msg("seeding demo data (small)")
	s, err := demo.Seed(care.NewContextWithActor(ctx, care.SystemActor()), db, demo.Small)
	if err != nil {
		return err
	}
	log.Info().Int("patients", s.Patients).Int("interactions", s.Interactions).
		Dur("generate", s.Generate).Dur("load", s.Load).Msg("demo data seeded")
	return nil
}

// baseURL turns a listen address into a URL a browser on this machine can open.
func baseURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "http://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

func printWelcome(w io.Writer, base string, tokens []demoToken) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nRapport is running. GraphiQL: %s/graphql\n", base)
	if len(tokens) > 0 {
		b.WriteString("\n")
		writeDemoTokens(&b, base, tokens)
		writeDashboardLink(&b, base, tokens)
	}
	_, _ = io.WriteString(w, b.String())
}

// writeDashboardLink prints a link that opens /dashboard as the demo
// practice admin. The token rides in the URL fragment, which browsers never
// send to a server, so it reaches no access log; the page moves it into the
// tab's sessionStorage and takes it out of the address bar.
func writeDashboardLink(b *strings.Builder, base string, tokens []demoToken) {
	for _, t := range tokens {
		if t.role == care.RolePracticeAdmin {
			fmt.Fprintf(b, "\nDashboard, as the demo practice admin (the token stays in the #fragment, never sent to the server):\n%s/dashboard#token=%s\n", base, t.token)
		}
	}
}

func migrateFlags(*flag.FlagSet) func(context.Context, environment) error {
	return func(ctx context.Context, env environment) error {
		cfg, err := config(env, true)
		if err != nil {
			return err
		}
		start := time.Now()
		if err := postgres.Migrate(ctx, cfg.DatabaseURL); err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "migrations applied (%s)\n", time.Since(start).Round(time.Millisecond))
		return nil
	}
}

var sizes = map[string]demo.Options{"small": demo.Small, "medium": demo.Medium, "large": demo.Large}

func seedFlags(fs *flag.FlagSet) func(context.Context, environment) error {
	size := fs.String("size", "small", "dataset size: small, medium or large")
	seed := fs.Int64("seed", 0, "random seed (0 keeps the preset's); the same seed and --as-of give the same dataset")
	asOf := fs.String("as-of", demo.ReferenceNow.Format(time.DateOnly),
		"the dataset's today (YYYY-MM-DD, noon UTC): its two years of interactions end here; 'today' reads the clock")
	return func(ctx context.Context, env environment) error {
		o, ok := sizes[*size]
		if !ok {
			return usagef("seed: --size %q is not small, medium or large", *size)
		}
		if *seed != 0 {
			o.Seed = *seed
		}
		// Never the wall clock unless asked: the same command must give the
		// same data every time, so benchmark runs are comparable.
		switch *asOf {
		case "today":
			o.Now = time.Now()
		default:
			d, err := time.Parse(time.DateOnly, *asOf)
			if err != nil {
				return usagef("seed: --as-of %q is not a date (YYYY-MM-DD) or today", *asOf)
			}
			o.Now = d.Add(12 * time.Hour)
		}
		cfg, err := config(env, true)
		if err != nil {
			return err
		}
		log := newLogger(env.stderr, cfg.LogLevel)
		db, err := openMigrated(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer db.Close()
		seeded, err := demo.Seeded(ctx, db)
		if err != nil {
			return err
		}
		if seeded {
			return errors.New("seed: the database already holds the demo dataset; seed a fresh database")
		}
		s, err := demo.Seed(care.NewContextWithActor(ctx, care.SystemActor()), db, o)
		if err != nil {
			return err
		}
		fmt.Fprintf(env.stdout, "seeded %s dataset (seed %d, as of %s):\n", *size, o.Seed, o.Now.Format(time.DateOnly))
		fmt.Fprintf(env.stdout, "  organizations  %d\n  teams          %d\n  practitioners  %d\n  patients       %d\n",
			s.Organizations, s.Teams, s.Practitioners, s.Patients)
		fmt.Fprintf(env.stdout, "  relationships  %d\n  interactions   %d\n  amendments     %d\n",
			s.Relationships, s.Interactions, s.Amendments)
		fmt.Fprintf(env.stdout, "  generated in %s, loaded in %s\n",
			s.Generate.Round(time.Millisecond), s.Load.Round(time.Millisecond))
		return nil
	}
}
