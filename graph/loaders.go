package graph

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres"
	"github.com/vikstrous/dataloadgen"
)

// loaderWait is how long a loader gathers keys before it runs its batch.
// gqlgen resolves sibling fields and list elements concurrently, so a few
// milliseconds collect a whole level of the query into one SQL query.
const loaderWait = 1 * time.Millisecond

// pageKey identifies one paged nested list: the parent's ID and the list's
// arguments (filter and page), encoded as JSON so the key stays comparable.
// A batch groups its keys by Args and runs one query per distinct Args.
type pageKey struct {
	ParentID uuid.UUID
	Args     string
}

// pageArgs is what pageKey.Args encodes.
type pageArgs[F any] struct {
	Filter F
	Page   care.PageArgs
}

func newPageKey[F any](parent uuid.UUID, f F, p care.PageArgs) (pageKey, error) {
	b, err := json.Marshal(pageArgs[F]{Filter: f, Page: p})
	if err != nil {
		return pageKey{}, fmt.Errorf("encode list arguments: %w", err)
	}
	return pageKey{ParentID: parent, Args: string(b)}, nil
}

// Loaders are the per-operation dataloaders. Each batches the loads one level
// of a query makes into one store call and caches the results for the rest of
// the operation, so a nested query costs a number of SQL queries bounded by
// its shape, not by the number of records it returns.
type Loaders struct {
	Organization *dataloadgen.Loader[uuid.UUID, *care.Organization]
	Team         *dataloadgen.Loader[uuid.UUID, *care.Team]
	Practitioner *dataloadgen.Loader[uuid.UUID, *care.Practitioner]
	Patient      *dataloadgen.Loader[uuid.UUID, *care.Patient]
	Relationship *dataloadgen.Loader[uuid.UUID, *care.CareRelationship]
	Interaction  *dataloadgen.Loader[uuid.UUID, *care.Interaction]

	// UsualGP and NamedNurse map a patient to the practitioner of their
	// active relationship of that kind; uuid.Nil when there is none.
	UsualGP    *dataloadgen.Loader[uuid.UUID, uuid.UUID]
	NamedNurse *dataloadgen.Loader[uuid.UUID, uuid.UUID]

	TeamMembers     *dataloadgen.Loader[uuid.UUID, []*care.Practitioner]
	TeamsOf         *dataloadgen.Loader[uuid.UUID, []*care.Team]
	Partners        *dataloadgen.Loader[uuid.UUID, []*care.Organization]
	Amendments      *dataloadgen.Loader[uuid.UUID, []*care.InteractionAmendment]
	PatientRels     *dataloadgen.Loader[pageKey, *care.Page[care.CareRelationship]]
	PatientInts     *dataloadgen.Loader[pageKey, *care.Page[care.Interaction]]
	PractitionerInt *dataloadgen.Loader[pageKey, *care.Page[care.Interaction]]
	Caseload        *dataloadgen.Loader[pageKey, *care.Page[care.Patient]]

	known knownPractitioners
}

// knownPractitioners holds the practitioners read with other records (the
// practitioners of interactions, usual GPs); the Practitioner loader answers
// from it and sends SQL only for the others. It is not a Prime of the loader:
// a load still waits for its batch, so the loads that follow it keep batching
// with those of practitioners that were not known. A settled list
// (settle.go) primes the loader with the ones its page needs: it loads
// for the whole page at once, so no load of its elements follows.
type knownPractitioners struct {
	mu sync.Mutex
	m  map[uuid.UUID]*care.Practitioner
}

func (k *knownPractitioners) add(ps map[uuid.UUID]*care.Practitioner) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, p := range ps {
		k.m[id] = p
	}
}

// practitioners returns the practitioners of ids aligned with them, reading
// those not known with db.PractitionersByID (not at all when all are known).
func (k *knownPractitioners) practitioners(ctx context.Context, db *postgres.DB, ids []uuid.UUID) ([]*care.Practitioner, error) {
	out := make([]*care.Practitioner, len(ids))
	var missing []uuid.UUID
	var at []int
	k.mu.Lock()
	for i, id := range ids {
		if p, ok := k.m[id]; ok {
			out[i] = p
		} else {
			missing, at = append(missing, id), append(at, i)
		}
	}
	k.mu.Unlock()
	if len(missing) == 0 {
		// Still an authenticated read, as PractitionersByID would check.
		if care.ActorFromContext(ctx) == nil {
			return nil, care.Errorf(care.EUNAUTHENTICATED, "authentication required")
		}
		return out, nil
	}
	got, err := db.PractitionersByID(ctx, missing)
	if err != nil {
		return nil, err
	}
	for j, i := range at {
		if j < len(got) {
			out[i] = got[j]
		}
	}
	return out, nil
}

