package jepsen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
)

// checkedFields are the fields whose every written value must survive.
var checkedFields = map[string]bool{"mode": true, "durationMinutes": true, "purpose": true, "notes": true,
	"patientPreference": true, "consent": true}

// report is what the checker found.
type report struct {
	devices, ops, values               int
	status                             map[string]int
	rejected                           map[string]int
	conflicts, openConflicts           int
	resolutions, resolutionsRefused    int
	lost, duplicated, diverged, leaked int
	dropped, replayed                  int64
	elapsed                            time.Duration
	problems, failures                 []string
}

func (r *report) problem(format string, a ...any) {
	if len(r.problems) < 40 {
		r.problems = append(r.problems, fmt.Sprintf(format, a...))
	}
}

func (r *report) ok() bool {
	return r.lost == 0 && r.duplicated == 0 && r.diverged == 0 && r.leaked == 0 && len(r.failures) == 0 && len(r.problems) == 0
}

func (r *report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "devices %d, changes %d (%d values written) in %s; %d requests or answers dropped, %d pushes delivered again stale\n",
		r.devices, r.ops, r.values, r.elapsed.Round(time.Millisecond), r.dropped, r.replayed)
	fmt.Fprintf(&b, "results %v; rejected by code %v\n", r.status, r.rejected)
	fmt.Fprintf(&b, "conflicts recorded %d (open at the end %d); resolutions %d accepted, %d refused\n", r.conflicts, r.openConflicts, r.resolutions, r.resolutionsRefused)
	fmt.Fprintf(&b, "lost %d, duplicated %d, diverged %d, leaked %d\n", r.lost, r.duplicated, r.diverged, r.leaked)
	for _, f := range r.failures {
		fmt.Fprintf(&b, "FAILURE: %s\n", f)
	}
	for _, p := range r.problems {
		fmt.Fprintf(&b, "PROBLEM: %s\n", p)
	}
	return b.String()
}

// norm makes values comparable across Go and JSON (numbers as float64).
func norm(v any) string {
	b, _ := json.Marshal(v)
	var x any
	_ = json.Unmarshal(b, &x)
	b, _ = json.Marshal(x)
	return string(b)
}

func check(t *testing.T, db *postgres.DB, hist *history, devices []*device, fresh map[string]*device, caseload map[string]map[string]bool) *report {
	t.Helper()
	sys := care.NewContextWithActor(context.Background(), care.SystemActor())
	rep := &report{devices: len(devices), status: map[string]int{}, rejected: map[string]int{}}

	// The server's final state: what fresh devices pulled, all users together.
	final := map[key]*copyOf{}
	for _, f := range fresh {
		for k, c := range f.copies {
			final[k] = c
		}
	}

	// Everything the ledger keeps, and every amendment's before and after.
	kept := map[key]map[string]map[string]bool{}
	keep := func(k key, field string, v any) {
		if kept[k] == nil {
			kept[k] = map[string]map[string]bool{}
		}
		if kept[k][field] == nil {
			kept[k][field] = map[string]bool{}
		}
		kept[k][field][norm(v)] = true
	}
	eng := offline.New(db, offline.Config{})
	var after *string
	for {
		page, err := eng.Conflicts(sys, offline.ConflictFilter{}, care.PageArgs{First: ptr(100), After: after})
		if err != nil {
			t.Fatalf("ledger: %v", err)
		}
		for _, e := range page.Edges {
			c := e.Node
			k := key{strings.ToUpper(string(c.Entity)), c.RecordID.String()}
			keep(k, c.Field, c.ServerValue)
			keep(k, c.Field, c.DeviceValue)
			if c.ResolvedValue != nil {
				keep(k, c.Field, c.ResolvedValue)
			}
			rep.conflicts++
			if c.Outcome == offline.OutcomeOpen {
				rep.openConflicts++
			}
		}
		if !page.HasNextPage {
			break
		}
		cur := page.Edges[len(page.Edges)-1].Cursor
		after = &cur
	}
	var ids []uuid.UUID
	for k := range final {
		if k.entity == "INTERACTION" {
			ids = append(ids, uuid.MustParse(k.id))
		}
	}
	ams, err := db.AmendmentsOf(sys, ids)
	if err != nil {
		t.Fatalf("amendments: %v", err)
	}
	for id, list := range ams {
		k := key{"INTERACTION", id.String()}
		for _, a := range list {
			keep(k, "purpose", a.Before.Purpose)
			keep(k, "notes", a.Before.Notes)
			keep(k, "purpose", a.After.Purpose)
			keep(k, "notes", a.After.Notes)
			if a.Before.DurationMinutes != nil {
				keep(k, "durationMinutes", *a.Before.DurationMinutes)
			}
			if a.After.DurationMinutes != nil {
				keep(k, "durationMinutes", *a.After.DurationMinutes)
			}
		}
	}
	for _, r := range hist.resolutions {
		if r.Accepted {
			rep.resolutions++
		} else if r.Code != "" && r.Code != "LOST" {
			rep.resolutionsRefused++
		}
	}

	// Every value every device wrote.
	byKey := map[key][]*written{}
	creates := map[key]bool{}
	for _, w := range hist.writes {
		byKey[w.Key] = append(byKey[w.Key], w)
	}
	for _, w := range hist.writes {
		rep.ops++
		if w.Result == nil {
			rep.problem("%s mutation %d (%s %s) was never answered", w.Device, w.Seq, w.Op, w.Key)
			continue
		}
		rep.status[w.Result.Status]++
		if w.Result.Status == "REJECTED" {
			code := ""
			if w.Result.Code != nil {
				code = *w.Result.Code
			}
			rep.rejected[code]++
			switch code {
			case "CONFLICT", "NOT_FOUND", "FORBIDDEN":
			default: // the devices send only well-formed changes with fresh ids
				rep.problem("%s mutation %d (%s %s) rejected %s: %s", w.Device, w.Seq, w.Op, w.Key, code, deref(w.Result.Message))
			}
			continue // kept aside on the device, for its user
		}
		if w.Op == "CREATE" {
			if creates[w.Key] {
				rep.duplicated++
				rep.problem("%s created twice", w.Key)
			}
			creates[w.Key] = true
		}
		for field, v := range w.Fields {
			if !checkedFields[field] {
				continue
			}
			rep.values++
			if accounted(w, field, v, final, kept, byKey, hist.resolutions) {
				continue
			}
			rep.lost++
			fv := any("(record gone)")
			if c, ok := final[w.Key]; ok {
				fv = c.data[field]
			}
			rep.problem("LOST: %s %s=%s written by %s mutation %d (%s, %s v%v); final %s%s", w.Key, field, norm(v), w.Device, w.Seq, w.Op,
				w.Result.Status, derefV(w.Result.Version), norm(fv), trace(w.Key, field, byKey[w.Key], hist.resolutions))
		}
	}

	// Divergence: each device holds exactly what a fresh device of its user pulls.
	for _, d := range devices {
		if len(d.queue) > 0 {
			rep.diverged++
			rep.problem("%s still has %d changes queued", d.name, len(d.queue))
		}
		ref := fresh[d.user].copies
		for k, c := range ref {
			if mine, ok := d.copies[k]; !ok || mine.version != c.version || norm(mine.data) != norm(c.data) {
				rep.diverged++
				rep.problem("%s: %s differs from the server's (v%d)", d.name, k, c.version)
			}
		}
		for k := range d.copies {
			if _, ok := ref[k]; !ok {
				rep.diverged++
				rep.problem("%s: holds %s, which the server no longer has for it", d.name, k)
			}
		}
		// Leaks: every patient record it holds is of a patient in its
		// user's caseload, as the seed made it (an oracle independent of
		// the server's access rule).
		seen := map[string]bool{}
		for k, c := range d.copies {
			pid, _ := c.data["patientId"].(string)
			if k.entity == "PATIENT" {
				pid = k.id
			}
			if pid == "" || seen[pid] {
				continue
			}
			seen[pid] = true
			if !caseload[d.user][pid] {
				rep.leaked++
				rep.problem("%s holds %s of patient %s, whom its user may not see", d.name, k, pid)
			}
		}
	}
	// Every interaction on the server was created once by a device.
	for k := range final {
		if k.entity == "INTERACTION" && !creates[k] {
			rep.duplicated++
			rep.problem("%s is on the server but no accepted CREATE made it", k)
		}
	}
	sort.Strings(rep.problems)
	return rep
}

