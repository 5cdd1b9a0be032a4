package graph_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/client"
	"github.com/google/uuid"
	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres"
)

// world is a small care economy written through the store's own write path:
// practice A (GP gpA, admin adminA) partnered with a nursing organisation N
// (nurse, colleague; team with the nurse as member), practice B (GP gpB) on
// its own. Patients are added per test.
type world struct {
	db                         *postgres.DB
	practiceA, practiceB, orgN uuid.UUID
	gpA, gpB, adminA           uuid.UUID
	nurse, colleague           uuid.UUID
	team                       uuid.UUID
}

var sysCtx = care.NewContextWithActor(context.Background(), care.SystemActor())

// checked holds a call's result until a test takes it with get.
type checked[T any] struct {
	v   T
	err error
}

// must wraps a (value, error) result: must(f()).get(t) fails t on error.
func must[T any](v T, err error) checked[T] { return checked[T]{v, err} }

func (c checked[T]) get(t testing.TB) T {
	t.Helper()
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.v
}

func ptr[T any](v T) *T { return &v }

func newWorld(t testing.TB, db *postgres.DB) *world {
	t.Helper()
	w := &world{db: db}
	org := func(name string, kind care.OrganizationKind) uuid.UUID {
		return must(db.CreateOrganization(sysCtx, care.CreateOrganizationInput{Name: name, Kind: kind})).get(t).ID
	}
	w.practiceA = org("Riverside Surgery", care.OrgGPPractice)
	w.practiceB = org("Hilltop Practice", care.OrgGPPractice)
	w.orgN = org("Riverside Community Nursing", care.OrgCommunityNursing)
	must(db.StartRelationship(sysCtx, care.StartRelationshipInput{
		Kind: care.KindPartnership, OrganizationID: &w.practiceA, PartnerOrganizationID: &w.orgN,
	})).get(t)
	pr := func(org uuid.UUID, given, family string, p care.Profession) uuid.UUID {
		return must(db.CreatePractitioner(sysCtx, care.CreatePractitionerInput{
			OrganizationID: org, GivenName: given, FamilyName: family, Profession: p,
		})).get(t).ID
	}
	w.gpA = pr(w.practiceA, "Amira", "Khan", care.ProfessionGP)
	w.adminA = pr(w.practiceA, "Paul", "Reed", care.ProfessionOther)
	w.gpB = pr(w.practiceB, "Bernard", "Okafor", care.ProfessionGP)
	w.nurse = pr(w.orgN, "Nia", "Evans", care.ProfessionDistrictNurse)
	w.colleague = pr(w.orgN, "Colm", "Byrne", care.ProfessionDistrictNurse)
	w.team = must(db.CreateTeam(sysCtx, care.CreateTeamInput{OrganizationID: w.orgN, Name: "North locality"})).get(t).ID
	must(db.StartRelationship(sysCtx, care.StartRelationshipInput{
		Kind: care.KindTeamMember, PractitionerID: &w.nurse, TeamID: &w.team,
	})).get(t)
	return w
}

var nhsSeq atomic.Int64

// nhsNumber returns a fresh valid NHS number in the 999 test range.
func nhsNumber() string {
	for {
		n := 999000000 + nhsSeq.Add(1)*7919%1000000
		s := fmt.Sprintf("%09d", n)
		sum := 0
		for i := 0; i < 9; i++ {
			sum += int(s[i]-'0') * (10 - i)
		}
		check := 11 - sum%11
		if check == 11 {
			check = 0
		}
		if check == 10 {
			continue
		}
		return fmt.Sprintf("%s%d", s, check)
	}
}

// patient registers a patient at practice with the given usual GP and,
// unless nurse is uuid.Nil, named nurse.
func (w *world) patient(t testing.TB, practice, gp, nurse uuid.UUID, family string) *care.Patient {
	t.Helper()
	p := must(w.db.CreatePatient(sysCtx, care.CreatePatientInput{
		NHSNumber: nhsNumber(), GivenName: "Pat", FamilyName: family,
		BirthDate: time.Date(1940, 3, 4, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: practice,
	})).get(t)
	must(w.db.StartRelationship(sysCtx, care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: &p.ID, PractitionerID: &gp})).get(t)
	if nurse != uuid.Nil {
		must(w.db.StartRelationship(sysCtx, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &p.ID, PractitionerID: &nurse})).get(t)
	}
	return p
}