// NewLoaders returns fresh loaders over db. Make one set per operation: the
// loaders cache what they load, and what an actor may see is decided by the
// context of the first load of each batch.
func NewLoaders(db *postgres.DB) *Loaders { return newLoaders(db, loaderWait) }

// newLoaders returns loaders that gather keys for batchWait before each batch.
func newLoaders(db *postgres.DB, batchWait time.Duration) *Loaders {
	wait := dataloadgen.WithWait(batchWait)
	l := &Loaders{
		Organization: dataloadgen.NewLoader(byID(db.OrganizationsByID), wait),
		Team:         dataloadgen.NewLoader(byID(db.TeamsByID), wait),
		Patient:      dataloadgen.NewLoader(byID(db.PatientsByID), wait),
		Relationship: dataloadgen.NewLoader(byID(db.CareRelationshipsByID), wait),
		Interaction:  dataloadgen.NewLoader(byID(db.InteractionsByID), wait),

		TeamMembers: dataloadgen.NewLoader(byParent(db.TeamMembers), wait),
		TeamsOf:     dataloadgen.NewLoader(byParent(db.TeamsOfPractitioners), wait),
		Partners:    dataloadgen.NewLoader(byParent(db.PartnersOf), wait),
		Amendments:  dataloadgen.NewLoader(byParent(db.AmendmentsOf), wait),

		PatientRels:     dataloadgen.NewLoader(paged(db.RelationshipsForPatients), wait),
		PractitionerInt: dataloadgen.NewLoader(paged(db.InteractionsForPractitioners), wait),
	}
	l.known.m = map[uuid.UUID]*care.Practitioner{}
	l.Practitioner = dataloadgen.NewLoader(byID(func(ctx context.Context, ids []uuid.UUID) ([]*care.Practitioner, error) {
		return l.known.practitioners(ctx, db, ids)
	}), wait)
	l.UsualGP = dataloadgen.NewLoader(l.current(db, care.KindUsualGP), wait)
	l.NamedNurse = dataloadgen.NewLoader(l.current(db, care.KindNamedNurse), wait)
	// A patient's interactions bring their practitioners in the same
	// statement when the query reads them.
	l.PatientInts = dataloadgen.NewLoader(paged(func(ctx context.Context, ids []uuid.UUID, a interactionsArgs, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Interaction], error) {
		pages, pracs, err := db.InteractionsForPatientsWithPractitioners(ctx, ids, a.Filter, p, a.Practitioners)
		l.known.add(pracs)
		return pages, err
	}), wait)
	// A caseload page brings its patients' usual GPs in one more statement
	// when the query reads them, rather than one batch per loader window.
	l.Caseload = dataloadgen.NewLoader(paged(func(ctx context.Context, ids []uuid.UUID, a caseloadArgs, p care.PageArgs) (map[uuid.UUID]*care.Page[care.Patient], error) {
		if !a.UsualGP {
			return db.CaseloadsFor(ctx, ids, p)
		}
		c, err := db.CaseloadsWithCurrent(ctx, ids, p, care.KindUsualGP)
		if err != nil {
			return nil, err
		}
		l.primeCurrent(l.UsualGP, c.Patients, c.Current)
		return c.Pages, nil
	}), wait)
	return l
}

// interactionsArgs are the arguments of a patient's interactions, and
// whether the query reads each interaction's practitioner.
type interactionsArgs struct {
	Filter        care.InteractionFilter
	Practitioners bool
}

// caseloadArgs says whether the query reads each caseload patient's usual GP.
type caseloadArgs struct{ UsualGP bool }

type loadersKey struct{}

// withLoaders returns a copy of ctx carrying l.
func withLoaders(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, loadersKey{}, l)
}

// loaders returns the operation's loaders, or fresh ones (no batching across
// fields) when the resolver runs outside NewServer's operation interceptor.
func (r *Resolver) loaders(ctx context.Context) *Loaders {
	if l, ok := ctx.Value(loadersKey{}).(*Loaders); ok {
		return l
	}
	return NewLoaders(r.DB)
}

