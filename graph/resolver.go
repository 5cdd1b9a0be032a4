// Package graph serves Rapport's GraphQL schema (schema.graphql) with gqlgen:
// generated execution code, thin resolvers that authorise through the store
// and delegate to it, per-request dataloaders, limits and the error presenter.
package graph

import "github.com/rapportcare/rapport/postgres"

// Resolver is the root resolver: the dependencies every resolver shares.
type Resolver struct {
	DB *postgres.DB
}
