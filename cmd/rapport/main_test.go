package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

const testSecret = "smoke-test-secret-0123456789abcdef"

// env returns a getenv over vars only: the tests never read the real
// environment.
func env(vars ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(vars); i += 2 {
		m[vars[i]] = vars[i+1]
	}
	return func(k string) string { return m[k] }
}

func runArgs(t *testing.T, getenv func(string) string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, getenv, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestRunArgumentErrors(t *testing.T) {
	withSecret := env("RAPPORT_JWT_HMAC_SECRET", testSecret)
	tests := []struct {
		name   string
		getenv func(string) string
		args   []string
		usage  bool   // a usageError (exit 2) rather than a failure (exit 1)
		want   string // in the error message
	}{
		{"unknown command", withSecret, []string{"frobnicate"}, true, `unknown command "frobnicate"`},
		{"help for unknown command", withSecret, []string{"help", "frobnicate"}, true, "frobnicate"},
		{"unknown flag", withSecret, []string{"serve", "--no-such-flag"}, true, "no-such-flag"},
		{"stray argument", withSecret, []string{"migrate", "now"}, true, `unexpected argument "now"`},
		{"unknown seed size", withSecret, []string{"seed", "--size", "huge"}, true, `"huge"`},
		{"seed number not a number", withSecret, []string{"seed", "--seed", "x"}, true, "seed"},
		{"seed date not a date", withSecret, []string{"seed", "--as-of", "yesterday"}, true, "yesterday"},
		{"token without role", withSecret, []string{"token"}, true, "--role is required"},
		{"token for the system role", withSecret, []string{"token", "--role", "system"}, true, `"system"`},
		{"token with a bad practitioner", withSecret, []string{"token", "--role", "nurse", "--practitioner", "bob"}, true, `"bob"`},
		{"token with a bad organisation", withSecret, []string{"token", "--role", "gp", "--org", "nil"}, true, `"nil"`},
		{"token with a global id of the wrong type", withSecret, []string{"token", "--role", "gp", "--org", scalar.GlobalID("Patient", uuid.New())}, true, "not an organisation's id"},
		{"org create without a name", withSecret, []string{"org", "create", "--ods", "Y01234"}, true, "--name is required"},
		{"org create with a bad ODS code", withSecret, []string{"org", "create", "--name", "X", "--ods", "not an ods code!"}, true, "org create"},
		{"org create with an unknown kind", withSecret, []string{"org", "create", "--name", "X", "--kind", "spaceship"}, true, "kind"},
		{"org create without a database", withSecret, []string{"org", "create", "--name", "X"}, false, "DATABASE_URL is not set"},
		{"integration token for a practitioner", withSecret, []string{"token", "--role", "integration", "--practitioner", uuid.NewString()}, true, "no practitioner"},
		{"scopes on a person's token", withSecret, []string{"token", "--role", "nurse", "--scope", "patients:read"}, true, "integration tokens only"},
		{"demo with a role", withSecret, []string{"token", "--demo", "--role", "gp"}, true, "--demo"},
		{"non-positive ttl", withSecret, []string{"token", "--role", "gp", "--ttl", "-1h"}, true, "must be positive"},
		{"token without a secret", env(), []string{"token", "--role", "gp"}, false, "RAPPORT_JWT_HMAC_SECRET is not set"},
		{"short secret", env("RAPPORT_JWT_HMAC_SECRET", "short"), []string{"token", "--role", "gp"}, false, "RAPPORT_JWT_HMAC_SECRET"},
		{"serve without a database", withSecret, []string{"serve"}, false, "DATABASE_URL is not set"},
		{"default command is serve", withSecret, nil, false, "DATABASE_URL is not set"},
		{"migrate without a database", withSecret, []string{"migrate"}, false, "DATABASE_URL is not set"},
		{"seed without a database", withSecret, []string{"seed"}, false, "DATABASE_URL is not set"},
		{"malformed configuration", env("RAPPORT_ADDR", "8080", "DATABASE_URL", "postgres://x"), []string{"serve"}, false, "RAPPORT_ADDR"},
		{"serve without any key", env("DATABASE_URL", "postgres://127.0.0.1:1/x"), []string{"serve"}, false, "RAPPORT_JWT_HMAC_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runArgs(t, tt.getenv, tt.args...)
			if err == nil {
				t.Fatalf("run(%q) succeeded; want an error containing %q", tt.args, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %q; want it to contain %q", tt.args, err, tt.want)
			}
			var u usageError
			if got := errors.As(err, &u); got != tt.usage {
				t.Errorf("run(%q): usage error = %v, want %v (err %q)", tt.args, got, tt.usage, err)
			}
		})
	}
}

func TestRunHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, _, err := runArgs(t, env(), args...)
			if err != nil {
				t.Fatalf("run(%q): %v", args, err)
			}
			for _, c := range []string{"serve", "migrate", "seed", "token", "DATABASE_URL"} {
				if !strings.Contains(out, c) {
					t.Errorf("help does not mention %q:\n%s", c, out)
				}
			}
		})
	}
	t.Run("help token", func(t *testing.T) {
		out, _, err := runArgs(t, env(), "help", "token")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "-role") || !strings.Contains(out, "-demo") {
			t.Errorf("help token lists no flags:\n%s", out)
		}
	})
	t.Run("command -h succeeds", func(t *testing.T) {
		_, errOut, err := runArgs(t, env(), "seed", "-h")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(errOut, "-size") {
			t.Errorf("seed -h shows no flags:\n%s", errOut)
		}
	})
}

