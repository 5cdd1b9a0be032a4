package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
)

// TestCreateInteractionEitherWay holds CreateInteraction's one-statement
// path (createInteractionAtOnce, taken outside a transaction) to its
// transaction path (taken inside one) over random creates: callers of every
// role, visible, hidden and missing patients, practitioners given or not,
// participants real, repeated and unknown, new, reused, taken and retired
// ids, and bad input. Each create is first made the transaction's way and
// rolled back, then made for real: the answer (error code and message, or
// the row) and what was written (interactions, audit rows by action,
// change-log rows) must be the same.
func TestCreateInteractionEitherWay(t *testing.T) {
	db, f := setup(t)
	ctx := context.Background()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 1))
	pick := func(xs ...uuid.UUID) uuid.UUID { return xs[rnd.IntN(len(xs))] }
	actors := []*care.Actor{f.Nurse1Actor, f.Nurse1Actor, f.Nurse1Actor, f.Nurse2Actor, f.GPAActor, f.GPAActor, f.GPBActor, f.AdminAActor, care.SystemActor()}
	retired := uuid.Must(uuid.NewV7())
	if err := db.ExecRaw(ctx, `INSERT INTO retired_ids (id, entity) VALUES ($1, 'interaction')`, retired); err != nil {
		t.Fatal(err)
	}
	var made []care.CreateInteractionInput // created for real, to create again
	type written struct{ interactions, creates, reads, changes int }
	count := func(ctx context.Context, db *postgres.DB) written {
		t.Helper()
		var w written
		err := db.ScanRaw(ctx, `SELECT (SELECT count(*) FROM interactions),
			(SELECT count(*) FROM access_audit_entries WHERE action = 'create'), (SELECT count(*) FROM access_audit_entries WHERE action = 'read'),
			(SELECT count(*) FROM sync_changes)`, nil, &w.interactions, &w.creates, &w.reads, &w.changes)
		if err != nil {
			t.Fatal(err)
		}
		return w
	}
	type answer struct {
		Code, Message string
		Row           *care.Interaction
		Wrote         written
	}
	answerOf := func(i *care.Interaction, err error, before, after written) answer {
		a := answer{Code: care.ErrorCode(err), Wrote: written{after.interactions - before.interactions, after.creates - before.creates,
			after.reads - before.reads, after.changes - before.changes}}
		if err != nil {
			a.Message = care.ErrorMessage(err)
		}
		if i != nil {
			c := *i
			c.CreatedAt, c.UpdatedAt = time.Time{}, time.Time{} // each way's own transaction time
			a.Row = &c
		}
		return a
	}
	errRollback := errors.New("roll back")
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	for n := range 200 {
		actor := actors[rnd.IntN(len(actors))]
		var in care.CreateInteractionInput
		if len(made) > 0 && rnd.IntN(5) == 0 {
			in = made[rnd.IntN(len(made))] // again: the same, or another patient
			if rnd.IntN(2) == 0 {
				in.PatientID = pick(f.PatientA1, f.PatientA2)
			}
		} else {
			id := uuid.Must(uuid.NewV7())
			if rnd.IntN(4) == 0 {
				id = pick(f.InteractionB1, f.InteractionA1Draft, retired)
			}
			dur := rnd.IntN(60)
			in = care.CreateInteractionInput{ID: &id, PatientID: pick(f.PatientA1, f.PatientA1, f.PatientA2, f.PatientB1, uuid.New()),
				Mode:       []care.InteractionMode{care.ModeHomeVisit, care.ModePhone, care.ModeClinic, care.ModeVideo, care.ModeMessage, "telepathy"}[rnd.IntN(6)],
				OccurredAt: at.Add(time.Duration(rnd.IntN(100)) * time.Minute), Purpose: []string{"Wound care", "  Wound care "}[rnd.IntN(2)],
				Notes: fmt.Sprintf("visit %d", n)}
			if rnd.IntN(2) == 0 {
				in.DurationMinutes = &dur
			}
			switch rnd.IntN(6) {
			case 0:
				in.ParticipantIDs = []uuid.UUID{f.Nurse2}
			case 1:
				in.ParticipantIDs = []uuid.UUID{f.GPA, f.GPA}
			case 2:
				in.ParticipantIDs = []uuid.UUID{f.Nurse2, uuid.New()}
			}
			if rnd.IntN(6) == 0 || actor.Role == care.RoleSystem {
				p := pick(f.GPA, f.Nurse1, f.Nurse1, uuid.New())
				in.PractitionerID = &p
			}
			if rnd.IntN(3) == 0 {
				in.OtherPresent = []string{"daughter"}
			}
		}
		actx := care.NewContextWithActor(ctx, actor)
		var want answer
		err := db.InTx(actx, func(tx *postgres.DB) error {
			before := count(actx, tx)
			var i *care.Interaction
			err := tx.Savepoint(actx, func(sp *postgres.DB) error { // what the database refuses leaves the transaction usable
				var err error
				i, err = sp.CreateInteraction(actx, in)
				return err
			})
			want = answerOf(i, err, before, count(actx, tx))
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatalf("create %d the transaction's way: %v", n, err)
		}
		before := count(ctx, db)
		i, err := db.CreateInteraction(actx, in)
		got := answerOf(i, err, before, count(ctx, db))
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("create %d by %s of %+v:\n got %+v %+v\nwant %+v %+v", n, actor.Role, in, got, got.Row, want, want.Row)
		}
		if err == nil {
			made = append(made, in)
		}
	}
	t.Logf("%d of 200 creates succeeded", len(made))
	if len(made) < 25 {
		t.Fatalf("only %d of 200 creates succeeded: the cases are too hard to test the usual path", len(made))
	}
}
