package server

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	offline "github.com/rapportcare/rapport/sync"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// maxOperationNames caps the distinct operation-name label values; names
// seen after the cap are counted as "other".
const maxOperationNames = 200

// Operation outcomes, the label values of rapport_graphql_operations_total.
const (
	outcomeOK       = "ok"       // executed without errors
	outcomeError    = "error"    // executed, the response carries errors
	outcomeRejected = "rejected" // refused before execution (parse, validation, limits)
)

// metrics is one Handler's Prometheus registry and collectors.
type metrics struct {
	registry   *prometheus.Registry
	requests   *prometheus.CounterVec
	reqSeconds *prometheus.HistogramVec
	operations *prometheus.CounterVec
	opSeconds  *prometheus.HistogramVec

	mu    sync.Mutex
	names map[string]bool
}

func newMetrics() *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_http_requests_total",
			Help: "HTTP requests served, by route and status code.",
		}, []string{"route", "code"}),
		reqSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rapport_http_request_duration_seconds",
			Help:    "Time to serve an HTTP request, by route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rapport_graphql_operations_total",
			Help: `GraphQL operations, by operation name ("anonymous" when unnamed, "other" past the cap) and outcome (ok, error, rejected).`,
		}, []string{"operation", "outcome"}),
		opSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "rapport_graphql_operation_duration_seconds",
			Help:    "Time from the start of a GraphQL request to its response, by operation name.",
			Buckets: prometheus.DefBuckets,
		}, []string{"operation"}),
		names: map[string]bool{},
	}
	m.registry.MustRegister(
		m.requests, m.reqSeconds, m.operations, m.opSeconds,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// watchRecordCache exposes the sync engine's record cache counts (none
// without an engine), so that operators can size RAPPORT_SYNC_RECORD_CACHE:
// a low share of hits with many misses asks for a larger cache.
func (m *metrics) watchRecordCache(e *offline.Engine) {
	if e == nil {
		return
	}
	m.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rapport_sync_record_cache_hits_total",
			Help: "Interactions sync pulls sent from the record cache instead of loading them again.",
		}, func() float64 { h, _ := e.RecordCacheStats(); return float64(h) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "rapport_sync_record_cache_misses_total",
			Help: "Interactions sync pulls looked for in the record cache and loaded, not finding them.",
		}, func() float64 { _, ms := e.RecordCacheStats(); return float64(ms) }),
	)
}

// handler serves the registry in the Prometheus text format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// observeRequest records one HTTP request.
func (m *metrics) observeRequest(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.reqSeconds.WithLabelValues(route).Observe(d.Seconds())
}

var operationNameRE = regexp.MustCompile(`^[_A-Za-z][_0-9A-Za-z]{0,63}$`)

// operationLabel bounds the cardinality of the operation label.
func (m *metrics) operationLabel(name string) string {
	if name == "" {
		return "anonymous"
	}
	if !operationNameRE.MatchString(name) {
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.names[name] {
		return name
	}
	if len(m.names) >= maxOperationNames {
		return "other"
	}
	m.names[name] = true
	return name
}

type executedKey struct{}

// instrument hooks the metrics and the access log into a gqlgen server:
// AroundOperations marks an operation that reached execution and records its
// name for the access log; AroundResponses counts every response, including
// the ones the transport sends for operations refused before execution.
func (m *metrics) instrument(srv interface {
	AroundOperations(graphql.OperationMiddleware)
	AroundResponses(graphql.ResponseMiddleware)
}) {
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if info := requestInfoFrom(ctx); info != nil {
			info.setOperation(operationName(graphql.GetOperationContext(ctx)))
		}
		return next(context.WithValue(ctx, executedKey{}, true))
	})
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if !graphql.HasOperationContext(ctx) {
			return resp
		}
		oc := graphql.GetOperationContext(ctx)
		name := operationName(oc)
		outcome := outcomeRejected
		if executed, _ := ctx.Value(executedKey{}).(bool); executed {
			outcome = outcomeOK
			if resp != nil && len(resp.Errors) > 0 {
				outcome = outcomeError
			}
		} else {
			if name == "" {
				name = soleOperationName(oc.RawQuery)
			}
			if info := requestInfoFrom(ctx); info != nil {
				info.setOperation(name)
			}
		}
		label := m.operationLabel(name)
		m.operations.WithLabelValues(label, outcome).Inc()
		if start := oc.Stats.OperationStart; !start.IsZero() {
			m.opSeconds.WithLabelValues(label).Observe(time.Since(start).Seconds())
		}
		return resp
	})
}

// soleOperationName names the one operation of a document that failed
// validation (gqlgen keeps no parsed document then), or "".
func soleOperationName(query string) string {
	if query == "" {
		return ""
	}
	doc, err := parser.ParseQuery(&ast.Source{Input: query})
	if err != nil || len(doc.Operations) != 1 {
		return ""
	}
	return doc.Operations[0].Name
}

// operationName is the name of the operation run, or the one asked for.
func operationName(oc *graphql.OperationContext) string {
	if oc == nil {
		return ""
	}
	if oc.Operation != nil && oc.Operation.Name != "" {
		return oc.Operation.Name
	}
	return oc.OperationName
}
