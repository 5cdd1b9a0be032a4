package server

import (
	"net/http"
	"strings"

	"github.com/rapportcare/rapport/fhir"
)

// FHIRBase is where the FHIR R4 API is mounted.
const FHIRBase = "/fhir/R4"

// DefaultFHIRMaxImportBytes is the largest FHIR import Bundle accepted.
const DefaultFHIRMaxImportBytes = 64 << 20

// fhirHandler serves FHIR R4 over the same store, verifier and access rule as GraphQL.
func fhirHandler(cfg Config, deps Deps) http.Handler {
	return fhir.New(fhir.Config{DB: deps.DB, Verifier: deps.Verifier, Base: FHIRBase, MaxImportBytes: cfg.FHIRMaxImportBytes})
}

// isFHIRImport reports whether r posts an import Bundle to the FHIR base.
func isFHIRImport(r *http.Request) bool {
	return r.Method == http.MethodPost && strings.TrimRight(r.URL.Path, "/") == FHIRBase
}

// withBodyLimits applies cfg.MaxBodyBytes to every request but a FHIR
// import, which may carry up to cfg.FHIRMaxImportBytes.
func withBodyLimits(cfg Config, next http.Handler) http.Handler {
	normal := withBodyLimit(cfg.MaxBodyBytes, next)
	imports := withBodyLimit(cfg.FHIRMaxImportBytes, next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isFHIRImport(r) {
			imports.ServeHTTP(w, r)
			return
		}
		normal.ServeHTTP(w, r)
	})
}

// isFHIRExportFile reports whether r downloads a Bulk Data file: it streams
// for as long as the export takes, so the request timeout does not apply
// (the database work is bounded by the client staying connected).
func isFHIRExportFile(r *http.Request) bool {
	return r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, FHIRBase+"/$export-file/")
}
