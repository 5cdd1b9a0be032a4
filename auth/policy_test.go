package auth

import (
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

func TestAccessFor(t *testing.T) {
	org := uuid.MustParse("0195a1b2-0000-7000-8000-00000000000f")
	me := uuid.MustParse("0195a1b2-0000-7000-8000-0000000000ee")
	tests := []struct {
		name  string
		actor *care.Actor
		want  care.PatientAccess
	}{
		{"nil actor sees nobody", nil, care.PatientAccess{}},
		{"system sees everyone", care.SystemActor(), care.PatientAccess{All: true}},
		{"nurse sees her and her teams' caseload only",
			&care.Actor{Role: care.RoleNurse, PractitionerID: me, OrganizationID: org},
			care.PatientAccess{ViaRelationshipsOf: me}},
		{"nurse scopes grant nothing more",
			&care.Actor{Role: care.RoleNurse, PractitionerID: me, OrganizationID: org, Scopes: []string{care.ScopePatientsRead}},
			care.PatientAccess{ViaRelationshipsOf: me}},
		{"GP sees her practice's patients and her own relationships",
			&care.Actor{Role: care.RoleGP, PractitionerID: me, OrganizationID: org},
			care.PatientAccess{RegisteredAt: []uuid.UUID{org}, ViaRelationshipsOf: me}},
		{"practice admin sees the practice's patients",
			&care.Actor{Role: care.RolePracticeAdmin, PractitionerID: me, OrganizationID: org},
			care.PatientAccess{RegisteredAt: []uuid.UUID{org}}},
		{"integration with patients:read sees its organisation's patients",
			&care.Actor{Role: care.RoleIntegration, OrganizationID: org, Scopes: []string{care.ScopeAnalyticsRead, care.ScopePatientsRead}},
			care.PatientAccess{RegisteredAt: []uuid.UUID{org}}},
		{"integration with analytics:read only sees no patients",
			&care.Actor{Role: care.RoleIntegration, OrganizationID: org, Scopes: []string{care.ScopeAnalyticsRead}},
			care.PatientAccess{}},
		{"integration without scopes sees no patients",
			&care.Actor{Role: care.RoleIntegration, OrganizationID: org},
			care.PatientAccess{}},
		{"integration with a look-alike scope sees no patients",
			&care.Actor{Role: care.RoleIntegration, OrganizationID: org, Scopes: []string{"patients:read:all", "patients"}},
			care.PatientAccess{}},
		{"unknown role sees nobody",
			&care.Actor{Role: care.Role("auditor"), PractitionerID: me, OrganizationID: org},
			care.PatientAccess{}},
		{"practice admin without an organisation sees nobody",
			&care.Actor{Role: care.RolePracticeAdmin, PractitionerID: me},
			care.PatientAccess{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AccessFor(tt.actor)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("AccessFor = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAccessForReturnsFreshSlices(t *testing.T) {
	org := uuid.New()
	a := &care.Actor{Role: care.RolePracticeAdmin, OrganizationID: org}
	first := AccessFor(a)
	first.RegisteredAt[0] = uuid.New()
	if second := AccessFor(a); second.RegisteredAt[0] != org {
		t.Errorf("AccessFor shares its slice between calls: got %v, want %v", second.RegisteredAt[0], org)
	}
}
