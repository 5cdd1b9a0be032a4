package simulate_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// newProxy serves a proxy to the server at target that lets a test tamper
// with GraphQL requests (req) and response data (res). A request whose
// input gains a "duplicates" list of changes is followed, after the real
// one, by a second push of those changes, whose answer is thrown away.
func newProxy(t *testing.T, target string, req func(query string, body map[string]any), res func(query string, data map[string]any)) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		query, _ := body["query"].(string)
		req(query, body)
		var dup []any
		if v, ok := body["variables"].(map[string]any); ok {
			if in, ok := v["input"].(map[string]any); ok {
				dup, _ = in["duplicates"].([]any)
				delete(in, "duplicates")
			}
		}
		out := forward(t, target, r.Header, body)
		if len(dup) > 0 {
			in := body["variables"].(map[string]any)["input"].(map[string]any)
			in["changes"] = dup
			forward(t, target, r.Header, body)
		}
		if data, ok := out["data"].(map[string]any); ok {
			res(query, data)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func forward(t *testing.T, target string, h http.Header, body map[string]any) map[string]any {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, target+"/graphql", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", h.Get("Authorization"))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("proxy: %v", err)
		return map[string]any{}
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return out
}
