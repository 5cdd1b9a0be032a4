// Package dashboard serves /dashboard: the continuity and relationships
// dashboard a practice meeting or a nursing team runs on. Every figure on it
// comes from Rapport's public GraphQL API, queried in-process with the
// caller's own bearer token, so the API's one access rule, its audit and its
// fewer-than-5 suppression apply unchanged; there is no second access rule
// here. Monthly measures are drawn as NHS England "Making Data Count" XmR
// charts (package spc), each with the numbers behind it as a table and a CSV
// download.
//
// Routes (all GET):
//
//	/dashboard                   the page shell: no data, no token
//	/dashboard/assets/{file}     its embedded script and style sheet
//	/dashboard/view/{view}       one view (practice, team, relationships) as
//	                             an HTML fragment, for the bearer token in the
//	                             Authorization header
//
// The page takes its token from the URL fragment (#token=…, which browsers
// never send to a server, so it never reaches an access log), keeps it in
// sessionStorage, sends it only in the Authorization header, and forgets it
// and every figure on sign-out. Responses are no-store. Nothing is loaded
// from elsewhere: the Content-Security-Policy allows only this origin.
package dashboard

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

//go:embed assets templates
var files embed.FS

// csp allows the page's own script, style sheet and API calls, and nothing else.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// Options configure the dashboard.
type Options struct {
	// Now gives the current time; the default is time.Now. Views show months
	// up to the current one unless the request names an end month.
	Now func() time.Time
}

// Handler serves the dashboard. api is the GraphQL endpoint behind its
// authentication (it must accept a POST with the caller's Authorization
// header and answer as /graphql does); every view is built from its answers.
func Handler(api http.Handler, o Options) http.Handler {
	if o.Now == nil {
		o.Now = time.Now
	}
	d := &dashboard{api: api, now: o.Now, tmpl: templates}
	assets, _ := fs.Sub(files, "assets")
	mux := http.NewServeMux()
	mux.HandleFunc("GET /dashboard", d.page)
	mux.HandleFunc("GET /dashboard/{$}", d.page)
	mux.Handle("GET /dashboard/assets/", http.StripPrefix("/dashboard/assets/", assetServer(http.FileServerFS(assets))))
	mux.HandleFunc("GET /dashboard/view/practice", d.view(d.practice))
	mux.HandleFunc("GET /dashboard/view/team", d.view(d.team))
	mux.HandleFunc("GET /dashboard/view/relationships", d.view(d.relationships))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityHeaders(w)
		mux.ServeHTTP(w, r)
	})
}

type dashboard struct {
	api  http.Handler
	now  func() time.Time
	tmpl *template.Template
}

var templates = template.Must(template.New("").Funcs(funcs).ParseFS(files, "templates/*.html"))

func securityHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", csp)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}

// assetServer serves the embedded files; they are public and change only
// with the binary, so they may be cached for a day (and revalidated).
func assetServer(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=86400")
		h.ServeHTTP(w, r)
	})
}

func (d *dashboard) page(w http.ResponseWriter, r *http.Request) {
	d.render(w, r, http.StatusOK, "page.html", nil)
}

// render executes a template into a buffer first, so a failing template
// never sends half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var b bytes.Buffer
	if err := d.tmpl.ExecuteTemplate(&b, name, data); err != nil {
		zerolog.Ctx(r.Context()).Error().Err(err).Str("template", name).Msg("dashboard: render")
		http.Error(w, "Internal error.", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// view wraps a view builder: it refuses a request without a bearer token
// before any work, and turns the builder's errors into a short HTML message
// with the matching status (401 when the API refused the token, 400 for bad
// parameters, 403 when the role may not see the view at all).
func (d *dashboard) view(build func(*http.Request) (string, any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			d.render(w, r, http.StatusUnauthorized, "message.html", message{Title: "Please sign in", Text: "Your sign-in has ended or is missing."})
			return
		}
		name, data, err := build(r)
		if err != nil {
			status, msg := http.StatusInternalServerError, message{Title: "Something went wrong", Text: "The figures could not be loaded. Please try again."}
			var ae *apiError
			var pe paramError
			switch {
			case errors.As(err, &pe):
				status, msg = http.StatusBadRequest, message{Title: "Please check the settings", Text: string(pe)}
			case errors.As(err, &ae) && ae.Code == "UNAUTHENTICATED":
				status, msg = http.StatusUnauthorized, message{Title: "Please sign in", Text: "Your sign-in has ended or is missing."}
			case errors.As(err, &ae) && ae.Code == "BAD_USER_INPUT":
				status, msg = http.StatusBadRequest, message{Title: "Please check the settings", Text: ae.Message}
			case errors.As(err, &ae) && ae.Code == "FORBIDDEN":
				status, msg = http.StatusForbidden, message{Title: "Not available to you", Text: "Your role may not see this view."}
			default:
				zerolog.Ctx(r.Context()).Error().Err(err).Msg("dashboard: build view")
			}
			d.render(w, r, status, "message.html", msg)
			return
		}
		d.render(w, r, http.StatusOK, name, data)
	}
}

type message struct{ Title, Text string }