// byID adapts a store batch method returning a slice aligned with ids (nil
// where missing or not visible) to a loader fetch. A missing record is a nil
// value, not an error: resolvers decide whether that is NOT_FOUND or null.
func byID[T any](fetch func(context.Context, []uuid.UUID) ([]*T, error)) func(context.Context, []uuid.UUID) ([]*T, []error) {
	return func(ctx context.Context, ids []uuid.UUID) ([]*T, []error) {
		vals, err := fetch(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		if len(vals) != len(ids) {
			return nil, []error{fmt.Errorf("batch load: %d results for %d ids", len(vals), len(ids))}
		}
		return vals, nil
	}
}

// byParent adapts a store *Of/*For method returning a map keyed by parent to
// a loader fetch; a parent absent from the map has no children.
func byParent[T any](fetch func(context.Context, []uuid.UUID) (map[uuid.UUID][]*T, error)) func(context.Context, []uuid.UUID) ([][]*T, []error) {
	return func(ctx context.Context, ids []uuid.UUID) ([][]*T, []error) {
		m, err := fetch(ctx, ids)
		if err != nil {
			return nil, []error{err}
		}
		out := make([][]*T, len(ids))
		for i, id := range ids {
			out[i] = m[id]
		}
		return out, nil
	}
}

// current adapts db.CurrentPractitionerRecords for one kind to a loader
// fetch of practitioner ids (uuid.Nil when there is none), priming the
// Practitioner loader with the practitioners read in the same statement.
func (l *Loaders) current(db *postgres.DB, kind care.RelationshipKind) func(context.Context, []uuid.UUID) ([]uuid.UUID, []error) {
	return func(ctx context.Context, ids []uuid.UUID) ([]uuid.UUID, []error) {
		m, err := db.CurrentPractitionerRecords(ctx, kind, ids)
		if err != nil {
			return nil, []error{err}
		}
		return l.primeCurrent(nil, ids, m), nil
	}
}

// byPractitionerID re-keys m (patient -> practitioner) by practitioner.
func byPractitionerID(m map[uuid.UUID]*care.Practitioner) map[uuid.UUID]*care.Practitioner {
	out := make(map[uuid.UUID]*care.Practitioner, len(m))
	for _, p := range m {
		out[p.ID] = p
	}
	return out
}

// primeCurrent makes m's practitioners known to the Practitioner loader and
// returns, aligned with patients, each one's practitioner id (uuid.Nil when
// absent from m), priming into (when not nil) with them too.
func (l *Loaders) primeCurrent(into *dataloadgen.Loader[uuid.UUID, uuid.UUID], patients []uuid.UUID, m map[uuid.UUID]*care.Practitioner) []uuid.UUID {
	l.known.add(byPractitionerID(m))
	out := make([]uuid.UUID, len(patients))
	for i, id := range patients {
		if p := m[id]; p != nil {
			out[i] = p.ID
		}
		if into != nil {
			into.Prime(id, out[i])
		}
	}
	return out
}

// paged adapts a store *For* method that pages children per parent to a loader
// fetch over pageKeys: keys are grouped by their arguments and each group is
// one store call.
func paged[F any, T any](fetch func(context.Context, []uuid.UUID, F, care.PageArgs) (map[uuid.UUID]*care.Page[T], error)) func(context.Context, []pageKey) ([]*care.Page[T], []error) {
	return func(ctx context.Context, keys []pageKey) ([]*care.Page[T], []error) {
		groups := make(map[string][]int) // Args -> positions in keys
		var order []string
		for i, k := range keys {
			if _, ok := groups[k.Args]; !ok {
				order = append(order, k.Args)
			}
			groups[k.Args] = append(groups[k.Args], i)
		}
		out := make([]*care.Page[T], len(keys))
		errs := make([]error, len(keys))
		for _, args := range order {
			idx := groups[args]
			var a pageArgs[F]
			err := json.Unmarshal([]byte(args), &a)
			var m map[uuid.UUID]*care.Page[T]
			if err == nil {
				ids := make([]uuid.UUID, len(idx))
				for j, i := range idx {
					ids[j] = keys[i].ParentID
				}
				m, err = fetch(ctx, ids, a.Filter, a.Page)
			}
			for _, i := range idx {
				if err != nil {
					errs[i] = err
					continue
				}
				if p := m[keys[i].ParentID]; p != nil {
					out[i] = p
				} else {
					out[i] = &care.Page[T]{}
				}
			}
		}
		return out, errs
	}
}
