package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// ErrNoStanding is the cause (under an EUNAUTHENTICATED care.Error) when a
// token speaks for a practitioner who is not, or no longer, an active
// member of the organisation the token names.
var ErrNoStanding = errors.New("practitioner unknown, inactive or of another organisation")

// CheckStanding is the departed-staff rule, checked on every request and
// WebSocket before anything else runs: an actor who speaks for a
// practitioner (nurse, GP, practice admin) stands only while that
// practitioner exists, is active and belongs to the actor's organisation.
// It returns nil for actors without a practitioner (integrations, the
// system), an EUNAUTHENTICATED error wrapping ErrNoStanding when the
// practitioner does not stand, and the database's error otherwise. One
// primary-key lookup; nothing is cached, so marking a practitioner inactive
// takes effect on the next request.
func (db *DB) CheckStanding(ctx context.Context, a *care.Actor) error {
	if a == nil || a.PractitionerID == uuid.Nil || a.Role == care.RoleSystem {
		return nil
	}
	var org uuid.UUID
	var active bool
	err := db.q.QueryRow(ctx, `SELECT organization_id, active FROM practitioners WHERE id = $1`, a.PractitionerID).Scan(&org, &active)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return fmt.Errorf("check standing: %w", err)
	case active && org == a.OrganizationID:
		return nil
	}
	return fmt.Errorf("%w: %w", ErrNoStanding, care.Errorf(care.EUNAUTHENTICATED, "invalid or expired token"))
}
