package graph

import (
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/rapportcare/rapport/graph/httptransport"
	"github.com/rapportcare/rapport/postgres"
)

// Limits bounds what one GraphQL request may ask.
type Limits struct {
	MaxDepth      int // deepest selection allowed (default 12)
	MaxComplexity int // largest complexity allowed (default 5000)
}

// NewServer returns the GraphQL handler over db: schema, spec-compliant HTTP
// transports, limits, error presenter, recover and per-request dataloaders.
// It expects the caller to have put the authenticated care.Actor in the
// request context; authentication itself is server/'s job.
// SKELETON: the graph engineer completes it.
func NewServer(db *postgres.DB, limits Limits) *handler.Server {
	srv := handler.New(NewExecutableSchema(Config{Resolvers: &Resolver{DB: db}}))
	for _, t := range httptransport.New() {
		srv.AddTransport(t)
	}
	return srv
}
