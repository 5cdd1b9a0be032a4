package sync_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
)

// UPDATEs, SIGNs and DELETEs of interactions are applied set-based, a run at a time
// (sync/push.go pushEdits). Held to the changes judged one at a time (offline.OneByOne):
// every record has a twin, created the same, changed the same by other
// devices and people, and a device of each engine pushes the same random
// batches to its side (edits, signings, deletes and amendments by the author, stale,
// missing and impossible bases, edits of signed records, of colleagues'
// drafts and of other practices' patients, malformed fields, repeated ids
// and mutation numbers).
// Every result must be the same but for ids and times, and so must every
// record, its version and its field clocks at the end. The test fails unless
// the set-based path wrote edits, signings and deletes itself and also
// handed some changes to apply.
func TestPushEditsEitherWay(t *testing.T) {
	t.Parallel()
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	w := newWorld(t, offline.Config{})
	one := offline.New(w.db, offline.OneByOne(offline.Config{}))
	nurse, gp, gpB := as(w.f.Nurse1Actor), as(w.f.GPAActor), as(w.f.GPBActor)

	// Twins: x[i] pushed through the set-based engine, y[i] through the other.
	type twin struct{ x, y uuid.UUID }
	var twins []twin
	mapped := map[uuid.UUID]uuid.UUID{} // x to y
	var seq int64
	next := func() int64 { seq++; return seq }
	clock := time.Now().Add(-time.Minute)
	hlc := func(node string) string { clock = clock.Add(time.Millisecond); return hlcAt(clock, 0, node) }
	create := func(ctx context.Context, dev uuid.UUID, patient uuid.UUID, n int) {
		for range n {
			tw := twin{newID(t), newID(t)}
			for _, id := range []uuid.UUID{tw.x, tw.y} {
				c := createVisit(next(), id, patient, fmt.Sprintf("first notes %d", len(twins)))
				c.Fields["occurredAt"] = clock.Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339) // the same for both twins
				c.Fields["durationMinutes"] = 20
				c.Fields["otherPresent"] = []any{"daughter"}
				mustPush(t, w.eng, ctx, dev, c)
			}
			twins = append(twins, tw)
			mapped[tw.x] = tw.y
		}
	}
	nurseDev, gpDev, gpBDev := newID(t), newID(t), newID(t)
	create(nurse, nurseDev, w.f.PatientA1, 10)
	create(nurse, nurseDev, w.f.PatientA2, 8)
	create(gp, gpDev, w.f.PatientA1, 4)    // a colleague's drafts: the nurse may not edit them
	create(gpB, gpBDev, w.f.PatientB1, 3)  // another practice's patient: not the nurse's to see
	phoneX, phoneY := newID(t), newID(t)   // the nurse's phone, one for each engine
	tabletX, tabletY := newID(t), newID(t) // and her tablet, which changes both sides the same

	modes := []string{"HOME_VISIT", "CLINIC", "PHONE", "VIDEO"}
	randomFields := func() map[string]any {
		f := map[string]any{}
		for len(f) == 0 {
			if r.IntN(2) == 0 {
				f["notes"] = fmt.Sprintf("notes %d", r.IntN(4))
			}
			if r.IntN(3) == 0 {
				f["purpose"] = fmt.Sprintf("purpose %d", r.IntN(3))
			}
			if r.IntN(3) == 0 {
				f["durationMinutes"] = 10 + 5*r.IntN(4)
			}
			if r.IntN(5) == 0 {
				f["mode"] = modes[r.IntN(len(modes))]
			}
			if r.IntN(6) == 0 {
				f["otherPresent"] = []any{"son", "carer"}[:1+r.IntN(2)]
			}
			if r.IntN(8) == 0 {
				f["occurredAt"] = time.Now().Add(-time.Duration(1+r.IntN(5)) * time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
			}
		}
		switch r.IntN(25) {
		case 0:
			f["durationMinutes"] = 5000 // out of range
		case 1:
			f["mode"] = "TELEPATHY"
		case 2:
			f["status"] = "SIGNED" // not a field an UPDATE takes
		case 3:
			f["participantIds"] = []any{w.f.GPA.String()} // applied alone
		}
		return f
	}
	// known is the version of each record the phones last saw (the same on
	// both sides, or the test has already failed).
	known := map[uuid.UUID]int64{}
	for _, tw := range twins {
		known[tw.x] = 1
	}
	var setBased, signedSetBased, deleted, alone int
	for round := range 8 {
		// The tablet edits or signs some of the nurse's drafts, the same on
		// both sides, through the one-at-a-time engine.
		for range 4 {
			tw := twins[r.IntN(18)]
			s := next()
			op, fields := offline.OpUpdate, map[string]any(nil)
			if r.IntN(4) == 0 {
				op = offline.OpSign
			} else {
				fields = randomFields()
				delete(fields, "status")
			}
			h := hlc("tablet")
			for side, id := range []uuid.UUID{tw.x, tw.y} {
				dev := []uuid.UUID{tabletX, tabletY}[side]
				c := offline.ChangeInput{MutationSeq: s, Entity: offline.EntityInteraction, ID: id, Op: op, BaseVersion: ptr(known[tw.x]), Hlc: h, Fields: fields}
				if _, err := one.Push(nurse, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Changes: []offline.ChangeInput{c}}); err != nil {
					t.Fatalf("round %d: tablet: %v", round, err)
				}
			}
		}
		// Two new drafts each round, the first of them deleted in the
		// phone's batch below.
		create(nurse, nurseDev, w.f.PatientA2, 2)
		fresh := twins[len(twins)-2].x
		known[fresh], known[twins[len(twins)-1].x] = 1, 1
		// The phone's batch, the same on both sides.
		var xs []offline.ChangeInput
		for range 10 + r.IntN(30) {
			tw := twins[r.IntN(len(twins))]
			base := known[tw.x]
			switch r.IntN(12) {
			case 0:
				base = max(base-1, 0) // stale
			case 1:
				base = 99 // a version the record never had
			}
			c := update(next(), tw.x, base, hlc("phone"), randomFields())
			switch r.IntN(10) {
			case 0, 1:
				c.Op, c.Fields = offline.OpSign, nil
			case 2:
				c.Op, c.Fields = offline.OpAmend, map[string]any{"notes": fmt.Sprintf("amended %d", r.IntN(3)), "reason": "corrected after review"}
			case 3:
				c.Op, c.Fields = offline.OpDelete, nil
			}
			switch r.IntN(30) {
			case 0:
				c.BaseVersion = nil
			case 1:
				c.Hlc = "not a clock"
			case 2:
				c.ID = uuid.Nil
			case 3:
				if len(xs) > 0 {
					c.MutationSeq = xs[r.IntN(len(xs))].MutationSeq // a number repeated: replayed
				}
			}
			xs = append(xs, c)
		}
		at := r.IntN(len(xs) + 1)
		xs = slices.Insert(xs, at, offline.ChangeInput{MutationSeq: next(), Entity: offline.EntityInteraction, ID: fresh, Op: offline.OpDelete,
			BaseVersion: ptr(int64(1)), Hlc: hlc("phone")})
		ys := make([]offline.ChangeInput, len(xs))
		for i, c := range xs {
			ys[i] = c
			if c.ID != uuid.Nil {
				ys[i].ID = mapped[c.ID]
			}
		}
		px, err := w.eng.Push(nurse, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: phoneX, Changes: xs})
		if err != nil {
			t.Fatalf("round %d: set-based push: %v", round, err)
		}
		py, err := one.Push(nurse, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: phoneY, Changes: ys})
		if err != nil {
			t.Fatalf("round %d: one-by-one push: %v", round, err)
		}
		for i := range xs {
			gx, gy := resultShape(t, px.Results[i], mapped), resultShape(t, py.Results[i], nil)
			if gx != gy {
				t.Fatalf("round %d, change %d (%+v):\nset-based  %s\none by one %s", round, i, xs[i], gx, gy)
			}
			res := px.Results[i]
			if xs[i].Op == offline.OpDelete && res.Status == offline.StatusApplied {
				deleted++
			}
			if res.Version != nil && (res.Status == offline.StatusApplied || res.Status == offline.StatusMerged) {
				known[xs[i].ID] = *res.Version
				if res.RecordJSON != nil { // only the set-based paths return the row they wrote as JSON
					setBased++
					if xs[i].Op == offline.OpSign {
						signedSetBased++
					}
				}
			}
			if res.Status == offline.StatusConflict {
				alone++
			}
		}
	}
	// Every record, its version and its field clocks, the same on both sides.
	ctx := as(care.SystemActor())
	var xIDs, yIDs []uuid.UUID
	for _, tw := range twins {
		xIDs, yIDs = append(xIDs, tw.x), append(yIDs, tw.y)
	}
	states := func(ids []uuid.UUID) (out map[uuid.UUID]*postgres.SyncEditState) {
		if err := w.db.InTx(ctx, func(tx *postgres.DB) error {
			var err error
			out, err = tx.SyncEditStates(ctx, ids)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return out
	}
	sx, sy := states(xIDs), states(yIDs)
	devOf := map[uuid.UUID]string{phoneX: "phone", phoneY: "phone", tabletX: "tablet", tabletY: "tablet", nurseDev: "creator", gpDev: "creator", gpBDev: "creator"}
	for _, tw := range twins {
		a, b := sx[tw.x], sy[tw.y]
		if a.Version != b.Version || a.Status != b.Status {
			t.Fatalf("%s: version %d %s, twin %d %s", tw.x, a.Version, a.Status, b.Version, b.Status)
		}
		ra, rb := recordShape(a.Interaction, nil), recordShape(b.Interaction, map[uuid.UUID]uuid.UUID{tw.y: tw.x})
		if ra != rb {
			t.Fatalf("%s: record\n%s\ntwin\n%s", tw.x, ra, rb)
		}
		clocks := func(st *postgres.SyncEditState) string {
			var parts []string
			for f, c := range st.FieldClocks {
				dev := "none"
				if c.DeviceID != nil {
					dev = devOf[*c.DeviceID]
				}
				parts = append(parts, fmt.Sprintf("%s@%d/%s/%s", f, c.Version, dev, c.HLC))
			}
			slices.Sort(parts)
			return strings.Join(parts, " ")
		}
		if ca, cb := clocks(a), clocks(b); ca != cb {
			t.Fatalf("%s: field clocks\n%s\ntwin\n%s", tw.x, ca, cb)
		}
	}
	t.Logf("written set-based: %d (%d of them signings); drafts deleted: %d; conflicts (applied alone): %d", setBased, signedSetBased, deleted, alone)
	if setBased == 0 || signedSetBased == 0 || deleted == 0 || alone == 0 {
		t.Fatalf("the history did not exercise both paths: %d set-based, %d signings, %d deletes, %d conflicts", setBased, signedSetBased, deleted, alone)
	}
}

// resultShape is a result as text, times left out and the ids of x twins
// written as their y twins' (mapped: x to y; nil for a y side's result).
func resultShape(t *testing.T, r *offline.ChangeResult, mapped map[uuid.UUID]uuid.UUID) string {
	t.Helper()
	inv := map[string]string{}
	for x, y := range mapped {
		inv[x.String()] = y.String()
	}
	rec := map[string]any{}
	for k, v := range r.Record {
		switch k {
		case "createdAt", "updatedAt", "signedAt":
			continue
		case "amendments": // each amendment's id and time are its own
			var ams []any
			for _, m := range v.([]any) {
				m := maps.Clone(m.(map[string]any))
				delete(m, "id")
				delete(m, "amendedAt")
				ams = append(ams, m)
			}
			v = ams
		case "id":
			if s, ok := inv[v.(string)]; ok {
				v = s
			}
		}
		rec[k] = v
	}
	var cs []string
	for _, c := range r.Conflicts {
		cs = append(cs, fmt.Sprintf("%s %v %v %s %s", c.Field, c.ServerValue, c.DeviceValue, c.Policy, c.Outcome))
	}
	msg := ""
	if r.Message != nil {
		msg = *r.Message
		for x, y := range inv {
			msg = strings.ReplaceAll(msg, x, y)
		}
	}
	b, err := json.Marshal(map[string]any{"seq": r.MutationSeq, "status": r.Status, "code": r.Code, "message": msg, "version": r.Version,
		"record": rec, "conflicts": cs})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// recordShape is an interaction's content as text, ids renamed by rename
// and times of writing left out.
func recordShape(i *care.Interaction, rename map[uuid.UUID]uuid.UUID) string {
	if i == nil {
		return "none"
	}
	c := *i
	if to, ok := rename[c.ID]; ok {
		c.ID = to
	}
	c.CreatedAt, c.UpdatedAt, c.SignedAt = time.Time{}, time.Time{}, nil
	b, _ := json.Marshal(c)
	return string(b)
}
