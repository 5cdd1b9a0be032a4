package simulate

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/sync/client"
)

// HMACTokens mints one nurse token per practitioner in nurses (all of
// organisation org) with the verifier's HMAC secret, valid for ttl, and
// returns Options.Tokens: device i gets nurse i mod len(nurses), so with
// more devices than nurses some nurses have two or more devices. It returns
// an error if nurses is empty or a token cannot be minted.
func HMACTokens(v *auth.Verifier, org uuid.UUID, nurses []uuid.UUID, ttl time.Duration) (func(int) string, error) {
	if len(nurses) == 0 {
		return nil, fmt.Errorf("simulate: no nurses to mint tokens for")
	}
	toks := make([]string, len(nurses))
	for i, n := range nurses {
		t, err := v.MintHMAC(auth.MintRequest{Subject: n.String(), OrganizationID: org, Role: care.RoleNurse, TTL: ttl, ClientID: "rapport-simulate"})
		if err != nil {
			return nil, fmt.Errorf("simulate: mint token for nurse %d: %w", i, err)
		}
		toks[i] = t
	}
	return func(i int) string { return toks[i%len(toks)] }, nil
}

// Colleagues pulls, as the practitioner whose token is given, the directory
// her device receives and returns the ids of active practitioners of her own
// organisation with one of the professions (GraphQL enum names, e.g.
// DISTRICT_NURSE; any when none given), herself included, sorted. It is how
// `rapport simulate` finds nurses to impersonate in the demo data. It returns
// an error if the pull fails or her own record is not in it.
func Colleagues(ctx context.Context, baseURL, token string, professions ...string) ([]uuid.UUID, error) {
	d := client.New(baseURL, token, client.WithPullLimit(1000))
	if _, err := d.Pull(ctx); err != nil {
		return nil, fmt.Errorf("simulate: find colleagues: %w", err)
	}
	me, err := uuid.Parse(d.Subject())
	if err != nil {
		return nil, fmt.Errorf("simulate: find colleagues: the token names no practitioner")
	}
	var org string
	recs := d.Records(client.EntityPractitioner)
	for _, r := range recs {
		if r.ID == me {
			org, _ = r.Data["organizationId"].(string)
		}
	}
	if org == "" {
		return nil, fmt.Errorf("simulate: find colleagues: practitioner %s is not in her own directory", me)
	}
	var out []uuid.UUID
	for _, r := range recs {
		o, _ := r.Data["organizationId"].(string)
		prof, _ := r.Data["profession"].(string)
		active, _ := r.Data["active"].(bool)
		if o == org && active && (len(professions) == 0 || slices.Contains(professions, prof)) {
			out = append(out, r.ID)
		}
	}
	slices.SortFunc(out, func(a, b uuid.UUID) int { return slices.Compare(a[:], b[:]) })
	return out, nil
}
