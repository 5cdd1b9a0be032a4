package main

import (
	"strings"
	"testing"

	"github.com/rapportcare/rapport/care"
)

func TestWelcomePrintsADashboardLinkWithTheTokenInTheFragment(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	printWelcome(&b, "http://localhost:8080", []demoToken{
		{variable: "RAPPORT_TOKEN_NURSE", role: care.RoleNurse, token: "nurse.jwt"},
		{variable: "RAPPORT_TOKEN_PRACTICE_ADMIN", role: care.RolePracticeAdmin, token: "admin.jwt"},
	})
	out := b.String()
	if !strings.Contains(out, "http://localhost:8080/dashboard#token=admin.jwt\n") {
		t.Fatalf("no dashboard link for the practice admin:\n%s", out)
	}
	if strings.Contains(out, "dashboard?") || strings.Contains(out, "#token=nurse.jwt") {
		t.Fatalf("a token in a query string, or the wrong persona:\n%s", out)
	}
}
