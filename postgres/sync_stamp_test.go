package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// A transaction's changes are stamped with one commit-order number at
// COMMIT (007_sync_stamp_once.sql queues one stamping event per
// transaction), also when the change that queued it was rolled back to a
// savepoint, and also after an early stamp (SET CONSTRAINTS ... IMMEDIATE).
func TestCommitOrderStamp(t *testing.T) {
	db, f := setup(t)
	nurse := as(f.Nurse1Actor)
	visit := func() care.CreateInteractionInput {
		return care.CreateInteractionInput{PatientID: f.PatientA1, Mode: care.ModeHomeVisit, OccurredAt: time.Now().Add(-time.Hour)}
	}
	stamps := func(t *testing.T, ids ...uuid.UUID) []*int64 {
		t.Helper()
		var out []*int64
		for _, id := range ids {
			var seq *int64
			if err := db.ScanRaw(context.Background(), `SELECT seq FROM sync_changes WHERE entity = 'interaction' AND entity_id = $1`, []any{id}, &seq); err != nil {
				t.Fatalf("change of %s: %v", id, err)
			}
			out = append(out, seq)
		}
		return out
	}
	var unstamped int
	t.Run("after a savepoint rolled back the first change", func(t *testing.T) {
		var undone, b, c uuid.UUID
		err := db.InTx(nurse, func(tx *postgres.DB) error {
			errUndo := errors.New("undo")
			if err := tx.Savepoint(nurse, func(sp *postgres.DB) error {
				i, err := sp.CreateInteraction(nurse, visit())
				if err != nil {
					return err
				}
				undone = i.ID
				return errUndo
			}); !errors.Is(err, errUndo) {
				return err
			}
			for _, id := range []*uuid.UUID{&b, &c} {
				i, err := tx.CreateInteraction(nurse, visit())
				if err != nil {
					return err
				}
				*id = i.ID
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		s := stamps(t, b, c)
		if s[0] == nil || s[1] == nil || *s[0] != *s[1] {
			t.Fatalf("stamps %v, want one number for both", s)
		}
		var n int
		if err := db.ScanRaw(context.Background(), `SELECT count(*) FROM sync_changes WHERE entity_id = $1`, []any{undone}, &n); err != nil || n != 0 {
			t.Fatalf("rolled-back change logged: %d %v", n, err)
		}
	})
	t.Run("after an early stamp, later changes get a later number", func(t *testing.T) {
		var b, c uuid.UUID
		err := db.InTx(nurse, func(tx *postgres.DB) error {
			i, err := tx.CreateInteraction(nurse, visit())
			if err != nil {
				return err
			}
			b = i.ID
			if err := tx.ExecRaw(nurse, `SET CONSTRAINTS sync_changes_stamp IMMEDIATE`); err != nil {
				return err
			}
			i, err = tx.CreateInteraction(nurse, visit())
			c = i.ID
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		s := stamps(t, b, c)
		if s[0] == nil || s[1] == nil || *s[1] <= *s[0] {
			t.Fatalf("stamps %v, want two numbers, the second later", s)
		}
	})
	if err := db.ScanRaw(context.Background(), `SELECT count(*) FROM sync_changes WHERE seq IS NULL`, nil, &unstamped); err != nil || unstamped != 0 {
		t.Fatalf("%d changes left unstamped (%v)", unstamped, err)
	}
}
