package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/graph/scalar"
)

// demoClientID names the integration the demo integration token is issued to.
const demoClientID = "rapport-demo"

func tokenFlags(fs *flag.FlagSet) func(context.Context, environment) error {
	role := fs.String("role", "", "nurse, gp, practice_admin or integration")
	practitioner := fs.String("practitioner", "", "id of the practitioner the token speaks for, bare UUID or global id (default: the role's demo persona)")
	org := fs.String("org", "", "id of the organisation, bare UUID or global id (default: the demo persona's)")
	scope := fs.String("scope", "", `scopes for an integration, space- or comma-separated, e.g. "patients:read"`)
	client := fs.String("client", "", "client id (an integration's name; default "+demoClientID+" for integrations)")
	ttl := fs.Duration("ttl", demoTokenTTL, "lifetime")
	demoAll := fs.Bool("demo", false, "print export lines with a token for each demo persona, and a curl example")
	return func(_ context.Context, env environment) error {
		if *demoAll {
			if *role != "" || *practitioner != "" || *org != "" || *scope != "" || *client != "" {
				return usagef("token: --demo takes no other flags but --ttl")
			}
		} else if *role == "" {
			return usagef("token: --role is required (nurse, gp, practice_admin or integration), or use --demo")
		}
		if *ttl <= 0 {
			return usagef("token: --ttl %s must be positive", *ttl)
		}
		v, addr, err := minter(env)
		if err != nil {
			return err
		}
		if *demoAll {
			tokens, err := demoTokensTTL(v, *ttl)
			if err != nil {
				return err
			}
			var b strings.Builder
			writeDemoTokens(&b, baseURL(addr), tokens)
			_, err = io.WriteString(env.stdout, b.String())
			return err
		}
		req, err := tokenRequest(care.Role(*role), *practitioner, *org, *scope, *client, *ttl)
		if err != nil {
			return err
		}
		tok, err := v.MintHMAC(req)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(env.stdout, tok)
		return err
	}
}

// minter returns a verifier able to mint tokens, and the configured listen
// address for examples.
func minter(env environment) (*auth.Verifier, string, error) {
	cfg, err := config(env, false)
	if err != nil {
		return nil, "", err
	}
	if cfg.JWT.HMACSecret == nil {
		return nil, "", errors.New("RAPPORT_JWT_HMAC_SECRET is not set: development tokens are signed with it " +
			"(make run keeps one in .tmp/dev-secret: export RAPPORT_JWT_HMAC_SECRET=$(cat .tmp/dev-secret))")
	}
	v, err := auth.NewVerifier(cfg.JWT)
	if err != nil {
		return nil, "", fmt.Errorf("token: %w", err)
	}
	return v, cfg.Addr, nil
}

// persona is a demo identity a token can speak for.
type persona struct {
	practitioner uuid.UUID
	org          uuid.UUID
}

var personas = map[care.Role]persona{
	care.RoleNurse:         {demo.NurseID, demo.NursingOrgID},
	care.RoleGP:            {demo.GPID, demo.PracticeID},
	care.RolePracticeAdmin: {demo.PracticeAdminID, demo.PracticeID},
	care.RoleIntegration:   {uuid.Nil, demo.PracticeID},
}

// tokenRequest builds the mint request from the token flags, filling gaps
// from the role's demo persona. It returns a usageError for a flag that does
// not fit the role.
func tokenRequest(role care.Role, practitioner, org, scope, client string, ttl time.Duration) (auth.MintRequest, error) {
	p, ok := personas[role]
	if !ok {
		return auth.MintRequest{}, usagef("token: --role %q is not nurse, gp, practice_admin or integration", role)
	}
	req := auth.MintRequest{Role: role, OrganizationID: p.org, ClientID: client, TTL: ttl}
	if org != "" {
		id, err := scalar.ParseID(org, "Organization")
		if err != nil || id == uuid.Nil {
			return auth.MintRequest{}, usagef("token: --org %q is not an organisation's id (a UUID or its global id)", org)
		}
		req.OrganizationID = id
	}
	req.Scopes = strings.FieldsFunc(scope, func(r rune) bool { return r == ',' || r == ' ' })
	if role == care.RoleIntegration {
		if practitioner != "" {
			return auth.MintRequest{}, usagef("token: an integration token speaks for no practitioner; drop --practitioner")
		}
		if req.ClientID == "" {
			req.ClientID = demoClientID
		}
		req.Subject = req.ClientID
		return req, nil
	}
	if len(req.Scopes) > 0 {
		return auth.MintRequest{}, usagef("token: --scope is for integration tokens only")
	}
	req.Subject = p.practitioner.String()
	if practitioner != "" {
		id, err := scalar.ParseID(practitioner, "Practitioner")
		if err != nil || id == uuid.Nil {
			return auth.MintRequest{}, usagef("token: --practitioner %q is not a practitioner's id (a UUID or its global id)", practitioner)
		}
		req.Subject = id.String()
	}
	return req, nil
}

// demoToken is a token for one demo persona, named for its shell variable.
type demoToken struct {
	variable string
	role     care.Role
	token    string
}

func demoTokens(v *auth.Verifier) ([]demoToken, error) { return demoTokensTTL(v, demoTokenTTL) }

func demoTokensTTL(v *auth.Verifier, ttl time.Duration) ([]demoToken, error) {
	var out []demoToken
	for _, role := range []care.Role{care.RoleNurse, care.RoleGP, care.RolePracticeAdmin, care.RoleIntegration} {
		scope := ""
		if role == care.RoleIntegration {
			scope = care.ScopePatientsRead
		}
		req, err := tokenRequest(role, "", "", scope, "", ttl)
		if err != nil {
			return nil, err
		}
		tok, err := v.MintHMAC(req)
		if err != nil {
			return nil, fmt.Errorf("mint demo %s token: %w", role, err)
		}
		out = append(out, demoToken{variable: "RAPPORT_TOKEN_" + strings.ToUpper(string(role)), role: role, token: tok})
	}
	return out, nil
}

// writeDemoTokens writes the tokens as shell exports, ready to paste.
func writeDemoTokens(b *strings.Builder, base string, tokens []demoToken) {
	b.WriteString("# Development tokens for the demo personas; paste into your shell:\n")
	for _, t := range tokens {
		fmt.Fprintf(b, "export %s=%s\n", t.variable, t.token)
	}
	fmt.Fprintf(b, `# Then, for example:
curl -s %s/graphql -H "Authorization: Bearer $%s" \
  -H 'Content-Type: application/json' -d '{"query":"{ viewer { role organization { name } } }"}'
`, base, tokens[0].variable)
}