func verifier(t *testing.T) *auth.Verifier {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{Issuer: "rapport-dev", Audience: "rapport", HMACSecret: []byte(testSecret)})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestToken(t *testing.T) {
	getenv := env("RAPPORT_JWT_HMAC_SECRET", testSecret)
	v := verifier(t)
	mint := func(t *testing.T, args ...string) *care.Actor {
		t.Helper()
		out, _, err := runArgs(t, getenv, append([]string{"token"}, args...)...)
		if err != nil {
			t.Fatalf("token %q: %v", args, err)
		}
		a, err := v.Verify(strings.TrimSpace(out))
		if err != nil {
			t.Fatalf("token %q printed %q, which does not verify: %v", args, out, err)
		}
		return a
	}

	t.Run("nurse defaults to the demo nurse", func(t *testing.T) {
		a := mint(t, "--role", "nurse")
		if a.Role != care.RoleNurse || a.PractitionerID != demo.NurseID || a.OrganizationID != demo.NursingOrgID {
			t.Errorf("actor = %+v; want the demo nurse", a)
		}
	})
	t.Run("explicit practitioner and organisation", func(t *testing.T) {
		p, o := uuid.New(), uuid.New()
		a := mint(t, "--role", "gp", "--practitioner", p.String(), "--org", o.String())
		if a.Role != care.RoleGP || a.PractitionerID != p || a.OrganizationID != o {
			t.Errorf("actor = %+v; want gp %s at %s", a, p, o)
		}
	})
	t.Run("global ids as GraphQL gives them", func(t *testing.T) {
		p, o := uuid.New(), uuid.New()
		a := mint(t, "--role", "practice_admin", "--practitioner", scalar.GlobalID("Practitioner", p), "--org", scalar.GlobalID("Organization", o))
		if a.PractitionerID != p || a.OrganizationID != o {
			t.Errorf("actor = %+v; want practitioner %s at %s", a, p, o)
		}
	})
	t.Run("integration with scopes", func(t *testing.T) {
		a := mint(t, "--role", "integration", "--scope", "patients:read, analytics:read", "--client", "dashboard")
		if a.Role != care.RoleIntegration || a.ClientID != "dashboard" || a.OrganizationID != demo.PracticeID {
			t.Errorf("actor = %+v; want the dashboard integration at the demo practice", a)
		}
		if !a.HasScope(care.ScopePatientsRead) || !a.HasScope(care.ScopeAnalyticsRead) {
			t.Errorf("scopes = %q; want patients:read and analytics:read", a.Scopes)
		}
	})
	t.Run("another issuer's verifier rejects it", func(t *testing.T) {
		out, _, err := runArgs(t, env("RAPPORT_JWT_HMAC_SECRET", testSecret, "RAPPORT_JWT_ISSUER", "elsewhere"), "token", "--role", "gp")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(strings.TrimSpace(out)); err == nil {
			t.Error("a token minted for issuer elsewhere verified against rapport-dev")
		}
	})
	t.Run("demo prints one export per persona", func(t *testing.T) {
		out, _, err := runArgs(t, getenv, "token", "--demo")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]care.Role{
			"RAPPORT_TOKEN_NURSE": care.RoleNurse, "RAPPORT_TOKEN_GP": care.RoleGP,
			"RAPPORT_TOKEN_PRACTICE_ADMIN": care.RolePracticeAdmin, "RAPPORT_TOKEN_INTEGRATION": care.RoleIntegration,
		}
		seen := 0
		for _, line := range strings.Split(out, "\n") {
			name, tok, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
			if !ok || !strings.HasPrefix(line, "export ") {
				continue
			}
			role, known := want[name]
			if !known {
				t.Errorf("unexpected export %s", name)
				continue
			}
			a, err := v.Verify(tok)
			if err != nil {
				t.Errorf("%s does not verify: %v", name, err)
				continue
			}
			if a.Role != role {
				t.Errorf("%s has role %s, want %s", name, a.Role, role)
			}
			if role == care.RoleIntegration && !a.HasScope(care.ScopePatientsRead) {
				t.Errorf("%s lacks patients:read", name)
			}
			seen++
		}
		if seen != len(want) {
			t.Errorf("found %d verified exports, want %d:\n%s", seen, len(want), out)
		}
		if !strings.Contains(out, "curl -s http://localhost:8080/graphql") {
			t.Errorf("no curl example for the default address:\n%s", out)
		}
	})
}

