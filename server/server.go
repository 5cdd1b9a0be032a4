// Package server is Rapport's HTTP front: routes (/graphql, /graphiql, /dashboard,
// /healthz, /readyz, /metrics), the middleware every request passes through
// (request id, access log, recover, body limit, timeout, bearer-token
// authentication on /graphql), configuration from the environment, and Run,
// which serves until its context is cancelled and then shuts down gracefully.
package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/graph/wstransport"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
	"github.com/rapportcare/rapport/web/dashboard"
)

// readyTimeout bounds the database ping behind /readyz.
const readyTimeout = 2 * time.Second

// Deps are what the server is built on; cmd makes them.
type Deps struct {
	// DB is the store; /readyz pings it.
	DB *postgres.DB
	// Verifier checks the bearer tokens on /graphql, and those WebSocket
	// clients send in connection_init.
	Verifier *auth.Verifier
	// Sync is the offline sync engine; nil builds one over DB from the
	// configuration's Sync* fields.
	Sync *offline.Engine
	// Log is the base logger; each request gets a child carrying its id.
	Log zerolog.Logger
	// Ready, if set, is called with the address actually listened on, once
	// the listener is open (useful with port 0).
	Ready func(addr string)

	// shutdown is closed when Run begins shutting down: WebSockets (which
	// http.Server.Shutdown does not track) are then closed with 1001.
	shutdown <-chan struct{}
}

// Handler returns the server's routes wrapped in its middleware. Zero fields
// of cfg take their defaults. /metrics is not among the routes: Run serves it
// on its own listener (cfg.MetricsAddr).
func Handler(cfg Config, deps Deps) http.Handler {
	h, _ := newHandler(cfg, deps)
	return h
}

// newHandler is Handler, also returning the metrics its requests feed.
func newHandler(cfg Config, deps Deps) (http.Handler, *metrics) {
	cfg = cfg.withDefaults()
	m := newMetrics()

	engine := syncEngine(cfg, deps)
	m.watchRecordCache(engine)
	links := feedbackSigner(cfg)
	gql := graph.NewServer(deps.DB, cfg.graphLimits(),
		graph.WithSync(engine), graph.WithFeedbackLinks(links), graph.WithIntrospection(*cfg.Introspection),
		graph.WithWebSocket(wstransport.Config{
			Authenticate: wsAuthenticator(deps.Verifier, deps.DB),
			Recheck:      wsStanding(deps.DB),
			RecheckEvery: cfg.StandingCheckInterval,
			InitTimeout:  cfg.WSInitTimeout,
			PingInterval: cfg.WSPingInterval,
			Shutdown:     deps.shutdown,
		}))
	m.instrument(gql)

	page := graphiqlPage()
	api := withAuth(deps.Verifier, deps.DB, gql)
	mux := http.NewServeMux()
	mux.Handle("/graphql", graphqlRoute(page, api))
	mux.Handle("/graphiql", onlyGet(page))
	mux.Handle("/graphiql/", onlyGet(graphiqlAssets()))
	mux.Handle("/favicon.ico", onlyGet(favicon()))
	mux.Handle("/healthz", onlyGet(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeStatus(w, http.StatusOK, "ok")
	})))
	mux.Handle("/readyz", onlyGet(readyz(deps.DB)))
	mux.Handle("/feedback/", feedbackHandler(deps.DB, links))
	// The dashboard reads only through the authenticated API, as any client does.
	board := dashboard.Handler(api, dashboard.Options{})
	mux.Handle("/dashboard", board)
	mux.Handle("/dashboard/", board)
	fhirAPI := fhirHandler(cfg, deps)
	mux.Handle(FHIRBase, fhirAPI) // the base itself takes import Bundles
	mux.Handle(FHIRBase+"/", fhirAPI)
	mux.Handle("/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, codeNotFound, "no such route")
	}))

	return chain(cfg, deps.Log, m, mux), m
}

// chain wraps h in the middleware, outermost first: request id and logger,
// access log and metrics, recover, timeout, body limit.
func chain(cfg Config, log zerolog.Logger, m *metrics, h http.Handler) http.Handler {
	h = withBodyLimits(cfg, h)
	h = withTimeout(cfg.RequestTimeout, h)
	h = withRecover(h)
	h = withAccessLog(m, h)
	return withRequest(log, h)
}

// graphqlRoute serves GraphQL on POST and GET, and the GraphiQL page to a
// browser that navigates to /graphql (GET, Accept with text/html, no query).
// A WebSocket upgrade goes straight to the API (it authenticates in
// connection_init).
func graphqlRoute(page, api http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wstransport.IsUpgrade(r) {
			api.ServeHTTP(w, r)
			return
		}
		switch r.Method {
		case http.MethodGet:
			if strings.Contains(r.Header.Get("Accept"), "text/html") && !r.URL.Query().Has("query") {
				page.ServeHTTP(w, r)
				return
			}
		case http.MethodPost:
		default:
			w.Header().Set("Allow", "GET, POST")
			writeError(w, http.StatusMethodNotAllowed, codeBadUserInput, "method not allowed; use POST or GET")
			return
		}
		api.ServeHTTP(w, r)
	})
}

