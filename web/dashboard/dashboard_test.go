package dashboard_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rapportcare/rapport/web/dashboard"
)

// api stands in for the GraphQL endpoint where a test needs only to know
// whether it was called, or a fixed refusal; everything the views show is
// tested against the real API in server/dashboard_test.go.
type api struct {
	calls  atomic.Int32
	status int
	body   string
}

func (a *api) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func get(t *testing.T, h http.Handler, method, path, auth string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestPage(t *testing.T) {
	t.Parallel()
	h := dashboard.Handler(&api{status: 500}, dashboard.Options{})
	rec := get(t, h, http.MethodGet, "/dashboard", "")
	body := rec.Body.String()
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d", rec.Code)
	}
	for _, want := range []string{`<html lang="en">`, `name="viewport"`, `<script src="/dashboard/assets/dashboard.js" defer></script>`, `<label for="token">`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") || strings.Contains(body, "<script>") || strings.Contains(body, "<style") {
		t.Error("the page loads something from elsewhere or inline")
	}
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
		t.Errorf("CSP %q", csp)
	}
	if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Referrer-Policy") != "no-referrer" {
		t.Errorf("headers %v", rec.Header())
	}
	for _, asset := range []string{"/dashboard/assets/dashboard.js", "/dashboard/assets/dashboard.css"} {
		if rec := get(t, h, http.MethodGet, asset, ""); rec.Code != http.StatusOK || rec.Body.Len() < 1000 {
			t.Errorf("%s: %d, %d bytes", asset, rec.Code, rec.Body.Len())
		}
	}
	if rec := get(t, h, http.MethodPost, "/dashboard", ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /dashboard: %d", rec.Code)
	}
	if rec := get(t, h, http.MethodGet, "/dashboard/view/nonsense", "Bearer x"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown view: %d", rec.Code)
	}
}

func TestViewRefusals(t *testing.T) {
	t.Parallel()
	for _, view := range []string{"practice", "team", "relationships"} {
		t.Run(view+" without a token is refused before any query", func(t *testing.T) {
			t.Parallel()
			a := &api{status: 500}
			rec := get(t, dashboard.Handler(a, dashboard.Options{}), http.MethodGet, "/dashboard/view/"+view, "")
			if rec.Code != http.StatusUnauthorized || a.calls.Load() != 0 || !strings.Contains(rec.Body.String(), "Please sign in") {
				t.Fatalf("%d after %d API calls: %s", rec.Code, a.calls.Load(), rec.Body)
			}
		})
		t.Run(view+" with a token the API refuses says sign in", func(t *testing.T) {
			t.Parallel()
			a := &api{status: http.StatusUnauthorized, body: `{"errors":[{"message":"unauthenticated","extensions":{"code":"UNAUTHENTICATED"}}]}`}
			rec := get(t, dashboard.Handler(a, dashboard.Options{}), http.MethodGet, "/dashboard/view/"+view, "Bearer expired")
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("Cache-Control") != "no-store" {
				t.Fatalf("%d: %s", rec.Code, rec.Body)
			}
		})
	}
	bad := []struct{ name, path, says string }{
		{"months not a number", "/dashboard/view/practice?months=lots", "Months shown must be a whole number from 3 to 60"},
		{"too many months", "/dashboard/view/team?months=25", "from 3 to 24"},
		{"a malformed end month", "/dashboard/view/relationships?to=2025-13", "end month"},
		{"a threshold over 100%", "/dashboard/view/practice?upcBelow=150", "UPC below must be a percentage"},
		{"a negative target", "/dashboard/view/practice?target=-1", "SLICC target must be a percentage"},
		{"minContacts below 2", "/dashboard/view/practice?minContacts=1", "Contacts at least"},
		{"a huge parameter", "/dashboard/view/practice?months=" + strings.Repeat("9", 5000), "Months shown"},
	}
	for _, c := range bad {
		t.Run("refuses "+c.name+" before any query", func(t *testing.T) {
			t.Parallel()
			a := &api{status: 500}
			start := time.Now()
			rec := get(t, dashboard.Handler(a, dashboard.Options{}), http.MethodGet, c.path, "Bearer x")
			if rec.Code != http.StatusBadRequest || a.calls.Load() != 0 || !strings.Contains(rec.Body.String(), c.says) {
				t.Fatalf("%d after %d API calls: %s", rec.Code, a.calls.Load(), rec.Body)
			}
			if d := time.Since(start); d > time.Second {
				t.Fatalf("refusal took %v", d)
			}
		})
	}
	t.Run("an API error does not leak its message", func(t *testing.T) {
		t.Parallel()
		a := &api{status: 200, body: `{"errors":[{"message":"secret detail","extensions":{"code":"INTERNAL"}}]}`}
		rec := get(t, dashboard.Handler(a, dashboard.Options{}), http.MethodGet, "/dashboard/view/practice", "Bearer x")
		if rec.Code != http.StatusInternalServerError || strings.Contains(rec.Body.String(), "secret") {
			t.Fatalf("%d: %s", rec.Code, rec.Body)
		}
	})
	t.Run("a role the API forbids is told so", func(t *testing.T) {
		t.Parallel()
		a := &api{status: 200, body: `{"errors":[{"message":"forbidden","extensions":{"code":"FORBIDDEN"}}]}`}
		rec := get(t, dashboard.Handler(a, dashboard.Options{}), http.MethodGet, "/dashboard/view/relationships", "Bearer x")
		if rec.Code != http.StatusForbidden || !strings.Contains(rec.Body.String(), "Not available to you") {
			t.Fatalf("%d: %s", rec.Code, rec.Body)
		}
	})
}