func TestMigrateAndSeed(t *testing.T) {
	// pgxpool's parameters in the URL must not break migrate or seed.
	getenv := env("DATABASE_URL", postgrestest.URL(t)+"&pool_max_conns=2", "RAPPORT_LOG_LEVEL", "warn")

	t.Run("migrate is idempotent", func(t *testing.T) {
		out, _, err := runArgs(t, getenv, "migrate")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "migrations applied") {
			t.Errorf("migrate printed %q", out)
		}
	})
	t.Run("seed loads the small dataset", func(t *testing.T) {
		out, _, err := runArgs(t, getenv, "seed", "--size", "small", "--seed", "7")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"seeded small dataset (seed 7, as of 2025-01-01)", "patients       600"} {
			if !strings.Contains(out, want) {
				t.Errorf("seed summary lacks %q:\n%s", want, out)
			}
		}
	})
	t.Run("seed refuses a seeded database", func(t *testing.T) {
		_, _, err := runArgs(t, getenv, "seed")
		if err == nil || !strings.Contains(err.Error(), "already holds") {
			t.Errorf("second seed: err = %v; want already holds", err)
		}
	})
}

// TestSeedIsReproducible seeds two fresh databases with the same command and
// finds every table of the dataset identical, row for row.
func TestSeedIsReproducible(t *testing.T) {
	t.Parallel()
	tables := []string{"organizations", "teams", "practitioners", "patients", "care_relationships", "interactions", "interaction_amendments"}
	var digests []string
	for range 2 {
		url := postgrestest.URL(t)
		if _, _, err := runArgs(t, env("DATABASE_URL", url, "RAPPORT_LOG_LEVEL", "warn"), "seed", "--size", "small", "--seed", "11"); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, postgrestest.Digest(t, url, tables...))
	}
	if digests[0] != digests[1] {
		t.Fatalf("rapport seed --seed 11 gave different data twice: %s vs %s", digests[0], digests[1])
	}
}