// interaction records an interaction by practitioner (acting as actor) with patient.
func (w *world) interaction(t testing.TB, actor *care.Actor, patient uuid.UUID, at time.Time) *care.Interaction {
	t.Helper()
	ctx := care.NewContextWithActor(context.Background(), actor)
	return must(w.db.CreateInteraction(ctx, care.CreateInteractionInput{
		PatientID: patient, Mode: care.ModeHomeVisit, OccurredAt: at, Purpose: "wound review", Notes: "healing well",
	})).get(t)
}

func (w *world) actor(role care.Role, practitioner, org uuid.UUID, scopes ...string) *care.Actor {
	a := &care.Actor{PractitionerID: practitioner, OrganizationID: org, Role: role, Scopes: scopes, Subject: "test-" + string(role)}
	a.Access = auth.AccessFor(a)
	return a
}

func (w *world) nurseActor() *care.Actor { return w.actor(care.RoleNurse, w.nurse, w.orgN) }
func (w *world) gpAActor() *care.Actor   { return w.actor(care.RoleGP, w.gpA, w.practiceA) }
func (w *world) gpBActor() *care.Actor   { return w.actor(care.RoleGP, w.gpB, w.practiceB) }

// gql is a GraphQL client for one actor against NewServer.
type gql struct {
	t testing.TB
	c *client.Client
}

// newClient serves NewServer(db) behind a tiny middleware that authenticates
// every request as actor, as server/ does after verifying a token.
func newClient(t testing.TB, db *postgres.DB, actor *care.Actor, limits graph.Limits) *gql {
	return clientFor(t, graph.NewServer(db, limits), actor)
}

// clientFor is newClient for a handler built by the test.
func clientFor(t testing.TB, h http.Handler, actor *care.Actor) *gql {
	mw := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := care.NewContextWithRequestID(r.Context(), "req-test")
		if actor != nil {
			ctx = care.NewContextWithActor(ctx, actor)
		}
		h.ServeHTTP(w, r.WithContext(ctx))
	})
	return &gql{t: t, c: client.New(mw)}
}

// gqlError is one entry of a response's errors.
type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (e gqlError) code() string { s, _ := e.Extensions["code"].(string); return s }

// result is a decoded GraphQL response.
type result struct {
	Data   json.RawMessage
	Errors []gqlError
}

// do runs query and returns the response; transport failures fail the test.
func (g *gql) do(query string, vars map[string]any) result {
	g.t.Helper()
	var opts []client.Option
	for k, v := range vars {
		opts = append(opts, client.Var(k, v))
	}
	raw, err := g.c.RawPost(query, opts...)
	if err != nil {
		g.t.Fatalf("post: %v", err)
	}
	var res result
	if raw.Data != nil {
		res.Data = must(json.Marshal(raw.Data)).get(g.t)
	}
	if len(raw.Errors) > 0 {
		if err := json.Unmarshal(raw.Errors, &res.Errors); err != nil {
			g.t.Fatalf("decode errors %s: %v", raw.Errors, err)
		}
	}
	return res
}

// ok runs query, fails the test on any error, and decodes data into out.
func (g *gql) ok(query string, vars map[string]any, out any) {
	g.t.Helper()
	res := g.do(query, vars)
	if len(res.Errors) > 0 {
		g.t.Fatalf("unexpected errors: %+v", res.Errors)
	}
	if out != nil {
		if err := json.Unmarshal(res.Data, out); err != nil {
			g.t.Fatalf("decode %s: %v", res.Data, err)
		}
	}
}

// fails runs query and asserts it fails with extensions.code code (one of
// codes, if several are acceptable); it returns the response.
func (g *gql) fails(query string, vars map[string]any, codes ...string) result {
	g.t.Helper()
	res := g.do(query, vars)
	if len(res.Errors) == 0 {
		g.t.Fatalf("expected an error with code %v, got data %s", codes, res.Data)
	}
	for _, e := range res.Errors {
		for _, c := range codes {
			if e.code() == c {
				return res
			}
		}
	}
	g.t.Fatalf("expected code %v, got %+v", codes, res.Errors)
	return res
}

func gid(typ string, id uuid.UUID) string { return scalar.GlobalID(typ, id) }
