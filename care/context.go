package care

import (
	"context"
	"time"

	"github.com/google/uuid"
)

// Actor is who is making a request, as established by authentication. Team
// memberships are not carried: they are care relationships, looked up when needed.
type Actor struct {
	// PractitionerID is the practitioner behind the token; uuid.Nil for
	// integration and system actors.
	PractitionerID uuid.UUID
	OrganizationID uuid.UUID
	Role           Role
	// Scopes are what an integration token grants, e.g. "patients:read".
	Scopes []string
	// Subject is the token's subject, kept for the audit trail.
	Subject string
	// ClientID names the integration or device the token was issued to.
	ClientID string
	// ExpiresAt is when the actor's credentials expire (the token's exp);
	// zero for actors without a token (the system). Long-lived connections
	// (WebSockets) end when it passes.
	ExpiresAt time.Time
	// Access is which patients the actor may see. auth decides it from the
	// token (auth.AccessFor); postgres applies it in SQL on every path.
	Access PatientAccess
}

// PatientAccess describes the patients an actor may see. A patient is visible
// when any clause admits them; the zero value admits nobody.
type PatientAccess struct {
	// All admits every patient (the operator's command line only).
	All bool
	// RegisteredAt admits patients registered at these organisations.
	RegisteredAt []uuid.UUID
	// ViaRelationshipsOf admits patients with an active care relationship to
	// this practitioner, or to a team she is an active member of; uuid.Nil for none.
	ViaRelationshipsOf uuid.UUID
}

// HasScope reports whether the actor's token grants scope.
func (a *Actor) HasScope(scope string) bool {
	for _, s := range a.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

// Integration scopes.
const (
	ScopePatientsRead  = "patients:read"
	ScopeAnalyticsRead = "analytics:read"
	// ScopeContactsImport lets a practice admin or an integration of a
	// practice load that practice's contact history (FHIR import).
	ScopeContactsImport = "contacts:import"
	// ScopeBulkExport lets an integration run FHIR Bulk Data $export.
	ScopeBulkExport = "bulk:export"
)

type ctxKey int

const (
	actorKey ctxKey = iota
	requestIDKey
)

// NewContextWithActor returns a copy of ctx carrying the actor.
func NewContextWithActor(ctx context.Context, a *Actor) context.Context {
	return context.WithValue(ctx, actorKey, a)
}

// ActorFromContext returns the actor in ctx, or nil if the request is unauthenticated.
func ActorFromContext(ctx context.Context) *Actor {
	a, _ := ctx.Value(actorKey).(*Actor)
	return a
}

// NewContextWithRequestID returns a copy of ctx carrying the request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestIDFromContext returns the request id in ctx, or "".
func RequestIDFromContext(ctx context.Context) string {
	s, _ := ctx.Value(requestIDKey).(string)
	return s
}

// SystemActor returns the operator's own actor, used by the command line
// (migrate, seed) and test fixtures. No token can carry it.
func SystemActor() *Actor {
	return &Actor{Role: RoleSystem, Subject: "system", Access: PatientAccess{All: true}}
}

const operationKey ctxKey = 100

// NewContextWithOperation returns a copy of ctx naming the operation being
// served (e.g. the GraphQL operation name), for the audit trail.
func NewContextWithOperation(ctx context.Context, op string) context.Context {
	return context.WithValue(ctx, operationKey, op)
}

// OperationFromContext returns the operation name in ctx, or "".
func OperationFromContext(ctx context.Context) string {
	s, _ := ctx.Value(operationKey).(string)
	return s
}
