// Package model holds the GraphQL-only types gqlgen generates (connections,
// edges, page info) and the Node interface; every entity itself is a care type.
package model

// Node is any record fetchable by global ID: *care.Organization, *care.Team,
// *care.Practitioner, *care.Patient, *care.CareRelationship or *care.Interaction.
type Node any
