package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// ChangeDraftsFromSync writes what the one-at-a-time writes and the
// change-log trigger write: the rows, the change log (changed fields,
// clock, device, op), the field clocks, the retired id of a deleted draft,
// and one audit entry per record under the request, with the action the
// store's own write would record. A run holding a record that is not a
// draft leaves nothing of any of its changes.
func TestChangeDraftsFromSync(t *testing.T) {
	db, f := setup(t)
	before := postgrestest.As(context.Background(), f.Nurse1Actor) // the drafts are made in requests of their own
	nurse := care.NewContextWithRequestID(before, "req-drafts")
	newDraft := func() uuid.UUID {
		t.Helper()
		i, err := db.CreateInteraction(before, care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModeHomeVisit,
			OccurredAt: time.Now().Add(-time.Hour).Truncate(time.Second), Purpose: "wound care", Notes: "first"})
		if err != nil {
			t.Fatal(err)
		}
		return i.ID
	}
	edited, signed, deleted := newDraft(), newDraft(), newDraft()
	typo := "typo"
	if _, err := db.UpdateInteraction(before, care.UpdateInteractionInput{ID: deleted, Notes: &typo}); err != nil { // so it has a field clock to drop
		t.Fatal(err)
	}
	device := uuid.Must(uuid.NewV7())
	notes, minutes := "dressing changed", 35
	run := []postgres.SyncEdit{
		{Input: care.UpdateInteractionInput{ID: edited, Notes: &notes, DurationMinutes: &minutes}, HLC: "1796000000000-0000-phone"},
		{Input: care.UpdateInteractionInput{ID: signed}, Sign: true, HLC: "1796000000001-0000-phone"},
		{Input: care.UpdateInteractionInput{ID: deleted}, Delete: true, HLC: "1796000000002-0000-phone"},
	}
	var made []*care.Interaction
	err := db.InTx(nurse, func(tx *postgres.DB) error {
		var err error
		made, err = tx.ChangeDraftsFromSync(nurse, device, run)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if made[0].Notes != notes || *made[0].DurationMinutes != minutes || made[0].Version != 2 || made[0].Status != care.InteractionDraft {
		t.Errorf("edited: %+v", made[0])
	}
	if made[1].Status != care.InteractionSigned || made[1].SignedByID == nil || *made[1].SignedByID != f.Nurse1 || made[1].Version != 2 {
		t.Errorf("signed: %+v", made[1])
	}
	if made[2].ID != deleted || made[2].Version != 2 {
		t.Errorf("deleted: %+v", made[2])
	}
	rows := func(sql string, args ...any) string {
		t.Helper()
		got, err := db.QueryTextRows(context.Background(), sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, r := range got {
			lines = append(lines, strings.Join(r, " "))
		}
		return strings.Join(lines, "\n")
	}
	name := map[string]string{edited.String(): "edited", signed.String(): "signed", deleted.String(): "deleted", device.String(): "phone"}
	rename := func(s string) string {
		for id, n := range name {
			s = strings.ReplaceAll(s, id, n)
		}
		return s
	}
	ids := []uuid.UUID{edited, signed, deleted}
	want := func(what, got, want string) {
		t.Helper()
		if got := rename(got); got != want {
			t.Errorf("%s:\n%s\nwant\n%s", what, got, want)
		}
	}
	want("change log", rows(`SELECT entity_id::text, op, version, changed_fields::text, hlc, device_id::text FROM sync_changes WHERE entity_id = ANY($1) ORDER BY hlc`, ids),
		"edited upsert 2 {duration_minutes,notes} 1796000000000-0000-phone phone\n"+
			"signed upsert 2 {signed_at,signed_by_id,status} 1796000000001-0000-phone phone\n"+
			"deleted delete 2 {} 1796000000002-0000-phone phone")
	want("field clocks", rows(`SELECT entity_id::text, field, version, hlc, device_id::text FROM sync_field_clocks WHERE entity_id = ANY($1) ORDER BY hlc, field`, ids),
		"edited duration_minutes 2 1796000000000-0000-phone phone\n"+
			"edited notes 2 1796000000000-0000-phone phone\n"+
			"signed signed_at 2 1796000000001-0000-phone phone\n"+
			"signed signed_by_id 2 1796000000001-0000-phone phone\n"+
			"signed status 2 1796000000001-0000-phone phone")
	want("retired", rows(`SELECT id::text FROM retired_ids WHERE id = ANY($1)`, ids), "deleted")
	want("audit", rows(`SELECT action, entity, entity_id::text, patient_id = $2 FROM access_audit_entries
		WHERE request_id = 'req-drafts' AND entity_id = ANY($1) ORDER BY action`, ids, f.PatientA1),
		"delete Interaction deleted true\nsign Interaction signed true\nupdate Interaction edited true")

	// A run with a record that is not a draft (signed above) writes nothing.
	other := newDraft()
	again := "again"
	err = db.InTx(nurse, func(tx *postgres.DB) error {
		_, err := tx.ChangeDraftsFromSync(nurse, device, []postgres.SyncEdit{
			{Input: care.UpdateInteractionInput{ID: other, Notes: &again}, HLC: "1796000000003-0000-phone"},
			{Input: care.UpdateInteractionInput{ID: signed, Notes: &again}, HLC: "1796000000004-0000-phone"},
		})
		if err == nil {
			return fmt.Errorf("a run holding a signed record was written")
		}
		return nil // the transaction goes on: the savepoint took the run back
	})
	if err != nil {
		t.Fatal(err)
	}
	want("after a refused run", rows(`SELECT notes, version FROM interactions WHERE id = $1`, other), "first 1")
	want("its change log", rows(`SELECT count(*) FROM sync_changes WHERE hlc IN ('1796000000003-0000-phone', '1796000000004-0000-phone')`), "0")

	// A token that may not write is refused before anything is sent.
	reader := postgrestest.As(context.Background(), &care.Actor{Role: care.RoleIntegration, Subject: "reader", OrganizationID: f.PracticeA})
	err = db.InTx(reader, func(tx *postgres.DB) error {
		_, err := tx.ChangeDraftsFromSync(reader, device, []postgres.SyncEdit{{Input: care.UpdateInteractionInput{ID: other, Notes: &again}}})
		return err
	})
	if care.ErrorCode(err) != care.EFORBIDDEN {
		t.Fatalf("read-only token: %v, want EFORBIDDEN", err)
	}
}

// TestInteractionDiffColumns holds the set-based edit write's columns to the
// table: the change-log trigger compares every column but version and
// updated_at, so a column added to interactions and missing from the list
// would change in a pushed edit without the change log or the field clocks
// recording it.
func TestInteractionDiffColumns(t *testing.T) {
	db, _ := setup(t)
	var cols []string
	if err := db.QueryRowRaw(context.Background(), `SELECT array_agg(column_name::text ORDER BY column_name::text) FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'interactions' AND column_name NOT IN ('version', 'updated_at')`, &cols); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cols, postgres.InteractionDiffColumns) {
		t.Fatalf("interactions' columns but version and updated_at:\n%v\nthe set-based edit write compares:\n%v", cols, postgres.InteractionDiffColumns)
	}
}
