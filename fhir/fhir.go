// Package fhir serves Rapport's data as FHIR R4 (JSON, UK Core identifiers):
// read and search of Organization, Practitioner, PractitionerRole, Group (a
// team), Patient, CareTeam, EpisodeOfCare, Encounter, Provenance,
// Questionnaire and QuestionnaireResponse, a CapabilityStatement at
// /metadata, Bulk Data $export (NDJSON, streamed; export.go) and import of
// a practice's contact history as a transaction Bundle (import.go). Every read goes through the same store methods as GraphQL, so the
// one access rule (the actor's care.PatientAccess, applied in SQL by
// postgres) and the audit trail apply unchanged; SMART-style scopes on a
// token only narrow what its role grants (see scopes.go). docs/fhir.md is the
// integrator's guide.
package fhir

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// ContentType is the FHIR JSON media type every response carries.
const ContentType = "application/fhir+json; charset=utf-8"

// Config is what the handler needs.
type Config struct {
	// DB is the store.
	DB *postgres.DB
	// Verifier checks bearer tokens.
	Verifier *auth.Verifier
	// Base is the path the handler is mounted at, e.g. "/fhir/R4".
	Base string
	// MaxImportBytes bounds an import Bundle's body; 0 means DefaultMaxImportBytes.
	MaxImportBytes int64
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultMaxImportBytes is the largest transaction Bundle accepted by default.
const DefaultMaxImportBytes = 64 << 20

// Handler serves FHIR R4.
type Handler struct {
	cfg Config
}

// New returns the FHIR handler for cfg.
func New(cfg Config) *Handler {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxImportBytes == 0 {
		cfg.MaxImportBytes = DefaultMaxImportBytes
	}
	cfg.Base = strings.TrimRight(cfg.Base, "/")
	return &Handler{cfg: cfg}
}

// ServeHTTP routes a FHIR request: GET metadata, GET [type], GET
// [type]/[id], POST (a transaction Bundle). Anything else is an
// OperationOutcome with the right status.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, h.cfg.Base), "/")
	parts := strings.Split(path, "/")
	if path == "metadata" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeOutcome(w, r, care.Errorf(care.EINVALID, "use GET for metadata"), http.StatusMethodNotAllowed)
			return
		}
		writeJSON(w, http.StatusOK, h.capability(r))
		return
	}
	actor, err := h.authenticate(r)
	if err != nil {
		w.Header().Set("WWW-Authenticate", "Bearer")
		writeOutcome(w, r, err, 0)
		return
	}
	ctx := care.NewContextWithActor(r.Context(), actor)
	if isBulk(parts) {
		if actor.Role != care.RoleIntegration || !actor.HasScope(care.ScopeBulkExport) ||
			(!actor.HasScope(care.ScopePatientsRead) && !systemGrantsPatients(actor)) {
			writeOutcome(w, r, care.Errorf(care.EFORBIDDEN, "Bulk Data export needs an integration token with bulk:export and patients:read (or system/*.rs)"), 0)
			return
		}
		h.bulk(w, r.WithContext(care.NewContextWithActor(ctx, effectiveActor(actor))), parts)
		return
	}
	switch {
	case path == "" && r.Method == http.MethodPost:
		h.transaction(w, r.WithContext(ctx))
		return
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET")
		writeOutcome(w, r, care.Errorf(care.EINVALID, "this server reads FHIR (GET); it writes only transaction Bundles (POST to the base)"), http.StatusMethodNotAllowed)
		return
	}
	rt, ok := resourceTypes[parts[0]]
	if !ok || len(parts) > 2 {
		writeOutcome(w, r, care.Errorf(care.ENOTFOUND, "no such resource type or operation"), 0)
		return
	}
	if err := readable(actor, parts[0], len(parts) == 1); err != nil {
		writeOutcome(w, r, err, 0)
		return
	}
	ctx = care.NewContextWithActor(ctx, effectiveActor(actor))
	if len(parts) == 2 {
		ctx = care.NewContextWithOperation(ctx, "FHIR read "+parts[0])
		if rt.read == nil {
			writeOutcome(w, r, care.Errorf(care.ENOTFOUND, "%s is searched, not read by id", parts[0]), 0)
			return
		}
		res, err := rt.read(ctx, h, parts[1])
		if err != nil {
			writeOutcome(w, r, err, 0)
			return
		}
		writeJSON(w, http.StatusOK, res)
		return
	}
	ctx = care.NewContextWithOperation(ctx, "FHIR search "+parts[0])
	p, err := newParams(r.URL.Query(), rt.params)
	if err != nil {
		writeOutcome(w, r, err, 0)
		return
	}
	res, err := rt.search(ctx, h, p)
	if err != nil {
		writeOutcome(w, r, err, 0)
		return
	}
	writeJSON(w, http.StatusOK, h.searchset(r, parts[0], res))
}

