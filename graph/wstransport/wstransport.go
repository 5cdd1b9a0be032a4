// Package wstransport serves GraphQL over WebSocket with the
// graphql-transport-ws protocol (github.com/enisdenjo/graphql-ws, PROTOCOL.md)
// exactly as that protocol's clients expect it, which gqlgen's own websocket
// transport does not: a refused connection_init closes with 4403 (gqlgen's
// 1000 makes clients reconnect in a tight loop), a socket that never
// initialises closes with 4408, a second connection_init with 4429, a
// subscribe before the acknowledgement with 4401, a duplicate operation id
// with 4409, a malformed message with 4400; the server keeps the connection
// alive with ping/pong messages; and the connection_ack never echoes the
// client's payload (it carries the token).
//
// Authentication happens in connection_init, not on the HTTP upgrade:
// browsers cannot set headers on a WebSocket, so the token travels in the
// init payload as {"Authorization": "Bearer <token>"} or {"token": "<token>"}.
package wstransport

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/rapportcare/rapport/care"
	"github.com/rs/zerolog"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Protocol is the WebSocket subprotocol served; a client must offer it.
const Protocol = "graphql-transport-ws"

// Close codes of graphql-transport-ws.
const (
	CloseBadRequest                = 4400 // a malformed or unexpected message
	CloseUnauthorized              = 4401 // subscribe before connection_ack
	CloseForbidden                 = 4403 // connection_init refused (bad or missing token)
	CloseSubprotocolNotAcceptable  = 4406 // the client did not offer graphql-transport-ws
	CloseInitialisationTimeout     = 4408 // no connection_init in time
	CloseSubscriberAlreadyExists   = 4409 // an operation id already in use
	CloseTooManyInitialisationReqs = 4429 // a second connection_init
)

// Defaults for Config fields left zero.
const (
	DefaultInitTimeout   = 10 * time.Second
	DefaultPingInterval  = 15 * time.Second
	DefaultReadLimit     = 64 << 10
	DefaultMaxOperations = 50
	DefaultWriteTimeout  = 10 * time.Second
	DefaultRecheckEvery  = 30 * time.Second
)

// Authenticator verifies the bearer token a client sent in connection_init
// and returns its actor, or an error to refuse the connection (4403).
type Authenticator func(ctx context.Context, token string) (*care.Actor, error)

// Config sets the transport up. Zero fields take the defaults above.
type Config struct {
	// Authenticate verifies connection_init tokens; nil refuses every connection.
	Authenticate Authenticator
	// InitTimeout is how long a socket may stay open without being acknowledged.
	InitTimeout time.Duration
	// PingInterval is how often the server pings an acknowledged connection; a
	// connection that has not answered the previous ping with a pong by the
	// next one is dropped. Negative disables keep-alive.
	PingInterval time.Duration
	// ReadLimit is the largest message accepted, in bytes.
	ReadLimit int64
	// MaxOperations bounds the operations running at once on one connection.
	MaxOperations int
	// WriteTimeout bounds one message write to a slow client.
	WriteTimeout time.Duration
	// Recheck, if set, is called every RecheckEvery with the connection's
	// actor (in ctx as well) while the connection is open; an error closes
	// it with 4403, so access withdrawn since connection_init (a practitioner
	// marked inactive) ends on open sockets too.
	Recheck func(ctx context.Context, a *care.Actor) error
	// RecheckEvery is the Recheck interval (zero: DefaultRecheckEvery).
	RecheckEvery time.Duration
	// Shutdown, when closed, closes every connection with 1001 "Going away"
	// (server shutdown: clients reconnect, to another instance). Hijacked
	// connections are not closed by http.Server.Shutdown.
	Shutdown <-chan struct{}
}

func (c Config) withDefaults() Config {
	if c.InitTimeout <= 0 {
		c.InitTimeout = DefaultInitTimeout
	}
	if c.PingInterval == 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.ReadLimit <= 0 {
		c.ReadLimit = DefaultReadLimit
	}
	if c.MaxOperations <= 0 {
		c.MaxOperations = DefaultMaxOperations
	}
	if c.RecheckEvery <= 0 {
		c.RecheckEvery = DefaultRecheckEvery
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	return c
}

// Transport is a gqlgen graphql.Transport for graphql-transport-ws.
type Transport struct {
	cfg Config
}

var _ graphql.Transport = (*Transport)(nil)

// New returns a transport configured by cfg.
func New(cfg Config) *Transport { return &Transport{cfg: cfg.withDefaults()} }

// IsUpgrade reports whether r asks for a WebSocket upgrade. The transport
// claims exactly these requests, so the HTTP layer may let them through
// without a bearer header: they authenticate in connection_init or fail.
func IsUpgrade(r *http.Request) bool {
	for _, v := range r.Header.Values("Upgrade") {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "websocket") {
				return true
			}
		}
	}
	return false
}

