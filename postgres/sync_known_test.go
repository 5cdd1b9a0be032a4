package postgres_test

import (
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestLoadSyncPageKnown: an interaction a pull already holds (sync's record
// cache) is served only if the caller may see its patient now, and is then
// audited as a loaded one is; one the caller may not see is neither served
// nor audited, whether it exists or not.
func TestLoadSyncPageKnown(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	sys := as(care.SystemActor())
	trail := func(patient uuid.UUID) int {
		t.Helper()
		if err := db.FlushAudit(sys); err != nil {
			t.Fatal(err)
		}
		return len(must[[]*care.AuditEntry](t)(db.AuditEntries(sys, patient)))
	}
	beforeA1, beforeB1 := trail(f.PatientA1), trail(f.PatientB1)

	nobody := uuid.Must(uuid.NewV7())
	known := []postgres.SyncKnown{
		{ID: f.InteractionA1Signed, PatientID: f.PatientA1}, // her caseload's
		{ID: f.InteractionB1, PatientID: f.PatientB1},       // another practice's patient
		{ID: uuid.Must(uuid.NewV7()), PatientID: nobody},    // no such patient
	}
	var rows *postgres.SyncRows
	err := db.InSnapshot(as(f.Nurse1Actor), func(tx *postgres.DB) error {
		var err error
		rows, err = tx.LoadSyncPage(as(f.Nurse1Actor), []postgres.SyncRef{{Entity: "interaction", ID: f.InteractionA1Draft}}, known)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Known[f.InteractionA1Signed] || len(rows.Known) != 1 {
		t.Fatalf("known and visible: %v, want only %s", rows.Known, f.InteractionA1Signed)
	}
	if rows.Interactions[f.InteractionA1Draft] == nil || len(rows.Interactions) != 1 {
		t.Fatalf("loaded %d interactions, want the draft alone", len(rows.Interactions))
	}
	if got := trail(f.PatientA1); got != beforeA1+1 {
		t.Fatalf("PatientA1's trail grew by %d entries, want 1 (the page)", got-beforeA1)
	}
	if got := trail(f.PatientB1); got != beforeB1 {
		t.Fatalf("PatientB1's trail grew by %d entries for a record not served", got-beforeB1)
	}

	// A page of known interactions alone is audited too.
	err = db.InSnapshot(as(f.Nurse1Actor), func(tx *postgres.DB) error {
		var err error
		rows, err = tx.LoadSyncPage(as(f.Nurse1Actor), nil, known[:1])
		return err
	})
	if err != nil || !rows.Known[f.InteractionA1Signed] {
		t.Fatalf("known alone: %v, %v", rows, err)
	}
	if got := trail(f.PatientA1); got != beforeA1+2 {
		t.Fatalf("PatientA1's trail grew by %d entries after two pages, want 2", got-beforeA1)
	}
}
