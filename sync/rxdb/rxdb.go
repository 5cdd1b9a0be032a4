// Package rxdb adapts the sync engine to RxDB's GraphQL replication protocol
// (rxdb/plugins/replication-graphql, RxDB 17): per collection a pull
// (checkpoint, limit) → {documents, checkpoint}, a push of rows
// {assumedMasterState, newDocumentState} → the master states that
// conflicted, and a stream that asks the client to RESYNC. docs/rxdb.md
// explains it to mobile developers.
//
// It adds no second protocol engine: each replication (one collection of one
// client install) is an engine device, so scope generations, the access rule,
// audit, exactly-once mutation numbers, the field policy table and the
// conflict ledger are the engine's own. The checkpoint wraps the engine's
// commit-ordered position.
package rxdb

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

// Collection names, as an app names its RxDB collections.
const (
	Interactions      = "interactions"
	Patients          = "patients"
	CareRelationships = "careRelationships"
	Practitioners     = "practitioners"
	Teams             = "teams"
	Organizations     = "organizations"
)

// entityOf maps a collection onto the engine's entity.
var entityOf = map[string]offline.Entity{
	Interactions: offline.EntityInteraction, Patients: offline.EntityPatient, CareRelationships: offline.EntityCareRelationship,
	Practitioners: offline.EntityPractitioner, Teams: offline.EntityTeam, Organizations: offline.EntityOrganization,
}

// MaxPushRows is the most rows one push may carry (RxDB's push.batchSize).
const MaxPushRows = 200

// Adapter serves RxDB replication over an engine.
type Adapter struct {
	eng *offline.Engine
	now func() time.Time
}

// New returns an adapter over eng; now is the server's clock (nil: time.Now).
func New(eng *offline.Engine, now func() time.Time) *Adapter {
	if now == nil {
		now = time.Now
	}
	return &Adapter{eng: eng, now: now}
}

// DeviceID is the engine device behind one collection's replication from
// one client install: a name-based UUID, so an install id is all a client
// keeps, and each collection pulls and pushes as its own device.
func DeviceID(install uuid.UUID, collection string) uuid.UUID {
	return uuid.NewSHA1(install, []byte("rxdb:"+collection))
}

// position is the content of a Checkpoint: the engine's checkpoint, and the
// patients who left the scope whose records' deletions are still to be sent
// (after the id A).
type position struct {
	E string      `json:"e,omitempty"`
	R []uuid.UUID `json:"r,omitempty"`
	A uuid.UUID   `json:"a,omitzero"`
}

func (p position) checkpoint() *Checkpoint {
	b, _ := json.Marshal(p) // plain struct
	return &Checkpoint{Cursor: base64.RawURLEncoding.EncodeToString(b)}
}

// parsePosition reads a checkpoint; a missing one is the start. A malformed
// one is EINVALID.
func parsePosition(cp *Checkpoint) (position, error) {
	var p position
	if cp == nil || cp.Cursor == "" {
		return p, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cp.Cursor)
	if err == nil && len(b) <= 1<<16 {
		err = json.Unmarshal(b, &p)
	}
	if err != nil || len(b) > 1<<16 {
		return p, care.Errorf(care.EINVALID, "malformed checkpoint: send the one a pull returned, or none")
	}
	return p, nil
}

func parseInstall(s string) (uuid.UUID, error) {
	id, err := uuid.Parse(s)
	if err != nil || id == uuid.Nil {
		return uuid.Nil, care.Errorf(care.EINVALID, "installId must be a UUID other than the nil UUID")
	}
	return id, nil
}

// pulled is one page in the engine's terms, before conversion.
type pulled struct {
	records []*offline.Record // nil Data: a deletion
	cp      *Checkpoint
}