// Supports reports whether r is a WebSocket upgrade.
func (t *Transport) Supports(r *http.Request) bool { return IsUpgrade(r) }

// Do upgrades the request and serves the connection until it closes.
func (t *Transport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{Protocol},
		// Any origin may connect: the connection carries no ambient
		// credential (no cookies); it is worth nothing until connection_init
		// presents a token, so cross-site WebSocket hijacking gains nothing.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept has answered the request with an HTTP error
	}
	ws.SetReadLimit(t.cfg.ReadLimit)
	ctx, cancel := context.WithCancel(r.Context())
	c := &conn{
		cfg:    t.cfg,
		ws:     ws,
		exec:   exec,
		ctx:    ctx,
		cancel: cancel,
		ops:    map[string]*operation{},
		pong:   make(chan struct{}, 1),
	}
	defer c.terminate()
	if ws.Subprotocol() != Protocol {
		c.close(CloseSubprotocolNotAcceptable, "Subprotocol not acceptable")
		return
	}
	if t.cfg.Shutdown != nil {
		go func() {
			select {
			case <-t.cfg.Shutdown:
				c.close(websocket.StatusGoingAway, "Going away")
			case <-c.ctx.Done():
			}
		}()
	}
	initTimer := time.AfterFunc(t.cfg.InitTimeout, func() {
		if c.state.CompareAndSwap(statePending, stateTimedOut) {
			c.close(CloseInitialisationTimeout, "Connection initialisation timeout")
		}
	})
	defer initTimer.Stop()
	c.readLoop()
}

// conn is one graphql-transport-ws connection.
type conn struct {
	cfg    Config
	ws     *websocket.Conn
	exec   graphql.GraphExecutor
	ctx    context.Context // the connection's; cancelled when it closes
	cancel context.CancelFunc

	// initialised and actorCtx are touched by the read loop only.
	initialised bool
	actorCtx    context.Context
	state       atomic.Int32 // statePending, stateAcked or stateTimedOut

	mu     sync.Mutex
	ops    map[string]*operation
	closed bool

	pong chan struct{} // a pong arrived
}

// Connection states: waiting for connection_init, acknowledged, or given up on.
const (
	statePending int32 = iota
	stateAcked
	stateTimedOut
)

// operation is one running subscribe.
type operation struct {
	cancel context.CancelFunc
}

// message is a graphql-transport-ws message in either direction.
type message struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// errBadMessage is a client message that breaks the protocol: 4400.
type errBadMessage struct{ reason string }

func (e *errBadMessage) Error() string { return e.reason }

func (c *conn) readLoop() {
	// Reads use a context that is never cancelled: a cancelled read context
	// would make the library drop the socket before our close code is sent.
	rctx := context.WithoutCancel(c.ctx)
	for {
		_, data, err := c.ws.Read(rctx)
		if err != nil {
			return // closed by the peer, by us, or broken
		}
		start := graphql.Now()
		var m message
		if err := json.Unmarshal(data, &m); err != nil {
			c.close(CloseBadRequest, "Invalid message received")
			return
		}
		if err := c.handle(m, start); err != nil {
			var bad *errBadMessage
			if errors.As(err, &bad) {
				c.close(CloseBadRequest, bad.reason)
			}
			return
		}
	}
}

// errClosed stops the read loop after handle has closed the connection.
var errClosed = errors.New("connection closed")

// handle acts on one client message; a non-nil error ends the connection
// (an *errBadMessage closes it with 4400 first).
func (c *conn) handle(m message, start time.Time) error {
	switch m.Type {
	case "connection_init":
		if !objectOrAbsent(m.Payload) {
			return &errBadMessage{"Invalid connection_init payload"}
		}
		return c.init(m.Payload)
	case "ping":
		if !objectOrAbsent(m.Payload) {
			return &errBadMessage{"Invalid ping payload"}
		}
		c.send(message{Type: "pong", Payload: m.Payload})
		return nil
	case "pong":
		if !objectOrAbsent(m.Payload) {
			return &errBadMessage{"Invalid pong payload"}
		}
		select {
		case c.pong <- struct{}{}:
		default:
		}
		return nil
	case "subscribe":
		if m.ID == "" {
			return &errBadMessage{"subscribe needs an id"}
		}
		var params graphql.RawParams
		// Numbers stay json.Number, as gqlgen's HTTP transports decode them,
		// so an Int variable coerces.
		dec := json.NewDecoder(bytes.NewReader(m.Payload))
		dec.UseNumber()
		if err := dec.Decode(&params); err != nil || params.Query == "" {
			return &errBadMessage{"subscribe needs a payload with a query"}
		}
		if c.state.Load() != stateAcked {
			c.close(CloseUnauthorized, "Unauthorized")
			return errClosed
		}
		return c.subscribe(m.ID, &params, start)
	case "complete":
		if m.ID == "" {
			return &errBadMessage{"complete needs an id"}
		}
		c.mu.Lock()
		op := c.ops[m.ID]
		delete(c.ops, m.ID)
		c.mu.Unlock()
		if op != nil {
			op.cancel()
		}
		return nil
	case "connection_ack", "next", "error":
		return &errBadMessage{fmt.Sprintf("Unexpected message of type %s received", m.Type)}
	}
	return &errBadMessage{"Invalid message received"}
}

