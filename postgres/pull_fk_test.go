package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/demo"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	offline "github.com/rapportcare/rapport/sync"
)

// deviceSchemaSQL is a local store as a mobile app keeps it (SQLite, Room,
// WatermelonDB), with every foreign key enforced immediately: a page that
// sends a record before its patient, practitioner, team or organisation
// fails to apply.
const deviceSchemaSQL = `
CREATE SCHEMA device;
CREATE TABLE device.organizations (id uuid PRIMARY KEY);
CREATE TABLE device.teams (id uuid PRIMARY KEY, organization_id uuid NOT NULL REFERENCES device.organizations);
CREATE TABLE device.practitioners (id uuid PRIMARY KEY, organization_id uuid NOT NULL REFERENCES device.organizations);
CREATE TABLE device.patients (id uuid PRIMARY KEY, registered_practice_id uuid NOT NULL REFERENCES device.organizations);
CREATE TABLE device.care_relationships (id uuid PRIMARY KEY,
	organization_id uuid NOT NULL REFERENCES device.organizations,
	patient_id uuid REFERENCES device.patients ON DELETE CASCADE,
	practitioner_id uuid REFERENCES device.practitioners,
	team_id uuid REFERENCES device.teams,
	partner_organization_id uuid REFERENCES device.organizations);
CREATE TABLE device.interactions (id uuid PRIMARY KEY,
	patient_id uuid NOT NULL REFERENCES device.patients ON DELETE CASCADE,
	practitioner_id uuid NOT NULL REFERENCES device.practitioners,
	organization_id uuid NOT NULL REFERENCES device.organizations,
	signed_by_id uuid REFERENCES device.practitioners);
CREATE TABLE device.interaction_participants (interaction_id uuid NOT NULL REFERENCES device.interactions ON DELETE CASCADE,
	practitioner_id uuid NOT NULL REFERENCES device.practitioners);
CREATE TABLE device.interaction_amendments (id uuid PRIMARY KEY,
	interaction_id uuid NOT NULL REFERENCES device.interactions ON DELETE CASCADE,
	amended_by_id uuid NOT NULL REFERENCES device.practitioners);`

