package httptransport_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/testserver"
	"github.com/rapportcare/rapport/graph/httptransport"
)

// newHandler returns gqlgen's codegen-free test schema (Query { name,
// find(id: Int!) }, Mutation { name }) served by this package's transports.
// The schema answers every query with {"name":"test"}.
func newHandler() http.Handler {
	h, _ := newRecordingHandler()
	return h
}

// seen is what reached execution.
type seen struct {
	operation  string
	variables  map[string]any
	extensions map[string]any
}

// newRecordingHandler is newHandler that also reports the last operation run.
func newRecordingHandler() (http.Handler, func() seen) {
	srv := testserver.New()
	for _, t := range httptransport.New() {
		srv.AddTransport(t)
	}
	var (
		mu   sync.Mutex
		last seen
	)
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		oc := graphql.GetOperationContext(ctx)
		mu.Lock()
		last = seen{operation: oc.Operation.Name, variables: oc.Variables, extensions: oc.Extensions}
		mu.Unlock()
		return next(ctx)
	})
	return srv, func() seen {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

type result struct {
	status int
	header http.Header
	body   map[string]json.RawMessage
	raw    string
}

func (r result) errorCode(t *testing.T) string {
	t.Helper()
	var errs []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	}
	if err := json.Unmarshal(r.body["errors"], &errs); err != nil || len(errs) == 0 {
		t.Fatalf("no errors in response %s", r.raw)
	}
	code, _ := errs[0].Extensions["code"].(string)
	return code
}

func do(t *testing.T, h http.Handler, req *http.Request) result {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	res := result{status: rec.Code, header: rec.Header(), raw: rec.Body.String()}
	if err := json.Unmarshal(rec.Body.Bytes(), &res.body); err != nil {
		t.Fatalf("response is not a JSON object: %v: %q", err, rec.Body.String())
	}
	return res
}

func post(body, contentType, accept string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return req
}

func get(params url.Values, accept string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "/graphql?"+params.Encode(), nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return req
}

const (
	jsonType = "application/json"
	gqlType  = "application/graphql-response+json"
)

func TestContentNegotiation(t *testing.T) {
	h := newHandler()
	for _, tc := range []struct {
		name, accept, want string
		status             int
	}{
		{"missing Accept means application/json", "", jsonType, 200},
		{"application/json", jsonType, jsonType, 200},
		{"graphql-response+json", gqlType, gqlType, 200},
		{"graphql-response+json preferred over json", jsonType + ", " + gqlType, gqlType, 200},
		{"higher quality json wins", gqlType + ";q=0.5, " + jsonType, jsonType, 200},
		{"*/* means application/json", "*/*", jsonType, 200},
		{"application/* means application/json", "application/*", jsonType, 200},
		{"browser accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", jsonType, 200},
		{"unacceptable", "text/html", jsonType, http.StatusNotAcceptable},
		{"json refused with q=0", "application/json;q=0", jsonType, http.StatusNotAcceptable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, h, post(`{"query":"{ name }"}`, jsonType, tc.accept))
			if res.status != tc.status {
				t.Fatalf("status = %d, want %d: %s", res.status, tc.status, res.raw)
			}
			if got := res.header.Get("Content-Type"); got != tc.want+"; charset=utf-8" {
				t.Errorf("Content-Type = %q, want %q", got, tc.want+"; charset=utf-8")
			}
			if tc.status == 200 && string(res.body["data"]) != `{"name":"test"}` {
				t.Errorf("data = %s", res.body["data"])
			}
		})
	}
}

func TestPreExecutionErrors(t *testing.T) {
	h := newHandler()
	for _, tc := range []struct {
		name, body string
	}{
		{"parse error", `{"query":"{"}`},
		{"validation error", `{"query":"{ nope }"}`},
		{"variable coercion failure", `{"query":"query Q($id: Int!) { find(id: $id) }","variables":{"id":null}}`},
		{"unknown operationName", `{"query":"query A { name }","operationName":"B"}`},
		{"several operations and no operationName", `{"query":"query A { name } query B { name }"}`},
	} {
		t.Run(tc.name+" with application/json is 200 without data", func(t *testing.T) {
			res := do(t, h, post(tc.body, jsonType, jsonType))
			if res.status != http.StatusOK {
				t.Fatalf("status = %d, want 200: %s", res.status, res.raw)
			}
			if _, ok := res.body["data"]; ok {
				t.Errorf("response has a data key: %s", res.raw)
			}
			if code := res.errorCode(t); code != "BAD_USER_INPUT" {
				t.Errorf("code = %q, want BAD_USER_INPUT", code)
			}
		})
		t.Run(tc.name+" with graphql-response+json is 400 without data", func(t *testing.T) {
			res := do(t, h, post(tc.body, jsonType, gqlType))
			if res.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400: %s", res.status, res.raw)
			}
			if ct := res.header.Get("Content-Type"); ct != gqlType+"; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			if _, ok := res.body["data"]; ok {
				t.Errorf("response has a data key: %s", res.raw)
			}
			if code := res.errorCode(t); code != "BAD_USER_INPUT" {
				t.Errorf("code = %q, want BAD_USER_INPUT", code)
			}
		})
	}
}

