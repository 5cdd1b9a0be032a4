package postgres_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// syncLogRow is a change-log row as a test compares it.
type syncLogRow struct {
	Op, HLC           string
	Seq               *int64
	Patient, Org, Dev *uuid.UUID
	Version           int64
	Fields            []string
}

func syncLogOf(t *testing.T, db *postgres.DB, id uuid.UUID) syncLogRow {
	t.Helper()
	var r syncLogRow
	err := db.ScanRaw(context.Background(), `SELECT op, hlc, seq, patient_id, organization_id, device_id, version, changed_fields
		FROM sync_changes WHERE entity = 'interaction' AND entity_id = $1`, []any{id},
		&r.Op, &r.HLC, &r.Seq, &r.Patient, &r.Org, &r.Dev, &r.Version, &r.Fields)
	if err != nil {
		t.Fatalf("change log of %s: %v", id, err)
	}
	return r
}

// CreateInteractionsFromSync writes a run of interactions, their change log
// and their audit in one round trip (the change-log trigger off for it): the
// rows, the log and the audit are what CreateInteraction under SetSyncOrigin
// writes, each row with its own clock, one commit-order stamp for all, each
// refusal what CreateInteraction answers, and the triggers on again after.
func TestCreateInteractionsFromSync(t *testing.T) {
	db, f := setup(t)
	nurse := as(f.Nurse1Actor)
	dev := uuid.New()
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	dur := 25
	visit := func(patient uuid.UUID) care.CreateInteractionInput {
		id := uuid.Must(uuid.NewV7())
		return care.CreateInteractionInput{ID: &id, PatientID: patient, Mode: care.ModeHomeVisit, OccurredAt: at,
			DurationMinutes: &dur, Purpose: "Wound dressing", Notes: "it's \"fine\"\nreally"}
	}
	// One created the one-change way, as the reference.
	ref := visit(f.PatientA1)
	err := db.InTx(nurse, func(tx *postgres.DB) error {
		if err := tx.SetSyncOrigin(nurse, "0000000000001-0000-reference", dev); err != nil {
			return err
		}
		_, err := tx.CreateInteraction(nurse, ref)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	taken := visit(f.PatientA1)
	taken.ID = ref.ID
	withPeople := visit(f.PatientA1)
	withPeople.ParticipantIDs = []uuid.UUID{f.Nurse2, f.GPA}
	withPeople.OtherPresent = []string{"daughter", `son, "Bob"`, "{x}"}
	ghost := visit(f.PatientA1)
	ghost.ParticipantIDs = []uuid.UUID{uuid.New()}
	noDuration := visit(f.PatientA2)
	noDuration.DurationMinutes = nil
	bad := visit(f.PatientA1)
	bad.Mode = "telepathy"
	cs := []postgres.SyncCreate{
		{Input: visit(f.PatientA1), HLC: "0000000000002-0000-aaaaaaaa"},
		{Input: visit(f.PatientB1), HLC: "0000000000003-0000-aaaaaaaa"}, // not visible
		{Input: withPeople, HLC: "0000000000004-0000-aaaaaaaa"},
		{Input: taken, HLC: "0000000000005-0000-aaaaaaaa"},
		{Input: ghost, HLC: "0000000000006-0000-aaaaaaaa"},
		{Input: noDuration, HLC: "0000000000007-0000-aaaaaaaa"},
		{Input: bad, HLC: "0000000000008-0000-aaaaaaaa"},
	}
	auditBefore := auditCreates(t, db)
	var made []*care.Interaction
	var errs []error
	err = db.InTx(nurse, func(tx *postgres.DB) error {
		var ids, patients, people []uuid.UUID
		for _, c := range cs {
			ids, patients = append(ids, *c.Input.ID), append(patients, c.Input.PatientID)
			people = append(people, c.Input.ParticipantIDs...)
		}
		facts, err := tx.SyncCreateFacts(nurse, dev, ids, patients, people)
		if err != nil {
			return err
		}
		if made, errs, err = tx.CreateInteractionsFromSync(nurse, dev, cs, facts); err != nil {
			return err
		}
		var bulk string
		if err := tx.ScanRaw(nurse, `SELECT coalesce(current_setting('rapport.bulk_load', true), '')`, nil, &bulk); err != nil {
			return err
		}
		if bulk == "on" {
			t.Error("the change-log triggers were left off")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(made) != len(cs) || len(errs) != len(cs) {
		t.Fatalf("%d results, %d errors for %d inputs", len(made), len(errs), len(cs))
	}
	for k, want := range []string{"", care.ENOTFOUND, "", "taken", care.ENOTFOUND, "", care.EINVALID} {
		switch {
		case want == "" && (errs[k] != nil || made[k] == nil):
			t.Errorf("input %d: %v, want created", k, errs[k])
		case want == "taken" && !errors.Is(errs[k], postgres.ErrIDTaken):
			t.Errorf("input %d: %v, want ErrIDTaken", k, errs[k])
		case want != "" && want != "taken" && care.ErrorCode(errs[k]) != want:
			t.Errorf("input %d: %v, want %s", k, errs[k], want)
		case want != "" && made[k] != nil:
			t.Errorf("input %d: refused and created", k)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	// Changes are numbered after commit (sync_stamp): number them, then
	// the run must share one number.
	if _, err := db.StampSync(nurse); err != nil {
		t.Fatal(err)
	}
	refLog := syncLogOf(t, db, *ref.ID)
	var seq *int64
	for _, k := range []int{0, 2, 5} {
		i := made[k]
		// The row returned is the row stored.
		got, err := db.Interaction(nurse, i.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, i) {
			t.Errorf("input %d: returned %+v, stored %+v", k, i, got)
		}
		l := syncLogOf(t, db, i.ID)
		if l.HLC != cs[k].HLC || l.Dev == nil || *l.Dev != dev || *l.Patient != i.PatientID || *l.Org != i.OrganizationID ||
			l.Op != refLog.Op || l.Version != refLog.Version || !reflect.DeepEqual(l.Fields, refLog.Fields) {
			t.Errorf("input %d: change log %+v, want like %+v with its own clock", k, l, refLog)
		}
		if l.Seq == nil || seq != nil && *seq != *l.Seq {
			t.Errorf("input %d: stamp %v, want one stamp for the run", k, l.Seq)
		}
		seq = l.Seq
	}
	if p := made[2]; !reflect.DeepEqual(p.ParticipantIDs, withPeople.ParticipantIDs) || !reflect.DeepEqual(p.OtherPresent, withPeople.OtherPresent) {
		t.Errorf("lists: %v %v", p.ParticipantIDs, p.OtherPresent)
	}
	if made[5].DurationMinutes != nil || *made[0].DurationMinutes != dur {
		t.Errorf("durations: %v %v", made[5].DurationMinutes, made[0].DurationMinutes)
	}
	if n := auditCreates(t, db) - auditBefore; n != 3 {
		t.Errorf("%d audit entries for 3 interactions created", n)
	}
	// One row for each patient: PatientA1's two creations share one.
	pair := []uuid.UUID{made[0].ID, made[2].ID}
	var listed []uuid.UUID
	var both bool
	if err := db.ScanRaw(context.Background(), `SELECT entity_ids, entity_ids @> $2::uuid[] FROM access_audit
		WHERE action = 'create' AND $1 = ANY(entity_ids)`, []any{made[0].ID, pair}, &listed, &both); err != nil {
		t.Fatal(err)
	}
	if !both || len(listed) != len(pair) {
		t.Errorf("the audit row of PatientA1's creations lists %v, want %v", listed, pair)
	}
	// The triggers are on again for the rest of the transaction.
	var later uuid.UUID
	err = db.InTx(nurse, func(tx *postgres.DB) error {
		facts, err := tx.SyncCreateFacts(nurse, dev, nil, []uuid.UUID{f.PatientA1}, nil)
		if err != nil {
			return err
		}
		if _, _, err := tx.CreateInteractionsFromSync(nurse, dev, []postgres.SyncCreate{{Input: visit(f.PatientA1), HLC: "0000000000009-0000-aaaaaaaa"}}, facts); err != nil {
			return err
		}
		i, err := tx.CreateInteraction(nurse, visit(f.PatientA1))
		later = i.ID
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.StampSync(nurse); err != nil {
		t.Fatal(err)
	}
	if l := syncLogOf(t, db, later); l.Seq == nil {
		t.Errorf("an interaction created after the run was not logged: %+v", l)
	}
}

// auditCreates counts the audit rows of created interactions.
func auditCreates(t *testing.T, db *postgres.DB) int {
	t.Helper()
	var n int
	if err := db.ScanRaw(context.Background(), `SELECT count(*) FROM access_audit_entries WHERE action = 'create' AND entity = 'Interaction'`, nil, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A change-log row already there for an id the run creates (which no path
// leaves: a deleted record's id is retired) makes the set-based statement
// fail whole, writing nothing of the run, and the transaction goes on: the
// same interactions created one by one then rewrite the row, as the trigger
// does. (The statement inserts its log rows, it does not upsert them.)
func TestCreateInteractionsFromSyncBesideAStrayLogRow(t *testing.T) {
	db, f := setup(t)
	nurse := as(f.Nurse1Actor)
	dev := uuid.New()
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	var cs []postgres.SyncCreate
	var ids []uuid.UUID
	for range 3 {
		id := uuid.Must(uuid.NewV7())
		ids = append(ids, id)
		cs = append(cs, postgres.SyncCreate{Input: care.CreateInteractionInput{ID: &id, PatientID: f.PatientA1, Mode: care.ModeHomeVisit,
			OccurredAt: at, Purpose: "Wound dressing"}, HLC: "0000000000002-0000-aaaaaaaa"})
	}
	stray := ids[1]
	if err := db.ExecRaw(context.Background(), `INSERT INTO sync_changes (entity, entity_id, seq, txid, op, patient_id, version, changed_fields, hlc, changed_at)
		VALUES ('interaction', $1, NULL, pg_current_xact_id(), 'delete', $2, 9, '{}', '0000000000001-0000-aaaaaaaa', now())`, stray, f.PatientA1); err != nil {
		t.Fatal(err)
	}
	auditBefore := auditCreates(t, db)
	err := db.InTx(nurse, func(tx *postgres.DB) error {
		facts, err := tx.SyncCreateFacts(nurse, dev, ids, []uuid.UUID{f.PatientA1}, nil)
		if err != nil {
			return err
		}
		if _, _, err := tx.CreateInteractionsFromSync(nurse, dev, cs, facts); err == nil {
			t.Error("the run was written beside a change-log row for one of its ids")
		}
		var n int
		if err := tx.ScanRaw(nurse, `SELECT count(*) FROM interactions WHERE id = ANY($1)`, []any{ids}, &n); err != nil {
			return err
		}
		if n != 0 {
			t.Errorf("%d of the run's interactions kept after the statement failed", n)
		}
		if err := tx.SetSyncOrigin(nurse, "0000000000003-0000-aaaaaaaa", dev); err != nil {
			return err
		}
		for _, c := range cs {
			if _, err := tx.CreateInteraction(nurse, c.Input); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := auditCreates(t, db) - auditBefore; n != 3 {
		t.Fatalf("%d create audit rows, want 3 (the failed statement's none)", n)
	}
	if r := syncLogOf(t, db, stray); r.Op != "upsert" || r.Version != 1 {
		t.Fatalf("stray log row not rewritten by the create: %+v", r)
	}
}
