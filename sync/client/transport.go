package client

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
)

// ErrDroppedRequest is the error a FaultyTransport returns for a request it
// never delivered.
var ErrDroppedRequest = errors.New("fault injection: request dropped before reaching the server")

// ErrDroppedResponse is the error a FaultyTransport returns for a request the
// server answered but whose answer it threw away.
var ErrDroppedResponse = errors.New("fault injection: response dropped after the server answered")

// FaultyTransport is an http.RoundTripper that loses traffic on purpose, with
// a seeded random source so a run can be repeated: a request it drops never
// reaches the server; a response it drops was served in full (the server did
// the work) but the caller only sees an error. It is safe for concurrent use.
type FaultyTransport struct {
	base         http.RoundTripper
	dropRequest  float64
	dropResponse float64

	mu   sync.Mutex
	rand *rand.Rand

	disabled         atomic.Bool
	requests         atomic.Int64
	droppedRequests  atomic.Int64
	droppedResponses atomic.Int64
}

// NewFaultyTransport returns a transport over base (http.DefaultTransport if
// nil) that drops a request with probability dropRequest and, of those it
// delivers, drops the response with probability dropResponse.
func NewFaultyTransport(base http.RoundTripper, dropRequest, dropResponse float64, seed int64) *FaultyTransport {
	if base == nil {
		base = http.DefaultTransport
	}
	return &FaultyTransport{
		base: base, dropRequest: dropRequest, dropResponse: dropResponse,
		rand: rand.New(rand.NewPCG(uint64(seed), 0x5eed)),
	}
}

// SetFaults turns fault injection on or off (on after NewFaultyTransport).
func (t *FaultyTransport) SetFaults(on bool) { t.disabled.Store(!on) }

// Stats returns how many requests went through the transport and how many
// requests and responses it dropped.
func (t *FaultyTransport) Stats() (requests, droppedRequests, droppedResponses int64) {
	return t.requests.Load(), t.droppedRequests.Load(), t.droppedResponses.Load()
}

func (t *FaultyTransport) roll(p float64) bool {
	if p <= 0 || t.disabled.Load() {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rand.Float64() < p
}

// RoundTrip sends req through the base transport unless it decides to drop
// the request or the response; it returns ErrDroppedRequest or
// ErrDroppedResponse (wrapped) when it does.
func (t *FaultyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	t.requests.Add(1)
	if t.roll(t.dropRequest) {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		t.droppedRequests.Add(1)
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ErrDroppedRequest)
	}
	res, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if t.roll(t.dropResponse) {
		// Read the whole answer first: the server has finished its work.
		_, _ = io.Copy(io.Discard, res.Body)
		_ = res.Body.Close()
		t.droppedResponses.Add(1)
		return nil, fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, ErrDroppedResponse)
	}
	return res, nil
}
