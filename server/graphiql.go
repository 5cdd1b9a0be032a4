package server

import (
	"embed"
	"io/fs"
	"log"
	"net/http"

	"github.com/rs/zerolog"
)

// graphiqlFS holds the GraphiQL page and its vendored UMD builds (see
// graphiql/README.md): the page works with no internet access.
//
//go:embed graphiql/index.html graphiql/init.js graphiql/*.min.js graphiql/*.min.css graphiql/favicon.ico
var graphiqlFS embed.FS

// graphiqlCSP lets the page load only its own scripts and styles (GraphiQL
// sets inline styles and embeds its fonts as data: URLs) and talk only to
// this server.
const graphiqlCSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"font-src 'self' data:; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// graphiqlPage serves the GraphiQL page.
func graphiqlPage() http.Handler {
	page, err := graphiqlFS.ReadFile("graphiql/index.html")
	if err != nil {
		panic("server: embedded graphiql/index.html missing: " + err.Error()) // a build fault, not input
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", graphiqlCSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache")
		h.Add("Vary", "Accept")
		_, _ = w.Write(page)
	})
}

// graphiqlAssets serves the page's scripts and styles under /graphiql/.
func graphiqlAssets() http.Handler {
	sub, err := fs.Sub(graphiqlFS, "graphiql")
	if err != nil {
		panic("server: embedded graphiql assets: " + err.Error()) // a build fault, not input
	}
	files := http.StripPrefix("/graphiql/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/graphiql/" || r.URL.Path == "/graphiql/index.html" {
			http.Redirect(w, r, "/graphiql", http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		files.ServeHTTP(w, r)
	})
}

// favicon serves Rapport's icon at /favicon.ico (browsers ask for it on
// every page; a 404 there is noise in every log and console).
func favicon() http.Handler {
	icon, err := graphiqlFS.ReadFile("graphiql/favicon.ico")
	if err != nil {
		panic("server: embedded graphiql/favicon.ico missing: " + err.Error()) // a build fault, not input
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "image/x-icon")
		w.Header().Set("Cache-Control", "public, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(icon)
	})
}

// newStdLogger adapts the zerolog logger for net/http's own error log.
func newStdLogger(l zerolog.Logger) *log.Logger {
	return log.New(l.With().Str("component", "http").Logger(), "", 0)
}
