package simulate_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rapportcare/rapport/sync/simulate"
)

// TestConvergence runs 24 devices (12 nurses with two devices each) over 20
// shared patients: random offline creates, edits, signs, amendments and
// deletes, a network that drops requests and responses, retries; then a
// clean sync. Every device must equal the server and every accepted change
// must have taken effect exactly once.
func TestConvergence(t *testing.T) {
	w := newWorld(t, 12, 20)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := simulate.Run(ctx, simulate.Options{
		BaseURL:      w.url,
		Devices:      24,
		Tokens:       w.tokens(t),
		Rounds:       5,
		OpsPerRound:  6,
		DropRequest:  0.15,
		DropResponse: 0.15,
		Seed:         42,
		BatchSize:    7, // several batches per push
		PullLimit:    25,
		Backoff:      5 * time.Millisecond,
		Logf:         t.Logf,
	})
	if rep != nil {
		t.Logf("report:\n%s", rep)
	}
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Run("faults were injected", func(t *testing.T) {
		if rep.DroppedRequests == 0 || rep.DroppedResponses == 0 {
			t.Errorf("dropped %d requests and %d responses; want both > 0", rep.DroppedRequests, rep.DroppedResponses)
		}
	})
	t.Run("work was done", func(t *testing.T) {
		if rep.CreatesAccepted < 100 || rep.Applied+rep.Merged+rep.Conflicts < 200 {
			t.Errorf("only %d creates and %d accepted changes", rep.CreatesAccepted, rep.Applied+rep.Merged+rep.Conflicts)
		}
	})
	t.Run("colleagues' records were refused, not silently dropped", func(t *testing.T) {
		if rep.RejectedByCode["FORBIDDEN"] == 0 {
			t.Errorf("no FORBIDDEN rejections in %v", rep.RejectedByCode)
		}
	})
	t.Run("converged", func(t *testing.T) {
		if !rep.OK() || errors.Is(err, simulate.ErrDiverged) {
			t.Errorf("problems: %v", rep.Problems)
		}
	})
}

// TestChecksCatchBrokenServers proves the checks can fail: behind a proxy
// that loses records from pull pages, devices diverge; behind one that
// applies every pushed edit a second time as a new change (what a server
// without exactly-once would do on a retry), versions appear that no device
// was told about.
func TestChecksCatchBrokenServers(t *testing.T) {
	w := newWorld(t, 3, 5)
	opts := func(url string) simulate.Options {
		return simulate.Options{BaseURL: url, Devices: 6, Tokens: w.tokens(t), Rounds: 3, OpsPerRound: 6, Seed: 7}
	}
	t.Run("records missing from pull pages", func(t *testing.T) {
		p := newProxy(t, w.url, func(query string, body map[string]any) {}, func(query string, data map[string]any) {
			pull, ok := data["syncPull"].(map[string]any)
			if !ok {
				return
			}
			ups, _ := pull["upserts"].([]any)
			for i, u := range ups {
				if u.(map[string]any)["entity"] == "INTERACTION" {
					pull["upserts"] = append(ups[:i:i], ups[i+1:]...)
					return
				}
			}
		})
		rep, err := simulate.Run(context.Background(), opts(p))
		if !errors.Is(err, simulate.ErrDiverged) || rep == nil || rep.OK() {
			t.Fatalf("err = %v; want ErrDiverged", err)
		}
		t.Logf("found: %s", rep.Problems[0])
	})
	t.Run("edits applied twice", func(t *testing.T) {
		p := newProxy(t, w.url, func(query string, body map[string]any) {
			in := body["variables"].(map[string]any)["input"].(map[string]any)
			changes, ok := in["changes"].([]any)
			if !ok {
				return // a pull
			}
			var dup []any
			for _, c := range changes {
				ch := c.(map[string]any)
				if ch["op"] == "UPDATE" {
					cp := map[string]any{}
					for k, v := range ch {
						cp[k] = v
					}
					cp["mutationSeq"] = ch["mutationSeq"].(float64) + 1_000_000
					// A field the simulation never edits, so it merges cleanly.
					cp["fields"] = map[string]any{"otherPresent": []any{"applied twice"}}
					dup = append(dup, cp)
				}
			}
			if len(dup) > 0 {
				in["duplicates"] = dup
			}
		}, func(string, map[string]any) {})
		rep, err := simulate.Run(context.Background(), opts(p))
		if !errors.Is(err, simulate.ErrDiverged) || rep == nil || rep.OK() {
			t.Fatalf("err = %v; want ErrDiverged", err)
		}
		t.Logf("found: %s", rep.Problems[0])
	})
}

// TestColleaguesAndTokens finds a nurse's colleagues through her own pull and
// mints their tokens, as `rapport simulate` does against the demo data.
func TestColleaguesAndTokens(t *testing.T) {
	w := newWorld(t, 4, 2)
	got, err := simulate.Colleagues(context.Background(), w.url, w.token(t, w.nurses[0]), "DISTRICT_NURSE")
	if err != nil {
		t.Fatalf("Colleagues: %v", err)
	}
	if len(got) != len(w.nurses) {
		t.Fatalf("found %d nurses, want %d", len(got), len(w.nurses))
	}
	tokens, err := simulate.HMACTokens(w.verifier, w.nursing, got, time.Hour)
	if err != nil {
		t.Fatalf("HMACTokens: %v", err)
	}
	if tokens(0) == "" || tokens(0) != tokens(len(got)) || tokens(0) == tokens(1) {
		t.Errorf("device tokens do not cycle over the nurses")
	}
	if _, err := simulate.HMACTokens(w.verifier, w.nursing, nil, time.Hour); err == nil {
		t.Errorf("no nurses: want an error")
	}
}

// TestSpreadRounds checks that with Spread each round lasts about that long
// (devices come online at random moments within it, not all at once) and
// that the rounds' latencies are reported apart from the all-at-once first
// and final syncs.
func TestSpreadRounds(t *testing.T) {
	w := newWorld(t, 3, 5)
	const spread = 1500 * time.Millisecond
	rep, err := simulate.Run(context.Background(), simulate.Options{BaseURL: w.url, Devices: 6, Tokens: w.tokens(t),
		Rounds: 2, OpsPerRound: 2, Seed: 3, Spread: spread})
	if err != nil {
		t.Fatalf("Run: %v\n%v", err, rep)
	}
	if rep.Duration < spread {
		t.Errorf("two rounds of %v took %v; devices did not wait for their moment", spread, rep.Duration)
	}
	if rep.Push.Count == 0 || rep.Pull.Count < 2*6 || rep.Burst.Count < 2*6 {
		t.Errorf("round trips: push %d, pull %d in the rounds, %d all at once; want pushes, at least 12 pulls in the rounds and 12 at once",
			rep.Push.Count, rep.Pull.Count, rep.Burst.Count)
	}
	if rep.Spread != spread {
		t.Errorf("report says rounds of %v, want %v", rep.Spread, spread)
	}
}
