package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// orgCreateFlags is `rapport org create`: the first step of a practice that
// starts from an empty database. It creates the organisation and its first
// practice administrator (a practitioner) in one transaction, acting as the
// system, and prints their ids as shell exports; in development (an HMAC
// secret is set) it also prints a practice_admin token for that
// administrator, so the rest can be done over GraphQL.
func orgCreateFlags(fs *flag.FlagSet) func(context.Context, environment) error {
	name := fs.String("name", "", "the organisation's name (required)")
	ods := fs.String("ods", "", "its ODS code, e.g. Y01234 (unique)")
	kind := fs.String("kind", string(care.OrgGPPractice), "gp_practice, community_nursing, social_care, hospital or voluntary")
	given := fs.String("admin-given-name", "Practice", "the first administrator's given name")
	family := fs.String("admin-family-name", "Administrator", "the first administrator's family name")
	ttl := fs.Duration("ttl", demoTokenTTL, "lifetime of the development token")
	return func(ctx context.Context, env environment) error {
		if strings.TrimSpace(*name) == "" {
			return usagef("org create: --name is required")
		}
		if *ttl <= 0 {
			return usagef("org create: --ttl %s must be positive", *ttl)
		}
		in := care.CreateOrganizationInput{Name: *name, Kind: care.OrganizationKind(*kind)}
		if *ods != "" {
			in.ODSCode = ods
		}
		if err := in.Validate(); err != nil {
			return usagef("org create: %s", care.ErrorMessage(err))
		}
		admin := care.CreatePractitionerInput{GivenName: *given, FamilyName: *family, Profession: care.ProfessionOther}
		if err := admin.Validate(); err != nil {
			return usagef("org create: administrator: %s", care.ErrorMessage(err))
		}
		cfg, err := config(env, true)
		if err != nil {
			return err
		}
		var v *auth.Verifier
		if cfg.JWT.HMACSecret != nil {
			if v, err = auth.NewVerifier(cfg.JWT); err != nil {
				return fmt.Errorf("org create: %w", err)
			}
		}
		log := newLogger(env.stderr, cfg.LogLevel)
		db, err := openMigrated(ctx, cfg, log)
		if err != nil {
			return err
		}
		defer db.Close()

		var org *care.Organization
		var p *care.Practitioner
		sys := care.NewContextWithActor(ctx, care.SystemActor())
		err = db.InTx(sys, func(tx *postgres.DB) error {
			var err error
			if org, err = tx.CreateOrganization(sys, in); err != nil {
				return err
			}
			admin.OrganizationID = org.ID
			p, err = tx.CreatePractitioner(sys, admin)
			return err
		})
		if err != nil {
			return fmt.Errorf("org create: %w", err)
		}
		return printOrgCreated(env, v, org, p, *ttl)
	}
}

func printOrgCreated(env environment, v *auth.Verifier, org *care.Organization, admin *care.Practitioner, ttl time.Duration) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Created organisation %q", org.Name)
	if org.ODSCode != nil {
		fmt.Fprintf(&b, " (ODS %s)", *org.ODSCode)
	}
	fmt.Fprintf(&b, " and its administrator %s %s.\n", admin.GivenName, admin.FamilyName)
	fmt.Fprintf(&b, "export RAPPORT_ORG_ID=%s\nexport RAPPORT_ADMIN_ID=%s\n", org.ID, admin.ID)
	if v == nil {
		b.WriteString("# No RAPPORT_JWT_HMAC_SECRET: issue the administrator a token from your identity provider\n" +
			"# with role practice_admin, sub RAPPORT_ADMIN_ID and org RAPPORT_ORG_ID (docs/auth.md).\n")
	} else {
		tok, err := v.MintHMAC(auth.MintRequest{Role: care.RolePracticeAdmin, Subject: admin.ID.String(),
			OrganizationID: org.ID, TTL: ttl, ClientID: "rapport-cli"})
		if err != nil {
			return fmt.Errorf("org create: mint token: %w", err)
		}
		fmt.Fprintf(&b, "# Development token for the administrator (valid %s):\nexport RAPPORT_ADMIN_TOKEN=%s\n", ttl, tok)
	}
	_, err := fmt.Fprint(env.stdout, b.String())
	return err
}
