package postgrestest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// NHSNumber returns a valid NHS number (Modulus 11 check digit) for n >= 0;
// different n give different numbers, so tests can make as many patients as
// they need without clashing.
func NHSNumber(n int) string {
	base := 400000000 + 2*n
	for _, b := range []int{base, base + 1} {
		s := fmt.Sprintf("%09d", b)
		sum := 0
		for i := 0; i < 9; i++ {
			sum += int(s[i]-'0') * (10 - i)
		}
		check := (11 - sum%11) % 11
		if check != 10 {
			return s + fmt.Sprint(check)
		}
	}
	panic("unreachable: two consecutive bases cannot both have check digit 10")
}

// Fixture is a small, realistic world written through the store's write path
// as the system actor. Access in the *Actor fields mirrors what auth grants:
// GPs and practice admins see patients registered at their practice, nurses
// their caseload (direct relationships and their team's).
type Fixture struct {
	// PracticeA and PracticeB are GP practices; Nursing is a community nursing
	// organisation in an active PARTNERSHIP with PracticeA (not with B).
	PracticeA, PracticeB, Nursing uuid.UUID
	// Partnership is the PracticeA–Nursing PARTNERSHIP relationship.
	Partnership uuid.UUID
	// Team is a district nursing team in Nursing.
	Team uuid.UUID

	// GPA and AdminA (a practice_admin) work at PracticeA; GPB and AdminB at
	// PracticeB; AdminN administers Nursing. All are practitioners.
	GPA, AdminA, GPB, AdminB, AdminN uuid.UUID
	// Nurse1 and Nurse2 are district nurses at Nursing; only Nurse1 is an
	// active member of Team (relationship Nurse1Membership).
	Nurse1, Nurse2, Nurse1Membership uuid.UUID

	// PatientA1 and PatientA2 are registered at PracticeA, PatientB1 at PracticeB.
	PatientA1, PatientA2, PatientB1 uuid.UUID
	// PatientA1UsualGP links PatientA1 to GPA (USUAL_GP); PatientA1NamedNurse to
	// Nurse1 (NAMED_NURSE); PatientA2Team links PatientA2 to Team (KEY_WORKER).
	// PatientB1 has no relationship to Nurse1 or Team.
	PatientA1UsualGP, PatientA1NamedNurse, PatientA2Team uuid.UUID

	// InteractionA1Draft is Nurse1's draft home visit to PatientA1;
	// InteractionA1Signed her signed phone call with PatientA1; InteractionA2
	// Nurse1's draft visit to PatientA2; InteractionB1 GPB's signed clinic
	// contact with PatientB1.
	InteractionA1Draft, InteractionA1Signed, InteractionA2, InteractionB1 uuid.UUID

	// Actors for each person, with the access auth would give them.
	GPAActor, AdminAActor, GPBActor, AdminBActor, AdminNActor, Nurse1Actor, Nurse2Actor *care.Actor
}

// As returns a copy of ctx carrying actor.
func As(ctx context.Context, actor *care.Actor) context.Context {
	return care.NewContextWithActor(ctx, actor)
}