// pull returns up to limit documents of collection written after cp, in
// commit order, each at most once: exactly limit whenever more exist (RxDB
// stops on a short page), because the engine filters by entity inside its
// queries and the adapter keeps asking until the page is full or the engine
// is at the head. Patients who left the scope become deletions of their
// records, paged like any document.
func (a *Adapter) pull(ctx context.Context, collection, install string, cp *Checkpoint, limit int) (*pulled, error) {
	ent := entityOf[collection]
	inst, err := parseInstall(install)
	if err != nil {
		return nil, err
	}
	if limit < 1 || limit > a.eng.MaxPullLimit() {
		return nil, care.Errorf(care.ELIMIT, "limit must be between 1 and %d", a.eng.MaxPullLimit())
	}
	pos, err := parsePosition(cp)
	if err != nil {
		return nil, err
	}
	dev := DeviceID(inst, collection)
	out := &pulled{}
	at := map[uuid.UUID]int{}
	add := func(r *offline.Record) {
		if i, ok := at[r.ID]; ok {
			out.records[i] = r // a newer state of a document already on this page
			return
		}
		at[r.ID] = len(out.records)
		out.records = append(out.records, r)
	}
	head, resets := false, 0
	for len(at) < limit {
		room := limit - len(at)
		if len(pos.R) > 0 {
			ids, err := a.eng.RecordsOfPatients(ctx, ent, pos.R, pos.A, room+1)
			if err != nil {
				return nil, err
			}
			if len(ids) > room {
				ids = ids[:room]
				pos.A = ids[len(ids)-1]
			} else {
				pos.R, pos.A = nil, uuid.Nil
			}
			for _, id := range ids {
				add(&offline.Record{Entity: ent, ID: id})
			}
			continue
		}
		if head {
			break
		}
		in := offline.PullInput{ProtocolVersion: offline.ProtocolVersion, DeviceID: dev, Limit: &room, Only: ent, WithLoaded: true}
		if pos.E != "" {
			in.Checkpoint = &pos.E
		}
		pg, err := a.eng.Pull(ctx, in)
		if err != nil {
			return nil, err
		}
		if pg.ResetRequired {
			if pg.Wipe || resets > 0 {
				return nil, care.Errorf(care.EFORBIDDEN, "this device has been revoked: it must be wiped")
			}
			// Expired or invalid: start over from the beginning. RxDB has no
			// reset; re-sent documents are harmless.
			pos, resets = position{}, resets+1
			continue
		}
		for _, r := range pg.Upserts {
			add(r)
		}
		for _, t := range pg.Tombstones {
			add(&offline.Record{Entity: ent, ID: t.ID})
		}
		pos.E, pos.R, pos.A = pg.Checkpoint, pg.RevokedPatientIDs, uuid.Nil
		head = !pg.HasMore
	}
	out.cp = pos.checkpoint()
	return out, nil
}

// pullDocs is pull, converted to one collection's documents: conv for a
// record, gone for a deletion (its id only).
func pullDocs[T any](ctx context.Context, a *Adapter, collection, install string, cp *Checkpoint, limit int,
	conv func(*offline.Record) *T, gone func(id string) *T) ([]*T, *Checkpoint, error) {
	p, err := a.pull(ctx, collection, install, cp, limit)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*T, len(p.records))
	for i, r := range p.records {
		if r.Loaded == nil {
			out[i] = gone(r.ID.String())
		} else {
			out[i] = conv(r)
		}
	}
	return out, p.cp, nil
}

// PullInteractions returns a page of interactions after cp for the install's
// replication. Errors: EINVALID (install id, checkpoint), ELIMIT,
// EUNAUTHENTICATED, EFORBIDDEN (not a practitioner, another's install, a
// revoked device). The other Pull methods are the same for their collection.
func (a *Adapter) PullInteractions(ctx context.Context, install string, cp *Checkpoint, limit int) (*InteractionBulk, error) {
	d, c, err := pullDocs(ctx, a, Interactions, install, cp, limit, interactionDoc, func(id string) *Interaction { return &Interaction{ID: id, Deleted: true} })
	return &InteractionBulk{Documents: d, Checkpoint: c}, err
}

