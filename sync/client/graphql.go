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

// call runs one GraphQL operation, retrying retryable failures with
// exponential back-off, and decodes data.<field> into out. op names the call
// for the observer; items is what it carries. It returns the last error when
// every attempt failed, or at once a non-retryable *Error.
func (d *Device) call(ctx context.Context, op, query string, vars map[string]any, field string, items int, out any) error {
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return fmt.Errorf("%s: encode request: %w", op, err)
	}
	wait := d.backoff
	for attempt := 0; ; attempt++ {
		err = d.roundTrip(ctx, op, body, field, items, out)
		if err == nil || !retryable(err) || attempt >= d.retries || ctx.Err() != nil {
			if err != nil {
				return fmt.Errorf("%s (attempt %d): %w", op, attempt+1, err)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", op, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, maxBackoff)
	}
}

// roundTrip makes one HTTP request and decodes the answer.
func (d *Device) roundTrip(ctx context.Context, op string, body []byte, field string, items int, out any) (err error) {
	start := time.Now()
	defer func() {
		if d.observe != nil {
			var transport error
			var se *Error
			if err != nil && !errors.As(err, &se) {
				transport = err
			}
			d.observe(Call{Op: op, Duration: time.Since(start), Err: transport, Items: items})
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if d.token != "" {
		req.Header.Set("Authorization", "Bearer "+d.token)
	}
	res, err := d.hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("read response: %w", err)
	}
	var env struct {
		Data   map[string]json.RawMessage `json:"data"`
		Errors []gqlError                 `json:"errors"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		if res.StatusCode != http.StatusOK {
			return &Error{Code: http.StatusText(res.StatusCode), Message: "non-GraphQL answer", Status: res.StatusCode}
		}
		return fmt.Errorf("decode response: %w", err)
	}
	if len(env.Errors) > 0 {
		e := env.Errors[0]
		return &Error{Code: e.Extensions.Code, Message: e.Message, Status: res.StatusCode}
	}
	if res.StatusCode != http.StatusOK {
		return &Error{Code: http.StatusText(res.StatusCode), Message: "unexpected HTTP status", Status: res.StatusCode}
	}
	data, ok := env.Data[field]
	if !ok || string(data) == "null" {
		return fmt.Errorf("response has no data.%s", field)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode data.%s: %w", field, err)
	}
	return nil
}
