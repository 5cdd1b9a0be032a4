package graph_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/graph/wstransport"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

const syncChangesQuery = `subscription Live($v: Int!) { syncChanges(protocolVersion: $v) { changesWaiting } }`

// wsServer serves graph.NewServer over db on a real listener, accepting the
// WebSocket tokens in tokens.
func wsServer(t *testing.T, db *postgres.DB, tokens map[string]*care.Actor) *httptest.Server {
	t.Helper()
	h := graph.NewServer(db, graph.Limits{}, graph.WithWebSocket(wstransport.Config{
		Authenticate: func(_ context.Context, token string) (*care.Actor, error) {
			if a, ok := tokens[token]; ok {
				return a, nil
			}
			return nil, care.Errorf(care.EUNAUTHENTICATED, "bad token")
		},
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// wsMsg is a graphql-transport-ws message.
type wsMsg struct {
	Type    string          `json:"type"`
	ID      string          `json:"id,omitempty"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

// wsClient is a minimal graphql-transport-ws client.
type wsClient struct {
	t    *testing.T
	ws   *websocket.Conn
	msgs chan wsMsg
	err  chan error
}

// dialWS connects, initialises with token and waits for the ack.
func dialWS(t *testing.T, srv *httptest.Server, token string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{Subprotocols: []string{wstransport.Protocol}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	c := &wsClient{t: t, ws: ws, msgs: make(chan wsMsg, 100), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := ws.Read(context.Background())
			if err != nil {
				c.err <- err
				close(c.msgs)
				return
			}
			var m wsMsg
			if json.Unmarshal(b, &m) == nil {
				if m.Type == "ping" {
					c.send(wsMsg{Type: "pong"})
					continue
				}
				c.msgs <- m
			}
		}
	}()
	c.send(wsMsg{Type: "connection_init", Payload: json.RawMessage(`{"Authorization":"Bearer ` + token + `"}`)})
	if m := c.next(10 * time.Second); m == nil || m.Type != "connection_ack" {
		t.Fatalf("no connection_ack: %+v", m)
	}
	return c
}

func (c *wsClient) send(m wsMsg) {
	b, _ := json.Marshal(m)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.ws.Write(ctx, websocket.MessageText, b)
}

func (c *wsClient) subscribe(id, query string, vars map[string]any) {
	p, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	c.send(wsMsg{Type: "subscribe", ID: id, Payload: p})
}

// next returns the next message, or nil after timeout or when closed.
func (c *wsClient) next(timeout time.Duration) *wsMsg {
	select {
	case m, ok := <-c.msgs:
		if !ok {
			return nil
		}
		return &m
	case <-time.After(timeout):
		return nil
	}
}

// event waits for a syncChanges event on id.
func (c *wsClient) event(t *testing.T, id string, timeout time.Duration) bool {
	t.Helper()
	m := c.next(timeout)
	if m == nil {
		return false
	}
	if m.Type != "next" || m.ID != id {
		t.Fatalf("got %s %s %s, want next for %s", m.Type, m.ID, m.Payload, id)
	}
	var r struct {
		Data struct {
			SyncChanges struct{ ChangesWaiting bool }
		}
		Errors []gqlError
	}
	if err := json.Unmarshal(m.Payload, &r); err != nil || len(r.Errors) > 0 || !r.Data.SyncChanges.ChangesWaiting {
		t.Fatalf("event payload %s", m.Payload)
	}
	return true
}

func TestSyncChangesSubscription(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	openDB := func() *postgres.DB {
		db, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	dbA, dbB := openDB(), openDB()
	w := newWorld(t, dbA)
	p := w.patient(t, w.practiceA, w.gpA, w.nurse, "Moss")
	visit := w.interaction(t, w.nurseActor(), p.ID, time.Now().Add(-time.Hour))
	colleague := w.actor(care.RoleNurse, w.colleague, w.orgN)
	tokens := map[string]*care.Actor{"nurse": w.nurseActor(), "colleague": colleague, "gpB": w.gpBActor()}
	// Instance A takes the writes over HTTP; instance B serves the subscribers.
	writer := newClient(t, dbA, w.nurseActor(), graph.Limits{})
	srvB := wsServer(t, dbB, tokens)
	edit := func(notes string) {
		t.Helper()
		writer.ok(`mutation($id: ID!, $n: String!) { updateInteraction(input: {id: $id, notes: $n}) { id } }`,
			map[string]any{"id": gid("Interaction", visit.ID), "n": notes}, nil)
	}

	// Runs before the databases are closed and dropped (cleanups run last
	// first): every socket closed, the listener must let go of its connection.
	t.Cleanup(func() {
		srvB.CloseClientConnections()
		deadline := time.Now().Add(10 * time.Second)
		for dbB.SyncListening() && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if dbB.SyncListening() {
			t.Error("the LISTEN connection outlived every subscriber")
		}
	})
	nurse := dialWS(t, srvB, "nurse")
	nurse.subscribe("n", syncChangesQuery, map[string]any{"v": 1})
	other := dialWS(t, srvB, "colleague")
	other.subscribe("c", syncChangesQuery, map[string]any{"v": 1})
	time.Sleep(300 * time.Millisecond) // both subscriptions are listening

	t.Run("a write through instance A reaches a subscriber on instance B", func(t *testing.T) {
		edit("first visit note")
		if !nurse.event(t, "n", 10*time.Second) {
			t.Fatal("no event")
		}
	})
	t.Run("a subscriber who cannot see the patient hears nothing", func(t *testing.T) {
		if m := other.next(time.Second); m != nil {
			t.Fatalf("colleague got %s %s", m.Type, m.Payload)
		}
	})
	t.Run("a burst of writes is coalesced", func(t *testing.T) {
		start := time.Now()
		for i := 0; i < 8; i++ {
			edit("burst " + string(rune('a'+i)))
		}
		writesTook := time.Since(start)
		var at []time.Time
		for nurse.event(t, "n", 1500*time.Millisecond) {
			at = append(at, time.Now())
		}
		if len(at) == 0 {
			t.Fatal("no event for the burst")
		}
		if max := int(writesTook/(250*time.Millisecond)) + 2; len(at) > max {
			t.Fatalf("%d events for 8 writes in %v, want at most %d", len(at), writesTook, max)
		}
		// The server spaces events 250 ms apart. Delivery adds jitter (a
		// late event makes the next look early on a loaded machine), so the
		// client checks the spacing over the whole burst, with one
		// interval's slack, not gap by gap.
		if n := len(at); n > 1 {
			if span := at[n-1].Sub(at[0]); time.Duration(n-2)*250*time.Millisecond > span {
				t.Fatalf("%d events within %v: not coalesced 250 ms apart", n, span)
			}
		}
	})
	t.Run("an unsupported protocol version is BAD_USER_INPUT", func(t *testing.T) {
		c := dialWS(t, srvB, "gpB")
		c.subscribe("old", syncChangesQuery, map[string]any{"v": 99})
		m := c.next(10 * time.Second)
		if m == nil {
			t.Fatal("no answer")
		}
		var r struct{ Errors []gqlError }
		if m.Type == "next" {
			_ = json.Unmarshal(m.Payload, &r)
		} else if m.Type == "error" {
			_ = json.Unmarshal(m.Payload, &r.Errors)
		}
		if len(r.Errors) == 0 || r.Errors[0].code() != graph.CodeBadUserInput {
			t.Fatalf("got %s %s", m.Type, m.Payload)
		}
	})
}
