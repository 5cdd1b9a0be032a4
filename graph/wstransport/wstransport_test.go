package wstransport_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/coder/websocket"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph/wstransport"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

const goodToken = "good-token-0123456789"

// fakeExec is a GraphExecutor whose behaviour the query names:
// "invalid" fails before execution, "ticks" yields three results and ends,
// "forever" yields one result and then waits for cancellation; "whoami"
// returns the actor's subject.
type fakeExec struct {
	cancelled atomic.Int32 // operations whose context ended
}

func (f *fakeExec) CreateOperationContext(ctx context.Context, p *graphql.RawParams) (*graphql.OperationContext, gqlerror.List) {
	if p.Query == "invalid" {
		return &graphql.OperationContext{}, gqlerror.List{{Message: "Cannot query field \"invalid\"", Extensions: map[string]any{"code": "GRAPHQL_VALIDATION_FAILED"}}}
	}
	return &graphql.OperationContext{RawQuery: p.Query}, nil
}

func (f *fakeExec) DispatchOperation(ctx context.Context, rc *graphql.OperationContext) (graphql.ResponseHandler, context.Context) {
	n := 0
	return func(ctx context.Context) *graphql.Response {
		n++
		switch rc.RawQuery {
		case "ticks":
			if n > 3 {
				return nil
			}
			return &graphql.Response{Data: json.RawMessage(`{"tick":` + string(rune('0'+n)) + `}`)}
		case "whoami":
			if n > 1 {
				return nil
			}
			a := care.ActorFromContext(ctx)
			b, _ := json.Marshal(map[string]string{"subject": a.Subject})
			return &graphql.Response{Data: b}
		default: // forever
			if n == 1 {
				return &graphql.Response{Data: json.RawMessage(`{"started":true}`)}
			}
			<-ctx.Done()
			f.cancelled.Add(1)
			return nil
		}
	}, ctx
}

func (f *fakeExec) DispatchError(ctx context.Context, list gqlerror.List) *graphql.Response {
	return &graphql.Response{Errors: list}
}

func authenticate(_ context.Context, token string) (*care.Actor, error) {
	if token != goodToken {
		return nil, care.Errorf(care.EUNAUTHENTICATED, "bad token")
	}
	return &care.Actor{Role: care.RoleNurse, Subject: "nurse-1"}, nil
}

// server serves the transport over a fake executor.
func server(t *testing.T, cfg wstransport.Config) (*httptest.Server, *fakeExec) {
	t.Helper()
	if cfg.Authenticate == nil {
		cfg.Authenticate = authenticate
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = -1
	}
	tr := wstransport.New(cfg)
	exec := &fakeExec{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !tr.Supports(r) {
			http.Error(w, "not an upgrade", http.StatusBadRequest)
			return
		}
		tr.Do(w, r, exec)
	}))
	t.Cleanup(srv.Close)
	return srv, exec
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func dial(t *testing.T, srv *httptest.Server, subprotocols ...string) *client {
	t.Helper()
	if subprotocols == nil {
		subprotocols = []string{wstransport.Protocol}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: subprotocols})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return &client{t: t, ws: ws}
}

func (c *client) sendRaw(s string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.ws.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		c.t.Fatalf("write %s: %v", s, err)
	}
}

func (c *client) send(m map[string]any) {
	c.t.Helper()
	b, _ := json.Marshal(m)
	c.sendRaw(string(b))
}

type msg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	Payload json.RawMessage `json:"payload"`
	raw     string
}

// read returns the next message, or the close error.
func (c *client) read(timeout time.Duration) (msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	_, b, err := c.ws.Read(ctx)
	if err != nil {
		return msg{}, err
	}
	var m msg
	if err := json.Unmarshal(b, &m); err != nil {
		c.t.Fatalf("server sent non-JSON %q", b)
	}
	m.raw = string(b)
	return m, nil
}

func (c *client) expect(typ string) msg {
	c.t.Helper()
	m, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %s: %v", typ, err)
	}
	if m.Type != typ {
		c.t.Fatalf("got %s, want %s", m.raw, typ)
	}
	return m
}

// expectClose reads until the server closes and asserts the code (and, if
// given, the reason).
func (c *client) expectClose(code websocket.StatusCode, reason string) {
	c.t.Helper()
	for {
		m, err := c.read(5 * time.Second)
		if err == nil {
			if m.Type == "ping" {
				continue
			}
			c.t.Fatalf("got %s, want close %d", m.raw, code)
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			c.t.Fatalf("got %v, want close %d", err, code)
		}
		if ce.Code != code {
			c.t.Fatalf("close code = %d (%q), want %d", ce.Code, ce.Reason, code)
		}
		if reason != "" && ce.Reason != reason {
			c.t.Fatalf("close reason = %q, want %q", ce.Reason, reason)
		}
		return
	}
}

func (c *client) init() {
	c.t.Helper()
	c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + goodToken}})
	c.expect("connection_ack")
}