// Seed writes the fixture into db as the system actor and returns its IDs.
// It fails the test on any error. NHS numbers NHSNumber(0..2) are used.
func Seed(t testing.TB, db *postgres.DB) *Fixture {
	t.Helper()
	ctx := As(context.Background(), care.SystemActor())
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("postgrestest.Seed: %s: %v", what, err)
		}
	}
	f := &Fixture{}
	org := func(name string, kind care.OrganizationKind) uuid.UUID {
		o, err := db.CreateOrganization(ctx, care.CreateOrganizationInput{Name: name, Kind: kind})
		must(err, "organization "+name)
		return o.ID
	}
	f.PracticeA = org("Riverside Surgery", care.OrgGPPractice)
	f.PracticeB = org("Hilltop Medical Centre", care.OrgGPPractice)
	f.Nursing = org("Vale Community Nursing", care.OrgCommunityNursing)
	tm, err := db.CreateTeam(ctx, care.CreateTeamInput{OrganizationID: f.Nursing, Name: "North District Nurses"})
	must(err, "team")
	f.Team = tm.ID

	prac := func(orgID uuid.UUID, given, family string, prof care.Profession) uuid.UUID {
		p, err := db.CreatePractitioner(ctx, care.CreatePractitionerInput{OrganizationID: orgID, GivenName: given, FamilyName: family, Profession: prof})
		must(err, "practitioner "+family)
		return p.ID
	}
	f.GPA = prac(f.PracticeA, "Asha", "Patel", care.ProfessionGP)
	f.AdminA = prac(f.PracticeA, "Tom", "Reeve", care.ProfessionOther)
	f.GPB = prac(f.PracticeB, "Ben", "Okafor", care.ProfessionGP)
	f.AdminB = prac(f.PracticeB, "Lucy", "Grant", care.ProfessionOther)
	f.AdminN = prac(f.Nursing, "Ravi", "Singh", care.ProfessionOther)
	f.Nurse1 = prac(f.Nursing, "Mary", "Jones", care.ProfessionDistrictNurse)
	f.Nurse2 = prac(f.Nursing, "Siân", "Evans", care.ProfessionDistrictNurse)

	start := time.Now().Add(-30 * 24 * time.Hour)
	rel := func(in care.StartRelationshipInput, what string) uuid.UUID {
		in.PeriodStart = &start
		r, err := db.StartRelationship(ctx, in)
		must(err, what)
		return r.ID
	}
	f.Partnership = rel(care.StartRelationshipInput{Kind: care.KindPartnership, OrganizationID: &f.PracticeA, PartnerOrganizationID: &f.Nursing}, "partnership")
	f.Nurse1Membership = rel(care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: &f.Nurse1, TeamID: &f.Team}, "team membership")

	pat := func(n int, practice uuid.UUID, given, family string) uuid.UUID {
		p, err := db.CreatePatient(ctx, care.CreatePatientInput{NHSNumber: NHSNumber(n), GivenName: given, FamilyName: family,
			BirthDate: time.Date(1940+n, 3, 14, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: practice})
		must(err, "patient "+family)
		return p.ID
	}
	f.PatientA1 = pat(0, f.PracticeA, "Edith", "Brown")
	f.PatientA2 = pat(1, f.PracticeA, "George", "Clarke")
	f.PatientB1 = pat(2, f.PracticeB, "Ivy", "Dawson")

	f.PatientA1UsualGP = rel(care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &f.PatientA1, PractitionerID: &f.GPA}, "usual GP")
	f.PatientA1NamedNurse = rel(care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &f.PatientA1, PractitionerID: &f.Nurse1}, "named nurse")
	f.PatientA2Team = rel(care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: &f.PatientA2, TeamID: &f.Team}, "team key worker")

	inter := func(patient, by uuid.UUID, mode care.InteractionMode, daysAgo int, sign bool) uuid.UUID {
		d := 20
		i, err := db.CreateInteraction(ctx, care.CreateInteractionInput{PatientID: patient, PractitionerID: &by, Mode: mode,
			OccurredAt: time.Now().Add(-time.Duration(daysAgo) * 24 * time.Hour).Truncate(time.Second), DurationMinutes: &d,
			Purpose: "review", Notes: "seen and well"})
		must(err, "interaction")
		if sign {
			_, err := db.SignInteraction(ctx, care.SignInteractionInput{ID: i.ID})
			must(err, "sign interaction")
		}
		return i.ID
	}
	f.InteractionA1Draft = inter(f.PatientA1, f.Nurse1, care.ModeHomeVisit, 1, false)
	f.InteractionA1Signed = inter(f.PatientA1, f.Nurse1, care.ModePhone, 3, true)
	f.InteractionA2 = inter(f.PatientA2, f.Nurse1, care.ModeHomeVisit, 2, false)
	f.InteractionB1 = inter(f.PatientB1, f.GPB, care.ModeClinic, 4, true)

	staff := func(id, orgID uuid.UUID, role care.Role, subject string) *care.Actor {
		a := &care.Actor{PractitionerID: id, OrganizationID: orgID, Role: role, Subject: subject}
		if role == care.RoleNurse {
			a.Access = care.PatientAccess{ViaRelationshipsOf: id}
		} else {
			a.Access = care.PatientAccess{RegisteredAt: []uuid.UUID{orgID}}
		}
		return a
	}
	f.GPAActor = staff(f.GPA, f.PracticeA, care.RoleGP, "gp-a")
	f.AdminAActor = staff(f.AdminA, f.PracticeA, care.RolePracticeAdmin, "admin-a")
	f.GPBActor = staff(f.GPB, f.PracticeB, care.RoleGP, "gp-b")
	f.AdminBActor = staff(f.AdminB, f.PracticeB, care.RolePracticeAdmin, "admin-b")
	f.AdminNActor = staff(f.AdminN, f.Nursing, care.RolePracticeAdmin, "admin-n")
	f.Nurse1Actor = staff(f.Nurse1, f.Nursing, care.RoleNurse, "nurse-1")
	f.Nurse2Actor = staff(f.Nurse2, f.Nursing, care.RoleNurse, "nurse-2")
	return f
}
