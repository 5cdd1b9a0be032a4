package graph_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

const pushMutation = `mutation Push($in: SyncPushInput!) {
  syncPush(input: $in) {
    serverHlc
    results {
      mutationSeq status code message version record
      conflicts { id field policy outcome serverValue deviceValue deviceId patient { id } practitioner { id } }
    }
  }
}`

const pullQuery = `query Pull($in: SyncPullInput!) {
  syncPull(input: $in) {
    upserts { entity id version data }
    tombstones { entity id }
    revokedPatientIds checkpoint hasMore resetRequired resetReason wipe
  }
}`

const conflictsQuery = `query Conflicts($open: Boolean) {
  conflicts(filter: {open: $open}) { totalCount edges { cursor node { id field outcome } } }
}`

type pushResult struct {
	SyncPush struct {
		ServerHlc string
		Results   []struct {
			MutationSeq int
			Status      string
			Code        *string
			Message     *string
			Version     *int
			Record      map[string]any
			Conflicts   []struct {
				ID, Field, Policy, Outcome string
				ServerValue, DeviceValue   any
				DeviceID                   string
				Patient                    *struct{ ID string }
				Practitioner               *struct{ ID string }
			}
		}
	}
}

type pullResult struct {
	SyncPull struct {
		Upserts []struct {
			Entity  string
			ID      string
			Version int
			Data    map[string]any
		}
		Tombstones        []struct{ Entity, ID string }
		RevokedPatientIds []string
		Checkpoint        string
		HasMore           bool
		ResetRequired     bool
		ResetReason       *string
		Wipe              bool
	}
}

// hlc returns a hybrid logical clock timestamp for wall time t from node.
func hlc(t time.Time, node string) string { return fmt.Sprintf("%013d-0000-%s", t.UnixMilli(), node) }

func push(device uuid.UUID, version int, changes ...map[string]any) map[string]any {
	return map[string]any{"in": map[string]any{"protocolVersion": version, "deviceId": device.String(), "changes": changes}}
}

