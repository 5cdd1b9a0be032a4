// Package httptransport serves GraphQL over HTTP as the GraphQL-over-HTTP
// specification says (POST and GET, application/graphql-response+json and
// application/json), where gqlgen's stock transports answer parse and
// validation errors with 422 and a "data": null.
//
// The rules it follows:
//   - The response media type is negotiated from Accept:
//     application/graphql-response+json when the client accepts it,
//     otherwise application/json (also for */*, application/* and a missing
//     Accept); anything else is 406. Responses are always UTF-8.
//   - Request errors (unreadable or non-JSON body, missing or non-string
//     query, non-string operationName, non-object variables or extensions)
//     are 400 with no "data" key.
//   - Errors raised before execution (parse, validation, variable coercion,
//     limits) carry no "data" key and extensions.code BAD_USER_INPUT; they are
//     200 for application/json and 400 for application/graphql-response+json.
//   - POST needs Content-Type application/json (415 otherwise); GET takes the
//     parameters from the query string and refuses anything but queries with
//     405 and Allow: POST.
//   - A body over the limit set by http.MaxBytesReader upstream is 413.
package httptransport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Media types the transport speaks.
const (
	MediaTypeJSON            = "application/json"
	MediaTypeGraphQLResponse = "application/graphql-response+json"
)

// CodeBadUserInput is the extensions.code of every error this transport
// raises itself or reports from parsing and validation.
const CodeBadUserInput = "BAD_USER_INPUT"

// codes the rest of the system uses; an error from before execution that
// already carries one of them keeps it.
var systemCodes = map[string]bool{
	"UNAUTHENTICATED": true, "FORBIDDEN": true, CodeBadUserInput: true,
	"NOT_FOUND": true, "CONFLICT": true, "INTERNAL": true,
}

// New returns the transports that serve GraphQL over HTTP: one that handles
// both POST and GET (every non-upgrade request with either method).
func New() []graphql.Transport {
	return []graphql.Transport{HTTP{}}
}

// HTTP is a graphql.Transport for POST and GET requests that follows the
// GraphQL-over-HTTP specification.
type HTTP struct{}

var _ graphql.Transport = HTTP{}

// Supports reports whether r is a plain (non-upgrade) GET or POST. It claims
// every such request, so that a wrong Content-Type or Accept gets this
// transport's answer (415, 406) rather than gqlgen's "transport not supported".
func (HTTP) Supports(r *http.Request) bool {
	if r.Header.Get("Upgrade") != "" {
		return false
	}
	return r.Method == http.MethodPost || r.Method == http.MethodGet
}

// Do serves one GraphQL request.
func (HTTP) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	mediaType, ok := negotiate(r.Header.Values("Accept"))
	if !ok {
		// The client accepts nothing we can send; say so in JSON anyway.
		writeErrors(w, MediaTypeJSON, http.StatusNotAcceptable,
			requestError("Accept must allow %s or %s", MediaTypeGraphQLResponse, MediaTypeJSON))
		return
	}

	start := graphql.Now()
	var (
		params *graphql.RawParams
		status int
		gqlErr *gqlerror.Error
	)
	switch r.Method {
	case http.MethodPost:
		params, status, gqlErr = readPost(r)
	default:
		params, status, gqlErr = readGet(r)
	}
	if gqlErr != nil {
		writeErrors(w, mediaType, status, gqlErr)
		return
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}

	ctx := r.Context()
	opCtx, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		for _, e := range errs {
			if code, _ := e.Extensions["code"].(string); !systemCodes[code] {
				if e.Extensions == nil {
					e.Extensions = map[string]any{}
				}
				e.Extensions["code"] = CodeBadUserInput
			}
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, opCtx), errs)
		status := http.StatusOK
		if mediaType == MediaTypeGraphQLResponse {
			status = http.StatusBadRequest
		}
		writeNoData(w, mediaType, status, resp)
		return
	}

	if r.Method == http.MethodGet && opCtx.Operation.Operation != ast.Query {
		w.Header().Set("Allow", http.MethodPost)
		writeErrors(w, mediaType, http.StatusMethodNotAllowed,
			requestError("GET requests may only run queries; send a %s with POST", opCtx.Operation.Operation))
		return
	}

	if opCtx.Operation.Operation == ast.Subscription {
		// A subscription is a stream: it needs the WebSocket on this same path.
		w.Header().Set("Allow", http.MethodGet) // the upgrade
		status := http.StatusOK
		if mediaType == MediaTypeGraphQLResponse {
			status = http.StatusBadRequest
		}
		writeErrors(w, mediaType, status, requestError(
			"subscriptions are served over WebSocket, not HTTP %s: connect to %s with the graphql-transport-ws protocol (e.g. the graphql-ws client) and send the token in connection_init",
			r.Method, webSocketURL(r)))
		return
	}

	responses, ctx := exec.DispatchOperation(ctx, opCtx)
	resp := responses(ctx)
	if resp == nil {
		resp = &graphql.Response{Errors: gqlerror.List{{Message: "no response", Extensions: map[string]any{"code": "INTERNAL"}}}}
	}
	writeJSON(w, mediaType, http.StatusOK, executed{resp})
}