func TestRequestErrors(t *testing.T) {
	h := newHandler()
	for _, tc := range []struct {
		name, body string
	}{
		{"empty body", ``},
		{"malformed JSON", `{ "not a JSON`},
		{"JSON array (batch)", `[{"query":"{ name }"}]`},
		{"trailing data", `{"query":"{ name }"} {}`},
		{"missing query", `{"qeury":"{ name }"}`},
		{"null query", `{"query":null}`},
		{"empty query", `{"query":""}`},
		{"object query", `{"query":{"obj":"ect"}}`},
		{"number query", `{"query":0}`},
		{"boolean query", `{"query":false}`},
		{"array query", `{"query":["array"]}`},
		{"object operationName", `{"query":"{ name }","operationName":{"obj":"ect"}}`},
		{"number operationName", `{"query":"{ name }","operationName":0}`},
		{"string variables", `{"query":"{ name }","variables":"string"}`},
		{"array variables", `{"query":"{ name }","variables":["array"]}`},
		{"boolean variables", `{"query":"{ name }","variables":false}`},
		{"string extensions", `{"query":"{ name }","extensions":"string"}`},
		{"number extensions", `{"query":"{ name }","extensions":0}`},
	} {
		for _, accept := range []string{jsonType, gqlType} {
			t.Run(tc.name+" accepting "+accept, func(t *testing.T) {
				res := do(t, h, post(tc.body, jsonType, accept))
				if res.status != http.StatusBadRequest {
					t.Fatalf("status = %d, want 400: %s", res.status, res.raw)
				}
				if _, ok := res.body["data"]; ok {
					t.Errorf("response has a data key: %s", res.raw)
				}
				if code := res.errorCode(t); code != "BAD_USER_INPUT" {
					t.Errorf("code = %q, want BAD_USER_INPUT", code)
				}
			})
		}
	}
}

func TestPostParameters(t *testing.T) {
	h, last := newRecordingHandler()
	for _, tc := range []struct {
		name, body, operation, variables, extensions string
	}{
		{"null variables, operationName and extensions", `{"query":"{ name }","variables":null,"operationName":null,"extensions":null}`, "", "map[]", "map[]"},
		{"map variables", `{"query":"query Q($id: Int!) { find(id: $id) }","variables":{"id":1}}`, "Q", "map[id:1]", "map[]"},
		{"map extensions", `{"query":"{ name }","extensions":{"some":"value"}}`, "", "map[]", "map[some:value]"},
		{"operationName selects the operation", `{"query":"query A { name } query B { find(id: 1) }","operationName":"B"}`, "B", "map[]", "map[]"},
		{"utf-8 in the query", `{"query":"{ name } # Run🏃Swim🏊"}`, "", "map[]", "map[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := do(t, h, post(tc.body, "application/json; charset=utf-8", ""))
			if res.status != http.StatusOK {
				t.Fatalf("status = %d: %s", res.status, res.raw)
			}
			if _, ok := res.body["errors"]; ok {
				t.Errorf("unexpected errors: %s", res.raw)
			}
			if string(res.body["data"]) != `{"name":"test"}` {
				t.Errorf("data = %s", res.body["data"])
			}
			got := last()
			if got.operation != tc.operation || fmt.Sprint(got.variables) != tc.variables || fmt.Sprint(got.extensions) != tc.extensions {
				t.Errorf("ran %+v, want operation %q variables %s extensions %s", got, tc.operation, tc.variables, tc.extensions)
			}
		})
	}
}

func TestPostContentType(t *testing.T) {
	h := newHandler()
	for _, tc := range []struct{ name, contentType string }{
		{"missing", ""},
		{"text/plain", "text/plain"},
		{"form", "application/x-www-form-urlencoded"},
		{"non-utf-8 charset", "application/json; charset=latin1"},
		{"malformed", "application/json; ="},
	} {
		t.Run(tc.name+" is 415", func(t *testing.T) {
			res := do(t, h, post(`{"query":"{ name }"}`, tc.contentType, ""))
			if res.status != http.StatusUnsupportedMediaType {
				t.Fatalf("status = %d, want 415: %s", res.status, res.raw)
			}
			if _, ok := res.body["data"]; ok {
				t.Errorf("response has a data key")
			}
		})
	}
}

