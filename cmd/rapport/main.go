// Command rapport runs Rapport's GraphQL API and the operator's tasks around
// it: applying migrations, seeding demo data and minting development tokens.
//
// main only wires: everything it does sits behind run, which takes its
// arguments, environment and output streams as parameters so tests can drive
// it without a process.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "rapport: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// usageError is a mistake in the command line, as opposed to a failure while
// doing what it asked; main exits 2 for it.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg + " (see 'rapport help')" }

func usagef(format string, args ...any) error {
	return usageError{msg: fmt.Sprintf(format, args...)}
}

const usage = `Rapport serves a GraphQL API for relationship-centred community care.

Usage:
  rapport [command] [flags]

Commands:
  serve     run the HTTP server (the default): applies migrations, then serves
            /graphql (GraphiQL in a browser), /healthz and /readyz; /metrics
            on its own listener, RAPPORT_METRICS_ADDR (127.0.0.1:9464)
  migrate   apply pending database migrations and exit
  seed      load a generated demo dataset into the database
  simulate  run simulated offline devices against a running server and check
            that every device converges to the server's state
  org create  create an organisation and its first administrator in an empty
            (or any) database; prints their ids, and an admin token in development
  token     print a development token signed with RAPPORT_JWT_HMAC_SECRET
  help      show this help, or 'rapport help <command>' for a command's flags

Configuration is read from the environment:
  DATABASE_URL              PostgreSQL URL (required by serve, migrate, seed);
                            pgxpool's pool_max_conns etc. may be given in it
  RAPPORT_DB_MAX_CONNS      database pool size (overrides pool_max_conns)
  RAPPORT_READ_DATABASE_URL a streaming replica that serves GraphQL queries
  RAPPORT_AUDIT_MAX_LAG, RAPPORT_AUDIT_MAX_PENDING  bounds of the read-audit queue
  RAPPORT_ADDR              listen address (":8080"; port 0 picks a free one)
  RAPPORT_JWT_HMAC_SECRET   HS256 secret for development, at least 32 bytes
  RAPPORT_JWT_PUBLIC_KEYS   comma-separated PEM public key files (RS256/EdDSA)
  RAPPORT_JWT_JWKS_FILE     JWKS file
  RAPPORT_JWT_ISSUER, RAPPORT_JWT_AUDIENCE, RAPPORT_JWT_LEEWAY
  RAPPORT_MAX_BODY_BYTES, RAPPORT_MAX_DEPTH, RAPPORT_MAX_COMPLEXITY
  RAPPORT_REQUEST_TIMEOUT, RAPPORT_SHUTDOWN_TIMEOUT
  RAPPORT_LOG_LEVEL         trace, debug, info, warn or error ("info")

'make run' does all of this for you: it finds or starts PostgreSQL, keeps a
development secret in .tmp/dev-secret and runs 'rapport serve --seed-demo'.
`

// command is one subcommand: its flags and what it does once they are parsed.
type command struct {
	name    string
	summary string
	flags   func(fs *flag.FlagSet) func(ctx context.Context, env environment) error
}

// environment is what a command runs against.
type environment struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

var commands = []command{
	{name: "serve", summary: "rapport serve [--seed-demo] [--addr-file PATH]", flags: serveFlags},
	{name: "migrate", summary: "rapport migrate", flags: migrateFlags},
	{name: "seed", summary: "rapport seed [--size small|medium|large] [--seed N] [--as-of YYYY-MM-DD|today]", flags: seedFlags},
	{name: "simulate", summary: "rapport simulate [--url URL] [--devices N] [--rounds N] [--ops N] [--drop-requests P] [--drop-responses P] [--spread D]", flags: simulateFlags},
	{name: "org create", summary: "rapport org create --name NAME [--ods CODE] [--kind gp_practice] [flags]", flags: orgCreateFlags},
	{name: "token", summary: "rapport token --role nurse|gp|practice_admin|integration [flags]\n  rapport token --demo", flags: tokenFlags},
}