// executed is an executed operation's response. It marshals as
// graphql.Response does, but copies gqlgen's data, which is already compact
// JSON, instead of having encoding/json compact and validate it again: for a
// sync page of 1,000 records that pass was a sixth of the server's time.
// Data holding a character json.Marshal would escape (<, >, & and the line
// and paragraph separators, U+2028 and U+2029, whose UTF-8 starts with
// 0xE2) goes through json.Marshal as before, so the bytes sent are the same.
type executed struct{ *graphql.Response }

func (r executed) MarshalJSON() ([]byte, error) {
	if r.Label != "" || r.Path != nil || r.HasNext != nil || len(r.Data) == 0 || escapable(r.Data) {
		return json.Marshal(r.Response)
	}
	b := make([]byte, 0, len(r.Data)+64)
	b = append(b, '{')
	if len(r.Errors) > 0 {
		errs, err := json.Marshal(r.Errors)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, `"errors":`...), errs...), ',')
	}
	b = append(append(b, `"data":`...), r.Data...)
	if len(r.Extensions) > 0 {
		ext, err := json.Marshal(r.Extensions)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `,"extensions":`...), ext...)
	}
	return append(b, '}'), nil
}

// escapable reports whether b holds a byte json.Marshal's compaction would
// rewrite: <, > or &, or 0xE2, the lead byte of U+2028 and U+2029.
func escapable(b []byte) bool {
	return bytes.IndexByte(b, '<') >= 0 || bytes.IndexByte(b, '>') >= 0 || bytes.IndexByte(b, '&') >= 0 || bytes.IndexByte(b, 0xE2) >= 0
}

// webSocketURL is the ws:// (or wss://) URL of the path r was sent to.
func webSocketURL(r *http.Request) string {
	scheme := "ws"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "wss"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// rawRequest is a request's parameters before their types are checked.
type rawRequest struct {
	Query         json.RawMessage `json:"query"`
	OperationName json.RawMessage `json:"operationName"`
	Variables     json.RawMessage `json:"variables"`
	Extensions    json.RawMessage `json:"extensions"`
}

// readPost reads a POST body into parameters; on failure it returns the
// status and the error to report.
func readPost(r *http.Request) (*graphql.RawParams, int, *gqlerror.Error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return nil, http.StatusUnsupportedMediaType, requestError("Content-Type must be %s", MediaTypeJSON)
	}
	mt, mtParams, err := mime.ParseMediaType(ct)
	if err != nil || mt != MediaTypeJSON {
		return nil, http.StatusUnsupportedMediaType, requestError("Content-Type must be %s", MediaTypeJSON)
	}
	if cs, ok := mtParams["charset"]; ok && !strings.EqualFold(cs, "utf-8") && !strings.EqualFold(cs, "utf8") {
		return nil, http.StatusUnsupportedMediaType, requestError("charset must be utf-8")
	}
	if r.Body == nil {
		return nil, http.StatusBadRequest, requestError("request body is empty")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, http.StatusRequestEntityTooLarge, requestError("request body exceeds %d bytes", tooBig.Limit)
		}
		return nil, http.StatusBadRequest, requestError("could not read request body")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, http.StatusBadRequest, requestError("request body is empty")
	}
	var raw rawRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raw); err != nil {
		return nil, http.StatusBadRequest, requestError("request body is not a JSON object with a query: %s", jsonProblem(err))
	}
	if dec.More() {
		return nil, http.StatusBadRequest, requestError("request body has data after the JSON object")
	}
	return paramsFrom(raw)
}

// readGet reads parameters from the query string.
func readGet(r *http.Request) (*graphql.RawParams, int, *gqlerror.Error) {
	values, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, http.StatusBadRequest, requestError("query string could not be parsed")
	}
	if !values.Has("query") {
		return nil, http.StatusBadRequest, requestError("the query parameter is required")
	}
	raw := rawRequest{Query: jsonString(values.Get("query"))}
	if values.Has("operationName") && values.Get("operationName") != "" {
		raw.OperationName = jsonString(values.Get("operationName"))
	}
	if v := values.Get("variables"); v != "" {
		raw.Variables = json.RawMessage(v)
	}
	if v := values.Get("extensions"); v != "" {
		raw.Extensions = json.RawMessage(v)
	}
	return paramsFrom(raw)
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// paramsFrom checks each parameter's type.
func paramsFrom(raw rawRequest) (*graphql.RawParams, int, *gqlerror.Error) {
	bad := func(format string, args ...any) (*graphql.RawParams, int, *gqlerror.Error) {
		return nil, http.StatusBadRequest, requestError(format, args...)
	}
	p := &graphql.RawParams{}
	if isNull(raw.Query) {
		return bad("the query parameter is required")
	}
	if err := json.Unmarshal(raw.Query, &p.Query); err != nil {
		return bad("the query parameter must be a string")
	}
	if p.Query == "" {
		return bad("the query parameter must not be empty")
	}
	if !isNull(raw.OperationName) {
		if err := json.Unmarshal(raw.OperationName, &p.OperationName); err != nil {
			return bad("the operationName parameter must be a string")
		}
	}
	if !isNull(raw.Variables) {
		m, err := decodeObject(raw.Variables)
		if err != nil {
			return bad("the variables parameter must be a JSON object")
		}
		p.Variables = m
	}
	if !isNull(raw.Extensions) {
		m, err := decodeObject(raw.Extensions)
		if err != nil {
			return bad("the extensions parameter must be a JSON object")
		}
		p.Extensions = m
	}
	return p, 0, nil
}

