package fhir

import (
	"strings"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
)

// SMART-style scopes, mapped onto Rapport's roles and scopes (docs/fhir.md):
//
//   - A person's token (nurse, gp, practice_admin) reads what its role lets
//     it read: user/*.rs is implied. user/ scopes on the token narrow the
//     resource types it may read; they never widen the patients it sees.
//   - An integration's token reads patient data only with patients:read, or
//     with a system/ scope covering the type (system/*.rs, system/Patient.rs,
//     …), which is mapped onto patients:read: auth.AccessFor decides the
//     patients, as for GraphQL. system/ scopes also narrow the types.
//   - Directory types (Organization, Practitioner, PractitionerRole, Group,
//     Questionnaire) are readable by any authenticated caller unless its
//     SMART scopes leave them out.
//   - patient/ scopes (which need a launch context) grant nothing.

// smartScope is a parsed SMART scope: context/type.permissions.
type smartScope struct {
	context, typ, perms string
}

func parseSMART(s string) (smartScope, bool) {
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok || (ctx != "user" && ctx != "system" && ctx != "patient") {
		return smartScope{}, false
	}
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok || typ == "" || perms == "" {
		return smartScope{}, false
	}
	return smartScope{ctx, typ, perms}, true
}

// allows reports whether the scope grants the interaction: 'r' read, 's'
// search, 'c' create (v2 letters; v1 "read" is r and s, "write" c, u and d).
func (s smartScope) allows(typ string, letter byte) bool {
	if s.typ != "*" && s.typ != typ {
		return false
	}
	switch s.perms {
	case "*":
		return true
	case "read":
		return letter == 'r' || letter == 's'
	case "write":
		return letter == 'c' || letter == 'u' || letter == 'd'
	}
	return strings.IndexByte(s.perms, letter) >= 0
}

// smartScopes returns the actor's SMART scopes of the context its role
// speaks in (user for people, system for integrations).
func smartScopes(a *care.Actor) (scopes []smartScope, any bool) {
	want := "user"
	if a.Role == care.RoleIntegration {
		want = "system"
	}
	for _, s := range a.Scopes {
		if sc, ok := parseSMART(s); ok {
			any = true
			if sc.context == want {
				scopes = append(scopes, sc)
			}
		}
	}
	return scopes, any
}

// scopeGrants reports whether the actor's SMART scopes (if it has any) grant
// the interaction on typ; without SMART scopes the role decides.
func scopeGrants(a *care.Actor, typ string, letter byte) bool {
	scopes, any := smartScopes(a)
	if !any {
		return true
	}
	for _, s := range scopes {
		if s.allows(typ, letter) {
			return true
		}
	}
	return false
}

// readable returns EFORBIDDEN unless the actor may read (search, when
// search is set) resources of typ.
func readable(a *care.Actor, typ string, search bool) error {
	letter := byte('r')
	if search {
		letter = 's'
	}
	if !scopeGrants(a, typ, letter) {
		return care.Errorf(care.EFORBIDDEN, "the token's scopes do not grant %s on %s", map[bool]string{false: "read", true: "search"}[search], typ)
	}
	rt := resourceTypes[typ]
	if a.Role == care.RoleIntegration && rt.patientData && !a.HasScope(care.ScopePatientsRead) && !systemGrantsPatients(a) {
		return care.Errorf(care.EFORBIDDEN, "this token may not read patient data (needs patients:read or a system/ scope)")
	}
	return nil
}

// systemGrantsPatients reports whether an integration holds a system/ scope
// that reads some patient-data type.
func systemGrantsPatients(a *care.Actor) bool {
	if a.Role != care.RoleIntegration {
		return false
	}
	scopes, _ := smartScopes(a)
	for _, s := range scopes {
		for name, rt := range resourceTypes {
			if rt.patientData && (s.allows(name, 'r') || s.allows(name, 's')) {
				return true
			}
		}
	}
	return false
}

// effectiveActor returns the actor the store sees: an integration whose
// system/ scopes read patient data is given patients:read, and its access is
// decided again by auth.AccessFor — the one policy. Anyone else is unchanged.
func effectiveActor(a *care.Actor) *care.Actor {
	if !systemGrantsPatients(a) || a.HasScope(care.ScopePatientsRead) {
		return a
	}
	b := *a
	b.Scopes = append(append([]string(nil), a.Scopes...), care.ScopePatientsRead)
	b.Access = auth.AccessFor(&b)
	return &b
}
