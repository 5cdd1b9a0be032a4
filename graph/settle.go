package graph

import (
	"context"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph/model"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vikstrous/dataloadgen"
)

// Settled lists (graph/generate/settle.go). gqlgen marshals a list whose
// elements may wait for a loader on a goroutine per element, so that their
// loads gather into one batch. For a page of patients or of interactions,
// the loads a query usually asks of each element (a patient's usual GP or
// named nurse, an interaction's practitioner) can instead be made for the
// whole page before its elements are marshalled: one batch, or none when
// the page's own statement read them. Then no element waits, and the page
// is written on one goroutine. Any other waiting field under the elements
// (a patient's relationships, an interaction's organisation) leaves the
// list as gqlgen marshals it.
//
// A settle method that answers true when an element would still wait is
// slow, not wrong: that element waits for its loader's batch alone.
// TestSettledListsLoadInOneBatch holds them to one batch per list.

// settledLists counts the lists marshalled serially, for the tests.
var settledLists atomic.Int64

// fieldShape is a field of objectShapes: its type's name, whether that is an
// object, an interface or union, or a leaf, and whether the field waits.
type fieldShape struct {
	typ   string
	kind  shapeKind
	waits bool
}

type shapeKind uint8

const (
	shapeLeaf shapeKind = iota
	shapeObject
	shapeAbstract
)

type objectShape struct {
	implements []string
	fields     map[string]fieldShape
}

// marshalSliceIf marshals a list serially when serial, otherwise as gqlgen
// does, on a goroutine per element.
func marshalSliceIf(ctx context.Context, serial bool, length int, marshalElement func(ctx context.Context, i int) graphql.Marshaler) graphql.Array {
	if serial {
		settledLists.Add(1)
		return marshalSliceSerially(ctx, length, marshalElement)
	}
	return graphql.MarshalSliceConcurrently(ctx, length, 0, false, marshalElement)
}

// waitingFields adds to into the waiting fields ("Type.field") that
// selecting sel on the object type typ reaches, through objects at any
// depth. It answers false when the selection reaches an interface or a
// union (not followed: the caller must assume the worst).
func waitingFields(op *graphql.OperationContext, sel ast.SelectionSet, typ string, into map[string]bool) bool {
	shape, ok := objectShapes[typ]
	if !ok {
		return false
	}
	for _, f := range graphql.CollectFields(op, sel, shape.implements) {
		fs, ok := shape.fields[f.Name]
		if !ok {
			continue // a leaf that never waits, or __typename
		}
		if fs.waits {
			into[typ+"."+f.Name] = true
		}
		switch fs.kind {
		case shapeAbstract:
			return false
		case shapeObject:
			if !waitingFields(op, f.Selections, fs.typ, into) {
				return false
			}
		}
	}
	return true
}

// settleable reports the waiting fields that selecting sel on typ reaches,
// when every one of them is in can; nil, false otherwise, or when the
// operation's loaders are not in ctx.
func (ec *executionContext) settleable(ctx context.Context, sel ast.SelectionSet, typ string, can ...string) (*Loaders, map[string]bool, bool) {
	l, ok := ctx.Value(loadersKey{}).(*Loaders)
	if !ok {
		return nil, nil, false
	}
	waits := map[string]bool{}
	if !waitingFields(ec.OperationContext, sel, typ, waits) {
		return nil, nil, false
	}
	for f := range waits {
		known := false
		for _, c := range can {
			known = known || f == c
		}
		if !known {
			return nil, nil, false
		}
	}
	return l, waits, true
}

// settlePatientEdges loads, for a page of patients, the usual GPs and named
// nurses the selection asks for, and reports whether the page may then be
// marshalled serially.
func (ec *executionContext) settlePatientEdges(ctx context.Context, sel ast.SelectionSet, v []model.PatientEdge) bool {
	l, waits, ok := ec.settleable(ctx, sel, "PatientEdge", "Patient.usualGP", "Patient.namedNurse")
	if !ok || len(v) < 2 {
		return ok
	}
	ids := make([]uuid.UUID, 0, len(v))
	for _, e := range v {
		if e.Node != nil {
			ids = append(ids, e.Node.ID)
		}
	}
	for field, current := range map[string]*dataloadgen.Loader[uuid.UUID, uuid.UUID]{"Patient.usualGP": l.UsualGP, "Patient.namedNurse": l.NamedNurse} {
		if !waits[field] {
			continue
		}
		pracs, err := current.LoadAll(ctx, ids)
		if err != nil || l.practitionersNow(ctx, pracs) != nil {
			return false
		}
	}
	return true
}

// settleInteractionEdges loads, for a page of interactions, the
// practitioners the selection asks for, and reports whether the page may
// then be marshalled serially.
func (ec *executionContext) settleInteractionEdges(ctx context.Context, sel ast.SelectionSet, v []model.InteractionEdge) bool {
	l, waits, ok := ec.settleable(ctx, sel, "InteractionEdge", "Interaction.practitioner")
	if !ok || len(v) < 2 || !waits["Interaction.practitioner"] {
		return ok
	}
	ids := make([]uuid.UUID, 0, len(v))
	for _, e := range v {
		if e.Node != nil {
			ids = append(ids, e.Node.PractitionerID)
		}
	}
	return l.practitionersNow(ctx, ids) == nil
}

// practitionersNow makes the Practitioner loader answer ids without
// waiting: those read already with other records are primed, the others
// loaded in one batch. uuid.Nil (no practitioner) is skipped.
func (l *Loaders) practitionersNow(ctx context.Context, ids []uuid.UUID) error {
	var missing []uuid.UUID
	known := map[uuid.UUID]*care.Practitioner{}
	l.known.mu.Lock()
	for _, id := range ids {
		if p, ok := l.known.m[id]; ok {
			known[id] = p
		} else if id != uuid.Nil {
			missing = append(missing, id)
		}
	}
	l.known.mu.Unlock()
	for id, p := range known {
		l.Practitioner.Prime(id, p)
	}
	if len(missing) == 0 {
		return nil
	}
	_, err := l.Practitioner.LoadAll(ctx, missing)
	return err
}
