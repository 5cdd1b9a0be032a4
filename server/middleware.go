package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph/wstransport"
	"github.com/rapportcare/rapport/postgres"
)

// RequestIDHeader carries the request id in and out.
const RequestIDHeader = "X-Request-ID"

// Error codes in extensions.code, as the GraphQL layer uses them.
const (
	codeUnauthenticated = "UNAUTHENTICATED"
	codeBadUserInput    = "BAD_USER_INPUT"
	codeNotFound        = "NOT_FOUND"
	codeInternal        = "INTERNAL"
)

// requestInfo is what inner layers tell the access log about a request.
type requestInfo struct {
	mu        sync.Mutex
	operation string
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	info, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return info
}

func (i *requestInfo) setOperation(name string) {
	if name != "" && !operationNameRE.MatchString(name) {
		name = "(invalid)" // client input that is not a GraphQL name is never logged
	}
	i.mu.Lock()
	i.operation = name
	i.mu.Unlock()
}

func (i *requestInfo) getOperation() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.operation
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b[:])
}

// withRequest gives every request an id (a sane incoming X-Request-ID, or a
// new one), echoes it, and puts the id, a logger carrying it and a
// requestInfo in the context.
func withRequest(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !requestIDRE.MatchString(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		l := log.With().Str("request_id", id).Logger()
		ctx := care.NewContextWithRequestID(r.Context(), id)
		ctx = l.WithContext(ctx)
		ctx = context.WithValue(ctx, requestInfoKey{}, &requestInfo{})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// statusWriter records the status and the bytes written.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush passes flushes through (streamed responses).
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController and websocket upgrades reach the
// underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// routeFor maps a path onto the fixed set of route labels.
func routeFor(path string) string {
	switch {
	case path == "/graphql", path == "/healthz", path == "/readyz", path == "/metrics", path == "/graphiql":
		return path
	case strings.HasPrefix(path, "/graphiql/"):
		return "/graphiql"
	case strings.HasPrefix(path, FHIRBase+"/"), path == FHIRBase:
		return FHIRBase
	default:
		return "other"
	}
}

// withAccessLog logs one line per request and counts it in the metrics. It
// logs the method, route (never the path's query string), status, duration,
// bytes and GraphQL operation name: never bodies, variables or headers.
func withAccessLog(m *metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		d := time.Since(start)
		route := routeFor(r.URL.Path)
		m.observeRequest(route, sw.status, d)
		ev := zerolog.Ctx(r.Context()).Info()
		if sw.status >= 500 {
			ev = zerolog.Ctx(r.Context()).Error()
		}
		if info := requestInfoFrom(r.Context()); info != nil {
			if op := info.getOperation(); op != "" {
				ev = ev.Str("operation", op)
			}
		}
		ev.Str("method", r.Method).
			Str("route", route).
			Int("status", sw.status).
			Float64("duration_ms", float64(d.Microseconds())/1000).
			Int64("bytes", sw.bytes).
			Msg("request")
	})
}

// withRecover turns a panic into a logged 500 INTERNAL that says nothing of
// the cause. http.ErrAbortHandler is passed on, as net/http expects.
func withRecover(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw, ok := w.(*statusWriter)
		if !ok {
			sw = &statusWriter{ResponseWriter: w}
		}
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			zerolog.Ctx(r.Context()).Error().
				Str("panic", fmt.Sprintf("%T", v)).
				Str("error", fmt.Sprint(v)).
				Str("stack", string(debug.Stack())).
				Msg("recovered from panic")
			if sw.status == 0 {
				writeError(sw, http.StatusInternalServerError, codeInternal, "Internal error.")
			}
		}()
		next.ServeHTTP(sw, r)
	})
}

// withBodyLimit caps request bodies at max bytes: a declared Content-Length
// over the cap is refused at once with 413; otherwise reading past the cap
// fails, and the GraphQL transport answers 413.
func withBodyLimit(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			writeError(w, http.StatusRequestEntityTooLarge, codeBadUserInput,
				fmt.Sprintf("request body exceeds %d bytes", max))
			return
		}
		if r.Body != nil {
			r.Body = http.MaxBytesReader(w, r.Body, max)
		}
		next.ServeHTTP(w, r)
	})
}

