package sync_test

import (
	"testing"

	"github.com/rapportcare/rapport/care"

	offline "github.com/rapportcare/rapport/sync"
)

// A reflection recorded offline is pushed like any record and reaches the
// author's other device through the pull; neither a colleague nor a GP of
// another practice receives it.
func TestFeedbackPushThenPull(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse := as(w.f.Nurse1Actor)
	id := newID(t)
	p := mustPush(t, w.eng, nurse, newID(t), offline.ChangeInput{MutationSeq: 1, Entity: offline.EntityFeedback, ID: id,
		Op: offline.OpCreate, Hlc: now(), Fields: map[string]any{"subjectKind": "INTERACTION",
			"subjectId": w.f.InteractionA1Signed.String(), "respondent": "SELF", "instrument": "CARE_MEASURE",
			"careRatings": []any{4, 4, 4, 4, 4, 4, 4, 4, 5, 5}}})
	wantStatus(t, p.Results[0], offline.StatusApplied)

	pulled := func(t *testing.T, actor *care.Actor) map[string]bool {
		t.Helper()
		seen := map[string]bool{}
		dev, cp := newID(t), (*string)(nil)
		for range 50 {
			out, err := w.eng.Pull(as(actor), offline.PullInput{ProtocolVersion: 1, DeviceID: dev, Checkpoint: cp, WithData: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range out.Upserts {
				if r.Entity == offline.EntityFeedback {
					seen[r.ID.String()] = true
					if r.Data["careScore"] != 42.0 {
						t.Fatalf("pulled feedback record %v, want careScore 42", r.Data)
					}
				}
			}
			cp = &out.Checkpoint
			if !out.HasMore {
				return seen
			}
		}
		t.Fatal("pull did not finish in 50 pages")
		return nil
	}
	t.Run("the author's other device receives it", func(t *testing.T) {
		if !pulled(t, w.f.Nurse1Actor)[id.String()] {
			t.Fatal("the reflection did not reach the author's fresh device")
		}
	})
	t.Run("a colleague in the same organisation does not", func(t *testing.T) {
		if pulled(t, w.f.Nurse2Actor)[id.String()] {
			t.Fatal("a colleague received the nurse's own reflection")
		}
	})
	t.Run("a GP of another practice does not", func(t *testing.T) {
		if pulled(t, w.f.GPBActor)[id.String()] {
			t.Fatal("another practice's GP received the nurse's reflection")
		}
	})
}
