package sync_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
	offline "github.com/rapportcare/rapport/sync"
)

// world is one test's database, fixture and engine.
type world struct {
	db  *postgres.DB
	f   *postgrestest.Fixture
	eng *offline.Engine
}

func newWorld(t testing.TB, cfg offline.Config) *world {
	t.Helper()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	return &world{db: db, f: f, eng: offline.New(db, cfg)}
}

func as(a *care.Actor) context.Context { return postgrestest.As(context.Background(), a) }

func sys() context.Context { return as(care.SystemActor()) }

// hlcAt returns an HLC for wall time t from node.
func hlcAt(t time.Time, counter int, node string) string {
	return offline.HLC{Wall: t.UnixMilli(), Counter: uint16(counter), Node: node}.String()
}

func now() string { return hlcAt(time.Now(), 0, "dev") }

func ptr[T any](v T) *T { return &v }

func newID(t testing.TB) uuid.UUID {
	t.Helper()
	id, err := uuid.NewV7()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// counts returns row counts of the tables a push may write.
func (w *world) counts(t testing.TB) map[string]int64 {
	t.Helper()
	// Read audits are queued and written in the background: write those
	// waiting first, so counts taken before and after a step compare.
	if err := w.db.FlushAudit(sys()); err != nil {
		t.Fatal(err)
	}
	c, err := w.db.SyncRowCounts(sys(), "interactions", "interaction_amendments", "care_relationships", "access_audit",
		"sync_changes", "sync_mutations", "sync_conflicts")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustPush(t testing.TB, eng *offline.Engine, ctx context.Context, dev uuid.UUID, changes ...offline.ChangeInput) *offline.PushPayload {
	t.Helper()
	p, err := eng.Push(ctx, offline.PushInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Changes: changes})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	if len(p.Results) != len(changes) {
		t.Fatalf("%d results for %d changes", len(p.Results), len(changes))
	}
	return p
}

func wantStatus(t testing.TB, r *offline.ChangeResult, s offline.ResultStatus) {
	t.Helper()
	if r.Status != s {
		code, msg := "", ""
		if r.Code != nil {
			code, msg = *r.Code, *r.Message
		}
		t.Fatalf("change %d: status %s (%s %s), want %s", r.MutationSeq, r.Status, code, msg, s)
	}
}

func wantCode(t testing.TB, r *offline.ChangeResult, code string) {
	t.Helper()
	wantStatus(t, r, offline.StatusRejected)
	if r.Code == nil || *r.Code != code {
		t.Fatalf("change %d: code %v, want %s", r.MutationSeq, r.Code, code)
	}
}

// createVisit is a CREATE of a draft home visit for patient.
func createVisit(seq int64, id, patient uuid.UUID, notes string) offline.ChangeInput {
	return offline.ChangeInput{MutationSeq: seq, Entity: offline.EntityInteraction, ID: id, Op: offline.OpCreate, Hlc: now(),
		Fields: map[string]any{"patientId": patient.String(), "mode": "HOME_VISIT",
			"occurredAt": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "purpose": "wound care", "notes": notes}}
}

func update(seq int64, id uuid.UUID, base int64, hlc string, fields map[string]any) offline.ChangeInput {
	return offline.ChangeInput{MutationSeq: seq, Entity: offline.EntityInteraction, ID: id, Op: offline.OpUpdate, BaseVersion: &base, Hlc: hlc, Fields: fields}
}

// puller pulls for one device until no more pages, remembering its checkpoint.
type puller struct {
	eng   *offline.Engine
	ctx   context.Context
	dev   uuid.UUID
	cp    *string
	limit int
	// raw pulls without Data maps (as GraphQL does); otherwise every
	// record's JSON is checked against its Data encoded.
	raw bool
}

// page pulls one page and advances the checkpoint.
func (p *puller) page(t testing.TB) *offline.PullPayload {
	t.Helper()
	in := offline.PullInput{ProtocolVersion: 1, DeviceID: p.dev, Checkpoint: p.cp, WithData: !p.raw}
	if p.limit > 0 {
		in.Limit = &p.limit
	}
	out, err := p.eng.Pull(p.ctx, in)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	for _, r := range out.Upserts {
		if p.raw {
			if r.Data != nil || len(r.JSON) == 0 {
				t.Fatalf("raw pull: %s %s has Data %v, JSON %s", r.Entity, r.ID, r.Data, r.JSON)
			}
			continue
		}
		if want, err := json.Marshal(r.Data); err != nil || !bytes.Equal(r.JSON, want) {
			t.Fatalf("%s %s: JSON %s, want its Data encoded %s (%v)", r.Entity, r.ID, r.JSON, want, err)
		}
	}
	if !out.ResetRequired {
		cp := out.Checkpoint
		p.cp = &cp
	}
	return out
}

// all pulls until hasMore is false and returns every page.
func (p *puller) all(t testing.TB) []*offline.PullPayload {
	t.Helper()
	var pages []*offline.PullPayload
	for i := 0; ; i++ {
		if i > 10000 {
			t.Fatal("pull never ends")
		}
		pg := p.page(t)
		pages = append(pages, pg)
		if !pg.HasMore || pg.ResetRequired {
			return pages
		}
	}
}

// upserted returns the ids of records upserted across pages, with counts.
func upserted(pages []*offline.PullPayload) map[uuid.UUID]int {
	out := map[uuid.UUID]int{}
	for _, pg := range pages {
		for _, r := range pg.Upserts {
			out[r.ID]++
		}
	}
	return out
}

func describe(pages []*offline.PullPayload) string {
	s := ""
	for _, pg := range pages {
		s += fmt.Sprintf("[%d upserts %d tombstones revoked %v more %v] ", len(pg.Upserts), len(pg.Tombstones), pg.RevokedPatientIDs, pg.HasMore)
	}
	return s
}
