package sync_test

import (
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// fuzzPush is the wire shape the fuzzer mutates. Placeholders $A1, $A2, $B1
// (patients), $DRAFT, $SIGNED, $OTHER (interactions) and $NEW (a fresh id)
// are replaced with the fixture's ids before decoding.
type fuzzPush struct {
	ProtocolVersion int `json:"protocolVersion"`
	Changes         []struct {
		MutationSeq int64          `json:"mutationSeq"`
		Entity      string         `json:"entity"`
		ID          string         `json:"id"`
		Op          string         `json:"op"`
		BaseVersion *int64         `json:"baseVersion"`
		Fields      map[string]any `json:"fields"`
		Hlc         string         `json:"hlc"`
	} `json:"changes"`
}

// FuzzPush pushes arbitrary batches as a nurse against a real database and
// checks after each that nothing panicked and every change was applied
// whole or not at all: a rejected change left its record as it was, an
// applied CREATE left a record, and no change was left unstamped in the log.
// It runs its seed corpus as a normal test; go test -fuzz FuzzPush ./sync/ explores.
func FuzzPush(f *testing.F) {
	for _, s := range []string{
		`{"protocolVersion":1,"changes":[{"mutationSeq":1,"entity":"INTERACTION","id":"$NEW","op":"CREATE","hlc":"$HLC","fields":{"patientId":"$A1","mode":"HOME_VISIT","occurredAt":"2024-05-01T10:00:00Z","purpose":"p","notes":"n"}}]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":2,"entity":"INTERACTION","id":"$DRAFT","op":"UPDATE","baseVersion":1,"hlc":"$HLC","fields":{"notes":"changed","durationMinutes":15}}]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":3,"entity":"INTERACTION","id":"$DRAFT","op":"UPDATE","baseVersion":1,"hlc":"$HLC","fields":{"durationMinutes":"ten"}}]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":4,"entity":"INTERACTION","id":"$SIGNED","op":"AMEND","baseVersion":2,"hlc":"$HLC","fields":{"reason":"typo","notes":"fixed"}}]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":5,"entity":"INTERACTION","id":"$OTHER","op":"DELETE","hlc":"$HLC"},{"mutationSeq":6,"entity":"PATIENT","id":"$A1","op":"UPDATE","baseVersion":1,"hlc":"$HLC","fields":{"givenName":"X"}}]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":7,"entity":"INTERACTION","id":"$NEW","op":"CREATE","hlc":"9999999999999-0000-x","fields":{"patientId":"$B1","mode":"PHONE","occurredAt":"2024-05-01T10:00:00Z"}}]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":8,"entity":"CARE_RELATIONSHIP","id":"$NEW","op":"CREATE","hlc":"$HLC","fields":{"kind":"CARER","patientId":"$A1","relatedPersonName":"daughter"}}]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":9,"entity":"INTERACTION","id":"$DRAFT","op":"SIGN","hlc":"$HLC"},{"mutationSeq":9,"entity":"INTERACTION","id":"$DRAFT","op":"UPDATE","baseVersion":1,"hlc":"$HLC","fields":{"notes":null,"mode":"TELEPATHY"}}]}`,
		`{"protocolVersion":2,"changes":[]}`,
		`{"protocolVersion":1,"changes":[{"mutationSeq":-1,"entity":"TEAM","id":"00000000-0000-0000-0000-000000000000","op":"CREATE","hlc":""}]}`,
	} {
		f.Add(s)
	}
	w := newWorld(f, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	dev := uuid.New()
	hlc := now()
	var iteration atomic.Int64
	f.Fuzz(func(t *testing.T, raw string) {
		fresh := uuid.New()
		// Mutation numbers are per iteration, so one input's recorded results
		// do not answer another's changes.
		base := iteration.Add(1) * 1_000_000
		raw = strings.NewReplacer("$A1", w.f.PatientA1.String(), "$A2", w.f.PatientA2.String(), "$B1", w.f.PatientB1.String(),
			"$DRAFT", w.f.InteractionA1Draft.String(), "$SIGNED", w.f.InteractionA1Signed.String(), "$OTHER", w.f.InteractionA2.String(),
			"$NEW", fresh.String(), "$HLC", hlc).Replace(raw)
		var fp fuzzPush
		if json.Unmarshal([]byte(raw), &fp) != nil {
			return
		}
		in := offline.PushInput{ProtocolVersion: fp.ProtocolVersion, DeviceID: dev}
		uses := map[uuid.UUID]int{}
		for _, c := range fp.Changes {
			var e offline.Entity
			var op offline.Op
			id, err := uuid.Parse(c.ID)
			if e.UnmarshalGQL(c.Entity) != nil || op.UnmarshalGQL(c.Op) != nil || err != nil {
				return // the GraphQL layer refuses these before the engine sees them
			}
			if c.MutationSeq > 0 && c.MutationSeq < 1_000_000 {
				c.MutationSeq += base
			}
			in.Changes = append(in.Changes, offline.ChangeInput{MutationSeq: c.MutationSeq, Entity: e, ID: id, Op: op,
				BaseVersion: c.BaseVersion, Fields: c.Fields, Hlc: c.Hlc})
			uses[id]++
		}
		before := map[uuid.UUID]int64{}
		for id := range uses {
			before[id] = versionOf(w, id)
		}
		out, err := w.eng.Push(nurse, in)
		if err != nil {
			if code := care.ErrorCode(err); code != care.EINVALID {
				t.Fatalf("push failed with %s: %v", code, err)
			}
			for id := range uses {
				if v := versionOf(w, id); v != before[id] {
					t.Fatalf("refused push changed %s: version %d -> %d", id, before[id], v)
				}
			}
			return
		}
		if len(out.Results) != len(in.Changes) {
			t.Fatalf("%d results for %d changes", len(out.Results), len(in.Changes))
		}
		seen := map[int64]bool{}
		for i, r := range out.Results {
			c := in.Changes[i]
			replay := seen[c.MutationSeq]
			seen[c.MutationSeq] = true
			if uses[c.ID] != 1 || replay {
				continue // another change of the batch touched the same record
			}
			after := versionOf(w, c.ID)
			switch r.Status {
			case offline.StatusRejected:
				if r.Code == nil || r.Message == nil {
					t.Fatalf("rejection without code or message")
				}
				if after != before[c.ID] {
					t.Fatalf("rejected change %d moved %s from version %d to %d", c.MutationSeq, c.ID, before[c.ID], after)
				}
			case offline.StatusApplied, offline.StatusMerged:
				if c.Op == offline.OpDelete {
					if after != 0 {
						t.Fatalf("deleted %s still there", c.ID)
					}
				} else if after == 0 {
					t.Fatalf("applied change %d left no record %s", c.MutationSeq, c.ID)
				}
			}
		}
		counts, err := w.db.SyncRowCounts(sys(), "sync_changes")
		if err != nil || counts["sync_changes"] == 0 {
			t.Fatalf("change log: %v %v", counts, err)
		}
		// Every committed change was stamped: a pull sees the whole log.
		pl := &puller{eng: w.eng, ctx: nurse, dev: uuid.New(), limit: 1000}
		pl.all(t)
	})
}

// versionOf returns an interaction's or relationship's version, 0 if none.
func versionOf(w *world, id uuid.UUID) int64 {
	if i, err := w.db.Interaction(sys(), id); err == nil {
		return i.Version
	}
	if r, err := w.db.CareRelationship(sys(), id); err == nil {
		return r.Version
	}
	return 0
}
