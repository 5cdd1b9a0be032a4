package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/graph/httptransport"
	"github.com/rapportcare/rapport/graph/wstransport"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
	"github.com/rapportcare/rapport/sync/rxdb"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Option configures NewServer.
type Option func(*options)

type options struct {
	engine          *offline.Engine
	ws              wstransport.Config
	feedback        *feedback.Signer
	noIntrospection bool
}

// WithIntrospection turns schema introspection (__schema, __type) on or off;
// it is on unless turned off. Production operators may turn it off so that
// callers learn the schema from its published documentation only.
func WithIntrospection(on bool) Option { return func(o *options) { o.noIntrospection = !on } }

// WithSync serves the sync fields and the syncChanges subscription with e.
// Without it NewServer builds an engine over db with the default config.
func WithSync(e *offline.Engine) Option { return func(o *options) { o.engine = e } }

// WithWebSocket configures the graphql-transport-ws transport: above all its
// Authenticate func, which verifies the token a client sends in
// connection_init (without one every connection is refused with 4403).
func WithWebSocket(cfg wstransport.Config) Option { return func(o *options) { o.ws = cfg } }

// NewServer returns the GraphQL handler over db: schema, the graphql-transport-ws
// WebSocket transport (for subscriptions), spec-compliant HTTP transports,
// query cache, introspection, depth and complexity limits (zero fields of
// limits take the defaults), error presenter, recover func and per-operation
// dataloaders. Over HTTP it expects the caller to have put the authenticated
// care.Actor (and the request id and logger) in the request context;
// authentication itself is server/'s job. A WebSocket authenticates in its
// connection_init through the Authenticate func given WithWebSocket.
func NewServer(db *postgres.DB, limits Limits, opts ...Option) *handler.Server {
	return newServer(db, limits, loaderWait, opts...)
}

// newServer is NewServer with the dataloaders' batch window as a parameter,
// so tests can widen it and make batching independent of timing.
func newServer(db *postgres.DB, limits Limits, batchWait time.Duration, opts ...Option) *handler.Server {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.engine == nil {
		o.engine = offline.New(db, offline.Config{})
	}
	limits = limits.withDefaults()
	var now func() time.Time
	if db != nil {
		now = db.Now
	}
	cfg := Config{Resolvers: &Resolver{DB: db, Sync: o.engine, RxDB: rxdb.New(o.engine, now), Feedback: o.feedback}}
	setComplexity(&cfg.Complexity)

	srv := handler.New(NewExecutableSchema(cfg))
	// The WebSocket transport comes first: it claims every upgrade request
	// (wstransport.IsUpgrade), which server/ lets through without a bearer
	// header because the socket authenticates in connection_init.
	srv.AddTransport(wstransport.New(o.ws))
	for _, t := range httptransport.New() {
		srv.AddTransport(t)
	}
	cache := lru.New[*ast.QueryDocument](1000)
	srv.SetQueryCache(cache)
	// The shape guard runs before the executor parses and validates: the
	// validation rules and the complexity measure are not linear in a query.
	srv.Use(costGuard{limits: limits, cache: cache})
	srv.SetParserTokenLimit(limits.MaxTokens)
	if o.noIntrospection {
		srv.Use(introspectionOff{})
	} else {
		srv.Use(extension.Introspection{})
	}
	// Depth before complexity: a depth bomb is reported as what it is.
	srv.Use(depthLimit{Max: limits.MaxDepth})
	srv.Use(stringLimit{})
	srv.Use(deferOff{})
	srv.Use(extension.FixedComplexityLimit(limits.MaxComplexity))
	srv.SetErrorPresenter(presentError)
	srv.SetRecoverFunc(recoverPanic)
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		ctx = withLoaders(ctx, newLoaders(db, batchWait))
		if op := operationOf(ctx); op != nil {
			ctx = care.NewContextWithOperation(ctx, op.Name)
			// Queries may read from a replica (read-your-writes holds for the
			// caller); mutations, their own responses included, and
			// subscriptions stay on the primary.
			if op.Operation == ast.Query {
				ctx = postgres.ReadFromReplica(ctx)
			}
		}
		return next(ctx)
	})
	// A query's read-audit entries are queued together, just before its
	// response leaves, so that one request's records of one patient share
	// an audit row; a response whose audit cannot be queued is not served.
	// Mutations and subscription events queue each read as it is made: a
	// mutation's response must not be refused after its write committed
	// (a client told "nothing happened" might make it again).
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		op := operationOf(ctx)
		if db == nil || op == nil || op.Operation != ast.Query { // (no db: tests of the request guards, which reach no data)
			return next(ctx)
		}
		ctx, queueAudit := db.GatherReadAudit(ctx)
		resp := next(ctx)
		if err := queueAudit(); err != nil {
			return &graphql.Response{Errors: gqlerror.List{presentError(ctx, err)}}
		}
		return resp
	})
	return srv
}

// operationOf returns ctx's operation, or nil before one is known.
func operationOf(ctx context.Context) *ast.OperationDefinition {
	if !graphql.HasOperationContext(ctx) {
		return nil
	}
	return graphql.GetOperationContext(ctx).Operation
}

// setComplexity makes every connection field cost first times its selection,
// and nodes(ids:) cost one selection per id; other fields cost gqlgen's
// default (1 + their selection).
func setComplexity(c *ComplexityRoot) {
	c.Query.Organizations = func(child int, _ *care.OrganizationFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.Teams = func(child int, _ *care.TeamFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.Practitioners = func(child int, _ *care.PractitionerFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.Patients = func(child int, _ *care.PatientFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.Interactions = func(child int, _ *care.InteractionFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.CareRelationships = func(child int, _ *care.RelationshipFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Query.Nodes = func(child int, ids []string) int { return 1 + len(ids)*child }
	c.Organization.Teams = func(child int, first *int, _ *string) int { return pageCost(child, first) }
	c.Organization.Practitioners = func(child int, first *int, _ *string) int { return pageCost(child, first) }
	c.Practitioner.Caseload = func(child int, first *int, _ *string) int { return pageCost(child, first) }
	c.Practitioner.Interactions = func(child int, _ *care.InteractionFilter, first *int, _ *string) int { return pageCost(child, first) }
	c.Patient.Relationships = func(child int, _ *bool, _ *care.RelationshipKind, first *int, _ *string) int {
		return pageCost(child, first)
	}
	c.Patient.Interactions = func(child int, _ *care.InteractionFilter, first *int, _ *string) int { return pageCost(child, first) }
}