// objectOrAbsent reports whether a payload is absent, null or a JSON object.
func objectOrAbsent(p json.RawMessage) bool {
	s := strings.TrimSpace(string(p))
	return s == "" || s == "null" || strings.HasPrefix(s, "{")
}

// init authenticates connection_init and acknowledges it, or closes the
// connection: 4429 for a second init, 4403 for a refused token. An accepted
// connection is closed with 4403 when the actor's token expires.
func (c *conn) init(payload json.RawMessage) error {
	if c.initialised {
		c.close(CloseTooManyInitialisationReqs, "Too many initialisation requests")
		return errClosed
	}
	c.initialised = true
	token := tokenFrom(payload)
	if token == "" || c.cfg.Authenticate == nil {
		c.close(CloseForbidden, "Forbidden")
		return errClosed
	}
	actor, err := c.cfg.Authenticate(c.ctx, token)
	if err != nil || actor == nil {
		c.close(CloseForbidden, "Forbidden")
		return errClosed
	}
	c.actorCtx = care.NewContextWithActor(c.ctx, actor)
	if !c.state.CompareAndSwap(statePending, stateAcked) {
		return errClosed // the init timeout fired first
	}
	if !actor.ExpiresAt.IsZero() {
		// The token authorised this connection only until it expires; the
		// client must reconnect with a fresh one (4403 stops standard
		// clients from retrying with the stale token).
		expire := time.AfterFunc(time.Until(actor.ExpiresAt), func() { c.close(CloseForbidden, "Forbidden: token expired") })
		context.AfterFunc(c.ctx, func() { expire.Stop() })
	}
	if c.cfg.Recheck != nil {
		go c.recheck(actor)
	}
	// The ack carries no payload: the init payload holds the token.
	c.send(message{Type: "connection_ack"})
	if c.cfg.PingInterval > 0 {
		go c.keepAlive()
	}
	return nil
}

// tokenFrom returns the bearer token in a connection_init payload:
// {"Authorization": "Bearer <t>"} (any case of the key) or {"token": "<t>"}.
func tokenFrom(payload json.RawMessage) string {
	var p map[string]any
	if len(payload) == 0 || json.Unmarshal(payload, &p) != nil {
		return ""
	}
	for k, v := range p {
		if !strings.EqualFold(k, "authorization") {
			continue
		}
		s, _ := v.(string)
		scheme, tok, ok := strings.Cut(strings.TrimSpace(s), " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok)
		}
	}
	if s, ok := p["token"].(string); ok {
		s = strings.TrimSpace(s)
		if scheme, tok, ok := strings.Cut(s, " "); ok && strings.EqualFold(scheme, "Bearer") {
			s = strings.TrimSpace(tok)
		}
		return s
	}
	return ""
}

// recheck calls Recheck every RecheckEvery until the connection ends, and
// closes it with 4403 when the actor no longer stands. A failure to check
// (the database unreachable) leaves the connection open until the next try.
func (c *conn) recheck(a *care.Actor) {
	t := time.NewTicker(c.cfg.RecheckEvery)
	defer t.Stop()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-t.C:
			if err := c.cfg.Recheck(c.actorCtx, a); err != nil && care.ErrorCode(err) == care.EUNAUTHENTICATED {
				c.close(CloseForbidden, "Forbidden: access withdrawn")
				return
			}
		}
	}
}

// keepAlive pings the client every PingInterval and drops a connection that
// did not answer the previous ping, as the reference server does: without a
// close frame, so the client sees an abnormal closure and may reconnect.
func (c *conn) keepAlive() {
	t := time.NewTicker(c.cfg.PingInterval)
	defer t.Stop()
	awaiting := false
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.pong:
			awaiting = false
		case <-t.C:
			if awaiting {
				c.terminate()
				return
			}
			awaiting = true
			c.send(message{Type: "ping"})
		}
	}
}

