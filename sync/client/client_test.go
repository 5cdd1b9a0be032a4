package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/sync/client"
)

// fakeServer speaks just enough of syncPush and syncPull to test the
// device's side of the protocol: exactly-once by (device, mutation number),
// versions, a change log read by offset, scripted resets. The real server is
// exercised by sync/simulate.
type fakeServer struct {
	mu       sync.Mutex
	results  map[string]map[string]any // device/seq → recorded result
	records  map[string]map[string]any // id → data
	versions map[string]int64
	log      []map[string]any // upserts in order
	applied  int              // changes applied (not replays)
	seqsSeen []int64          // every mutation number received, replays included
	bases    map[int64]any    // mutation number → baseVersion sent
	// pages lets a test script pull answers; when empty, pulls read the log.
	pages []map[string]any
	pulls []map[string]any // pull inputs received
	// reject makes changes to these ids REJECTED.
	reject map[string]string
}

func newFakeServer() *fakeServer {
	return &fakeServer{results: map[string]map[string]any{}, records: map[string]map[string]any{},
		versions: map[string]int64{}, reject: map[string]string{}, bases: map[int64]any{}}
}

func (f *fakeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Query     string `json:"query"`
		Variables struct {
			Input map[string]any `json:"input"`
		} `json:"variables"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	in := req.Variables.Input
	f.mu.Lock()
	defer f.mu.Unlock()
	if in["protocolVersion"] != float64(client.ProtocolVersion) {
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []any{map[string]any{
			"message": "sync protocol version is not supported", "extensions": map[string]any{"code": "BAD_USER_INPUT"}}}})
		return
	}
	var data map[string]any
	if strings.Contains(req.Query, "syncPush") {
		data = map[string]any{"syncPush": f.push(in)}
	} else {
		data = map[string]any{"syncPull": f.pull(in)}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func (f *fakeServer) push(in map[string]any) map[string]any {
	dev := in["deviceId"].(string)
	var results []any
	for _, c := range in["changes"].([]any) {
		ch := c.(map[string]any)
		seq := int64(ch["mutationSeq"].(float64))
		f.seqsSeen = append(f.seqsSeen, seq)
		f.bases[seq] = ch["baseVersion"]
		key := fmt.Sprintf("%s/%d", dev, seq)
		if res, ok := f.results[key]; ok {
			results = append(results, res)
			continue
		}
		id := ch["id"].(string)
		res := map[string]any{"mutationSeq": seq, "conflicts": []any{}}
		if code, ok := f.reject[id]; ok {
			res["status"], res["code"], res["message"] = "REJECTED", code, "refused by the test"
		} else {
			f.applied++
			rec := f.records[id]
			if rec == nil {
				rec = map[string]any{"id": id}
				f.records[id] = rec
			}
			if fields, ok := ch["fields"].(map[string]any); ok {
				for k, v := range fields {
					rec[k] = v
				}
			}
			f.versions[id]++
			res["status"], res["version"], res["record"] = "APPLIED", f.versions[id], clone(rec)
			f.log = append(f.log, map[string]any{"entity": ch["entity"], "id": id, "version": f.versions[id], "data": clone(rec)})
		}
		f.results[key] = res
		results = append(results, res)
	}
	return map[string]any{"results": results, "serverHlc": fmt.Sprintf("%013d-0000-server", time.Now().UnixMilli())}
}

func (f *fakeServer) pull(in map[string]any) map[string]any {
	f.pulls = append(f.pulls, in)
	if len(f.pages) > 0 {
		p := f.pages[0]
		f.pages = f.pages[1:]
		return p
	}
	from := 0
	if cp, ok := in["checkpoint"].(string); ok {
		_, _ = fmt.Sscanf(cp, "cp-%d", &from)
	}
	limit := int(in["limit"].(float64))
	to := min(from+limit, len(f.log))
	ups := append([]any{}, anySlice(f.log[from:to])...)
	return page(ups, nil, nil, fmt.Sprintf("cp-%d", to), to < len(f.log))
}

func page(ups, tombs, revoked []any, cp string, more bool) map[string]any {
	if ups == nil {
		ups = []any{}
	}
	if tombs == nil {
		tombs = []any{}
	}
	if revoked == nil {
		revoked = []any{}
	}
	return map[string]any{"upserts": ups, "tombstones": tombs, "revokedPatientIds": revoked, "checkpoint": cp,
		"hasMore": more, "resetRequired": false, "resetReason": nil, "wipe": false}
}

func resetPage(reason string, wipe bool) map[string]any {
	p := page(nil, nil, nil, "", false)
	p["resetRequired"], p["resetReason"], p["wipe"] = true, reason, wipe
	return p
}

func anySlice(m []map[string]any) []any {
	out := make([]any, len(m))
	for i, v := range m {
		out[i] = v
	}
	return out
}

func clone(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func visit(patient uuid.UUID, notes string) client.Interaction {
	d := 20
	return client.Interaction{PatientID: patient, Mode: "HOME_VISIT", OccurredAt: time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC),
		DurationMinutes: &d, Purpose: "Wound dressing", Notes: notes}
}

func TestFaultyTransport(t *testing.T) {
	var served int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served++
		mu.Unlock()
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	count := func() int { mu.Lock(); defer mu.Unlock(); return served }

	t.Run("a dropped request never reaches the server", func(t *testing.T) {
		ft := client.NewFaultyTransport(nil, 1, 0, 1)
		_, err := (&http.Client{Transport: ft}).Get(srv.URL)
		if !errors.Is(err, client.ErrDroppedRequest) {
			t.Fatalf("err = %v, want ErrDroppedRequest", err)
		}
		if n := count(); n != 0 {
			t.Errorf("server served %d requests, want 0", n)
		}
	})
	t.Run("a dropped response was served", func(t *testing.T) {
		before := count()
		ft := client.NewFaultyTransport(nil, 0, 1, 1)
		_, err := (&http.Client{Transport: ft}).Get(srv.URL)
		if !errors.Is(err, client.ErrDroppedResponse) {
			t.Fatalf("err = %v, want ErrDroppedResponse", err)
		}
		if n := count() - before; n != 1 {
			t.Errorf("server served %d requests, want 1", n)
		}
	})
	t.Run("the same seed drops the same requests", func(t *testing.T) {
		run := func() []bool {
			ft := client.NewFaultyTransport(nil, 0.5, 0, 7)
			var got []bool
			for range 20 {
				res, err := (&http.Client{Transport: ft}).Get(srv.URL)
				if err == nil {
					res.Body.Close()
				}
				got = append(got, err != nil)
			}
			return got
		}
		a, b := run(), run()
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Errorf("runs differ:\n%v\n%v", a, b)
		}
		if !strings.Contains(fmt.Sprint(a), "true") || !strings.Contains(fmt.Sprint(a), "false") {
			t.Errorf("p=0.5 over 20 requests gave %v", a)
		}
	})
	t.Run("faults can be switched off", func(t *testing.T) {
		ft := client.NewFaultyTransport(nil, 1, 1, 1)
		ft.SetFaults(false)
		res, err := (&http.Client{Transport: ft}).Get(srv.URL)
		if err != nil {
			t.Fatalf("err = %v with faults off", err)
		}
		res.Body.Close()
	})
}

func TestPush(t *testing.T) {
	ctx := context.Background()
	patient := uuid.Must(uuid.NewV7())

	t.Run("lost responses are retried with the same mutation numbers and applied once", func(t *testing.T) {
		f := newFakeServer()
		srv := httptest.NewServer(f)
		defer srv.Close()
		ft := client.NewFaultyTransport(nil, 0.3, 0.5, 3)
		d := client.New(srv.URL, "", client.WithTransport(ft), client.WithRetries(50, time.Millisecond), client.WithBatchSize(3))
		var ids []uuid.UUID
		for i := range 10 {
			ids = append(ids, d.CreateInteraction(visit(patient, fmt.Sprint("visit ", i))))
		}
		rep, err := d.Push(ctx)
		if err != nil {
			t.Fatalf("Push: %v", err)
		}
		if rep.Applied != 10 || f.applied != 10 {
			t.Errorf("device saw %d applied, server applied %d; want 10 and 10", rep.Applied, f.applied)
		}
		if _, _, lost := ft.Stats(); lost == 0 {
			t.Errorf("no response was dropped: the test proves nothing")
		}
		if len(f.seqsSeen) <= 10 {
			t.Errorf("server saw %d mutations: no retry happened", len(f.seqsSeen))
		}
		for _, s := range f.seqsSeen {
			if s < 1 || s > 10 {
				t.Errorf("unexpected mutation number %d", s)
			}
		}
		if p := d.Pending(); len(p) != 0 {
			t.Errorf("%d changes still pending", len(p))
		}
		for _, id := range ids {
			if _, ok := d.View(client.EntityInteraction, id); !ok {
				t.Errorf("interaction %s missing after push", id)
			}
		}
	})

	t.Run("a failed push keeps its changes frozen for the next one", func(t *testing.T) {
		f := newFakeServer()
		srv := httptest.NewServer(f)
		defer srv.Close()
		ft := client.NewFaultyTransport(nil, 0, 1, 1)
		d := client.New(srv.URL, "", client.WithTransport(ft), client.WithRetries(0, 0))
		id := d.CreateInteraction(visit(patient, "first"))
		if _, err := d.Push(ctx); !errors.Is(err, client.ErrDroppedResponse) {
			t.Fatalf("Push err = %v, want a dropped response", err)
		}
		// Edited after the lost push: must not change the change already sent.
		if err := d.EditInteraction(id, map[string]any{"notes": "second"}); err != nil {
			t.Fatal(err)
		}
		p := d.Pending()
		if len(p) != 2 || p[0].Seq != 1 || p[0].Fields["notes"] != "first" || !p[0].Sent || p[1].Seq != 2 {
			t.Fatalf("pending = %+v; want the sent create frozen and a new update", p)
		}
		ft.SetFaults(false)
		if _, err := d.Push(ctx); err != nil {
			t.Fatalf("Push: %v", err)
		}
		if f.applied != 2 {
			t.Errorf("server applied %d changes, want 2 (create once, edit once)", f.applied)
		}
		data, _ := d.View(client.EntityInteraction, id)
		if data["notes"] != "second" {
			t.Errorf("notes = %v, want second", data["notes"])
		}
		pending := d.Pending()
		if len(pending) != 0 {
			t.Errorf("%d pending", len(pending))
		}
	})

	t.Run("edits to an unsent change are folded into it", func(t *testing.T) {
		d := client.New("http://127.0.0.1:1", "")
		id := d.CreateInteraction(visit(patient, "a"))
		_ = d.EditInteraction(id, map[string]any{"notes": "b"})
		_ = d.EditInteraction(id, map[string]any{"durationMinutes": 45})
		p := d.Pending()
		if len(p) != 1 || p[0].Op != client.OpCreate || p[0].Fields["notes"] != "b" || p[0].Fields["durationMinutes"] != 45 {
			t.Fatalf("pending = %+v", p)
		}
		_ = d.DeleteDraft(id)
		if p := d.Pending(); len(p) != 0 {
			t.Errorf("deleting a never-sent draft left %d changes", len(p))
		}
	})

	t.Run("a change queued behind a sent, unanswered one keeps the base the device saw (protocol 2)", func(t *testing.T) {
		f := newFakeServer()
		srv := httptest.NewServer(f)
		defer srv.Close()
		ft := client.NewFaultyTransport(nil, 0, 1, 1)
		d := client.New(srv.URL, "", client.WithTransport(ft), client.WithRetries(0, 0))
		id := d.CreateInteraction(visit(patient, "a"))
		if _, err := d.Push(ctx); err == nil {
			t.Fatal("want the lost response to fail the push")
		}
		if err := d.SignInteraction(id); err != nil {
			t.Fatal(err)
		}
		if p := d.Pending(); len(p) != 2 || p[1].BaseVersion == nil || *p[1].BaseVersion != 0 {
			t.Fatalf("pending = %+v; want the sign with base 0 (the device never held a server copy)", p)
		}
		ft.SetFaults(false)
		rep, err := d.Push(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Batches != 1 {
			t.Errorf("%d batches; want 1 (nothing waits for an earlier answer)", rep.Batches)
		}
		if b := f.bases[2]; b != float64(0) {
			t.Errorf("sign sent with baseVersion %v, want 0", b)
		}
		if f.applied != 2 {
			t.Errorf("applied %d, want 2", f.applied)
		}
	})

	t.Run("a record deleted on the device takes no more changes", func(t *testing.T) {
		f := newFakeServer()
		srv := httptest.NewServer(f)
		defer srv.Close()
		d := client.New(srv.URL, "")
		id := d.CreateInteraction(visit(patient, "a"))
		if _, err := d.Push(ctx); err != nil {
			t.Fatal(err)
		}
		if err := d.DeleteDraft(id); err != nil {
			t.Fatal(err)
		}
		if err := d.EditInteraction(id, map[string]any{"notes": "b"}); err == nil {
			t.Error("edit after delete was queued")
		}
		if _, ok := d.View(client.EntityInteraction, id); ok {
			t.Error("record pending deletion is still shown")
		}
		if _, err := d.Push(ctx); err != nil {
			t.Fatal(err)
		}
		if len(d.Pending()) != 0 || len(d.Snapshot()) != 0 {
			t.Errorf("after the delete: %d pending, %d records", len(d.Pending()), len(d.Snapshot()))
		}
	})

	t.Run("rejected changes are kept and reported", func(t *testing.T) {
		f := newFakeServer()
		srv := httptest.NewServer(f)
		defer srv.Close()
		d := client.New(srv.URL, "")
		ok := d.CreateInteraction(visit(patient, "fine"))
		bad := d.CreateInteraction(visit(patient, "refused"))
		f.reject[bad.String()] = "OUT_OF_SCOPE"
		rep, err := d.Push(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Applied != 1 || rep.Rejected != 1 {
			t.Errorf("report %+v", rep)
		}
		rj := d.Rejected()
		if len(rj) != 1 || rj[0].Change.ID != bad || rj[0].Code != "OUT_OF_SCOPE" || rj[0].Message == "" {
			t.Fatalf("rejected = %+v", rj)
		}
		if _, has := d.View(client.EntityInteraction, ok); !has {
			t.Errorf("accepted record missing")
		}
		if _, has := d.View(client.EntityInteraction, bad); has {
			t.Errorf("rejected record still shown as on the server")
		}
	})

	t.Run("an attempt that times out is retried", func(t *testing.T) {
		f := newFakeServer()
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if calls.Add(1) == 1 {
				time.Sleep(300 * time.Millisecond) // longer than the client waits
			}
			f.ServeHTTP(w, r)
		}))
		defer srv.Close()
		d := client.New(srv.URL, "", client.WithHTTPClient(&http.Client{Timeout: 100 * time.Millisecond}), client.WithRetries(3, time.Millisecond))
		d.CreateInteraction(visit(patient, "x"))
		if _, err := d.Push(ctx); err != nil {
			t.Fatalf("push after one timed-out attempt: %v", err)
		}
		if calls.Load() < 2 || len(d.Pending()) != 0 {
			t.Errorf("%d attempts, %d changes still queued; want a retry that delivered the change", calls.Load(), len(d.Pending()))
		}
	})

	t.Run("an unsupported protocol version is a clear error, not retried", func(t *testing.T) {
		f := newFakeServer()
		srv := httptest.NewServer(f)
		defer srv.Close()
		d := client.New(srv.URL, "", client.WithProtocolVersion(99), client.WithRetries(5, time.Millisecond))
		d.CreateInteraction(visit(patient, "x"))
		_, err := d.Push(ctx)
		var se *client.Error
		if !errors.As(err, &se) || se.Code != "BAD_USER_INPUT" {
			t.Fatalf("err = %v, want a BAD_USER_INPUT *client.Error", err)
		}
		if !strings.Contains(err.Error(), "attempt 1") {
			t.Errorf("err = %v: should not have been retried", err)
		}
		if len(d.Pending()) != 1 {
			t.Errorf("the change must stay queued")
		}
	})
}

func TestPull(t *testing.T) {
	ctx := context.Background()
	patient, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	rec := func(entity client.Entity, id uuid.UUID, v int64, data map[string]any) any {
		data["id"] = id.String()
		return map[string]any{"entity": entity, "id": id.String(), "version": v, "data": data}
	}
	i1, i2 := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())

	t.Run("pages are applied whole, newest versions win, tombstones and revoked patients purge", func(t *testing.T) {
		f := newFakeServer()
		f.pages = []map[string]any{
			page([]any{rec(client.EntityPatient, patient, 1, map[string]any{}), rec(client.EntityPatient, other, 1, map[string]any{}),
				rec(client.EntityInteraction, i1, 3, map[string]any{"patientId": patient.String(), "notes": "v3"})}, nil, nil, "cp-1", true),
			page([]any{rec(client.EntityInteraction, i1, 2, map[string]any{"patientId": patient.String(), "notes": "v2"}),
				rec(client.EntityInteraction, i2, 1, map[string]any{"patientId": other.String()})}, nil, nil, "cp-2", false),
		}
		srv := httptest.NewServer(f)
		defer srv.Close()
		var calls []client.Call
		d := client.New(srv.URL, "", client.WithObserver(func(c client.Call) { calls = append(calls, c) }))
		rep, err := d.Pull(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 || calls[0].Op != "pull" || calls[0].Items != 3 || calls[1].Items != 2 {
			t.Errorf("the observer saw %+v; want two pulls of 3 and 2 records", calls)
		}
		if rep.Pages != 2 || d.Checkpoint() != "cp-2" {
			t.Errorf("pages %d checkpoint %q", rep.Pages, d.Checkpoint())
		}
		if v, _ := d.View(client.EntityInteraction, i1); v["notes"] != "v3" {
			t.Errorf("an older version replaced a newer one: notes = %v", v["notes"])
		}
		if cp, _ := f.pulls[1]["checkpoint"].(string); cp != "cp-1" {
			t.Errorf("second page asked with checkpoint %q", cp)
		}

		f.pages = []map[string]any{page(nil, []any{map[string]any{"entity": "INTERACTION", "id": i1.String()}}, []any{other.String()}, "cp-3", false)}
		if _, err := d.Pull(ctx); err != nil {
			t.Fatal(err)
		}
		if last := calls[len(calls)-1]; last.Items != 1 {
			t.Errorf("the observer saw a page of one tombstone as %d items", last.Items)
		}
		snap := d.Snapshot()
		if len(snap) != 1 {
			t.Errorf("after tombstone and revocation the device holds %v; want only the patient", snap)
		}
		if _, ok := snap[client.Key{Entity: client.EntityPatient, ID: patient}]; !ok {
			t.Errorf("patient still in scope was purged")
		}
	})

	t.Run("a failed page keeps the previous checkpoint", func(t *testing.T) {
		f := newFakeServer()
		f.pages = []map[string]any{page([]any{rec(client.EntityPatient, patient, 1, map[string]any{})}, nil, nil, "cp-1", true)}
		srv := httptest.NewServer(f)
		defer srv.Close()
		n := 0
		ft := &countingTransport{fail: func() bool { n++; return n == 2 }}
		d := client.New(srv.URL, "", client.WithTransport(ft), client.WithRetries(0, 0))
		if _, err := d.Pull(ctx); err == nil {
			t.Fatal("want an error for the lost second page")
		}
		if d.Checkpoint() != "cp-1" {
			t.Errorf("checkpoint %q, want cp-1", d.Checkpoint())
		}
	})

	t.Run("reset keeps unpushed changes and pulls from scratch", func(t *testing.T) {
		f := newFakeServer()
		f.pages = []map[string]any{
			page([]any{rec(client.EntityPatient, patient, 1, map[string]any{}), rec(client.EntityPatient, other, 1, map[string]any{})}, nil, nil, "cp-1", false),
			resetPage(client.ResetCheckpointExpired, false),
			page([]any{rec(client.EntityPatient, patient, 2, map[string]any{})}, nil, nil, "cp-9", false),
		}
		srv := httptest.NewServer(f)
		defer srv.Close()
		d := client.New(srv.URL, "")
		if _, err := d.Pull(ctx); err != nil {
			t.Fatal(err)
		}
		id := d.CreateInteraction(visit(patient, "offline"))
		rep, err := d.Pull(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Resets != 1 || rep.ResetReasons[0] != client.ResetCheckpointExpired {
			t.Errorf("report %+v", rep)
		}
		if _, has := f.pulls[2]["checkpoint"]; has {
			t.Errorf("pull after reset sent a checkpoint: %v", f.pulls[2])
		}
		if d.Checkpoint() != "cp-9" {
			t.Errorf("checkpoint %q", d.Checkpoint())
		}
		snap := d.Snapshot()
		if len(snap) != 1 || snap[client.Key{Entity: client.EntityPatient, ID: patient}].Version != 2 {
			t.Errorf("after reset the device holds %v", snap)
		}
		if p := d.Pending(); len(p) != 1 || p[0].ID != id {
			t.Errorf("unpushed change lost in reset: %+v", p)
		}
	})

	t.Run("wipe erases everything, unpushed changes included", func(t *testing.T) {
		f := newFakeServer()
		f.pages = []map[string]any{
			page([]any{rec(client.EntityPatient, patient, 1, map[string]any{})}, nil, nil, "cp-1", false),
			resetPage(client.ResetDeviceRevoked, true),
		}
		srv := httptest.NewServer(f)
		defer srv.Close()
		d := client.New(srv.URL, "")
		if _, err := d.Pull(ctx); err != nil {
			t.Fatal(err)
		}
		d.CreateInteraction(visit(patient, "offline"))
		if _, err := d.Pull(ctx); !errors.Is(err, client.ErrWiped) {
			t.Fatalf("err = %v, want ErrWiped", err)
		}
		if len(d.Snapshot()) != 0 || len(d.Pending()) != 0 || d.Checkpoint() != "" {
			t.Errorf("device not wiped: %d records, %d pending, checkpoint %q", len(d.Snapshot()), len(d.Pending()), d.Checkpoint())
		}
	})

	t.Run("endless resets stop with an error", func(t *testing.T) {
		f := newFakeServer()
		for range 5 {
			f.pages = append(f.pages, resetPage(client.ResetCheckpointInvalid, false))
		}
		srv := httptest.NewServer(f)
		defer srv.Close()
		if _, err := client.New(srv.URL, "").Pull(ctx); err == nil {
			t.Fatal("want an error")
		}
	})
}

// countingTransport fails the requests fail says to, before they leave.
type countingTransport struct{ fail func() bool }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if c.fail() {
		return nil, errors.New("network down")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// What the device makes of answers as a proxy, an overloaded server or a
// broken connection may give them: each is an error of the right kind, and
// nothing is applied, except from a whole page.
func TestAnswers(t *testing.T) {
	ctx := context.Background()
	id := uuid.Must(uuid.NewV7())
	whole := `{"data":{"syncPull":{"upserts":[{"entity":"PATIENT","id":"` + id.String() + `","version":1,"data":{"id":"` + id.String() + `"}}],` +
		`"tombstones":[],"revokedPatientIds":[],"checkpoint":"cp","hasMore":false,"resetRequired":false,"wipe":false}}}`
	for _, c := range []struct {
		name   string
		status int
		body   string
		code   string // the *client.Error's code; "" for another error
		want   string // in the error's text
	}{
		{"a proxy's HTML error page", http.StatusBadGateway, "<html>bad gateway</html>", "Bad Gateway", "non-GraphQL answer"},
		{"a GraphQL error", http.StatusOK, `{"errors":[{"message":"sync protocol version is not supported","extensions":{"code":"BAD_USER_INPUT"}}],"data":null}`, "BAD_USER_INPUT", "not supported"},
		{"a GraphQL error with a status", http.StatusServiceUnavailable, `{"errors":[{"message":"overloaded","extensions":{"code":"UNAVAILABLE"}}]}`, "UNAVAILABLE", "overloaded"},
		{"a null field", http.StatusOK, `{"data":{"syncPull":null}}`, "", "no data.syncPull"},
		{"no field", http.StatusOK, `{"data":{}}`, "", "no data.syncPull"},
		{"no data", http.StatusOK, `{}`, "", "no data.syncPull"},
		{"a page cut short", http.StatusOK, whole[:len(whole)/2], "", "decode response"},
		{"a page with the wrong status", http.StatusInternalServerError, whole, "Internal Server Error", "unexpected HTTP status"},
		{"a whole page", http.StatusOK, whole, "", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(c.status)
				_, _ = io.WriteString(w, c.body)
			}))
			defer srv.Close()
			d := client.New(srv.URL, "", client.WithRetries(0, time.Millisecond))
			_, err := d.Pull(ctx)
			held := len(d.Records(client.EntityPatient))
			if c.want == "" {
				if err != nil || held != 1 {
					t.Fatalf("err %v, %d patients held: want the page applied", err, held)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want one saying %q", err, c.want)
			}
			var se *client.Error
			code := ""
			if errors.As(err, &se) {
				code = se.Code
			}
			if code != c.code {
				t.Fatalf("err %v: code %q, want %q", err, code, c.code)
			}
			if held != 0 {
				t.Fatalf("%d patients held after a failed pull", held)
			}
		})
	}
}

// IDs answers the ids of one kind of record, all or those whose fields
// match, as Records would, and leaves the records as they were.
func TestIDs(t *testing.T) {
	p1, p2, v := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	rec := func(entity string, id uuid.UUID, data string) string {
		return `{"entity":"` + entity + `","id":"` + id.String() + `","version":1,"data":` + data + `}`
	}
	page := `{"data":{"syncPull":{"upserts":[` + rec("PATIENT", p1, `{"id":"`+p1.String()+`"}`) + `,` +
		rec("PATIENT", p2, `{"id":"`+p2.String()+`"}`) + `,` + rec("INTERACTION", v, `{"id":"`+v.String()+`","practitionerId":"nurse"}`) +
		`],"tombstones":[],"revokedPatientIds":[],"checkpoint":"cp","hasMore":false,"resetRequired":false,"wipe":false}}}`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, page) }))
	defer srv.Close()
	d := client.New(srv.URL, "")
	if _, err := d.Pull(context.Background()); err != nil {
		t.Fatal(err)
	}
	byID := func(ids []uuid.UUID) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = id.String()
		}
		slices.Sort(out)
		return out
	}
	want := byID([]uuid.UUID{p1, p2})
	if got := byID(d.IDs(client.EntityPatient, nil)); !slices.Equal(got, want) {
		t.Errorf("patients %v, want %v", got, want)
	}
	by := func(who string) func(map[string]any) bool {
		return func(data map[string]any) bool { return data["practitionerId"] == who }
	}
	if got := d.IDs(client.EntityInteraction, by("nurse")); len(got) != 1 || got[0] != v {
		t.Errorf("the nurse's visits %v, want [%s]", got, v)
	}
	if got := d.IDs(client.EntityInteraction, by("gp")); len(got) != 0 {
		t.Errorf("the GP's visits %v, want none", got)
	}
	if data, ok := d.View(client.EntityInteraction, v); !ok || data["practitionerId"] != "nurse" {
		t.Errorf("the visit after IDs: %v %v", data, ok)
	}
}

// A pulled record is kept as the server stated it and decoded only when
// read; what a caller is given is its own copy, and a revoked patient's
// records go with the patient, whether or not they were read.
func TestHeldRecords(t *testing.T) {
	ctx := context.Background()
	p1, p2 := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	read, unread, other := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	rec := func(entity client.Entity, id uuid.UUID, data map[string]any) any {
		data["id"] = id.String()
		return map[string]any{"entity": entity, "id": id.String(), "version": 1, "data": data}
	}
	f := newFakeServer()
	f.pages = []map[string]any{page([]any{
		rec(client.EntityPatient, p1, map[string]any{}), rec(client.EntityPatient, p2, map[string]any{}),
		rec(client.EntityInteraction, read, map[string]any{"patientId": p1.String(), "notes": "read", "participantIds": []any{"a"}}),
		rec(client.EntityInteraction, other, map[string]any{"patientId": p2.String(), "notes": "other"}),
	}, nil, nil, "cp-1", false)}
	srv := httptest.NewServer(f)
	defer srv.Close()
	d := client.New(srv.URL, "")
	if _, err := d.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	// IDs decodes and keeps the fields of the records it looks at; the
	// record pulled after it stays undecoded.
	if got := d.IDs(client.EntityInteraction, func(m map[string]any) bool { return m["notes"] == "read" }); len(got) != 1 || got[0] != read {
		t.Fatalf("IDs matched %v, want [%s]", got, read)
	}
	f.pages = []map[string]any{page([]any{
		rec(client.EntityInteraction, unread, map[string]any{"patientId": p1.String(), "notes": "unread"})}, nil, nil, "cp-2", false)}
	if _, err := d.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []uuid.UUID{read, unread} {
		v, ok := d.View(client.EntityInteraction, id)
		if !ok {
			t.Fatalf("%s not held", id)
		}
		v["notes"] = "scribbled"
		if again, _ := d.View(client.EntityInteraction, id); again["notes"] == "scribbled" {
			t.Errorf("changing what View gave changed the held record %s", id)
		}
	}
	for _, r := range d.Records(client.EntityInteraction) {
		r.Data["notes"] = "scribbled"
	}
	for _, r := range d.Snapshot() {
		if r.Data["notes"] == "scribbled" {
			t.Errorf("changing what Records gave changed the held record %s", r.ID)
		}
	}
	// Pulled and never read, then revoked with its patient.
	never := uuid.Must(uuid.NewV7())
	f.pages = []map[string]any{
		page([]any{rec(client.EntityInteraction, never, map[string]any{"patientId": p1.String(), "notes": "never read"})}, nil, nil, "cp-3", true),
		page(nil, nil, []any{p1.String()}, "cp-4", false),
	}
	if _, err := d.Pull(ctx); err != nil {
		t.Fatal(err)
	}
	var left []string
	for k := range d.Snapshot() {
		left = append(left, k.String())
	}
	slices.Sort(left)
	want := []string{client.Key{Entity: client.EntityInteraction, ID: other}.String(), client.Key{Entity: client.EntityPatient, ID: p2}.String()}
	slices.Sort(want)
	if !slices.Equal(left, want) {
		t.Errorf("after revoking %s the device holds %v, want %v", p1, left, want)
	}
}

// An answer whose record is not a JSON object is refused whole: nothing of
// its page is applied and the checkpoint stays where it was.
func TestRecordNotAnObject(t *testing.T) {
	ctx := context.Background()
	p1, v := uuid.Must(uuid.NewV7()), uuid.Must(uuid.NewV7())
	for _, data := range []string{`"notes as a string"`, `["a"]`, `42`, `true`} {
		answer := `{"data":{"syncPull":{"upserts":[` +
			`{"entity":"PATIENT","id":"` + p1.String() + `","version":1,"data":{"id":"` + p1.String() + `"}},` +
			`{"entity":"INTERACTION","id":"` + v.String() + `","version":1,"data":` + data + `}` +
			`],"tombstones":[],"revokedPatientIds":[],"checkpoint":"cp-bad","hasMore":false,"resetRequired":false,"wipe":false}}}`
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, answer) }))
		d := client.New(srv.URL, "", client.WithRetries(0, 0))
		_, err := d.Pull(ctx)
		srv.Close()
		if err == nil || !strings.Contains(err.Error(), "not a JSON object") {
			t.Errorf("data %s: pull error %v, want a record that is not an object", data, err)
		}
		if strings.Contains(fmt.Sprint(err), "notes") {
			t.Errorf("data %s: the error quotes the record: %v", data, err)
		}
		if snap := d.Snapshot(); len(snap) != 0 || d.Checkpoint() != "" {
			t.Errorf("data %s: the device applied %v, checkpoint %q", data, snap, d.Checkpoint())
		}
	}
}