func TestBaseURL(t *testing.T) {
	for addr, want := range map[string]string{
		"[::]:8080":      "http://localhost:8080",
		"0.0.0.0:9":      "http://localhost:9",
		":8080":          "http://localhost:8080",
		"127.0.0.1:4000": "http://127.0.0.1:4000",
		"example:1":      "http://example:1",
	} {
		t.Run(addr, func(t *testing.T) {
			if got := baseURL(addr); got != want {
				t.Errorf("baseURL(%q) = %q, want %q", addr, got, want)
			}
		})
	}
}

// TestOrgCreate bootstraps a practice in an empty database: the command
// creates the organisation and its administrator, and the printed token is a
// practice_admin token for them at that organisation. A second practice with
// the same ODS code is refused and changes nothing.
func TestOrgCreate(t *testing.T) {
	dbURL := postgrestest.URL(t)
	getenv := env("RAPPORT_JWT_HMAC_SECRET", testSecret, "DATABASE_URL", dbURL)
	out, _, err := runArgs(t, getenv, "org", "create", "--name", "Riverside Surgery", "--ods", "Y01234")
	if err != nil {
		t.Fatalf("org create: %v", err)
	}
	vars := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if name, val, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			vars[name] = val
		}
	}
	orgID, err := uuid.Parse(vars["RAPPORT_ORG_ID"])
	if err != nil {
		t.Fatalf("no RAPPORT_ORG_ID export in:\n%s", out)
	}
	adminID, err := uuid.Parse(vars["RAPPORT_ADMIN_ID"])
	if err != nil {
		t.Fatalf("no RAPPORT_ADMIN_ID export in:\n%s", out)
	}
	a, err := verifier(t).Verify(vars["RAPPORT_ADMIN_TOKEN"])
	if err != nil {
		t.Fatalf("RAPPORT_ADMIN_TOKEN does not verify: %v\n%s", err, out)
	}
	if a.Role != care.RolePracticeAdmin || a.PractitionerID != adminID || a.OrganizationID != orgID {
		t.Errorf("token actor = %+v; want practice_admin %s at %s", a, adminID, orgID)
	}

	db := openDB(t, dbURL)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())
	org, err := db.Organization(ctx, orgID)
	if err != nil {
		t.Fatalf("the organisation is not in the database: %v", err)
	}
	if org.Name != "Riverside Surgery" || org.ODSCode == nil || *org.ODSCode != "Y01234" || org.Kind != care.OrgGPPractice {
		t.Errorf("organisation = %+v", org)
	}

	t.Run("the same ODS code again is a conflict", func(t *testing.T) {
		_, _, err := runArgs(t, getenv, "org", "create", "--name", "Another Surgery", "--ods", "Y01234")
		if care.ErrorCode(err) != care.ECONFLICT || !strings.Contains(err.Error(), "ODS code already exists") {
			t.Fatalf("second org create with the same ODS code = %v; want a conflict naming the ODS code", err)
		}
		first := 50
		page, err := db.Organizations(ctx, care.OrganizationFilter{}, care.PageArgs{First: &first})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalCount != 1 {
			t.Errorf("%d organisations after a refused create; want 1", page.TotalCount)
		}
	})
	t.Run("without an HMAC secret it prints no token", func(t *testing.T) {
		out, _, err := runArgs(t, env("DATABASE_URL", dbURL), "org", "create", "--name", "Hillside Practice", "--ods", "Y05678")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, "RAPPORT_ADMIN_TOKEN") || !strings.Contains(out, "identity provider") {
			t.Errorf("output without a secret:\n%s", out)
		}
	})
}

// openDB opens the store at url for the test's checks.
func openDB(t *testing.T, url string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	return db
}