// subscribe starts an operation, or closes the connection with 4409 when its
// id is in use.
func (c *conn) subscribe(id string, params *graphql.RawParams, start time.Time) error {
	if c.cfg.Recheck != nil {
		// Every operation, not only the periodic check, meets the rule.
		if err := c.cfg.Recheck(c.actorCtx, care.ActorFromContext(c.actorCtx)); err != nil && care.ErrorCode(err) == care.EUNAUTHENTICATED {
			c.close(CloseForbidden, "Forbidden: access withdrawn")
			return errClosed
		}
	}
	c.mu.Lock()
	if _, dup := c.ops[id]; dup {
		c.mu.Unlock()
		c.close(CloseSubscriberAlreadyExists, "Subscriber for "+id+" already exists")
		return errClosed
	}
	if len(c.ops) >= c.cfg.MaxOperations {
		c.mu.Unlock()
		c.sendErrors(id, gqlerror.List{{
			Message:    fmt.Sprintf("at most %d operations may run at once on one connection", c.cfg.MaxOperations),
			Extensions: map[string]any{"code": "BAD_USER_INPUT"},
		}})
		return nil
	}
	ctx, cancel := context.WithCancel(c.actorCtx)
	op := &operation{cancel: cancel}
	c.ops[id] = op
	c.mu.Unlock()
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	go c.run(ctx, id, op, params)
	return nil
}

// active reports whether op still runs under id (the client has not
// completed it and the connection is open).
func (c *conn) active(id string, op *operation) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed && c.ops[id] == op
}

// finish removes op and reports whether it was still registered.
func (c *conn) finish(id string, op *operation) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ops[id] != op {
		return false
	}
	delete(c.ops, id)
	return !c.closed
}

// run executes one operation: errors before execution (parse, validation,
// variables, limits) are an `error` message; results are `next` messages
// followed by `complete`, unless the client completed the operation first.
func (c *conn) run(ctx context.Context, id string, op *operation, params *graphql.RawParams) {
	defer op.cancel()
	defer func() {
		if v := recover(); v != nil {
			zerolog.Ctx(ctx).Error().Str("panic", fmt.Sprint(v)).Msg("websocket: operation panicked")
			if c.finish(id, op) {
				c.sendErrors(id, gqlerror.List{{Message: "Internal error.", Extensions: map[string]any{"code": "INTERNAL"}}})
			}
		}
	}()
	ctx = graphql.StartOperationTrace(ctx)
	rc, errs := c.exec.CreateOperationContext(ctx, params)
	if errs != nil {
		resp := c.exec.DispatchError(graphql.WithOperationContext(ctx, rc), errs)
		if c.finish(id, op) {
			c.sendErrors(id, resp.Errors)
		}
		return
	}
	ctx = graphql.WithOperationContext(ctx, rc)
	responses, ctx := c.exec.DispatchOperation(ctx, rc)
	for {
		resp := responses(ctx)
		if resp == nil {
			break
		}
		if !c.active(id, op) {
			return
		}
		b, err := json.Marshal(resp)
		if err != nil {
			zerolog.Ctx(ctx).Error().Err(err).Msg("websocket: encode response")
			break
		}
		c.send(message{Type: "next", ID: id, Payload: b})
	}
	if c.finish(id, op) {
		c.send(message{Type: "complete", ID: id})
	}
}

func (c *conn) sendErrors(id string, errs gqlerror.List) {
	b, err := json.Marshal(errs)
	if err != nil {
		b = []byte(`[{"message":"Internal error.","extensions":{"code":"INTERNAL"}}]`)
	}
	c.send(message{Type: "error", ID: id, Payload: b})
}

// send writes one message; a failed write drops the connection.
func (c *conn) send(m message) {
	b, err := json.Marshal(m)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), c.cfg.WriteTimeout)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, b); err != nil {
		c.terminate()
	}
}

// close ends the connection with a close code and reason (truncated to the
// 123 bytes a close frame allows), stopping every operation.
func (c *conn) close(code websocket.StatusCode, reason string) {
	if !c.markClosed() {
		return
	}
	_ = c.ws.Close(code, truncate(reason, 123))
	c.cancel()
}

// terminate drops the connection without a close handshake.
func (c *conn) terminate() {
	c.markClosed()
	_ = c.ws.CloseNow()
	c.cancel()
}

// markClosed marks the connection closed, cancelling its operations; it
// reports whether this call did so.
func (c *conn) markClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	for id, op := range c.ops {
		op.cancel()
		delete(c.ops, id)
	}
	return true
}

// truncate shortens s to at most n bytes without splitting a rune.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