// authenticate verifies the bearer token: EUNAUTHENTICATED when it is
// missing or rejected (the reason is logged, never the token).
func (h *Handler) authenticate(r *http.Request) (*care.Actor, error) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	token = strings.TrimSpace(token)
	log := zerolog.Ctx(r.Context())
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		log.Info().Str("reason", "missing bearer token").Msg("unauthenticated")
		return nil, care.Errorf(care.EUNAUTHENTICATED, "missing bearer token")
	}
	if h.cfg.Verifier == nil {
		return nil, care.Errorf(care.EINTERNAL, "no token verifier")
	}
	a, err := h.cfg.Verifier.Verify(token)
	if err != nil {
		log.Info().Str("reason", auth.Reason(err)).Msg("unauthenticated")
		return nil, err
	}
	// A departed practitioner's tokens are refused here as on every path.
	if h.cfg.DB != nil {
		if err := h.cfg.DB.CheckStanding(r.Context(), a); err != nil {
			if care.ErrorCode(err) == care.EUNAUTHENTICATED {
				log.Info().Str("reason", "practitioner inactive, unknown or of another organisation").Msg("unauthenticated")
			}
			return nil, err
		}
	}
	return a, nil
}

// OperationOutcome is FHIR's error resource.
type OperationOutcome struct {
	ResourceType string  `json:"resourceType"`
	Issue        []Issue `json:"issue"`
}

// Issue is one problem.
type Issue struct {
	Severity    string   `json:"severity"`
	Code        string   `json:"code"`
	Diagnostics string   `json:"diagnostics,omitempty"`
	Expression  []string `json:"expression,omitempty"`
}

// outcomeFor maps a care error code onto an HTTP status and an issue type.
func outcomeFor(code string) (int, string) {
	switch code {
	case care.EINVALID:
		return http.StatusBadRequest, "invalid"
	case care.ELIMIT:
		return http.StatusBadRequest, "too-costly"
	case care.ENOTFOUND:
		return http.StatusNotFound, "not-found"
	case care.EUNAUTHENTICATED:
		return http.StatusUnauthorized, "login"
	case care.EFORBIDDEN:
		return http.StatusForbidden, "forbidden"
	case care.ECONFLICT:
		return http.StatusConflict, "conflict"
	}
	return http.StatusInternalServerError, "exception"
}

// writeOutcome writes err as an OperationOutcome with the status its code
// implies (or status, when not 0). Internal errors are logged once and
// described generically.
func writeOutcome(w http.ResponseWriter, r *http.Request, err error, status int) {
	code := care.ErrorCode(err)
	st, issue := outcomeFor(code)
	if status != 0 {
		st = status
	}
	if code == care.EINTERNAL {
		zerolog.Ctx(r.Context()).Error().Err(err).Msg("fhir: internal error")
	}
	o := OperationOutcome{ResourceType: "OperationOutcome", Issue: []Issue{{Severity: "error", Code: issue, Diagnostics: care.ErrorMessage(err)}}}
	var ie *importError
	if asImportError(err, &ie) {
		o.Issue[0].Expression = []string{ie.expression}
	}
	writeJSON(w, st, o)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", ContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// baseURL is the absolute URL of the FHIR base for links and fullUrls.
func (h *Handler) baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + h.cfg.Base
}

// resourceType is how one FHIR type is read and searched.
type resourceType struct {
	read   func(ctx context.Context, h *Handler, id string) (any, error)
	search func(ctx context.Context, h *Handler, p *params) (*result, error)
	// params are the search parameters it supports (besides the common ones).
	params []string
	// includes are its _include and _revinclude values.
	includes, revincludes []string
	// patientData says it carries a patient's data (integrations need a
	// patient-data scope).
	patientData bool
}
