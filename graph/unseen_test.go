package graph_test

import (
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// A nurse's web session and her phone change the same draft visit. The
// phone pushes through sync with the version it holds; the web session
// sends the version it last read as baseVersion. Neither may overwrite a
// value the other wrote and its author never saw: the web's change of such
// a field is refused with CONFLICT and saves nothing.

const (
	webRead   = `query R($id: ID!) { node(id: $id) { ... on Interaction { version status notes purpose durationMinutes } } }`
	webUpdate = `mutation U($in: UpdateInteractionInput!) { updateInteraction(input: $in) { version notes purpose durationMinutes } }`
	webSign   = `mutation S($in: SignInteractionInput!) { signInteraction(input: $in) { version status } }`
	webAmend  = `mutation A($in: AmendInteractionInput!) { amendInteraction(input: $in) { version notes purpose } }`
)

// webVisit is the web session's view of a visit.
type webVisit struct {
	Version         int
	Status          string
	Notes, Purpose  string
	DurationMinutes *int
}

func TestWebChangesNeverOverwriteWhatTheirAuthorDidNotSee(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	w := newWorld(t, db)
	p := w.patient(t, w.practiceA, w.gpA, w.nurse, "Quill")
	web := newClient(t, db, w.nurseActor(), graph.Limits{})
	phone := uuid.New()
	seq := 0
	// phoneOp pushes one change of the visit from the phone, against base.
	phoneOp := func(visit uuid.UUID, op string, base int, fields map[string]any) (status string, version int, record map[string]any) {
		t.Helper()
		seq++
		ch := map[string]any{"mutationSeq": seq, "entity": "INTERACTION", "id": visit.String(), "op": op, "baseVersion": base,
			"hlc": hlc(time.Now(), "phone"), "fields": fields}
		var r pushResult
		web.ok(pushMutation, push(phone, 2, ch), &r)
		res := r.SyncPush.Results[0]
		if res.Version != nil {
			version = *res.Version
		}
		return res.Status, version, res.Record
	}
	read := func(visit uuid.UUID) webVisit {
		t.Helper()
		var out struct{ Node webVisit }
		web.ok(webRead, map[string]any{"id": gid("Interaction", visit)}, &out)
		return out.Node
	}
	newVisit := func() uuid.UUID {
		t.Helper()
		var out struct{ CreateInteraction struct{ ID string } }
		web.ok(`mutation C($p: ID!, $at: DateTime!) { createInteraction(input: {patientId: $p, mode: HOME_VISIT, occurredAt: $at, purpose: "wound care", notes: "first look"}) { id } }`,
			map[string]any{"p": gid("Patient", p.ID), "at": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)}, &out)
		return must(scalar.ParseID(out.CreateInteraction.ID, "Interaction")).get(t)
	}
	update := func(in map[string]any) result { t.Helper(); return web.do(webUpdate, map[string]any{"in": in}) }
	code := func(r result) string {
		if len(r.Errors) == 0 {
			return ""
		}
		return r.Errors[0].code()
	}

	t.Run("a field the phone changed since the web read it is refused, and nothing is saved", func(t *testing.T) {
		v := newVisit()
		if st, ver, _ := phoneOp(v, "UPDATE", 1, map[string]any{"notes": "phone: slough present"}); st != "APPLIED" || ver != 2 {
			t.Fatalf("phone edit: %s v%d", st, ver)
		}
		r := update(map[string]any{"id": gid("Interaction", v), "baseVersion": 1, "notes": "web: healing well", "purpose": "review"})
		if code(r) != graph.CodeConflict || !strings.Contains(r.Errors[0].Message, "notes changed since version 1") {
			t.Fatalf("web overwrite of the phone's notes: %+v %s", r.Errors, r.Data)
		}
		if got := read(v); got.Notes != "phone: slough present" || got.Purpose != "wound care" || got.Version != 2 {
			t.Fatalf("after the refusal: %+v (the purpose must not be half-saved either)", got)
		}
		// A field nobody else changed is saved (the merge sync makes), and
		// sending a value equal to the current one overwrites nothing.
		r = update(map[string]any{"id": gid("Interaction", v), "baseVersion": 1, "purpose": "review", "notes": "phone: slough present"})
		if code(r) != "" {
			t.Fatalf("web edit of another field: %+v", r.Errors)
		}
		if got := read(v); got.Notes != "phone: slough present" || got.Purpose != "review" || got.Version != 3 {
			t.Fatalf("after the merge: %+v", got)
		}
		// Having read version 3, the web may change the notes.
		if r := update(map[string]any{"id": gid("Interaction", v), "baseVersion": 3, "notes": "web: slough, dressing changed"}); code(r) != "" {
			t.Fatalf("web edit after reading: %+v", r.Errors)
		}
	})
	t.Run("bad base versions are refused and change nothing", func(t *testing.T) {
		v := newVisit()
		for _, base := range []int{0, -1, 2, 99} {
			r := update(map[string]any{"id": gid("Interaction", v), "baseVersion": base, "notes": "x"})
			if code(r) != graph.CodeBadUserInput {
				t.Fatalf("baseVersion %d: %+v", base, r.Errors)
			}
		}
		if got := read(v); got.Version != 1 || got.Notes != "first look" {
			t.Fatalf("after refusals: %+v", got)
		}
	})
	t.Run("a draft changed since its signer read it is not signed", func(t *testing.T) {
		v := newVisit()
		phoneOp(v, "UPDATE", 1, map[string]any{"durationMinutes": 40})
		r := web.do(webSign, map[string]any{"in": map[string]any{"id": gid("Interaction", v), "baseVersion": 1}})
		if code(r) != graph.CodeConflict || read(v).Status != "DRAFT" {
			t.Fatalf("signing unread content: %+v, now %+v", r.Errors, read(v))
		}
		if r := web.do(webSign, map[string]any{"in": map[string]any{"id": gid("Interaction", v), "baseVersion": 2}}); code(r) != "" || read(v).Status != "SIGNED" {
			t.Fatalf("signing what was read: %+v, now %+v", r.Errors, read(v))
		}
	})
	t.Run("an amendment of notes the phone amended since is refused", func(t *testing.T) {
		v := newVisit()
		if r := web.do(webSign, map[string]any{"in": map[string]any{"id": gid("Interaction", v), "baseVersion": 1}}); code(r) != "" {
			t.Fatal(r.Errors)
		}
		if st, ver, _ := phoneOp(v, "AMEND", 2, map[string]any{"reason": "typo", "notes": "phone: corrected"}); st != "APPLIED" || ver != 3 {
			t.Fatalf("phone amendment: %s v%d", st, ver)
		}
		r := web.do(webAmend, map[string]any{"in": map[string]any{"id": gid("Interaction", v), "baseVersion": 2, "reason": "clarify", "notes": "web: corrected"}})
		if code(r) != graph.CodeConflict || read(v).Notes != "phone: corrected" {
			t.Fatalf("amending unread notes: %+v, now %+v", r.Errors, read(v))
		}
		r = web.do(webAmend, map[string]any{"in": map[string]any{"id": gid("Interaction", v), "baseVersion": 2, "reason": "clarify", "purpose": "wound review"}})
		if code(r) != "" || read(v).Notes != "phone: corrected" || read(v).Purpose != "wound review" {
			t.Fatalf("amending another field: %+v, now %+v", r.Errors, read(v))
		}
	})

	t.Run("a relationship's consent the phone recorded is not overwritten from an old screen", func(t *testing.T) {
		var out struct {
			Node struct {
				Relationships struct {
					Edges []struct {
						Node struct {
							ID                         string
							Version                    int
							Consent, PatientPreference string
						}
					}
				}
			}
		}
		web.ok(`query P($id: ID!) { node(id: $id) { ... on Patient { relationships(kind: NAMED_NURSE) { edges { node { id version consent patientPreference } } } } } }`,
			map[string]any{"id": gid("Patient", p.ID)}, &out)
		rel := out.Node.Relationships.Edges[0].Node
		relID := must(scalar.ParseID(rel.ID, "CareRelationship")).get(t)
		seq++
		var r pushResult
		web.ok(pushMutation, push(phone, 2, map[string]any{"mutationSeq": seq, "entity": "CARE_RELATIONSHIP", "id": relID.String(), "op": "UPDATE",
			"baseVersion": rel.Version, "hlc": hlc(time.Now(), "phone"), "fields": map[string]any{"consent": "REFUSED"}}), &r)
		if st := r.SyncPush.Results[0].Status; st != "APPLIED" {
			t.Fatalf("phone's consent: %s %v", st, r.SyncPush.Results[0].Message)
		}
		const upd = `mutation U($in: UpdateRelationshipInput!) { updateRelationship(input: $in) { version consent patientPreference } }`
		res := web.do(upd, map[string]any{"in": map[string]any{"id": rel.ID, "baseVersion": rel.Version, "consent": "GIVEN", "patientPreference": "PREFERRED"}})
		if code(res) != graph.CodeConflict || !strings.Contains(res.Errors[0].Message, "consent changed since") {
			t.Fatalf("consent overwritten from an old screen: %+v %s", res.Errors, res.Data)
		}
		var after struct {
			UpdateRelationship struct {
				Version                    int
				Consent, PatientPreference string
			}
		}
		web.ok(upd, map[string]any{"in": map[string]any{"id": rel.ID, "baseVersion": rel.Version, "patientPreference": "PREFERRED"}}, &after)
		if got := after.UpdateRelationship; got.Consent != "REFUSED" || got.PatientPreference != "PREFERRED" || got.Version != rel.Version+2 {
			t.Fatalf("after the refusal and the merge: %+v", got)
		}
	})

	t.Run("a patient renamed at another desk is not renamed back from an old screen", func(t *testing.T) {
		gp := newClient(t, db, w.gpAActor(), graph.Limits{})
		var seen struct{ Node struct{ Version int } }
		web.ok(`query P($id: ID!) { node(id: $id) { ... on Patient { version } } }`, map[string]any{"id": gid("Patient", p.ID)}, &seen)
		const upd = `mutation U($in: UpdatePatientInput!) { updatePatient(input: $in) { version familyName birthDate } }`
		gp.ok(upd, map[string]any{"in": map[string]any{"id": gid("Patient", p.ID), "baseVersion": seen.Node.Version, "familyName": "Quill-Hart"}}, nil)
		res := web.do(upd, map[string]any{"in": map[string]any{"id": gid("Patient", p.ID), "baseVersion": seen.Node.Version, "familyName": "Quill", "birthDate": "1950-02-03"}})
		if code(res) != graph.CodeConflict {
			t.Fatalf("rename undone from an old screen: %+v %s", res.Errors, res.Data)
		}
		var after struct {
			UpdatePatient struct {
				Version               int
				FamilyName, BirthDate string
			}
		}
		web.ok(upd, map[string]any{"in": map[string]any{"id": gid("Patient", p.ID), "baseVersion": seen.Node.Version + 1, "birthDate": "1950-02-03"}}, &after)
		if got := after.UpdatePatient; got.FamilyName != "Quill-Hart" || got.BirthDate != "1950-02-03" || got.Version != seen.Node.Version+2 {
			t.Fatalf("after the refusal and a change from a fresh read: %+v", got)
		}
	})

	t.Run("a retried create whose draft was edited meanwhile is refused, not answered with the old content", func(t *testing.T) {
		id := uuid.Must(uuid.NewV7())
		at := time.Now().Add(-time.Hour).UTC().Truncate(time.Second).Format(time.RFC3339)
		const create = `mutation C($in: CreateInteractionInput!) { createInteraction(input: $in) { id version notes } }`
		in := func(notes string) map[string]any {
			return map[string]any{"in": map[string]any{"id": id.String(), "patientId": gid("Patient", p.ID), "mode": "HOME_VISIT",
				"occurredAt": at, "purpose": "  wound care ", "notes": notes}}
		}
		web.ok(create, in("first look"), nil)
		// The answer was lost; the same request again is answered with the record.
		var again struct{ CreateInteraction webVisit }
		web.ok(create, in("first look"), &again)
		if again.CreateInteraction.Version != 1 || again.CreateInteraction.Notes != "first look" {
			t.Fatalf("a faithful retry: %+v", again.CreateInteraction)
		}
		// The nurse edited her draft offline before the retry went.
		r := web.do(create, in("first look; slough on the left heel"))
		if code(r) != graph.CodeConflict {
			t.Fatalf("an edited retry answered with the old content: %+v %s", r.Errors, r.Data)
		}
		if got := read(id); got.Notes != "first look" || got.Purpose != "wound care" || got.Version != 1 {
			t.Fatalf("after the refusal: %+v", got)
		}
		// Once the record has changed, a late retry of the first create is
		// answered with it, as before.
		if r := update(map[string]any{"id": gid("Interaction", id), "baseVersion": 1, "notes": "first look; slough on the left heel"}); code(r) != "" {
			t.Fatal(r.Errors)
		}
		web.ok(create, in("first look"), &again)
		if again.CreateInteraction.Version != 2 {
			t.Fatalf("a late retry after an edit: %+v", again.CreateInteraction)
		}
	})

	// Random interleavings: the phone pushes edits against the version it
	// last knew (its own results), the web edits against the version it last
	// read and reads again when refused. Every value either side wrote is
	// checked: overwritten only by a writer whose base had seen it.
	t.Run("random interleavings lose nothing the other side wrote", func(t *testing.T) {
		seed := mrand.Uint64()
		t.Logf("seed %d", seed)
		rng := mrand.New(mrand.NewPCG(seed, 1))
		fields := []string{"notes", "purpose", "durationMinutes"}
		value := func(side string, f string, n int) any {
			if f == "durationMinutes" {
				return 10 + n%500
			}
			return fmt.Sprintf("%s %s %d", side, f, n)
		}
		v := newVisit()
		webSeen, phoneSeen := read(v).Version, 1
		// last[f]: the version that last wrote field f, and who.
		type write struct {
			version int
			side    string
			val     any
		}
		last := map[string]write{}
		refused, merged := 0, 0
		for n := range 200 {
			f := fields[rng.IntN(len(fields))]
			val := value("web", f, n)
			if rng.IntN(2) == 0 {
				st, ver, rec := phoneOp(v, "UPDATE", phoneSeen, map[string]any{f: value("phone", f, n)})
				if st != "APPLIED" && st != "MERGED" && st != "CONFLICT" {
					t.Fatalf("phone push %d: %s", n, st)
				}
				// Its result carries the record as it now is: whether the
				// phone's value was written (a plain field may be, by the last
				// writer's clock, even beside a recorded CONFLICT).
				phoneSeen = ver
				if fmt.Sprint(rec[f]) == fmt.Sprint(value("phone", f, n)) {
					last[f] = write{ver, "phone", value("phone", f, n)}
				}
				continue
			}
			r := update(map[string]any{"id": gid("Interaction", v), "baseVersion": webSeen, f: val})
			if code(r) == graph.CodeConflict {
				refused++
				if l := last[f]; l.side != "phone" || l.version <= webSeen {
					t.Fatalf("step %d: web edit of %s at base %d refused, but %s last changed it at version %d", n, f, webSeen, l.side, l.version)
				}
				webSeen = read(v).Version
				continue
			}
			if code(r) != "" {
				t.Fatalf("step %d: web edit: %+v", n, r.Errors)
			}
			if l := last[f]; l.side == "phone" && l.version > webSeen {
				t.Fatalf("step %d: web overwrote the phone's %s (written at version %d) from base %d", n, f, l.version, webSeen)
			}
			var out struct{ UpdateInteraction webVisit }
			if err := json.Unmarshal(r.Data, &out); err != nil {
				t.Fatal(err)
			}
			if out.UpdateInteraction.Version > webSeen+1 {
				merged++
			}
			webSeen = out.UpdateInteraction.Version
			last[f] = write{webSeen, "web", val}
		}
		final := read(v)
		now := map[string]any{"notes": final.Notes, "purpose": final.Purpose, "durationMinutes": final.DurationMinutes}
		for f, l := range last {
			got := now[f]
			if p, ok := got.(*int); ok && p != nil {
				got = *p
			}
			if fmt.Sprint(got) != fmt.Sprint(l.val) {
				t.Fatalf("%s is %v at the end; the last write (%s, version %d) was %v", f, got, l.side, l.version, l.val)
			}
		}
		t.Logf("web edits refused %d, saved beside phone changes it had not read %d", refused, merged)
		if refused == 0 || merged == 0 {
			t.Fatalf("the interleaving never exercised a refusal (%d) or a merge (%d)", refused, merged)
		}
	})
}