func TestGet(t *testing.T) {
	h, last := newRecordingHandler()
	t.Run("runs a query", func(t *testing.T) {
		res := do(t, h, get(url.Values{"query": {"{ name }"}}, ""))
		if res.status != 200 || string(res.body["data"]) != `{"name":"test"}` {
			t.Fatalf("status %d body %s", res.status, res.raw)
		}
	})
	t.Run("takes JSON variables and an operationName", func(t *testing.T) {
		res := do(t, h, get(url.Values{
			"query":         {"query A { name } query B($id: Int!) { find(id: $id) }"},
			"operationName": {"B"},
			"variables":     {`{"id":3}`},
			"extensions":    {`{"some":"value"}`},
		}, gqlType))
		if res.status != 200 || string(res.body["data"]) != `{"name":"test"}` {
			t.Fatalf("status %d body %s", res.status, res.raw)
		}
		got := last()
		if got.operation != "B" || fmt.Sprint(got.variables) != "map[id:3]" || fmt.Sprint(got.extensions) != "map[some:value]" {
			t.Errorf("ran %+v", got)
		}
	})
	t.Run("refuses a mutation with 405 and Allow: POST", func(t *testing.T) {
		res := do(t, h, get(url.Values{"query": {"mutation { name }"}}, gqlType))
		if res.status != http.StatusMethodNotAllowed {
			t.Fatalf("status = %d, want 405: %s", res.status, res.raw)
		}
		if allow := res.header.Get("Allow"); allow != "POST" {
			t.Errorf("Allow = %q", allow)
		}
		if _, ok := res.body["data"]; ok {
			t.Errorf("response has a data key")
		}
	})
	for _, tc := range []struct {
		name   string
		params url.Values
	}{
		{"missing query", url.Values{}},
		{"non-JSON variables", url.Values{"query": {"{ name }"}, "variables": {"{"}}},
		{"array variables", url.Values{"query": {"{ name }"}, "variables": {"[1]"}}},
		{"string extensions", url.Values{"query": {"{ name }"}, "extensions": {`"x"`}}},
	} {
		t.Run(tc.name+" is 400", func(t *testing.T) {
			res := do(t, h, get(tc.params, ""))
			if res.status != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400: %s", res.status, res.raw)
			}
			if code := res.errorCode(t); code != "BAD_USER_INPUT" {
				t.Errorf("code = %q", code)
			}
		})
	}
	t.Run("validation error accepting graphql-response+json is 400", func(t *testing.T) {
		res := do(t, h, get(url.Values{"query": {"{ nope }"}}, gqlType))
		if res.status != http.StatusBadRequest {
			t.Fatalf("status = %d, want 400", res.status)
		}
	})
}

func TestBodyLimit(t *testing.T) {
	h := newHandler()
	limited := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, 16)
		h.ServeHTTP(w, r)
	})
	res := do(t, limited, post(`{"query":"{ name name name name }"}`, jsonType, ""))
	if res.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413: %s", res.status, res.raw)
	}
	if code := res.errorCode(t); code != "BAD_USER_INPUT" {
		t.Errorf("code = %q", code)
	}
	if !strings.Contains(res.raw, "request body exceeds 16 bytes") {
		t.Errorf("body = %s", res.raw)
	}
}

func TestSupports(t *testing.T) {
	tr := httptransport.HTTP{}
	for _, tc := range []struct {
		name    string
		method  string
		upgrade bool
		want    bool
	}{
		{"POST", http.MethodPost, false, true},
		{"GET", http.MethodGet, false, true},
		{"PUT", http.MethodPut, false, false},
		{"websocket upgrade", http.MethodGet, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, "/graphql", nil)
			if tc.upgrade {
				req.Header.Set("Upgrade", "websocket")
			}
			if got := tr.Supports(req); got != tc.want {
				t.Errorf("Supports = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSubscriptionOverPOST checks that a subscription sent as a plain POST
// is refused with a code and a message naming the WebSocket endpoint, rather
// than a bare "no response".
func TestSubscriptionOverPOST(t *testing.T) {
	for _, accept := range []string{jsonType, gqlType} {
		t.Run(accept, func(t *testing.T) {
			req := post(`{"query":"subscription { name }"}`, jsonType, accept)
			req.Host = "rapport.example:8080"
			res := do(t, newHandler(), req)
			if code := res.errorCode(t); code != httptransport.CodeBadUserInput {
				t.Errorf("code = %q; want %s (%s)", code, httptransport.CodeBadUserInput, res.raw)
			}
			if !strings.Contains(res.raw, "ws://rapport.example:8080/graphql") || !strings.Contains(res.raw, "graphql-transport-ws") {
				t.Errorf("the error does not name the WebSocket endpoint and protocol: %s", res.raw)
			}
			if _, ok := res.body["data"]; ok {
				t.Errorf("a refused subscription has a data entry: %s", res.raw)
			}
		})
	}
}
