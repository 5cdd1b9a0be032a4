// Package graph serves Rapport's GraphQL schema (schema.graphql) with gqlgen:
// generated execution code, thin resolvers that authorise through the store
// and delegate to it, per-request dataloaders, limits and the error presenter.
package graph

import (
	"context"
	gosync "sync"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/graph/model"
	"github.com/rapportcare/rapport/graph/scalar"
	"github.com/rapportcare/rapport/postgres"
	offline "github.com/rapportcare/rapport/sync"
	"github.com/rapportcare/rapport/sync/rxdb"
	"github.com/vikstrous/dataloadgen"
)

//go:generate go -C .. run ./graph/generate

// Resolver is the root resolver: the dependencies every resolver shares.
type Resolver struct {
	DB *postgres.DB
	// Sync is the offline sync engine behind the sync fields and the
	// syncChanges subscription.
	Sync *offline.Engine
	// RxDB serves the RxDB replication fields (pull*, push*, stream*) over Sync.
	RxDB *rxdb.Adapter
	// Feedback signs feedback links; nil disables createFeedbackLink.
	Feedback *feedback.Signer
}

func (r *Resolver) now() time.Time {
	if r.DB.Now != nil {
		return r.DB.Now()
	}
	return time.Now()
}

// notFound is the one answer for a record that is missing or that the caller
// may not see: the two are never told apart.
func notFound(typ string) error {
	return care.Errorf(care.ENOTFOUND, "%s not found", typ)
}

// loadOpt loads a record for a nullable field: nil when missing or not visible.
func loadOpt[T any](ctx context.Context, l *dataloadgen.Loader[uuid.UUID, *T], id *uuid.UUID) (*T, error) {
	if id == nil || *id == uuid.Nil {
		return nil, nil
	}
	return l.Load(ctx, *id)
}

// loadReq loads a record for a non-null field: NOT_FOUND when missing or not visible.
func loadReq[T any](ctx context.Context, l *dataloadgen.Loader[uuid.UUID, *T], id uuid.UUID, typ string) (*T, error) {
	v, err := l.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, notFound(typ)
	}
	return v, nil
}

// values turns the loaders' pointers into the values gqlgen's lists hold
// (omit_slice_element_pointers), skipping records the caller may not see.
func values[T any](ps []*T) []T {
	out := make([]T, 0, len(ps))
	for _, p := range ps {
		if p != nil {
			out = append(out, *p)
		}
	}
	return out
}

// connection converts a store page into the parts of a Relay connection.
func connection[T, E any](p *care.Page[T], edge func(node *T, cursor string) E) ([]E, *model.PageInfo, int) {
	edges := make([]E, len(p.Edges))
	for i, e := range p.Edges {
		edges[i] = edge(e.Node, e.Cursor)
	}
	info := &model.PageInfo{HasNextPage: p.HasNextPage}
	if n := len(p.Edges); n > 0 {
		info.StartCursor = &p.Edges[0].Cursor
		info.EndCursor = &p.Edges[n-1].Cursor
	}
	return edges, info, p.TotalCount
}

func organizationConnection(p *care.Page[care.Organization]) *model.OrganizationConnection {
	edges, info, total := connection(p, func(n *care.Organization, c string) model.OrganizationEdge {
		return model.OrganizationEdge{Node: n, Cursor: c}
	})
	return &model.OrganizationConnection{Edges: edges, PageInfo: info, TotalCount: total}
}

func teamConnection(p *care.Page[care.Team]) *model.TeamConnection {
	edges, info, total := connection(p, func(n *care.Team, c string) model.TeamEdge {
		return model.TeamEdge{Node: n, Cursor: c}
	})
	return &model.TeamConnection{Edges: edges, PageInfo: info, TotalCount: total}
}

func practitionerConnection(p *care.Page[care.Practitioner]) *model.PractitionerConnection {
	edges, info, total := connection(p, func(n *care.Practitioner, c string) model.PractitionerEdge {
		return model.PractitionerEdge{Node: n, Cursor: c}
	})
	return &model.PractitionerConnection{Edges: edges, PageInfo: info, TotalCount: total}
}

func patientConnection(p *care.Page[care.Patient]) *model.PatientConnection {
	edges, info, total := connection(p, func(n *care.Patient, c string) model.PatientEdge {
		return model.PatientEdge{Node: n, Cursor: c}
	})
	return &model.PatientConnection{Edges: edges, PageInfo: info, TotalCount: total}
}

func relationshipConnection(p *care.Page[care.CareRelationship]) *model.CareRelationshipConnection {
	edges, info, total := connection(p, func(n *care.CareRelationship, c string) model.CareRelationshipEdge {
		return model.CareRelationshipEdge{Node: n, Cursor: c}
	})
	return &model.CareRelationshipConnection{Edges: edges, PageInfo: info, TotalCount: total}
}

func interactionConnection(p *care.Page[care.Interaction]) *model.InteractionConnection {
	edges, info, total := connection(p, func(n *care.Interaction, c string) model.InteractionEdge {
		return model.InteractionEdge{Node: n, Cursor: c}
	})
	return &model.InteractionConnection{Edges: edges, PageInfo: info, TotalCount: total}
}

func conflictConnection(p *care.Page[offline.Conflict]) *model.SyncConflictConnection {
	edges, info, total := connection(p, func(n *offline.Conflict, c string) model.SyncConflictEdge {
		return model.SyncConflictEdge{Node: n, Cursor: c}
	})
	return &model.SyncConflictConnection{Edges: edges, PageInfo: info, TotalCount: total}
}