// accounted reports whether value v of field, written by w, survived: it is
// the record's final value, or the ledger or an amendment keeps it, or a
// later accepted write of the field (or a resolution, or a delete) was made
// by someone who had seen it.
func accounted(w *written, field string, v any, final map[key]*copyOf, kept map[key]map[string]map[string]bool,
	byKey map[key][]*written, resolutions []*resolution) bool {
	nv := norm(v)
	if kept[w.Key][field][nv] {
		return true
	}
	if c, ok := final[w.Key]; ok && norm(c.data[field]) == nv {
		return true
	}
	after := derefV(w.Result.Version)
	for _, o := range byKey[w.Key] {
		if o == w || o.Result == nil || o.Result.Status == "REJECTED" || o.View == nil {
			continue
		}
		if _, writes := o.Fields[field]; !writes && o.Op != "DELETE" {
			continue
		}
		if o.Op != "DELETE" && derefV(o.Result.Version) < after {
			continue
		}
		if norm(o.View[field]) == nv {
			return true
		}
	}
	for _, r := range resolutions {
		if r.Key == w.Key && (r.Field == field || r.Field == "deleted") && (r.Code == "" || r.Code == "LOST") &&
			(norm(r.View[field]) == nv || (r.Field == field && (norm(r.View["__server"]) == nv || norm(r.View["__device"]) == nv))) {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func derefV(v *int64) int64 {
	if v == nil {
		return 0
	}
	return *v
}

// trace describes every change and resolution of one record's field, for a
// person reading a failure.
func trace(k key, field string, ws []*written, rs []*resolution) string {
	var b strings.Builder
	for _, w := range ws {
		st, ver := "unanswered", int64(0)
		if w.Result != nil {
			st, ver = w.Result.Status, derefV(w.Result.Version)
		}
		v, has := w.Fields[field]
		val := "-"
		if has {
			val = norm(v)
		}
		fmt.Fprintf(&b, "\n    %s #%d %s %s=%s saw %s -> %s v%d", w.Device, w.Seq, w.Op, field, val, norm(w.View[field]), st, ver)
		if w.Result != nil {
			for _, c := range w.Result.Conflicts {
				fmt.Fprintf(&b, " [conflict %v %v %v server=%v device=%v]", c["field"], c["policy"], c["outcome"], c["serverValue"], c["deviceValue"])
			}
		}
	}
	for _, r := range rs {
		if r.Key == k {
			fmt.Fprintf(&b, "\n    resolution of %s by %s to %s at base %d saw %s: accepted %v code %q", r.Field, r.User[:8], norm(r.Value), r.Base, norm(r.View[field]), r.Accepted, r.Code)
		}
	}
	return b.String()
}