// withTimeout bounds a request's context. Websocket upgrades are long-lived
// and left alone.
func withTimeout(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" || isFHIRExportFile(r) {
			next.ServeHTTP(w, r)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), d)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// withAuth requires a valid bearer token and puts its actor in the context.
// A missing or rejected token is 401 UNAUTHENTICATED with WWW-Authenticate;
// the reason is logged, the token never. A WebSocket upgrade passes without
// one: the GraphQL WebSocket transport claims exactly those requests
// (wstransport.IsUpgrade) and admits nothing until connection_init presents
// a token, verified by wsAuthenticator.
func withAuth(v *auth.Verifier, db *postgres.DB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wstransport.IsUpgrade(r) {
			next.ServeHTTP(w, r)
			return
		}
		log := zerolog.Ctx(r.Context())
		token, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			log.Info().Str("reason", "missing bearer token").Msg("unauthenticated")
			unauthenticated(w, "missing bearer token")
			return
		}
		if v == nil {
			log.Error().Msg("no token verifier configured")
			writeError(w, http.StatusInternalServerError, codeInternal, "Internal error.")
			return
		}
		actor, err := v.Verify(token)
		if err != nil {
			reason := auth.Reason(err)
			if reason == "" {
				reason = "verification failed"
			}
			log.Info().Str("reason", reason).Msg("unauthenticated")
			unauthenticated(w, care.ErrorMessage(err))
			return
		}
		if err := checkStanding(r.Context(), db, actor); err != nil {
			if care.ErrorCode(err) != care.EUNAUTHENTICATED {
				log.Error().Err(err).Msg("check standing")
				writeError(w, http.StatusServiceUnavailable, codeInternal, "Internal error.")
				return
			}
			log.Info().Str("reason", "practitioner inactive, unknown or of another organisation").Msg("unauthenticated")
			unauthenticated(w, care.ErrorMessage(err))
			return
		}
		next.ServeHTTP(w, r.WithContext(care.NewContextWithActor(r.Context(), actor)))
	})
}

// checkStanding applies the departed-staff rule (postgres.CheckStanding);
// without a database (some tests) there is nothing to check against.
func checkStanding(ctx context.Context, db *postgres.DB, a *care.Actor) error {
	if db == nil {
		return nil
	}
	return db.CheckStanding(ctx, a)
}

// wsStanding re-checks, for an open WebSocket, that its actor still stands.
func wsStanding(db *postgres.DB) func(ctx context.Context, a *care.Actor) error {
	return func(ctx context.Context, a *care.Actor) error {
		err := checkStanding(ctx, db, a)
		if err != nil && care.ErrorCode(err) == care.EUNAUTHENTICATED {
			zerolog.Ctx(ctx).Info().Str("reason", "practitioner inactive, unknown or of another organisation").Msg("websocket: closed")
		}
		return err
	}
}

// wsAuthenticator verifies the token of a WebSocket connection_init with v,
// and the standing of its practitioner in db, logging why one was refused
// (never the token).
func wsAuthenticator(v *auth.Verifier, db *postgres.DB) wstransport.Authenticator {
	return func(ctx context.Context, token string) (*care.Actor, error) {
		if v == nil {
			zerolog.Ctx(ctx).Error().Msg("no token verifier configured")
			return nil, care.Errorf(care.EINTERNAL, "no token verifier")
		}
		actor, err := v.Verify(token)
		if err != nil {
			reason := auth.Reason(err)
			if reason == "" {
				reason = "verification failed"
			}
			zerolog.Ctx(ctx).Info().Str("reason", reason).Msg("websocket: connection_init refused")
			return nil, err
		}
		if err := wsStanding(db)(ctx, actor); err != nil {
			return nil, err
		}
		return actor, nil
	}
}

// bearerToken extracts the token from an Authorization header value.
func bearerToken(h string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func unauthenticated(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", "Bearer")
	writeError(w, http.StatusUnauthorized, codeUnauthenticated, msg)
}

// errorBody is a GraphQL-shaped error response with no data.
type errorBody struct {
	Errors []errorEntry `json:"errors"`
}

type errorEntry struct {
	Message    string            `json:"message"`
	Extensions map[string]string `json:"extensions"`
}

// writeError writes a GraphQL-shaped JSON error.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	b, _ := json.Marshal(errorBody{Errors: []errorEntry{{Message: msg, Extensions: map[string]string{"code": code}}}})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