// orZero returns *p, or T's zero value for nil: an absent filter filters nothing.
func orZero[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// loadNodes starts loading every id at once (so each type is one batch),
// then collects them; each entry is the record or an error. An id may be a
// global ID or a bare UUID (docs/design.md, "Ids"); a bare UUID is looked up
// in every node type, under the same access rule, and the one that holds it
// answers.
func (r *Resolver) loadNodes(ctx context.Context, ids []string) ([]model.Node, []error) {
	l := r.loaders(ctx)
	conflicts := &conflictBatch{engine: r.Sync}
	thunks := make([]func() (model.Node, error), len(ids))
	for i, gid := range ids {
		thunks[i] = r.nodeThunk(ctx, l, conflicts, gid)
	}
	nodes := make([]model.Node, len(ids))
	errs := make([]error, len(ids))
	for i, th := range thunks {
		nodes[i], errs[i] = th()
	}
	return nodes, errs
}

// nodeTypeNames are the node types a bare UUID is looked for in.
var nodeTypeNames = []string{"Organization", "Team", "Practitioner", "Patient", "CareRelationship", "Interaction", "SyncConflict"}

func (r *Resolver) nodeThunk(ctx context.Context, l *Loaders, conflicts *conflictBatch, gid string) func() (model.Node, error) {
	if scalar.IsBareUUID(gid) {
		id := uuid.MustParse(gid)
		ths := make([]func() (model.Node, error), len(nodeTypeNames))
		for i, typ := range nodeTypeNames {
			ths[i] = r.typedNodeThunk(ctx, l, conflicts, typ, id)
		}
		return func() (model.Node, error) {
			for _, th := range ths {
				n, err := th()
				if err == nil {
					return n, nil
				}
				// Not this type (or not a type this caller may read at all):
				// look on, so that the answer is NOT_FOUND either way.
				if c := care.ErrorCode(err); c != care.ENOTFOUND && c != care.EFORBIDDEN {
					return nil, err
				}
			}
			return nil, notFound("node")
		}
	}
	typ, id, err := scalar.ParseGlobalID(gid)
	if err != nil {
		return func() (model.Node, error) { return nil, err }
	}
	return r.typedNodeThunk(ctx, l, conflicts, typ, id)
}

func (r *Resolver) typedNodeThunk(ctx context.Context, l *Loaders, conflicts *conflictBatch, typ string, id uuid.UUID) func() (model.Node, error) {
	switch typ {
	case "Organization":
		return nodeOf(l.Organization.LoadThunk(ctx, id), typ)
	case "Team":
		return nodeOf(l.Team.LoadThunk(ctx, id), typ)
	case "Practitioner":
		return nodeOf(l.Practitioner.LoadThunk(ctx, id), typ)
	case "Patient":
		return nodeOf(l.Patient.LoadThunk(ctx, id), typ)
	case "CareRelationship":
		return nodeOf(l.Relationship.LoadThunk(ctx, id), typ)
	case "Interaction":
		return nodeOf(l.Interaction.LoadThunk(ctx, id), typ)
	case "SyncConflict":
		return nodeOf(conflicts.thunk(ctx, id), typ)
	}
	return func() (model.Node, error) { return nil, notFound("node") }
}

// nodesOf serves Query.nodes: one entry per id, in order, null for an id not
// found or not visible, without errors (as Relay specifies). A malformed id
// fails the whole field with EINVALID before anything is loaded.
func (r *Resolver) nodesOf(ctx context.Context, ids []string) ([]model.Node, error) {
	for i, id := range ids {
		if scalar.IsBareUUID(id) {
			continue
		}
		if _, _, err := scalar.ParseGlobalID(id); err != nil {
			return nil, care.Errorf(care.EINVALID, "ids[%d] is malformed: give a global id or a UUID", i)
		}
	}
	nodes, errs := r.loadNodes(ctx, ids)
	for i, err := range errs {
		if err != nil {
			if care.ErrorCode(err) != care.ENOTFOUND {
				return nil, err
			}
			nodes[i] = nil
		}
	}
	return nodes, nil
}

func nodeOf[T any](th func() (*T, error), typ string) func() (model.Node, error) {
	return func() (model.Node, error) {
		v, err := th()
		if err != nil {
			return nil, err
		}
		if v == nil {
			return nil, notFound(typ)
		}
		return v, nil
	}
}

// conflictBatch gathers the SyncConflict ids of one node/nodes request and
// loads them with one Engine.ConflictsByID call when the first is needed.
type conflictBatch struct {
	engine *offline.Engine
	ids    []uuid.UUID
	once   gosync.Once
	found  map[uuid.UUID]*offline.Conflict
	err    error
}

func (b *conflictBatch) thunk(ctx context.Context, id uuid.UUID) func() (*offline.Conflict, error) {
	b.ids = append(b.ids, id)
	return func() (*offline.Conflict, error) {
		b.once.Do(func() {
			cs, err := b.engine.ConflictsByID(ctx, b.ids)
			if err != nil {
				b.err = err
				return
			}
			b.found = make(map[uuid.UUID]*offline.Conflict, len(cs))
			for _, c := range cs {
				if c != nil {
					b.found[c.ID] = c
				}
			}
		})
		return b.found[id], b.err
	}
}
