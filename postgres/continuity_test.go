package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

func TestContinuityReads(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	sys := postgrestest.As(context.Background(), care.SystemActor())
	at := time.Date(2024, 5, 2, 9, 0, 0, 0, time.UTC)
	gpContact := func(p uuid.UUID, mode care.InteractionMode, when time.Time) uuid.UUID {
		i, err := db.CreateInteraction(sys, care.CreateInteractionInput{PatientID: p, PractitionerID: &f.GPA, Mode: mode, OccurredAt: when, Purpose: "r", Notes: "n"})
		if err != nil {
			t.Fatal(err)
		}
		return i.ID
	}
	// Two contacts of A1 at the same instant (ordered by ID), one later, a
	// phone call that does not count, and one contact of A2.
	same1, same2 := gpContact(f.PatientA1, care.ModeClinic, at), gpContact(f.PatientA1, care.ModeClinic, at)
	if same2.String() < same1.String() {
		same1, same2 = same2, same1
	}
	later := gpContact(f.PatientA1, care.ModeHomeVisit, at.Add(time.Hour))
	gpContact(f.PatientA1, care.ModePhone, at.Add(2*time.Hour))
	a2 := gpContact(f.PatientA2, care.ModeClinic, at)

	cq := postgres.ContinuityQuery{
		From: at.AddDate(0, -1, 0), To: at.AddDate(0, 1, 0),
		Modes: []care.InteractionMode{care.ModeClinic, care.ModeHomeVisit}, Professions: []care.Profession{care.ProfessionGP},
		Kind: care.KindUsualGP,
	}
	practiceA := postgres.ContinuityScope{Aggregate: true, Practice: f.PracticeA}
	actor := func(role care.Role, prac, org uuid.UUID, scopes ...string) context.Context {
		a := &care.Actor{Role: role, PractitionerID: prac, OrganizationID: org, Scopes: scopes, Subject: "t"}
		a.Access = auth.AccessFor(a)
		return postgrestest.As(context.Background(), a)
	}
	stream := func(ctx context.Context, s postgres.ContinuityScope) (map[uuid.UUID][]uuid.UUID, []uuid.UUID, error) {
		got := map[uuid.UUID][]uuid.UUID{}
		var order []uuid.UUID
		err := db.StreamContinuityContacts(ctx, s, cq, func(p uuid.UUID, cs []postgres.ContinuityContact) error {
			order = append(order, p)
			for _, c := range cs {
				got[p] = append(got[p], c.ID)
			}
			return nil
		})
		return got, order, err
	}

	t.Run("streams counted contacts per patient in ID order, each by time then ID", func(t *testing.T) {
		t.Parallel()
		got, order, err := stream(actor(care.RolePracticeAdmin, f.AdminA, f.PracticeA), practiceA)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.IsSortedFunc(order, func(a, b uuid.UUID) int { return compare(a.String(), b.String()) }) || len(order) != 2 {
			t.Errorf("patients in order %v, want A1 and A2 ascending", order)
		}
		if want := []uuid.UUID{same1, same2, later}; !slices.Equal(got[f.PatientA1], want) {
			t.Errorf("A1 contacts %v, want %v (nurse contacts and the phone call left out)", got[f.PatientA1], want)
		}
		if !slices.Equal(got[f.PatientA2], []uuid.UUID{a2}) {
			t.Errorf("A2 contacts %v, want only the GP's", got[f.PatientA2])
		}
	})
	t.Run("aggregate permission", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			name string
			ctx  context.Context
			code string
		}{
			{"practice admin", actor(care.RolePracticeAdmin, f.AdminA, f.PracticeA), ""},
			{"GP of the practice", actor(care.RoleGP, f.GPA, f.PracticeA), ""},
			{"analytics integration of the practice", actor(care.RoleIntegration, uuid.Nil, f.PracticeA, care.ScopeAnalyticsRead), ""},
			{"GP of another practice", actor(care.RoleGP, f.GPB, f.PracticeB), care.EFORBIDDEN},
			{"nurse", actor(care.RoleNurse, f.Nurse1, f.Nursing), care.EFORBIDDEN},
			{"integration without analytics:read", actor(care.RoleIntegration, uuid.Nil, f.PracticeA, care.ScopePatientsRead), care.EFORBIDDEN},
			{"analytics integration of another practice", actor(care.RoleIntegration, uuid.Nil, f.PracticeB, care.ScopeAnalyticsRead), care.EFORBIDDEN},
		} {
			_, _, err := stream(c.ctx, practiceA)
			if code := care.ErrorCode(err); code != c.code {
				t.Errorf("%s: code %q, want %q", c.name, code, c.code)
			}
		}
		if _, _, err := stream(sys, postgres.ContinuityScope{Aggregate: true, Practice: uuid.Must(uuid.NewV7())}); care.ErrorCode(err) != care.ENOTFOUND {
			t.Errorf("unknown practice: %v, want ENOTFOUND", err)
		}
	})
	t.Run("patient level follows the access rule", func(t *testing.T) {
		t.Parallel()
		patientLevel := postgres.ContinuityScope{Practice: f.PracticeA}
		if _, _, err := stream(actor(care.RoleIntegration, uuid.Nil, f.PracticeA, care.ScopeAnalyticsRead), patientLevel); care.ErrorCode(err) != care.EFORBIDDEN {
			t.Errorf("analytics integration, patient level: %v, want EFORBIDDEN", err)
		}
		// Nurse2 has no caseload in practice A: nothing streams, not even
		// with the practice as scope.
		got, _, err := stream(actor(care.RoleNurse, f.Nurse2, f.Nursing), patientLevel)
		if err != nil || len(got) != 0 {
			t.Errorf("nurse without these patients got %v, %v", got, err)
		}
		got, _, err = stream(actor(care.RoleNurse, f.Nurse1, f.Nursing), postgres.ContinuityScope{Patient: f.PatientB1})
		if err != nil || len(got) != 0 {
			t.Errorf("nurse read a patient outside her caseload: %v, %v", got, err)
		}
	})
	t.Run("relationships include ended ones; one patient's read is audited", func(t *testing.T) {
		t.Parallel()
		start := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		end := time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
		r, err := db.StartRelationship(sys, care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &f.PatientA2, PractitionerID: &f.GPA, PeriodStart: &start, PeriodEnd: &end})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.EndRelationship(sys, care.EndRelationshipInput{ID: r.ID, EndedAt: &end}); err != nil {
			t.Fatal(err)
		}
		ctx := actor(care.RoleGP, f.GPA, f.PracticeA)
		rels, err := db.ContinuityRelationships(ctx, postgres.ContinuityScope{Patient: f.PatientA2}, cq)
		if err != nil {
			t.Fatal(err)
		}
		if len(rels[f.PatientA2]) != 1 || rels[f.PatientA2][0].Status != care.RelationshipEnded {
			t.Errorf("A2's usual GP relationships %+v, want the ended one", rels[f.PatientA2])
		}
		entries, err := db.AuditEntries(sys, f.PatientA2)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(entries, func(e *care.AuditEntry) bool { return e.Entity == "Continuity" && e.ActorID == f.GPA }) {
			t.Errorf("no Continuity read audited for A2")
		}
	})
	t.Run("bad queries are EINVALID", func(t *testing.T) {
		t.Parallel()
		bad := cq
		bad.Kind = care.KindCarer
		if _, _, err := stream(sys, practiceA); err != nil {
			t.Fatal(err)
		}
		err := db.StreamContinuityContacts(sys, practiceA, bad, func(uuid.UUID, []postgres.ContinuityContact) error { return nil })
		if care.ErrorCode(err) != care.EINVALID {
			t.Errorf("carer kind: %v", err)
		}
		_, _, err = stream(sys, postgres.ContinuityScope{Practice: f.PracticeA, Patient: f.PatientA1})
		if care.ErrorCode(err) != care.EINVALID {
			t.Errorf("two scopes: %v", err)
		}
	})
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestContinuityDataUnderAFullPool runs more practice series at once than
// the pool has connections, each slow to prepare its relationships: every
// one must finish in time, with its relationships prepared before the first
// patient's contacts, and every contact delivered. (With the contacts'
// statement taking its connection before the relationships' held one,
// streams filled the pool, each waiting for relationships that waited for
// the pool, until the deadline.)
func TestContinuityDataUnderAFullPool(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	seedDB, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	f := postgrestest.Seed(t, seedDB)
	seedDB.Close()
	db, err := postgres.OpenWith(context.Background(), url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(postgrestest.As(context.Background(), care.SystemActor()), 20*time.Second)
	defer cancel()
	scope := postgres.ContinuityScope{Aggregate: true, Practice: f.PracticeA}
	cq := postgres.ContinuityQuery{From: time.Now().AddDate(-5, 0, 0), To: time.Now().AddDate(1, 0, 0),
		Modes:       []care.InteractionMode{care.ModeClinic, care.ModeHomeVisit, care.ModePhone, care.ModeVideo, care.ModeMessage},
		Professions: []care.Profession{care.ProfessionGP, care.ProfessionDistrictNurse}, Kind: care.KindUsualGP}
	const series = 24
	errs := make(chan error, series)
	counts := make(chan int, series)
	for range series {
		go func() {
			prepared, contacts := false, 0
			err := db.ContinuityData(ctx, scope, cq, func(map[uuid.UUID][]care.CareRelationship) error {
				time.Sleep(100 * time.Millisecond) // slow to prepare: the streams are waiting meanwhile
				prepared = true
				return nil
			}, func(_ uuid.UUID, cs []postgres.ContinuityContact) error {
				if !prepared {
					return fmt.Errorf("contacts before the relationships were prepared")
				}
				contacts += len(cs)
				return nil
			})
			counts <- contacts
			errs <- err
		}()
	}
	want := -1
	for range series {
		if err := <-errs; err != nil {
			t.Fatalf("a series under a full pool: %v", err)
		}
		n := <-counts
		if want == -1 {
			want = n
		}
		if n == 0 || n != want {
			t.Fatalf("a series received %d contacts, another %d", n, want)
		}
	}
}
