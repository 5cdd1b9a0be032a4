package demo_test

import (
	"context"
	"reflect"
	"sort"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

var testNow = time.Date(2025, time.March, 3, 9, 30, 0, 0, time.UTC)

func small() demo.Options {
	o := demo.Small
	o.Now = testNow
	return o
}

func TestDemoGenerateIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := demo.Generate(small()), demo.Generate(small())
	t.Run("the same seed gives an identical dataset", func(t *testing.T) {
		if !reflect.DeepEqual(a, b) {
			t.Fatal("two datasets from the same options differ")
		}
	})
	t.Run("a different seed gives a different dataset", func(t *testing.T) {
		o := small()
		o.Seed++
		c := demo.Generate(o)
		if reflect.DeepEqual(a, c) {
			t.Fatal("datasets from different seeds are identical")
		}
		same := 0
		for i := range min(len(a.Patients), len(c.Patients)) {
			if a.Patients[i].NHSNumber == c.Patients[i].NHSNumber || a.Patients[i].ID == c.Patients[i].ID {
				same++
			}
		}
		if same > 5 {
			t.Errorf("%d patients share an NHS number or ID across seeds", same)
		}
	})
	t.Run("the personas keep their IDs whatever the seed", func(t *testing.T) {
		o := small()
		o.Seed = 42
		for _, d := range []*care.Dataset{a, demo.Generate(o)} {
			checkPersonas(t, d)
		}
	})
}

func checkPersonas(t *testing.T, d *care.Dataset) {
	t.Helper()
	orgs := map[uuid.UUID]care.Organization{}
	for _, o := range d.Organizations {
		orgs[o.ID] = o
	}
	if orgs[demo.PracticeID].Kind != care.OrgGPPractice {
		t.Errorf("PracticeID is %+v, want a GP practice", orgs[demo.PracticeID])
	}
	if orgs[demo.NursingOrgID].Kind != care.OrgCommunityNursing {
		t.Errorf("NursingOrgID is %+v, want a community nursing organisation", orgs[demo.NursingOrgID])
	}
	pracs := map[uuid.UUID]care.Practitioner{}
	for _, p := range d.Practitioners {
		pracs[p.ID] = p
	}
	for _, c := range []struct {
		name string
		id   uuid.UUID
		org  uuid.UUID
		prof care.Profession
	}{
		{"GPID", demo.GPID, demo.PracticeID, care.ProfessionGP},
		{"PracticeAdminID", demo.PracticeAdminID, demo.PracticeID, care.ProfessionOther},
		{"NurseID", demo.NurseID, demo.NursingOrgID, care.ProfessionDistrictNurse},
	} {
		if p := pracs[c.id]; p.OrganizationID != c.org || p.Profession != c.prof || !p.Active {
			t.Errorf("%s is %+v, want an active %s of %s", c.name, p, c.prof, c.org)
		}
	}
	member := false
	for _, r := range d.Relationships {
		if r.Kind == care.KindTeamMember && *r.PractitionerID == demo.NurseID && *r.TeamID == demo.NursingTeamID && r.ActiveAt(testNow) {
			member = true
		}
	}
	if !member {
		t.Error("NurseID is not an active member of NursingTeamID")
	}
}

// nhsNumbers: every one valid by Modulus 11, in the test range, and unique.
func TestDemoNHSNumbers(t *testing.T) {
	t.Parallel()
	for _, o := range []demo.Options{small(), {Practices: 3, PatientsPerPractice: 4000, Months: 1, Seed: 9, Now: testNow}} {
		d := demo.Generate(o)
		seen := map[string]bool{}
		for _, p := range d.Patients {
			n, err := care.NormalizeNHSNumber(p.NHSNumber)
			if err != nil || n != p.NHSNumber {
				t.Fatalf("NHS number %q: %v", p.NHSNumber, err)
			}
			if p.NHSNumber[:3] != "999" {
				t.Errorf("NHS number %q is outside the 999 test range", p.NHSNumber)
			}
			if seen[p.NHSNumber] {
				t.Fatalf("NHS number %q used twice", p.NHSNumber)
			}
			seen[p.NHSNumber] = true
		}
		if len(seen) != o.Practices*o.PatientsPerPractice {
			t.Errorf("%d patients, want %d", len(seen), o.Practices*o.PatientsPerPractice)
		}
	}
}