func lookup(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// run executes the command line args (without the program name) and returns
// a usageError for a malformed command line, or the error that stopped the
// command. It returns nil when the command succeeds, including `serve` shut
// down cleanly by cancelling ctx.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	env := environment{getenv: getenv, stdout: stdout, stderr: stderr}
	name := "serve"
	if len(args) > 0 {
		switch a := args[0]; {
		case a == "help" || a == "-h" || a == "-help" || a == "--help":
			return help(args[1:], stdout)
		case len(a) > 0 && a[0] != '-':
			name, args = a, args[1:]
			// Two-word commands: "org create".
			if len(args) > 0 {
				if _, ok := lookup(name + " " + args[0]); ok {
					name, args = name+" "+args[0], args[1:]
				}
			}
		}
	}
	c, ok := lookup(name)
	if !ok {
		return usagef("unknown command %q", name)
	}
	fs := flag.NewFlagSet("rapport "+c.name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	exec := c.flags(fs)
	fs.Usage = func() { commandUsage(c, fs, fs.Output()) }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		// The flag package has already printed the problem and the usage.
		return usageError{msg: err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q", c.name, fs.Arg(0))
	}
	return exec(ctx, env)
}

func help(args []string, w io.Writer) error {
	if len(args) == 0 {
		_, err := io.WriteString(w, usage)
		return err
	}
	c, ok := lookup(strings.Join(args, " "))
	if !ok {
		return usagef("no help for unknown command %q", strings.Join(args, " "))
	}
	fs := flag.NewFlagSet("rapport "+c.name, flag.ContinueOnError)
	c.flags(fs)
	commandUsage(c, fs, w)
	return nil
}

func commandUsage(c command, fs *flag.FlagSet, w io.Writer) {
	fmt.Fprintf(w, "Usage:\n  %s\n", c.summary)
	if detail, ok := commandHelp[c.name]; ok {
		fmt.Fprintf(w, "\n%s", detail)
	}
	var any bool
	fs.VisitAll(func(*flag.Flag) { any = true })
	if any {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

var commandHelp = map[string]string{
	"serve": `Applies pending migrations (under tern's advisory lock, so several instances
may start together), then serves HTTP on RAPPORT_ADDR until SIGINT or SIGTERM,
and shuts down gracefully. Logs are JSON on stderr.
`,
	"migrate": `Applies pending migrations to DATABASE_URL and exits.
`,
	"seed": `Generates a deterministic demo dataset (GP practices, nursing teams,
patients, care relationships, interactions) and loads it in one transaction
into DATABASE_URL, after applying migrations. Refuses a database that already
holds it. Sizes: small (2 practices x 300 patients), medium (4 x 2,500),
large (1 x 20,000, about a million interactions). The same --size, --seed and
--as-of always give identical data (the clock is read only with --as-of today).
`,
	"simulate": `Runs N simulated devices (the demo nurse's team, two devices per nurse)
against a running server seeded with the demo data: each makes random offline
creates, edits, signs, amends and deletes, syncing over a network that drops
requests and responses; then all sync cleanly and the command checks that every
device equals the server and that every accepted change was applied exactly
once. Prints push and pull latency (p50/p99) and exits non-zero on divergence.
By default every device syncs at the same instant each round (a burst);
--spread 5s makes each round last five seconds, each device coming online at
its own random moment within it, the way phones regain signal.
Needs RAPPORT_JWT_HMAC_SECRET (make run keeps it in .tmp/dev-secret).
`,
	"org create": `Creates an organisation (a GP practice by default) and its first practice
administrator, acting as the system, after applying migrations to DATABASE_URL.
Prints shell exports: RAPPORT_ORG_ID, RAPPORT_ADMIN_ID and, when
RAPPORT_JWT_HMAC_SECRET is set (development), RAPPORT_ADMIN_TOKEN, a
practice_admin token for that administrator. So
  eval "$(bin/rapport org create --name 'Riverside Surgery' --ods Y01234)"
leaves the shell ready to add teams, practitioners and patients over GraphQL
(docs/getting-started.md). An ODS code already in use is refused.
`,
	"token": `Prints a token minted with RAPPORT_JWT_HMAC_SECRET, issuer and audience from
the environment. Without --practitioner and --org, a person's token speaks for
the demo persona of that role (see 'rapport seed'). --demo prints one token per
role for the demo personas as shell exports, with a curl example.
`,
}
