package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// ErrNoStanding is the cause (under an EUNAUTHENTICATED care.Error) when a
// token speaks for a practitioner who is not, or no longer, an active
// member of the organisation the token names.
var ErrNoStanding = errors.New("practitioner unknown, inactive or of another organisation")

// StandingTTL is how long CheckStanding trusts a practitioner's standing
// once it has read it, so that a busy caller's requests do not each spend a
// statement on it. It bounds how late a departure is noticed when it is made
// outside this process (another instance, SQL by hand); UpdatePractitioner
// in this process forgets the practitioner at once. Only standing is cached:
// a practitioner who does not stand is looked up again on every request.
const StandingTTL = time.Second

// standingCache remembers which practitioners stood, and when that was read.
type standingCache struct {
	ttl time.Duration // 0: nothing is cached
	mu  sync.Mutex
	at  map[standingKey]time.Time
	gen uint64 // bumped by forget, so a read begun before it is not remembered
}

type standingKey struct{ practitioner, org uuid.UUID }

func newStandingCache(ttl time.Duration) *standingCache {
	return &standingCache{ttl: ttl, at: map[standingKey]time.Time{}}
}

// stands reports whether k was seen standing within the TTL of now.
func (c *standingCache) stands(k standingKey, now time.Time) bool {
	if c == nil || c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.at[k]
	if ok && now.Sub(at) >= c.ttl {
		delete(c.at, k)
		ok = false
	}
	return ok
}

// generation returns the cache's generation, to pass to stood.
func (c *standingCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// stood records that k stood when read at the time at, unless forget was
// called since the read began (gen).
func (c *standingCache) stood(k standingKey, at time.Time, gen uint64) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	if len(c.at) >= 10_000 { // bounded: drop everything rather than grow
		clear(c.at)
	}
	c.at[k] = at
}

// forget drops what is remembered of a practitioner.
func (c *standingCache) forget(practitioner uuid.UUID) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k := range c.at {
		if k.practitioner == practitioner {
			delete(c.at, k)
		}
	}
}

// CheckStanding is the departed-staff rule, checked on every request and
// WebSocket before anything else runs: an actor who speaks for a
// practitioner (nurse, GP, practice admin) stands only while that
// practitioner exists, is active and belongs to the actor's organisation.
// It returns nil for actors without a practitioner (integrations, the
// system), an EUNAUTHENTICATED error wrapping ErrNoStanding when the
// practitioner does not stand, and the database's error otherwise. One
// primary-key lookup, whose positive answer is trusted for StandingTTL
// (see there); marking a practitioner inactive through this DB takes effect
// on the next request.
func (db *DB) CheckStanding(ctx context.Context, a *care.Actor) error {
	if a == nil || a.PractitionerID == uuid.Nil || a.Role == care.RoleSystem {
		return nil
	}
	k := standingKey{a.PractitionerID, a.OrganizationID}
	read, gen := time.Now(), db.standing.generation()
	if db.standing.stands(k, read) {
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
		db.standing.stood(k, read, gen)
		return nil
	}
	return fmt.Errorf("%w: %w", ErrNoStanding, care.Errorf(care.EUNAUTHENTICATED, "invalid or expired token"))
}
