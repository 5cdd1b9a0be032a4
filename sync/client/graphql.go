package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// gqlError is one entry of a GraphQL response's "errors".
type gqlError struct {
	Message    string `json:"message"`
	Extensions struct {
		Code string `json:"code"`
	} `json:"extensions"`
}

// retryable reports whether err is worth retrying: network trouble, a
// dropped request or response, an attempt that timed out (the HTTP client's
// own timeout; the caller's context ending stops the retries in call), a
// server error or overload. Errors the server chose to give (bad input,
// forbidden, unauthenticated) are not.
func retryable(err error) bool {
	var se *Error
	if errors.As(err, &se) {
		return se.Status >= 500 || se.Status == http.StatusTooManyRequests || se.Code == "INTERNAL" || se.Code == "INTERNAL_SERVER_ERROR"
	}
	return true
}

// call runs one GraphQL operation on d, retrying retryable failures with
// exponential back-off, and returns data.<field> decoded as a T. op names
// the call for the observer; items is what it carries. It returns the last
// error when every attempt failed, or at once a non-retryable *Error.
func call[T any](ctx context.Context, d *Device, op, query string, vars map[string]any, field string, items int) (*T, error) {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return nil, fmt.Errorf("%s: encode request: %w", op, err)
	}
	wait := d.backoff
	for attempt := 0; ; attempt++ {
		var out *T
		out, err = roundTrip[T](ctx, d, op, body, field, items)
		if err == nil || !retryable(err) || attempt >= d.retries || ctx.Err() != nil {
			if err != nil {
				return nil, fmt.Errorf("%s (attempt %d): %w", op, attempt+1, err)
			}
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", op, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// response is a GraphQL response whose data holds fields of type T. The
// answer is decoded in one pass, straight into T: decoding data as raw
// messages first, then the field, parsed every page twice, and a page's
// decoding was most of a simulated device's CPU (bench/simulate_log.md).
type response[T any] struct {
	Data   map[string]*T `json:"data"`
	Errors []gqlError    `json:"errors"`
}

// counted is an answer that says how many items it carried, for the
// observer (a pull's page: its records and tombstones).
type counted interface{ items() int }

// roundTrip makes one HTTP request and decodes the answer. The observer
// is told the round trip's duration: from sending the request to holding
// the whole answer, before the device decodes it (a device's decoding is
// its own work, and costs what its CPU makes it cost). It is told items as
// what the call carried, unless the answer is counted: then what the answer
// carried (a pull's records and tombstones).
func roundTrip[T any](ctx context.Context, d *Device, op string, body []byte, field string, items int) (out *T, err error) {
	start := time.Now()
	var took time.Duration // set once the answer is read
	defer func() {
		if d.observe != nil {
			var transport error
			var se *Error
			if err != nil && !errors.As(err, &se) {
				transport = err
			}
			if took == 0 {
				took = time.Since(start)
			}
			if c, ok := any(out).(counted); ok && err == nil {
				items = c.items()
			}
			d.observe(Call{Op: op, Duration: took, Err: transport, Items: items})
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	res, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	took = time.Since(start)
	var env response[T]
	if err := json.Unmarshal(raw, &env); err != nil {
		if res.StatusCode != http.StatusOK {
			return nil, &Error{Code: http.StatusText(res.StatusCode), Message: "non-GraphQL answer", Status: res.StatusCode}
		}
		return nil, fmt.Errorf("decode response: %w", err)
	}
	if len(env.Errors) > 0 {
		e := env.Errors[0]
		return nil, &Error{Code: e.Extensions.Code, Message: e.Message, Status: res.StatusCode}
	}
	if res.StatusCode != http.StatusOK {
		return nil, &Error{Code: http.StatusText(res.StatusCode), Message: "unexpected HTTP status", Status: res.StatusCode}
	}
	out = env.Data[field]
	if out == nil {
		return nil, fmt.Errorf("response has no data.%s", field)
	}
	return out, nil
}
