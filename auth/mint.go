package auth

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

// DefaultMintTTL is how long a minted token lives when MintRequest.TTL is zero.
const DefaultMintTTL = time.Hour

// MintRequest describes a token to mint.
type MintRequest struct {
	// Subject is the practitioner UUID for nurse, gp and practice_admin; any
	// non-empty name for an integration.
	Subject        string
	OrganizationID uuid.UUID
	// Role is nurse, gp, practice_admin or integration; never system.
	Role care.Role
	// Scopes are granted to an integration; ignored by Verify for people.
	Scopes   []string
	ClientID string
	// TTL is the token's lifetime; zero means DefaultMintTTL.
	TTL time.Duration
}

// MintHMAC returns an HS256 token for r, signed with the verifier's HMAC
// secret and carrying its issuer and audience, valid from now for r.TTL. It is
// for development and tests. It returns an error if the verifier has no HMAC
// secret or r would not pass Verify (unknown or system role, nil organisation,
// bad subject, negative TTL).
func (v *Verifier) MintHMAC(r MintRequest) (string, error) {
	if v.secret == nil {
		return "", errors.New("auth: mint token: verifier has no HMAC secret")
	}
	if _, ok := tokenRoles[string(r.Role)]; !ok {
		return "", fmt.Errorf("auth: mint token: role %q cannot be carried by a token", r.Role)
	}
	if r.OrganizationID == uuid.Nil {
		return "", errors.New("auth: mint token: organization is required")
	}
	if strings.TrimSpace(r.Subject) == "" {
		return "", errors.New("auth: mint token: subject is required")
	}
	if r.Role != care.RoleIntegration {
		if id, err := uuid.Parse(r.Subject); err != nil || id == uuid.Nil {
			return "", fmt.Errorf("auth: mint token: subject of a %s must be a practitioner UUID", r.Role)
		}
	}
	if r.TTL < 0 {
		return "", fmt.Errorf("auth: mint token: TTL %s is negative", r.TTL)
	}
	ttl := r.TTL
	if ttl == 0 {
		ttl = DefaultMintTTL
	}
	now := v.now().Truncate(time.Second)
	claims := tokenClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    v.issuer,
			Subject:   r.Subject,
			Audience:  jwt.ClaimStrings{v.audience},
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			NotBefore: jwt.NewNumericDate(now),
			IssuedAt:  jwt.NewNumericDate(now),
			ID:        uuid.NewString(),
		},
		Org:      r.OrganizationID.String(),
		Role:     string(r.Role),
		Scope:    strings.Join(r.Scopes, " "),
		ClientID: r.ClientID,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(v.secret)
	if err != nil {
		return "", fmt.Errorf("auth: mint token: %w", err)
	}
	return s, nil
}