// PullPatients is PullInteractions for patients.
func (a *Adapter) PullPatients(ctx context.Context, install string, cp *Checkpoint, limit int) (*PatientBulk, error) {
	d, c, err := pullDocs(ctx, a, Patients, install, cp, limit, patientDoc, func(id string) *Patient { return &Patient{ID: id, Deleted: true} })
	return &PatientBulk{Documents: d, Checkpoint: c}, err
}

// PullCareRelationships is PullInteractions for care relationships.
func (a *Adapter) PullCareRelationships(ctx context.Context, install string, cp *Checkpoint, limit int) (*CareRelationshipBulk, error) {
	d, c, err := pullDocs(ctx, a, CareRelationships, install, cp, limit, relationshipDoc, func(id string) *CareRelationship { return &CareRelationship{ID: id, Deleted: true} })
	return &CareRelationshipBulk{Documents: d, Checkpoint: c}, err
}

// PullPractitioners is PullInteractions for practitioners.
func (a *Adapter) PullPractitioners(ctx context.Context, install string, cp *Checkpoint, limit int) (*PractitionerBulk, error) {
	d, c, err := pullDocs(ctx, a, Practitioners, install, cp, limit, practitionerDoc, func(id string) *Practitioner { return &Practitioner{ID: id, Deleted: true} })
	return &PractitionerBulk{Documents: d, Checkpoint: c}, err
}

// PullTeams is PullInteractions for teams.
func (a *Adapter) PullTeams(ctx context.Context, install string, cp *Checkpoint, limit int) (*TeamBulk, error) {
	d, c, err := pullDocs(ctx, a, Teams, install, cp, limit, teamDoc, func(id string) *Team { return &Team{ID: id, Deleted: true} })
	return &TeamBulk{Documents: d, Checkpoint: c}, err
}

// PullOrganizations is PullInteractions for organisations.
func (a *Adapter) PullOrganizations(ctx context.Context, install string, cp *Checkpoint, limit int) (*OrganizationBulk, error) {
	d, c, err := pullDocs(ctx, a, Organizations, install, cp, limit, organizationDoc, func(id string) *Organization { return &Organization{ID: id, Deleted: true} })
	return &OrganizationBulk{Documents: d, Checkpoint: c}, err
}

// Stream returns an event whenever records in the caller's scope change
// (across server instances: the engine's LISTEN/NOTIFY subscription), until
// ctx ends. The client answers each with a checkpoint iteration; RxDB also
// runs one on every (re)connect. Errors: EUNAUTHENTICATED, EINVALID (install
// id), or the listener's.
func (a *Adapter) Stream(ctx context.Context, install string) (<-chan *StreamEvent, error) {
	if _, err := parseInstall(install); err != nil {
		return nil, err
	}
	in, err := a.eng.Subscribe(ctx)
	if err != nil {
		return nil, err
	}
	out := make(chan *StreamEvent)
	go func() {
		defer close(out)
		for range in {
			select {
			case out <- &StreamEvent{Resync: true}:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// mutationSeq derives a row's mutation number from its content (and salt):
// a retried row is the same change to the engine's exactly-once table.
func mutationSeq(row *InteractionPushRow, salt int64) int64 {
	b, _ := json.Marshal(row) // plain structs
	h := sha256.New()
	h.Write(b)
	var s [8]byte
	binary.BigEndian.PutUint64(s[:], uint64(salt))
	h.Write(s[:])
	sum := h.Sum(nil)
	// 60 bits, positive, leaving room for each row's up to 4 changes.
	return int64(binary.BigEndian.Uint64(sum[:8])>>4)&^3 + 4
}

// bareID normalises a UUID string (any case) or returns it as sent.
func bareID(s string) string {
	if id, err := uuid.Parse(s); err == nil {
		return id.String()
	}
	return s
}