// onlyGet refuses methods other than GET and HEAD with 405.
func onlyGet(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, codeBadUserInput, "method not allowed; use GET")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// readyz answers 200 when the database answers a ping within readyTimeout.
func readyz(db *postgres.DB) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if db == nil {
			writeStatus(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := db.Ping(ctx); err != nil {
			zerolog.Ctx(r.Context()).Warn().Err(err).Msg("readiness: database ping failed")
			writeStatus(w, http.StatusServiceUnavailable, "unavailable")
			return
		}
		writeStatus(w, http.StatusOK, "ok")
	})
}

func writeStatus(w http.ResponseWriter, code int, status string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = fmt.Fprintf(w, "{\"status\":%q}\n", status)
}

// Run listens on cfg.Addr and serves Handler(cfg, deps) until ctx is
// cancelled, then shuts down gracefully, waiting at most cfg.ShutdownTimeout
// for requests in flight. It calls deps.Ready with the address listened on
// and logs it. It returns an error if it cannot listen, if serving fails, or
// if the shutdown does not finish in time; nil after a clean shutdown.
func Run(ctx context.Context, cfg Config, deps Deps) error {
	cfg = cfg.withDefaults()
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("server: listen on %s: %w", cfg.Addr, err)
	}
	addr := ln.Addr().String()
	shutdown := make(chan struct{})
	deps.shutdown = shutdown
	deps.Sync = syncEngine(cfg, deps)
	if deps.Sync != nil {
		go maintain(ctx, deps.DB, deps.Sync, cfg.SyncPurgeInterval, deps.Log)
	}
	handler, m := newHandler(cfg, deps)
	stopMetrics, _, err := serveMetrics(ctx, cfg.MetricsAddr, m, deps.Log)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopMetrics()
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          newStdLogger(deps.Log),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	srv.RegisterOnShutdown(func() { close(shutdown) })
	// Ready first: whoever waits for the "listening" line may rely on it
	// (e.g. on the address file of `rapport serve --addr-file`).
	if deps.Ready != nil {
		deps.Ready(addr)
	}
	deps.Log.Info().Str("addr", addr).Msg("listening")

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return fmt.Errorf("server: serve: %w", err)
	case <-ctx.Done():
	}
	deps.Log.Info().Dur("timeout", cfg.ShutdownTimeout).Msg("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("server: shutdown: %w", err)
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("server: serve: %w", err)
	}
	deps.Log.Info().Msg("stopped")
	return nil
}

// serveMetrics serves /metrics on its own listener at addr until the
// returned stop func is called; an empty addr serves nothing. Keeping metrics
// off the public listener means only those who can reach addr (loopback by
// default) read them.
func serveMetrics(ctx context.Context, addr string, m *metrics, log zerolog.Logger) (stop func(), bound string, err error) {
	if addr == "" {
		return func() {}, "", nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, "", fmt.Errorf("server: listen for metrics on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", onlyGet(m.handler()))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: newStdLogger(log)}
	log.Info().Str("metrics_addr", ln.Addr().String()).Msg("serving metrics")
	go func() { _ = srv.Serve(ln) }()
	return func() { _ = srv.Close() }, ln.Addr().String(), nil
}

// syncEngine returns deps.Sync, or an engine over deps.DB configured from cfg
// (nil without a database).
func syncEngine(cfg Config, deps Deps) *offline.Engine {
	if deps.Sync != nil || deps.DB == nil {
		return deps.Sync
	}
	return offline.New(deps.DB, offline.Config{Retention: cfg.SyncRetention, MaxClockSkew: cfg.SyncMaxClockSkew, RecordCache: cfg.SyncRecordCache})
}

// maintain runs the periodic housekeeping every instance shares, until ctx
// ends: every tick (a minute, or purgeEvery if shorter) it activates care
// relationships whose planned start has come, and every purgeEvery it purges
// sync tombstones past their retention. Both are idempotent, so several
// instances may run them; failures are logged and retried at the next tick.
func maintain(ctx context.Context, db *postgres.DB, engine *offline.Engine, purgeEvery time.Duration, log zerolog.Logger) {
	sys := care.NewContextWithActor(ctx, care.SystemActor())
	tick := min(time.Minute, purgeEvery)
	t := time.NewTicker(tick)
	defer t.Stop()
	var lastPurge time.Time
	for {
		if n, err := db.ActivateDueRelationships(sys); err != nil && ctx.Err() == nil {
			log.Error().Err(err).Msg("activate due care relationships")
		} else if n > 0 {
			log.Info().Int("activated", n).Msg("activated care relationships whose start has come")
		}
		if time.Since(lastPurge) >= purgeEvery {
			lastPurge = time.Now()
			if n, err := engine.Purge(sys); err != nil && ctx.Err() == nil {
				log.Error().Err(err).Msg("purge sync tombstones")
			} else if n > 0 {
				log.Info().Int64("purged", n).Msg("purged expired sync tombstones")
			}
			if st, err := engine.Compact(sys); err != nil && ctx.Err() == nil {
				log.Error().Err(err).Msg("compact sync tables")
			} else if st.Mutations > 0 || st.Scopes > 0 {
				log.Info().Int64("mutations", st.Mutations).Int64("scope_rows", st.Scopes).
					Msg("compacted acknowledged sync push results and old scope generations")
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