// applyPage applies one native pull page, in order, into the device schema
// as docs/sync-protocol.md says: upserts, tombstones, revoked patients.
func applyPage(ctx context.Context, db *postgres.DB, pg *offline.PullPayload) error {
	for _, r := range pg.Upserts {
		d := r.Data
		var stmts []string
		var args [][]any
		add := func(sql string, a ...any) { stmts, args = append(stmts, sql), append(args, a) }
		switch r.Entity {
		case offline.EntityOrganization:
			add(`INSERT INTO device.organizations VALUES ($1) ON CONFLICT DO NOTHING`, d["id"])
		case offline.EntityTeam:
			add(`INSERT INTO device.teams VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET organization_id = $2`, d["id"], d["organizationId"])
		case offline.EntityPractitioner:
			add(`INSERT INTO device.practitioners VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET organization_id = $2`, d["id"], d["organizationId"])
		case offline.EntityPatient:
			add(`INSERT INTO device.patients VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET registered_practice_id = $2`, d["id"], d["registeredPracticeId"])
		case offline.EntityCareRelationship:
			add(`INSERT INTO device.care_relationships VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO UPDATE
				SET organization_id = $2, patient_id = $3, practitioner_id = $4, team_id = $5, partner_organization_id = $6`,
				d["id"], d["organizationId"], d["patientId"], d["practitionerId"], d["teamId"], d["partnerOrganizationId"])
		case offline.EntityInteraction:
			add(`INSERT INTO device.interactions VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO UPDATE
				SET patient_id = $2, practitioner_id = $3, organization_id = $4, signed_by_id = $5`,
				d["id"], d["patientId"], d["practitionerId"], d["organizationId"], d["signedById"])
			add(`DELETE FROM device.interaction_participants WHERE interaction_id = $1`, d["id"])
			for _, p := range d["participantIds"].([]any) {
				add(`INSERT INTO device.interaction_participants VALUES ($1, $2)`, d["id"], p)
			}
			for _, a := range d["amendments"].([]any) {
				m := a.(map[string]any)
				add(`INSERT INTO device.interaction_amendments VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, m["id"], d["id"], m["amendedById"])
			}
		default:
			continue // feedback: not part of this local schema
		}
		for i, s := range stmts {
			if err := db.ExecRaw(ctx, s, args[i]...); err != nil {
				return fmt.Errorf("%s %s: %w", r.Entity, r.ID, err)
			}
		}
	}
	for _, tb := range pg.Tombstones {
		if tb.Entity == offline.EntityInteraction {
			if err := db.ExecRaw(ctx, `DELETE FROM device.interactions WHERE id = $1`, tb.ID); err != nil {
				return err
			}
		}
	}
	for _, p := range pg.RevokedPatientIDs {
		if err := db.ExecRaw(ctx, `DELETE FROM device.patients WHERE id = $1`, p); err != nil {
			return err
		}
	}
	return nil
}

// TestNativePullAppliesWithForeignKeys pulls a fresh device's whole scope
// over the demo dataset, a page at a time, into a local schema with foreign
// keys on; then a patient of another organisation's caseload enters the
// nurse's scope (a new named-nurse relationship), and the next pulls must
// bring that patient's practice, practitioners and teams no later than the
// records that name them.
func TestNativePullAppliesWithForeignKeys(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	sysCtx := postgrestest.As(context.Background(), care.SystemActor())
	o := demo.Options{Practices: 4, PatientsPerPractice: 25, Months: 6, Seed: 3, Now: demo.ReferenceNow}
	if _, err := demo.Seed(sysCtx, db, o); err != nil {
		t.Fatal(err)
	}
	if err := db.ExecRaw(context.Background(), deviceSchemaSQL); err != nil {
		t.Fatal(err)
	}
	nurse := &care.Actor{PractitionerID: demo.NurseID, OrganizationID: demo.NursingOrgID, Role: care.RoleNurse, Subject: "nurse"}
	nurse.Access = auth.AccessFor(nurse)
	ctx := postgrestest.As(context.Background(), nurse)
	eng := offline.New(db, offline.Config{})
	dev := uuid.New()
	var cp *string
	pull := func(what string) (upserts int) {
		t.Helper()
		limit := 7 // small pages: parents and children often fall on different pages
		for i := 0; ; i++ {
			if i > 5000 {
				t.Fatal("pull never ends")
			}
			pg, err := eng.Pull(ctx, offline.PullInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Checkpoint: cp, Limit: &limit, WithData: true})
			if err != nil {
				t.Fatal(err)
			}
			if pg.ResetRequired {
				t.Fatalf("%s: reset %v", what, *pg.ResetReason)
			}
			if err := applyPage(context.Background(), db, pg); err != nil {
				t.Fatalf("%s: page %d does not apply with foreign keys on: %v", what, i, err)
			}
			upserts += len(pg.Upserts)
			c := pg.Checkpoint
			cp = &c
			if !pg.HasMore {
				return upserts
			}
		}
	}
	if n := pull("first pull"); n < 50 {
		t.Fatalf("first pull brought %d records", n)
	}

	// A patient registered at a practice outside the nurse's organisation's
	// partners, cared for by another nursing organisation, enters her caseload.
	var outsider uuid.UUID
	ps, err := db.Patients(sysCtx, care.PatientFilter{}, care.PageArgs{First: ptrInt(100)})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ps.Edges {
		p := e.Node
		var n int
		if err := db.QueryRowRaw(context.Background(), `SELECT count(*) FROM device.organizations WHERE id = $1`, &n, p.RegisteredPracticeID); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			outsider = p.ID
			break
		}
	}
	if outsider == uuid.Nil {
		t.Fatal("no patient outside the nurse's directory")
	}
	// One of the outsider's visits is signed by a new GP of her practice and
	// amended by another, whom nothing else of hers names: only the
	// amendment brings the second GP to the device, and it must bring him
	// before the visit.
	amender := outsiderAmendment(t, db, sysCtx, outsider)
	start := time.Now().Add(-time.Minute)
	if _, err := db.StartRelationship(sysCtx, care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: &outsider,
		PractitionerID: ptrUUID(demo.NurseID), OrganizationID: ptrUUID(demo.NursingOrgID), PeriodStart: &start}); err != nil {
		t.Fatal(err)
	}
	if n := pull("backfill of the newcomer"); n < 2 {
		t.Fatalf("backfill brought %d records", n)
	}
	var have int
	if err := db.QueryRowRaw(context.Background(), `SELECT count(*) FROM device.interactions WHERE patient_id = $1`, &have, outsider); err != nil {
		t.Fatal(err)
	}
	if have == 0 {
		t.Fatal("the newcomer's interactions were not backfilled")
	}
	if err := db.QueryRowRaw(context.Background(), `SELECT count(*) FROM device.interaction_amendments WHERE amended_by_id = $1`, &have, amender); err != nil {
		t.Fatal(err)
	}
	if have != 1 {
		t.Fatalf("the device holds %d amendments by the outsider's amending GP, want 1", have)
	}
}

// outsiderAmendment has a new GP of the patient's practice record, sign and
// another new GP amend a visit to her, and returns the amending GP.
func outsiderAmendment(t *testing.T, db *postgres.DB, sysCtx context.Context, patient uuid.UUID) uuid.UUID {
	t.Helper()
	p, err := db.Patient(sysCtx, patient)
	if err != nil {
		t.Fatal(err)
	}
	gp := func(name string) context.Context {
		pr, err := db.CreatePractitioner(sysCtx, care.CreatePractitionerInput{OrganizationID: p.RegisteredPracticeID,
			GivenName: name, FamilyName: "Outside", Profession: care.ProfessionGP})
		if err != nil {
			t.Fatal(err)
		}
		a := &care.Actor{PractitionerID: pr.ID, OrganizationID: p.RegisteredPracticeID, Role: care.RoleGP, Subject: name}
		a.Access = auth.AccessFor(a)
		return postgrestest.As(context.Background(), a)
	}
	author, amender := gp("Author"), gp("Amender")
	i, err := db.CreateInteraction(author, care.CreateInteractionInput{PatientID: patient, Mode: care.ModeHomeVisit,
		OccurredAt: time.Now().Add(-time.Hour), Purpose: "Wound check", Notes: "Healing well."})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.SignInteraction(author, care.SignInteractionInput{ID: i.ID}); err != nil {
		t.Fatal(err)
	}
	notes := "Healing well; dressing changed."
	if _, err := db.AmendInteraction(amender, care.AmendInteractionInput{ID: i.ID, Reason: "dressing not recorded", Notes: &notes}); err != nil {
		t.Fatal(err)
	}
	return care.ActorFromContext(amender).PractitionerID
}

func ptrUUID(u uuid.UUID) *uuid.UUID { return &u }
func ptrInt(n int) *int              { return &n }