func TestSyncOverGraphQL(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	w := newWorld(t, db)
	p := w.patient(t, w.practiceA, w.gpA, w.nurse, "Moss")
	nurse := newClient(t, db, w.nurseActor(), graph.Limits{})
	colleague := newClient(t, db, w.actor(care.RoleNurse, w.colleague, w.orgN), graph.Limits{})
	gpB := newClient(t, db, w.gpBActor(), graph.Limits{})
	integration := newClient(t, db, w.actor(care.RoleIntegration, uuid.Nil, w.practiceA, care.ScopePatientsRead), graph.Limits{})
	phone, tablet := uuid.New(), uuid.New()
	visit := uuid.Must(uuid.NewV7())
	t0 := time.Now().Add(-time.Minute)

	create := map[string]any{"mutationSeq": 1, "entity": "INTERACTION", "id": visit.String(), "op": "CREATE", "hlc": hlc(t0, "phone"),
		"fields": map[string]any{"patientId": p.ID.String(), "mode": "HOME_VISIT", "occurredAt": t0.Add(-time.Hour).UTC().Format(time.RFC3339),
			"purpose": "wound care", "notes": "dressing changed"}}

	t.Run("syncPush creates a record with the device's id", func(t *testing.T) {
		var r pushResult
		nurse.ok(pushMutation, push(phone, 1, create), &r)
		res := r.SyncPush.Results
		if len(res) != 1 || res[0].Status != "APPLIED" || res[0].Version == nil || *res[0].Version != 1 || r.SyncPush.ServerHlc == "" {
			t.Fatalf("results %+v", r.SyncPush)
		}
		if res[0].Record["notes"] != "dressing changed" {
			t.Fatalf("record %v", res[0].Record)
		}
	})
	t.Run("a repeated push returns the recorded result and changes nothing", func(t *testing.T) {
		var r pushResult
		nurse.ok(pushMutation, push(phone, 1, create), &r)
		if r.SyncPush.Results[0].Status != "APPLIED" || *r.SyncPush.Results[0].Version != 1 {
			t.Fatalf("replay %+v", r.SyncPush.Results[0])
		}
	})

	var conflictID string
	t.Run("concurrent edits of the notes raise an open conflict", func(t *testing.T) {
		edit := func(dev uuid.UUID, seq int, at time.Time, notes string) pushResult {
			var r pushResult
			nurse.ok(pushMutation, push(dev, 1, map[string]any{"mutationSeq": seq, "entity": "INTERACTION", "id": visit.String(),
				"op": "UPDATE", "baseVersion": 1, "hlc": hlc(at, dev.String()[:8]), "fields": map[string]any{"notes": notes}}), &r)
			return r
		}
		if r := edit(phone, 2, t0.Add(time.Second), "healing well"); r.SyncPush.Results[0].Status != "APPLIED" {
			t.Fatalf("phone edit %+v", r.SyncPush.Results[0])
		}
		r := edit(tablet, 1, t0.Add(2*time.Second), "slough present")
		res := r.SyncPush.Results[0]
		if res.Status != "CONFLICT" || len(res.Conflicts) != 1 {
			t.Fatalf("tablet edit %+v", res)
		}
		c := res.Conflicts[0]
		if c.Field != "notes" || c.Policy != "KEEP_BOTH" || c.Outcome != "OPEN" || c.DeviceValue != "slough present" ||
			c.ServerValue != "healing well" || c.DeviceID != tablet.String() {
			t.Fatalf("conflict %+v", c)
		}
		if c.Patient == nil || c.Patient.ID != gid("Patient", p.ID) || c.Practitioner == nil || c.Practitioner.ID != gid("Practitioner", w.nurse) {
			t.Fatalf("conflict patient %v practitioner %v", c.Patient, c.Practitioner)
		}
		conflictID = c.ID
	})
	if conflictID == "" {
		t.Fatal("no conflict to go on with")
	}

	t.Run("the nurse lists the open conflict", func(t *testing.T) {
		var r struct {
			Conflicts struct {
				TotalCount int
				Edges      []struct {
					Node struct{ ID, Field, Outcome string }
				}
			}
		}
		nurse.ok(conflictsQuery, map[string]any{"open": true}, &r)
		if r.Conflicts.TotalCount != 1 || r.Conflicts.Edges[0].Node.ID != conflictID {
			t.Fatalf("conflicts %+v", r.Conflicts)
		}
	})
	t.Run("nobody outside the patient's care sees it", func(t *testing.T) {
		for name, c := range map[string]*gql{"colleague": colleague, "gpB": gpB} {
			var r struct{ Conflicts struct{ TotalCount int } }
			c.ok(conflictsQuery, nil, &r)
			if r.Conflicts.TotalCount != 0 {
				t.Fatalf("%s sees %d conflicts", name, r.Conflicts.TotalCount)
			}
			c.fails(`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": conflictID}, graph.CodeNotFound)
		}
	})
	t.Run("node(id:) resolves a SyncConflict", func(t *testing.T) {
		var r struct {
			Node struct {
				Typename string `json:"__typename"`
				ID       string
				Field    string
			}
		}
		nurse.ok(`query($id: ID!) { node(id: $id) { __typename id ... on SyncConflict { field } } }`, map[string]any{"id": conflictID}, &r)
		if r.Node.Typename != "SyncConflict" || r.Node.ID != conflictID || r.Node.Field != "notes" {
			t.Fatalf("node %+v", r.Node)
		}
	})
	t.Run("resolveConflict settles it", func(t *testing.T) {
		var r struct {
			ResolveConflict struct {
				Outcome       string
				ResolvedValue any
				ResolvedBy    *struct{ ID string }
				ResolvedAt    *string
			}
		}
		nurse.ok(`mutation($in: ResolveConflictInput!) { resolveConflict(input: $in) { outcome resolvedValue resolvedBy { id } resolvedAt } }`,
			map[string]any{"in": map[string]any{"id": conflictID, "value": "healing well; slough present", "reason": "both true"}}, &r)
		rc := r.ResolveConflict
		if rc.Outcome != "RESOLVED" || rc.ResolvedValue != "healing well; slough present" || rc.ResolvedBy == nil ||
			rc.ResolvedBy.ID != gid("Practitioner", w.nurse) || rc.ResolvedAt == nil {
			t.Fatalf("resolved %+v", rc)
		}
	})
	t.Run("a colleague outside the caseload cannot resolve it", func(t *testing.T) {
		colleague.fails(`mutation($in: ResolveConflictInput!) { resolveConflict(input: $in) { id } }`,
			map[string]any{"in": map[string]any{"id": conflictID, "value": "x"}}, graph.CodeNotFound, graph.CodeForbidden)
	})
	t.Run("syncPull returns the record as resolved", func(t *testing.T) {
		var r pullResult
		nurse.ok(pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 1, "deviceId": phone.String(), "limit": 1000}}, &r)
		var found bool
		for _, u := range r.SyncPull.Upserts {
			if u.Entity == "INTERACTION" && u.ID == visit.String() {
				found = u.Data["notes"] == "healing well; slough present"
			}
		}
		if !found || r.SyncPull.Checkpoint == "" || r.SyncPull.ResetRequired || r.SyncPull.HasMore {
			t.Fatalf("pull %+v", r.SyncPull)
		}
	})
	t.Run("devices lists the nurse's devices with their practitioner", func(t *testing.T) {
		var r struct {
			Devices []struct {
				ID           string
				Practitioner *struct{ ID string }
				RegisteredAt string
				RevokedAt    *string
			}
		}
		nurse.ok(`{ devices { id practitioner { id } registeredAt revokedAt } }`, nil, &r)
		ids := map[string]bool{}
		for _, d := range r.Devices {
			ids[d.ID] = d.Practitioner != nil && d.Practitioner.ID == gid("Practitioner", w.nurse) && d.RevokedAt == nil
		}
		if len(r.Devices) != 2 || !ids[phone.String()] || !ids[tablet.String()] {
			t.Fatalf("devices %+v", r.Devices)
		}
		var other struct{ Devices []struct{ ID string } }
		colleague.ok(`{ devices { id } }`, nil, &other)
		if len(other.Devices) != 0 {
			t.Fatalf("colleague sees devices %+v", other.Devices)
		}
	})
	t.Run("revokeDevice revokes, and the device is told to wipe", func(t *testing.T) {
		var r struct {
			RevokeDevice struct{ ID, RevokedAt string }
		}
		nurse.ok(`mutation($in: RevokeDeviceInput!) { revokeDevice(input: $in) { id revokedAt } }`,
			map[string]any{"in": map[string]any{"id": tablet.String()}}, &r)
		if r.RevokeDevice.ID != tablet.String() || r.RevokeDevice.RevokedAt == "" {
			t.Fatalf("revoked %+v", r.RevokeDevice)
		}
		var pr pullResult
		nurse.ok(pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 1, "deviceId": tablet.String()}}, &pr)
		if !pr.SyncPull.ResetRequired || !pr.SyncPull.Wipe || pr.SyncPull.ResetReason == nil || *pr.SyncPull.ResetReason != "DEVICE_REVOKED" || len(pr.SyncPull.Upserts) != 0 {
			t.Fatalf("pull after revoke %+v", pr.SyncPull)
		}
	})
	t.Run("an unsupported protocol version is BAD_USER_INPUT", func(t *testing.T) {
		nurse.fails(pushMutation, push(phone, 99, create), graph.CodeBadUserInput)
		nurse.fails(pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 0, "deviceId": phone.String()}}, graph.CodeBadUserInput)
	})
	t.Run("an integration token may not sync", func(t *testing.T) {
		integration.fails(pushMutation, push(uuid.New(), 1, create), graph.CodeForbidden)
		integration.fails(pullQuery, map[string]any{"in": map[string]any{"protocolVersion": 1, "deviceId": uuid.New().String()}}, graph.CodeForbidden)
	})
}
