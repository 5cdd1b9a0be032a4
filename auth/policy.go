package auth

import (
	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

// AccessFor returns which patients a decides to let a see. It is the one place
// the patient access policy is written down:
//
//   - system (the command line): every patient;
//   - nurse: patients with an active care relationship to her, or to a team
//     she is an active member of (her caseload and her teams');
//   - gp: patients registered at her practice, and those with an active
//     relationship to her or her teams (e.g. a named GP for a patient of a
//     partner practice);
//   - practice_admin: patients registered at the practice;
//   - integration: patients registered at its organisation, only with the
//     patients:read scope; otherwise nobody (aggregates only).
//
// A nil actor or an unknown role sees nobody (the zero value).
func AccessFor(a *care.Actor) care.PatientAccess {
	if a == nil {
		return care.PatientAccess{}
	}
	switch a.Role {
	case care.RoleSystem:
		return care.PatientAccess{All: true}
	case care.RoleNurse:
		return care.PatientAccess{ViaRelationshipsOf: a.PractitionerID}
	case care.RoleGP:
		return care.PatientAccess{RegisteredAt: orgs(a.OrganizationID), ViaRelationshipsOf: a.PractitionerID}
	case care.RolePracticeAdmin:
		return care.PatientAccess{RegisteredAt: orgs(a.OrganizationID)}
	case care.RoleIntegration:
		if a.HasScope(care.ScopePatientsRead) {
			return care.PatientAccess{RegisteredAt: orgs(a.OrganizationID)}
		}
	}
	return care.PatientAccess{}
}

// orgs returns a fresh one-element list, or nil for uuid.Nil so that a
// malformed actor never admits the patients of a nil organisation.
func orgs(id uuid.UUID) []uuid.UUID {
	if id == uuid.Nil {
		return nil
	}
	return []uuid.UUID{id}
}
