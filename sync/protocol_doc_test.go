package sync_test

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// docSection returns the text of one section of docs/sync-protocol.md.
func docSection(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/sync-protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	i := strings.Index(doc, "\n## "+heading+"\n")
	if i < 0 {
		t.Fatalf("docs/sync-protocol.md has no section %q", heading)
	}
	rest := doc[i+len(heading)+5:]
	if j := strings.Index(rest, "\n## "); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

var rowRE = regexp.MustCompile("(?m)^\\| `([a-z0-9_A-Z-]+)` \\|(.*)\\|\\s*$")

// docRules returns rule → answer cell for every row of the section's tables.
func docRules(t *testing.T, heading string) map[string]string {
	out := map[string]string{}
	for _, m := range rowRE.FindAllStringSubmatch(docSection(t, heading), -1) {
		cells := strings.Split(m[2], "|")
		out[m[1]] = strings.TrimSpace(cells[len(cells)-1])
	}
	return out
}

// expected turns an answer cell into what a scenario reports.
func expected(cell string) string {
	switch {
	case strings.HasPrefix(cell, "error `"):
		return "error " + strings.SplitN(cell[7:], "`", 2)[0]
	case strings.HasPrefix(cell, "`"):
		return strings.SplitN(cell[1:], "`", 2)[0]
	case strings.HasPrefix(cell, "the first answer, identical"):
		return "identical"
	case strings.HasPrefix(cell, "the value is written"):
		return "resolved"
	case strings.HasPrefix(cell, "the draft is deleted"):
		return "deleted"
	case strings.HasPrefix(cell, "the record is kept"):
		return "kept"
	}
	return "?" + cell
}

func answer(r *offline.ChangeResult) string {
	if r.Status == offline.StatusRejected {
		return "REJECTED " + *r.Code
	}
	return strings.ToUpper(string(r.Status))
}

func errAnswer(err error) string {
	switch care.ErrorCode(err) {
	case "":
		return "resolved"
	case care.ECONFLICT:
		return "error CONFLICT"
	case care.EINVALID:
		return "error BAD_USER_INPUT"
	case care.EFORBIDDEN:
		return "error FORBIDDEN"
	case care.ENOTFOUND:
		return "error NOT_FOUND"
	}
	return "error " + err.Error()
}

// TestProtocolDocument checks every row of "What happens to each change" in
// docs/sync-protocol.md against the server, and that the result codes and
// reset reasons it lists are exactly those the server sends.
func TestProtocolDocument(t *testing.T) {
	t.Parallel()
	w := newWorld(t, offline.Config{})
	nurse, gp := as(w.f.Nurse1Actor), as(w.f.GPAActor)
	phone, tablet, gpDev := newID(t), newID(t), newID(t)
	seqs := map[uuid.UUID]int64{}
	push := func(ctx context.Context, dev uuid.UUID, ch offline.ChangeInput) *offline.ChangeResult {
		t.Helper()
		seqs[dev]++
		ch.MutationSeq = seqs[dev]
		if ch.Hlc == "" {
			ch.Hlc = now()
		}
		return mustPush(t, w.eng, ctx, dev, ch).Results[0]
	}
	ch := func(id uuid.UUID, o offline.Op, base int64, fields map[string]any) offline.ChangeInput {
		return offline.ChangeInput{Entity: offline.EntityInteraction, ID: id, Op: o, BaseVersion: &base, Fields: fields}
	}
	draft := func() uuid.UUID {
		id := newID(t)
		wantStatus(t, push(nurse, phone, createVisit(0, id, w.f.PatientA1, "first")), offline.StatusApplied)
		return id
	}
	signed := func() uuid.UUID {
		id := draft()
		wantStatus(t, push(nurse, phone, ch(id, offline.OpSign, 1, nil)), offline.StatusApplied)
		return id
	}
	notes := func(s string) map[string]any { return map[string]any{"notes": s} }
	conflictOn := func(r *offline.ChangeResult, field string) *offline.Conflict {
		for _, c := range r.Conflicts {
			if c.Field == field {
				return c
			}
		}
		t.Fatalf("no conflict on %s in %+v", field, r.Conflicts)
		return nil
	}
	resolve := func(ctx context.Context, c *offline.Conflict, value any) string {
		_, err := w.eng.ResolveConflict(ctx, offline.ResolveConflictInput{ID: c.ID, Value: value, Reason: ptr("test")})
		return errAnswer(err)
	}
	exists := func(id uuid.UUID) bool {
		_, err := w.db.Interaction(nurse, id)
		return err == nil
	}

	scenarios := map[string]func() string{
		"create": func() string {
			return answer(push(nurse, phone, createVisit(0, newID(t), w.f.PatientA1, "x")))
		},
		"create-again": func() string {
			id := newID(t)
			c := createVisit(0, id, w.f.PatientA1, "x")
			push(nurse, phone, c)
			return answer(push(nurse, tablet, c))
		},
		"create-again-edited": func() string {
			c := createVisit(0, newID(t), w.f.PatientA1, "x")
			push(nurse, phone, c)
			c.Fields = maps.Clone(c.Fields)
			c.Fields["notes"] = "x, and more" // edited on the tablet before it was sent
			return answer(push(nurse, tablet, c))
		},
		"create-taken": func() string {
			id := newID(t)
			push(nurse, phone, createVisit(0, id, w.f.PatientA1, "x"))
			return answer(push(nurse, tablet, createVisit(0, id, w.f.PatientA2, "x")))
		},
		"create-retired": func() string {
			id := draft()
			push(nurse, phone, ch(id, offline.OpDelete, 1, nil))
			return answer(push(nurse, tablet, createVisit(0, id, w.f.PatientA1, "first")))
		},
		"update": func() string { return answer(push(nurse, phone, ch(draft(), offline.OpUpdate, 1, notes("a")))) },
		"update-own-queued": func() string {
			id := draft()
			push(nurse, phone, ch(id, offline.OpUpdate, 1, notes("a")))
			return answer(push(nurse, phone, ch(id, offline.OpUpdate, 1, map[string]any{"notes": "b", "durationMinutes": 20})))
		},
		"update-merge": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, map[string]any{"durationMinutes": 40}))
			return answer(push(nurse, phone, ch(id, offline.OpUpdate, 1, notes("a"))))
		},
		"update-plain": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, map[string]any{"durationMinutes": 40}))
			r := push(nurse, phone, ch(id, offline.OpUpdate, 1, map[string]any{"durationMinutes": 55}))
			if c := conflictOn(r, "durationMinutes"); c.Policy != offline.PolicyLastWriterWins {
				t.Errorf("update-plain: %+v", c)
			}
			return answer(r)
		},
		"update-clinical": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			r := push(nurse, phone, ch(id, offline.OpUpdate, 1, notes("phone")))
			if c := conflictOn(r, "notes"); c.Policy != offline.PolicyKeepBoth || c.Outcome != offline.OutcomeOpen {
				t.Errorf("update-clinical: %+v", c)
			}
			return answer(r)
		},
		"update-signed-unseen": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpSign, 1, nil))
			return answer(push(nurse, phone, ch(id, offline.OpUpdate, 1, notes("late"))))
		},
		"update-signed": func() string { return answer(push(nurse, phone, ch(signed(), offline.OpUpdate, 2, notes("x")))) },
		"colleague": func() string {
			id := draft()
			for _, o := range []offline.Op{offline.OpSign, offline.OpDelete} {
				if a := answer(push(gp, gpDev, ch(id, o, 1, nil))); a != "REJECTED FORBIDDEN" {
					return a
				}
			}
			return answer(push(gp, gpDev, ch(id, offline.OpUpdate, 1, notes("gp"))))
		},
		"sign": func() string { return answer(push(nurse, phone, ch(draft(), offline.OpSign, 1, nil))) },
		"sign-again": func() string {
			return answer(push(nurse, tablet, ch(signed(), offline.OpSign, 2, nil)))
		},
		"sign-unseen": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			return answer(push(nurse, phone, ch(id, offline.OpSign, 1, nil)))
		},
		"amend": func() string {
			return answer(push(nurse, phone, ch(signed(), offline.OpAmend, 2, map[string]any{"reason": "typo", "notes": "a"})))
		},
		"amend-collision": func() string {
			id := signed()
			push(nurse, tablet, ch(id, offline.OpAmend, 2, map[string]any{"reason": "r1", "notes": "tablet"}))
			return answer(push(nurse, phone, ch(id, offline.OpAmend, 2, map[string]any{"reason": "r2", "notes": "phone"})))
		},
		"amend-draft": func() string {
			return answer(push(nurse, phone, ch(draft(), offline.OpAmend, 1, map[string]any{"reason": "r", "notes": "a"})))
		},
		"delete": func() string { return answer(push(nurse, phone, ch(draft(), offline.OpDelete, 1, nil))) },
		"delete-unseen": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			r := push(nurse, phone, ch(id, offline.OpDelete, 1, nil))
			if !exists(id) {
				t.Error("delete-unseen: the record was deleted")
			}
			return answer(r)
		},
		"behind-own-create": func() string {
			// The phone's CREATE reached the server but its answer was lost;
			// the tablet edits the record; the phone pulls that version
			// (2), and its user, still shown her own creation, deletes.
			id := newID(t)
			seqs[phone]++
			create := createVisit(seqs[phone], id, w.f.PatientA1, "first")
			mustPush(t, w.eng, nurse, phone, create)
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			seqs[phone]++
			del := ch(id, offline.OpDelete, 2, nil)
			del.MutationSeq, del.Hlc = seqs[phone], now()
			r := mustPush(t, w.eng, nurse, phone, create, del).Results[1]
			if !exists(id) {
				t.Error("behind-own-create: the record was deleted")
			}
			return answer(r)
		},
		"behind-own-change": func() string {
			// The phone's edit (base 1) is queued; it pulls the tablet's
			// edit (version 2) but still shows its own pending notes, and
			// its user edits them again (base 2). Both go in one push.
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			first, second := ch(id, offline.OpUpdate, 1, notes("phone A")), ch(id, offline.OpUpdate, 2, notes("phone B"))
			seqs[phone]++
			first.MutationSeq, first.Hlc = seqs[phone], now()
			seqs[phone]++
			second.MutationSeq, second.Hlc = seqs[phone], now()
			r := mustPush(t, w.eng, nurse, phone, first, second).Results[1]
			if got, err := w.db.Interaction(nurse, id); err != nil || got.Notes != "tablet" {
				t.Errorf("behind-own-change: the tablet's notes were overwritten (%v)", err)
			}
			return answer(r)
		},
		"delete-signed": func() string { return answer(push(nurse, phone, ch(signed(), offline.OpDelete, 2, nil))) },
		"no-base": func() string {
			c := ch(draft(), offline.OpUpdate, 0, notes("x"))
			c.BaseVersion = nil
			return answer(push(nurse, phone, c))
		},
		"not-found": func() string { return answer(push(nurse, phone, ch(newID(t), offline.OpUpdate, 1, notes("x")))) },
		"out-of-scope": func() string {
			dev := newID(t)
			pl := &puller{eng: w.eng, ctx: nurse, dev: dev}
			pl.all(t)
			if _, err := w.db.EndRelationship(sys(), care.EndRelationshipInput{ID: w.f.PatientA2Team}); err != nil {
				t.Fatal(err)
			}
			pl.all(t)
			return answer(push(nurse, dev, ch(w.f.InteractionA2, offline.OpUpdate, 1, notes("x"))))
		},
		"clock-ahead": func() string {
			c := ch(draft(), offline.OpUpdate, 1, notes("x"))
			c.Hlc = hlcAt(time.Now().Add(10*time.Minute), 0, "phone")
			return answer(push(nurse, phone, c))
		},
		"replay": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			seqs[phone]++
			c := ch(id, offline.OpUpdate, 1, notes("phone"))
			c.MutationSeq, c.Hlc = seqs[phone], now()
			first := mustPush(t, w.eng, nurse, phone, c)
			if _, err := w.eng.ResolveConflict(nurse, offline.ResolveConflictInput{ID: first.Results[0].Conflicts[0].ID, Value: "both"}); err != nil {
				t.Fatal(err)
			}
			second := mustPush(t, w.eng, nurse, phone, c)
			a, _ := json.Marshal(first.Results)
			b, _ := json.Marshal(second.Results)
			if string(a) != string(b) {
				return "different:\n" + string(a) + "\n" + string(b)
			}
			return "identical"
		},
		"replay-acknowledged": func() string {
			id := newID(t)
			seqs[phone]++
			c := createVisit(seqs[phone], id, w.f.PatientA1, "sent once")
			mustPush(t, w.eng, nurse, phone, c)
			seqs[phone]++
			next := createVisit(seqs[phone], newID(t), w.f.PatientA1, "next")
			if err := w.eng.Acknowledge(nurse, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: phone,
				Changes: []offline.ChangeInput{next}}); err != nil {
				t.Fatal(err)
			}
			mustPush(t, w.eng, nurse, phone, next)
			later := offline.New(w.db, offline.Config{Retention: time.Hour, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
			if _, err := later.Compact(sys()); err != nil {
				t.Fatal(err)
			}
			return answer(mustPush(t, w.eng, nurse, phone, c).Results[0])
		},
		"resolve": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			return resolve(nurse, conflictOn(push(nurse, phone, ch(id, offline.OpUpdate, 1, notes("phone"))), "notes"), "both")
		},
		"resolve-stale": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			c := conflictOn(push(nurse, phone, ch(id, offline.OpUpdate, 1, notes("phone"))), "notes")
			push(nurse, tablet, ch(id, offline.OpUpdate, 2, notes("newer")))
			return resolve(nurse, c, "both")
		},
		"resolve-delete": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			if a := resolve(nurse, conflictOn(push(nurse, phone, ch(id, offline.OpDelete, 1, nil)), offline.FieldDeleted), true); a != "resolved" {
				return a
			}
			if exists(id) {
				return "still there"
			}
			return "deleted"
		},
		"resolve-keep": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			if a := resolve(nurse, conflictOn(push(nurse, phone, ch(id, offline.OpDelete, 1, nil)), offline.FieldDeleted), false); a != "resolved" {
				return a
			}
			if !exists(id) {
				return "gone"
			}
			return "kept"
		},
		"resolve-unamendable": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpSign, 1, nil))
			r := push(nurse, phone, ch(id, offline.OpUpdate, 1, map[string]any{"mode": "PHONE"}))
			return resolve(nurse, conflictOn(r, "mode"), "PHONE")
		},
		"resolve-not-author": func() string {
			id := draft()
			push(nurse, tablet, ch(id, offline.OpUpdate, 1, notes("tablet")))
			return resolve(gp, conflictOn(push(nurse, phone, ch(id, offline.OpUpdate, 1, notes("phone"))), "notes"), "gp's choice")
		},
	}

	rules := docRules(t, "What happens to each change")
	var names []string
	for name := range rules {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		run, ok := scenarios[name]
		if !ok {
			t.Errorf("the document's rule %q has no scenario in this test", name)
			continue
		}
		if got, want := run(), expected(rules[name]); got != want {
			t.Errorf("rule %s: the server answers %q; the document says %q", name, got, want)
		}
	}
	for name := range scenarios {
		if _, ok := rules[name]; !ok {
			t.Errorf("scenario %q is not a rule in the document", name)
		}
	}

	t.Run("result codes and reset reasons are those the server sends", func(t *testing.T) {
		codes := []string{}
		for c := range docRules(t, "Result codes") {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		want := []string{"ALREADY_APPLIED", "APPLIED", "BAD_USER_INPUT", "CONFLICT", "FORBIDDEN", "ID_RETIRED", "MERGED", "NOT_FOUND", "OUT_OF_SCOPE", "REJECTED"}
		if strings.Join(codes, " ") != strings.Join(want, " ") {
			t.Errorf("documented statuses and codes %v, want %v", codes, want)
		}
		resets := []string{}
		for c := range docRules(t, "Resets") {
			if c != "resetReason" { // the header
				resets = append(resets, c)
			}
		}
		sort.Strings(resets)
		if strings.Join(resets, " ") != "CHECKPOINT_EXPIRED CHECKPOINT_INVALID DEVICE_REVOKED" {
			t.Errorf("documented reset reasons %v", resets)
		}
	})
}