func isNull(m json.RawMessage) bool {
	t := bytes.TrimSpace(m)
	return len(t) == 0 || bytes.Equal(t, []byte("null"))
}

// decodeObject decodes a JSON object, keeping numbers as json.Number as
// gqlgen's own transports do.
func decodeObject(m json.RawMessage) (map[string]any, error) {
	t := bytes.TrimSpace(m)
	if len(t) == 0 || t[0] != '{' {
		return nil, errors.New("not an object")
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("decode object: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the object")
	}
	return out, nil
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "invalid JSON at offset " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "expected an object"
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return "unexpected end of JSON"
	default:
		return "invalid JSON"
	}
}

// requestError is an error about the request itself.
func requestError(format string, args ...any) *gqlerror.Error {
	return &gqlerror.Error{
		Message:    fmt.Sprintf(format, args...),
		Extensions: map[string]any{"code": CodeBadUserInput},
	}
}

// noDataResponse is a response for a request that never reached execution:
// the specification says it has no "data" entry at all.
type noDataResponse struct {
	Errors     gqlerror.List  `json:"errors"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

func writeErrors(w http.ResponseWriter, mediaType string, status int, errs ...*gqlerror.Error) {
	writeJSON(w, mediaType, status, noDataResponse{Errors: errs})
}

func writeNoData(w http.ResponseWriter, mediaType string, status int, resp *graphql.Response) {
	out := noDataResponse{Errors: resp.Errors, Extensions: resp.Extensions}
	if len(out.Errors) == 0 {
		out.Errors = gqlerror.List{requestError("the request could not be run")}
	}
	writeJSON(w, mediaType, status, out)
}

func writeJSON(w http.ResponseWriter, mediaType string, status int, v any) {
	var b []byte
	var err error
	if m, ok := v.(json.Marshaler); ok {
		b, err = m.MarshalJSON()
	} else {
		b, err = json.Marshal(v)
	}
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"errors":[{"message":"Internal error.","extensions":{"code":"INTERNAL"}}]}`)
	}
	h := w.Header()
	h.Set("Content-Type", mediaType+"; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Add("Vary", "Accept")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// acceptRange is one entry of an Accept header.
type acceptRange struct {
	typ, sub string
	q        float64
}

// negotiate picks the response media type for the Accept header values: the
// acceptable type with the highest quality, application/graphql-response+json
// winning ties. No Accept at all means application/json. It reports false
// when the client accepts neither type.
func negotiate(values []string) (string, bool) {
	var ranges []acceptRange
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			typ, sub, ok := strings.Cut(mt, "/")
			if !ok {
				continue
			}
			q := 1.0
			if qs, ok := params["q"]; ok {
				f, err := strconv.ParseFloat(qs, 64)
				if err != nil || f < 0 || f > 1 {
					continue
				}
				q = f
			}
			ranges = append(ranges, acceptRange{typ: typ, sub: sub, q: q})
		}
	}
	if len(ranges) == 0 {
		return MediaTypeJSON, true
	}
	quality := func(mediaType string) (q float64, specificity int) {
		typ, sub, _ := strings.Cut(mediaType, "/")
		q, specificity = 0, -1
		for _, r := range ranges {
			s := -1
			switch {
			case r.typ == typ && r.sub == sub:
				s = 2
			case r.typ == typ && r.sub == "*":
				s = 1
			case r.typ == "*" && r.sub == "*":
				s = 0
			}
			if s > specificity {
				q, specificity = r.q, s
			}
		}
		return q, specificity
	}
	gq, gs := quality(MediaTypeGraphQLResponse)
	jq, _ := quality(MediaTypeJSON)
	// Wildcards alone mean application/json: clients that name the new type
	// are the ones that understand it.
	if gs == 2 && gq > 0 && gq >= jq {
		return MediaTypeGraphQLResponse, true
	}
	if jq > 0 {
		return MediaTypeJSON, true
	}
	if gq > 0 {
		return MediaTypeGraphQLResponse, true
	}
	return "", false
}
