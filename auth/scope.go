package auth

import (
	"strings"

	"github.com/rapportcare/rapport/care"
)

// personScopes returns the scopes a person's token may carry: SMART-style
// user/ scopes, which only narrow what the role already grants (package fhir
// applies them), and the import scope for a practice admin. Every other scope
// a person's token claims is dropped: people get what their role gives them,
// and AccessFor never looks at a person's scopes.
func personScopes(role care.Role, claimed []string) []string {
	var out []string
	for _, s := range claimed {
		switch {
		case strings.HasPrefix(s, "user/"):
			out = append(out, s)
		case s == care.ScopeContactsImport && role == care.RolePracticeAdmin:
			out = append(out, s)
		}
	}
	return out
}