func TestConnectionInit(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, wstransport.Config{})

	t.Run("acknowledges a bearer token without echoing it", func(t *testing.T) {
		c := dial(t, srv)
		c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + goodToken}})
		m := c.expect("connection_ack")
		if strings.Contains(m.raw, goodToken) || len(m.Payload) != 0 {
			t.Fatalf("ack carries a payload: %s", m.raw)
		}
		if c.ws.Subprotocol() != wstransport.Protocol {
			t.Fatalf("subprotocol = %q", c.ws.Subprotocol())
		}
	})
	t.Run("accepts the token key", func(t *testing.T) {
		c := dial(t, srv)
		c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"token": goodToken}})
		c.expect("connection_ack")
	})
	t.Run("runs operations as the token's actor", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		c.send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": "whoami"}})
		m := c.expect("next")
		if !strings.Contains(string(m.Payload), `"nurse-1"`) {
			t.Fatalf("next = %s", m.raw)
		}
		c.expect("complete")
	})
	for name, payload := range map[string]any{
		"a bad token":        map[string]any{"Authorization": "Bearer wrong"},
		"no payload":         nil,
		"a payload no token": map[string]any{"hello": "world"},
		"a non-bearer token": map[string]any{"Authorization": "Basic " + goodToken},
	} {
		t.Run("closes 4403 on "+name, func(t *testing.T) {
			c := dial(t, srv)
			m := map[string]any{"type": "connection_init"}
			if payload != nil {
				m["payload"] = payload
			}
			c.send(m)
			c.expectClose(wstransport.CloseForbidden, "Forbidden")
		})
	}
	t.Run("closes 4429 on a second connection_init", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		c.send(map[string]any{"type": "connection_init", "payload": map[string]any{"token": goodToken}})
		c.expectClose(wstransport.CloseTooManyInitialisationReqs, "Too many initialisation requests")
	})
	t.Run("closes 4401 on subscribe before the ack", func(t *testing.T) {
		c := dial(t, srv)
		c.send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": "ticks"}})
		c.expectClose(wstransport.CloseUnauthorized, "Unauthorized")
	})
	t.Run("closes 4406 without the subprotocol", func(t *testing.T) {
		c := dial(t, srv, "graphql-ws")
		c.expectClose(wstransport.CloseSubprotocolNotAcceptable, "Subprotocol not acceptable")
	})
}

func TestInitTimeout(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, wstransport.Config{InitTimeout: 100 * time.Millisecond})
	t.Run("closes 4408 when connection_init never comes", func(t *testing.T) {
		c := dial(t, srv)
		start := time.Now()
		c.expectClose(wstransport.CloseInitialisationTimeout, "Connection initialisation timeout")
		if d := time.Since(start); d < 80*time.Millisecond {
			t.Fatalf("closed after %v, before the timeout", d)
		}
	})
	t.Run("keeps an acknowledged connection past the timeout", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		time.Sleep(250 * time.Millisecond)
		c.send(map[string]any{"type": "ping"})
		c.expect("pong")
	})
}

func TestTokenExpiry(t *testing.T) {
	t.Parallel()
	expiresIn := func(d time.Duration) wstransport.Authenticator {
		return func(ctx context.Context, token string) (*care.Actor, error) {
			a, err := authenticate(ctx, token)
			if a != nil {
				a.ExpiresAt = time.Now().Add(d)
			}
			return a, err
		}
	}
	t.Run("closes 4403 when the token expires", func(t *testing.T) {
		srv, _ := server(t, wstransport.Config{Authenticate: expiresIn(300 * time.Millisecond)})
		c := dial(t, srv)
		start := time.Now()
		c.init()
		c.expectClose(wstransport.CloseForbidden, "Forbidden: token expired")
		if d := time.Since(start); d < 250*time.Millisecond {
			t.Fatalf("closed after %v, before the token expired", d)
		}
	})
	t.Run("keeps the connection while the token is valid", func(t *testing.T) {
		srv, _ := server(t, wstransport.Config{Authenticate: expiresIn(time.Hour)})
		c := dial(t, srv)
		c.init()
		time.Sleep(200 * time.Millisecond)
		c.send(map[string]any{"type": "ping"})
		c.expect("pong")
	})
}

