package graph

import (
	"context"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph/httptransport"
	"github.com/rapportcare/rapport/postgres"
	"github.com/vektah/gqlparser/v2/ast"
)

// NewServer returns the GraphQL handler over db: schema, spec-compliant HTTP
// transports, query cache, introspection, depth and complexity limits (zero
// fields of limits take the defaults), error presenter, recover func and
// per-operation dataloaders. It expects the caller to have put the
// authenticated care.Actor (and the request id and logger) in the request
// context; authentication itself is server/'s job.
func NewServer(db *postgres.DB, limits Limits) *handler.Server {
	return newServer(db, limits, loaderWait)
}

// newServer is NewServer with the dataloaders' batch window as a parameter,
// so tests can widen it and make batching independent of timing.
func newServer(db *postgres.DB, limits Limits, batchWait time.Duration) *handler.Server {
	limits = limits.withDefaults()
	cfg := Config{Resolvers: &Resolver{DB: db}}
	setComplexity(&cfg.Complexity)

	srv := handler.New(NewExecutableSchema(cfg))
	for _, t := range httptransport.New() {
		srv.AddTransport(t)
	}
	srv.SetQueryCache(lru.New[*ast.QueryDocument](1000))
	srv.Use(extension.Introspection{})
	// Depth before complexity: a depth bomb is reported as what it is.
	srv.Use(depthLimit{Max: limits.MaxDepth})
	srv.Use(extension.FixedComplexityLimit(limits.MaxComplexity))
	srv.SetErrorPresenter(presentError)
	srv.SetRecoverFunc(recoverPanic)
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		ctx = withLoaders(ctx, newLoaders(db, batchWait))
		if graphql.HasOperationContext(ctx) && graphql.GetOperationContext(ctx).Operation != nil {
			oc := graphql.GetOperationContext(ctx)
			ctx = care.NewContextWithOperation(ctx, oc.Operation.Name)
		}
		return next(ctx)
	})
	return srv
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