func TestDemoDatasetShape(t *testing.T) {
	t.Parallel()
	o := small()
	d := demo.Generate(o)
	orgs, teams, pracs, patients := map[uuid.UUID]care.Organization{}, map[uuid.UUID]care.Team{}, map[uuid.UUID]care.Practitioner{}, map[uuid.UUID]care.Patient{}
	for _, x := range d.Organizations {
		orgs[x.ID] = x
	}
	for _, x := range d.Teams {
		teams[x.ID] = x
	}
	for _, x := range d.Practitioners {
		pracs[x.ID] = x
	}
	for _, x := range d.Patients {
		patients[x.ID] = x
	}

	t.Run("organisations, teams and staff are as described", func(t *testing.T) {
		var practices, nursing int
		for _, org := range d.Organizations {
			if org.ODSCode == nil || *org.ODSCode == "" || org.Name == "" {
				t.Errorf("organisation %+v lacks a name or ODS code", org)
			}
			switch org.Kind {
			case care.OrgGPPractice:
				practices++
				counts := map[care.Profession]int{}
				for _, p := range d.Practitioners {
					if p.OrganizationID == org.ID {
						counts[p.Profession]++
					}
				}
				if counts[care.ProfessionGP] < 4 || counts[care.ProfessionGP] > 8 || counts[care.ProfessionOther] != 1 || counts[care.ProfessionPracticeNurse] != 1 {
					t.Errorf("%s has staff %v, want 4-8 GPs, an admin and a practice nurse", org.Name, counts)
				}
				if (*org.ODSCode)[:2] != "Y0" || len(*org.ODSCode) != 6 {
					t.Errorf("practice ODS code %q, want Y0xxxx", *org.ODSCode)
				}
			case care.OrgCommunityNursing:
				nursing++
			}
		}
		if practices != o.Practices || nursing != (o.Practices+1)/2 {
			t.Errorf("%d practices and %d nursing organisations, want %d and %d", practices, nursing, o.Practices, (o.Practices+1)/2)
		}
		members := map[uuid.UUID]int{}
		for _, r := range d.Relationships {
			if r.Kind == care.KindTeamMember && r.ActiveAt(testNow) {
				members[*r.TeamID]++
				if pracs[*r.PractitionerID].OrganizationID != teams[*r.TeamID].OrganizationID {
					t.Errorf("team member %s works for another organisation", *r.PractitionerID)
				}
			}
		}
		for _, tm := range d.Teams {
			if members[tm.ID] < 3 || members[tm.ID] > 5 {
				t.Errorf("team %s has %d members, want 3-5", tm.Name, members[tm.ID])
			}
		}
	})

	t.Run("every reference points at a record of the dataset", func(t *testing.T) {
		for _, p := range d.Patients {
			if orgs[p.RegisteredPracticeID].Kind != care.OrgGPPractice {
				t.Fatalf("patient registered at %s, not a practice", p.RegisteredPracticeID)
			}
		}
		for _, r := range d.Relationships {
			ok := orgs[r.OrganizationID].ID != uuid.Nil &&
				(r.PatientID == nil || patients[*r.PatientID].ID != uuid.Nil) &&
				(r.PractitionerID == nil || pracs[*r.PractitionerID].ID != uuid.Nil) &&
				(r.TeamID == nil || teams[*r.TeamID].ID != uuid.Nil) &&
				(r.PartnerOrganizationID == nil || orgs[*r.PartnerOrganizationID].ID != uuid.Nil)
			if !ok || (r.PeriodEnd != nil && !r.PeriodEnd.After(r.PeriodStart)) {
				t.Fatalf("relationship %+v is inconsistent", r)
			}
		}
		ids := map[uuid.UUID]bool{}
		for _, in := range d.Interactions {
			if patients[in.PatientID].ID == uuid.Nil || pracs[in.PractitionerID].OrganizationID != in.OrganizationID {
				t.Fatalf("interaction %+v has a bad patient, practitioner or organisation", in)
			}
			if ids[in.ID] {
				t.Fatalf("interaction ID %s used twice", in.ID)
			}
			ids[in.ID] = true
		}
	})

	t.Run("every practice partners its nursing organisation", func(t *testing.T) {
		partnered := map[uuid.UUID]bool{}
		for _, r := range d.Relationships {
			if r.Kind == care.KindPartnership && r.ActiveAt(testNow) && orgs[*r.PartnerOrganizationID].Kind == care.OrgCommunityNursing {
				partnered[r.OrganizationID] = true
			}
		}
		for _, org := range d.Organizations {
			if org.Kind == care.OrgGPPractice && !partnered[org.ID] {
				t.Errorf("%s has no nursing partner", org.Name)
			}
		}
	})

	t.Run("at most one active usual GP and one active named nurse each", func(t *testing.T) {
		usual, named, ended, related := map[uuid.UUID]int{}, map[uuid.UUID]int{}, 0, 0
		for _, r := range d.Relationships {
			switch {
			case r.Kind == care.KindUsualGP && r.Status == care.RelationshipActive:
				usual[*r.PatientID]++
			case r.Kind == care.KindUsualGP:
				ended++
			case r.Kind == care.KindNamedNurse && r.Status == care.RelationshipActive:
				named[*r.PatientID]++
			case r.RelatedPersonName != nil:
				related++
			}
		}
		for id, n := range usual {
			if n > 1 {
				t.Errorf("patient %s has %d active usual GPs", id, n)
			}
		}
		for id, n := range named {
			if n > 1 {
				t.Errorf("patient %s has %d active named nurses", id, n)
			}
		}
		if share := float64(len(usual)) / float64(len(d.Patients)); share < 0.85 {
			t.Errorf("%.0f%% of patients have a usual GP, want most", 100*share)
		}
		if share := float64(len(named)) / float64(len(d.Patients)); share < 0.05 || share > 0.15 {
			t.Errorf("%.1f%% of patients have a named nurse, want about 10%%", 100*share)
		}
		if ended == 0 || related == 0 {
			t.Errorf("%d ended usual-GP relationships and %d carers or family, want some of each", ended, related)
		}
	})

	t.Run("the persona nurse has a caseload", func(t *testing.T) {
		direct, viaTeam := map[uuid.UUID]bool{}, map[uuid.UUID]bool{}
		for _, r := range d.Relationships {
			if r.PatientID == nil || !r.ActiveAt(testNow) {
				continue
			}
			if r.PractitionerID != nil && *r.PractitionerID == demo.NurseID {
				direct[*r.PatientID] = true
			}
			if r.TeamID != nil && *r.TeamID == demo.NursingTeamID {
				viaTeam[*r.PatientID] = true
			}
		}
		if len(direct) < 5 || len(viaTeam) < 5 {
			t.Errorf("persona nurse has %d patients of her own and %d via her team, want at least 5 of each", len(direct), len(viaTeam))
		}
	})

	t.Run("interaction volume and signing are plausible", func(t *testing.T) {
		if n := len(d.Interactions); n < 10_000 || n > 40_000 {
			t.Errorf("%d interactions for Small, want 10,000-40,000", n)
		}
		signed, recentDrafts, recent := 0, 0, 0
		for _, in := range d.Interactions {
			if (in.Status == care.InteractionDraft) != (in.SignedAt == nil) || (in.SignedAt == nil) != (in.SignedByID == nil) {
				t.Fatalf("interaction %s: status %s with signedAt %v", in.ID, in.Status, in.SignedAt)
			}
			if !in.OccurredAt.Before(testNow) || in.OccurredAt.Before(testNow.AddDate(0, -o.Months, 0)) || in.CreatedAt.Before(in.OccurredAt) || in.CreatedAt.After(testNow) {
				t.Fatalf("interaction %s at %v created %v, outside the window", in.ID, in.OccurredAt, in.CreatedAt)
			}
			if in.SignedAt != nil {
				signed++
				if in.SignedAt.Before(in.CreatedAt) || !in.SignedAt.Before(testNow) {
					t.Fatalf("interaction %s signed at %v, created %v", in.ID, in.SignedAt, in.CreatedAt)
				}
			}
			if testNow.Sub(in.OccurredAt) < 3*24*time.Hour {
				recent++
				if in.Status == care.InteractionDraft {
					recentDrafts++
				}
			}
		}
		if share := float64(signed) / float64(len(d.Interactions)); share < 0.92 || share > 0.99 {
			t.Errorf("%.1f%% signed, want about 95%%", 100*share)
		}
		if recent == 0 || recentDrafts*2 < recent {
			t.Errorf("%d of the last 3 days' %d interactions are drafts, want most", recentDrafts, recent)
		}
	})

	t.Run("contacts per year are skewed: many few, the elderly many", func(t *testing.T) {
		years := float64(o.Months) / 12
		gpContacts := map[uuid.UUID]int{}
		for _, in := range d.Interactions {
			if pracs[in.PractitionerID].Profession == care.ProfessionGP {
				gpContacts[in.PatientID]++
			}
		}
		var young, old []float64
		for _, p := range d.Patients {
			if p.CreatedAt.After(testNow.AddDate(0, -o.Months, 0)) {
				continue // registered during the window
			}
			rate := float64(gpContacts[p.ID]) / years
			switch age := testNow.Sub(p.BirthDate).Hours() / 24 / 365.25; {
			case age < 45:
				young = append(young, rate)
			case age >= 75:
				old = append(old, rate)
			}
		}
		if m := median(young); m > 3 {
			t.Errorf("median GP contacts a year under 45: %.1f, want 0-3", m)
		}
		if m := median(old); m < 10 || m > 25 {
			t.Errorf("median GP contacts a year from 75: %.1f, want 10-25", m)
		}
	})

	t.Run("amendments keep the content they replaced", func(t *testing.T) {
		byID := map[uuid.UUID]*care.Interaction{}
		for i := range d.Interactions {
			byID[d.Interactions[i].ID] = &d.Interactions[i]
		}
		if len(d.Amendments) == 0 || len(d.Amendments) > len(d.Interactions)/100 {
			t.Fatalf("%d amendments for %d interactions, want a handful", len(d.Amendments), len(d.Interactions))
		}
		for _, a := range d.Amendments {
			in := byID[a.InteractionID]
			if in == nil || in.Status != care.InteractionAmended || a.Reason == "" || a.AmendedAt.Before(*in.SignedAt) || a.AmendedAt.After(testNow) {
				t.Fatalf("amendment %+v of %+v is inconsistent", a, in)
			}
			if in.Purpose != a.After.Purpose || in.Notes != a.After.Notes || !reflect.DeepEqual(in.DurationMinutes, a.After.DurationMinutes) {
				t.Errorf("amended interaction %s does not hold the amended content", in.ID)
			}
			if reflect.DeepEqual(a.Before, a.After) {
				t.Errorf("amendment %s changes nothing", a.ID)
			}
		}
	})
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

// TestDemoContinuity computes, from the dataset alone, the share of each
// practice's GP contacts that were with the patient's usual GP at the time.
func TestDemoContinuity(t *testing.T) {
	t.Parallel()
	d := demo.Generate(small())
	gps := map[uuid.UUID]bool{}
	for _, p := range d.Practitioners {
		if p.Profession == care.ProfessionGP {
			gps[p.ID] = true
		}
	}
	usual := map[uuid.UUID][]care.CareRelationship{}
	for _, r := range d.Relationships {
		if r.Kind == care.KindUsualGP {
			usual[*r.PatientID] = append(usual[*r.PatientID], r)
		}
	}
	with, all := map[uuid.UUID]int{}, map[uuid.UUID]int{}
	for _, in := range d.Interactions {
		if !gps[in.PractitionerID] {
			continue
		}
		for _, r := range usual[in.PatientID] {
			// In force at the time: active now, or ended after the contact.
			inForce := !in.OccurredAt.Before(r.PeriodStart) && (r.PeriodEnd == nil || in.OccurredAt.Before(*r.PeriodEnd))
			if inForce {
				all[in.OrganizationID]++
				if *r.PractitionerID == in.PractitionerID {
					with[in.OrganizationID]++
				}
			}
		}
	}
	share := func(org uuid.UUID) float64 { return float64(with[org]) / float64(all[org]) }
	var second uuid.UUID
	for _, o := range d.Organizations {
		if o.Kind == care.OrgGPPractice && o.ID != demo.PracticeID {
			second = o.ID
			break
		}
	}
	high, low := share(demo.PracticeID), share(second)
	t.Logf("usual-GP share of GP contacts: first practice %.2f (%d contacts), second %.2f (%d contacts)", high, all[demo.PracticeID], low, all[second])
	t.Run("the first practice has high continuity", func(t *testing.T) {
		if high < 0.65 || high > 0.85 {
			t.Errorf("share %.2f, want about 0.75", high)
		}
	})
	t.Run("the second practice has low continuity", func(t *testing.T) {
		if low < 0.25 || low > 0.45 {
			t.Errorf("share %.2f, want about 0.35", low)
		}
	})
}

func TestDemoSeed(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	ctx := care.NewContextWithActor(context.Background(), care.SystemActor())

	t.Run("an empty database is not seeded", func(t *testing.T) {
		ok, err := demo.Seeded(ctx, db)
		if err != nil || ok {
			t.Fatalf("Seeded = %v, %v; want false, nil", ok, err)
		}
	})
	t.Run("a caller other than the system may not seed", func(t *testing.T) {
		nurse := care.NewContextWithActor(context.Background(), &care.Actor{PractitionerID: demo.NurseID, OrganizationID: demo.NursingOrgID, Role: care.RoleNurse})
		if _, err := demo.Seed(nurse, db, small()); care.ErrorCode(err) != care.EFORBIDDEN {
			t.Fatalf("Seed as a nurse: %v, want %s", err, care.EFORBIDDEN)
		}
		if ok, err := demo.Seeded(ctx, db); err != nil || ok {
			t.Fatalf("Seeded after a refused seed = %v, %v; want false, nil", ok, err)
		}
	})
	t.Run("seeding loads the dataset and reports it", func(t *testing.T) {
		o := demo.Small // zero Now: the database clock's
		s, err := demo.Seed(ctx, db, o)
		if err != nil {
			t.Fatalf("Seed: %v", err)
		}
		t.Logf("seeded Small: %+v", s)
		d := demo.Generate(small())
		if s.Patients != len(d.Patients) || s.Organizations != len(d.Organizations) || s.Interactions < 10_000 || s.Load <= 0 {
			t.Errorf("summary %+v does not describe Small", s)
		}
		ok, err := demo.Seeded(ctx, db)
		if err != nil || !ok {
			t.Fatalf("Seeded = %v, %v; want true, nil", ok, err)
		}
	})
	t.Run("seeding again is a conflict", func(t *testing.T) {
		if _, err := demo.Seed(ctx, db, small()); care.ErrorCode(err) != care.ECONFLICT {
			t.Fatalf("second Seed: %v, want %s", err, care.ECONFLICT)
		}
	})
	t.Run("seeding if missing leaves a seeded database alone", func(t *testing.T) {
		if _, seeded, err := demo.SeedIfMissing(ctx, db, small()); err != nil || seeded {
			t.Fatalf("SeedIfMissing = %v, %v; want false, nil", seeded, err)
		}
	})
}