func TestMessages(t *testing.T) {
	t.Parallel()
	srv, exec := server(t, wstransport.Config{})

	t.Run("streams next messages then complete", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		c.send(map[string]any{"type": "subscribe", "id": "a", "payload": map[string]any{"query": "ticks"}})
		for i := 1; i <= 3; i++ {
			m := c.expect("next")
			if m.ID != "a" {
				t.Fatalf("next id = %q", m.ID)
			}
		}
		if m := c.expect("complete"); m.ID != "a" {
			t.Fatalf("complete id = %q", m.ID)
		}
	})
	t.Run("answers a request error with error and no complete", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		c.send(map[string]any{"type": "subscribe", "id": "e", "payload": map[string]any{"query": "invalid"}})
		m := c.expect("error")
		var errs []map[string]any
		if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 {
			t.Fatalf("error payload = %s", m.Payload)
		}
		// The id may be reused at once: the operation is over.
		c.send(map[string]any{"type": "subscribe", "id": "e", "payload": map[string]any{"query": "ticks"}})
		c.expect("next")
	})
	t.Run("closes 4409 on a duplicate operation id", func(t *testing.T) {
		before := exec.cancelled.Load()
		c := dial(t, srv)
		c.init()
		c.send(map[string]any{"type": "subscribe", "id": "dup", "payload": map[string]any{"query": "forever"}})
		c.expect("next")
		c.send(map[string]any{"type": "subscribe", "id": "dup", "payload": map[string]any{"query": "forever"}})
		c.expectClose(wstransport.CloseSubscriberAlreadyExists, "Subscriber for dup already exists")
		waitFor(t, func() bool { return exec.cancelled.Load() > before }, "the running operation to be cancelled")
	})
	t.Run("stops an operation the client completes, without completing it back", func(t *testing.T) {
		before := exec.cancelled.Load()
		c := dial(t, srv)
		c.init()
		c.send(map[string]any{"type": "subscribe", "id": "s", "payload": map[string]any{"query": "forever"}})
		c.expect("next")
		c.send(map[string]any{"type": "complete", "id": "s"})
		waitFor(t, func() bool { return exec.cancelled.Load() > before }, "the operation to be cancelled")
		c.send(map[string]any{"type": "ping"})
		c.expect("pong") // not a complete for "s"
		// The id is free again.
		c.send(map[string]any{"type": "subscribe", "id": "s", "payload": map[string]any{"query": "ticks"}})
		c.expect("next")
	})
	t.Run("answers ping with pong echoing its payload", func(t *testing.T) {
		c := dial(t, srv)
		c.send(map[string]any{"type": "ping", "payload": map[string]any{"n": 7}})
		m := c.expect("pong")
		if string(m.Payload) != `{"n":7}` {
			t.Fatalf("pong payload = %s", m.Payload)
		}
	})
	for name, raw := range map[string]string{
		"invalid JSON":            `{"type":`,
		"an unknown type":         `{"type":"start","id":"1"}`,
		"a server-only type":      `{"type":"next","id":"1","payload":{}}`,
		"a subscribe without id":  `{"type":"subscribe","payload":{"query":"ticks"}}`,
		"a subscribe w/o a query": `{"type":"subscribe","id":"1","payload":{}}`,
	} {
		t.Run("closes 4400 on "+name, func(t *testing.T) {
			c := dial(t, srv)
			c.init()
			c.sendRaw(raw)
			c.expectClose(wstransport.CloseBadRequest, "")
		})
	}
}

func TestKeepAlive(t *testing.T) {
	t.Parallel()
	srv, _ := server(t, wstransport.Config{PingInterval: 50 * time.Millisecond})

	t.Run("pings and keeps a client that answers", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		for i := 0; i < 4; i++ {
			c.expect("ping")
			c.send(map[string]any{"type": "pong"})
		}
		c.send(map[string]any{"type": "ping"})
		for {
			m := c.expect2("pong", "ping")
			if m.Type == "pong" {
				break
			}
			c.send(map[string]any{"type": "pong"})
		}
	})
	t.Run("drops a client that does not answer", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		c.expect("ping")
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			m, err := c.read(time.Until(deadline))
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) {
					break
				}
				return // dropped
			}
			if m.Type != "ping" {
				t.Fatalf("got %s", m.raw)
			}
		}
		t.Fatal("connection still open after missed pongs")
	})
}

// expect2 reads the next message, which must be of one of two types.
func (c *client) expect2(a, b string) msg {
	c.t.Helper()
	m, err := c.read(5 * time.Second)
	if err != nil {
		c.t.Fatalf("waiting for %s or %s: %v", a, b, err)
	}
	if m.Type != a && m.Type != b {
		c.t.Fatalf("got %s, want %s or %s", m.raw, a, b)
	}
	return m
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	shutdown := make(chan struct{})
	srv, exec := server(t, wstransport.Config{Shutdown: shutdown})
	t.Run("closes open connections with 1001 and stops their operations", func(t *testing.T) {
		c := dial(t, srv)
		c.init()
		c.send(map[string]any{"type": "subscribe", "id": "1", "payload": map[string]any{"query": "forever"}})
		c.expect("next")
		close(shutdown)
		c.expectClose(websocket.StatusGoingAway, "Going away")
		waitFor(t, func() bool { return exec.cancelled.Load() == 1 }, "the operation to stop")
	})
}

func TestIsUpgrade(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		header string
		want   bool
	}{{"websocket", true}, {"WebSocket", true}, {"h2c, websocket", true}, {"h2c", false}, {"", false}} {
		r := httptest.NewRequest(http.MethodGet, "/graphql", nil)
		if c.header != "" {
			r.Header.Set("Upgrade", c.header)
		}
		if got := wstransport.IsUpgrade(r); got != c.want {
			t.Errorf("IsUpgrade(Upgrade: %q) = %v, want %v", c.header, got, c.want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
