package care

import (
	"time"

	"github.com/google/uuid"
)

// Page sizes for every list.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// PageArgs asks for a page of a list: up to First items after the opaque cursor After.
type PageArgs struct {
	First *int
	After *string
	// SkipTotal and SkipEdges say that the caller will not read the page's
	// TotalCount, or its edges and HasNextPage (GraphQL field lookahead), so
	// the store need not compute them. The zero value computes both.
	SkipTotal, SkipEdges bool
}

// Limits on the text a caller may put in a list's arguments, checked before
// any SQL runs. Names are matched as prefixes, so a longer filter could only
// match a name longer than any stored name may be (MaxNameLen).
const (
	MaxFilterLen = MaxNameLen
	MaxNHSFilter = 20   // ten digits with spaces, and then some
	MaxCursorLen = 1024 // our cursors are under 200 characters
)

// Limit returns the page size asked for, or an ELIMIT error when it is out
// of range or the cursor is longer than any cursor we hand out.
func (p PageArgs) Limit() (int, error) {
	if p.After != nil && len(*p.After) > MaxCursorLen {
		return 0, Errorf(ELIMIT, "after must be at most %d characters", MaxCursorLen)
	}
	if p.First == nil {
		return DefaultPageSize, nil
	}
	if *p.First < 0 || *p.First > MaxPageSize {
		return 0, Errorf(ELIMIT, "first must be between 0 and %d", MaxPageSize)
	}
	return *p.First, nil
}

// Edge is one item of a page with the cursor that resumes after it.
type Edge[T any] struct {
	Node   *T
	Cursor string
}

// Page is one page of a list in a stable order.
type Page[T any] struct {
	Edges       []Edge[T]
	HasNextPage bool
	TotalCount  int
}

// checkFilter refuses a filter text longer than max with EINVALID.
func checkFilter(field string, s *string, max int) error {
	if s != nil && len(*s) > max {
		return Errorf(EINVALID, "filter.%s must be at most %d characters", field, max)
	}
	return nil
}

// OrganizationFilter narrows a list of organisations.
type OrganizationFilter struct {
	Kind *OrganizationKind
	Name *string // case-insensitive substring
}

// Validate returns EINVALID for a name longer than MaxFilterLen.
func (f OrganizationFilter) Validate() error { return checkFilter("name", f.Name, MaxFilterLen) }

// Validate returns EINVALID for a name longer than MaxFilterLen.
func (f TeamFilter) Validate() error { return checkFilter("name", f.Name, MaxFilterLen) }

// Validate returns EINVALID for a name longer than MaxFilterLen.
func (f PractitionerFilter) Validate() error { return checkFilter("name", f.Name, MaxFilterLen) }

// Validate returns EINVALID for a name longer than MaxFilterLen or an NHS
// number longer than MaxNHSFilter.
func (f PatientFilter) Validate() error {
	if err := checkFilter("name", f.Name, MaxFilterLen); err != nil {
		return err
	}
	return checkFilter("nhsNumber", f.NHSNumber, MaxNHSFilter)
}

// TeamFilter narrows a list of teams.
type TeamFilter struct {
	OrganizationID *uuid.UUID
	Name           *string
}

// PractitionerFilter narrows a list of practitioners.
type PractitionerFilter struct {
	OrganizationID *uuid.UUID
	Profession     *Profession
	Name           *string
	TeamID         *uuid.UUID // active members of this team
}

// PatientFilter narrows a list of patients to those the caller may see.
type PatientFilter struct {
	Name                 *string // case-insensitive start of the given or family name
	NHSNumber            *string // exact, after normalisation
	RegisteredPracticeID *uuid.UUID
	// PractitionerID/TeamID: patients with an active relationship to them.
	PractitionerID *uuid.UUID
	TeamID         *uuid.UUID
}

// InteractionFilter narrows a list of interactions to those the caller may see.
type InteractionFilter struct {
	PatientID      *uuid.UUID
	PractitionerID *uuid.UUID
	From           *time.Time // occurredAt >= From
	To             *time.Time // occurredAt < To
	Mode           *InteractionMode
	Status         *InteractionStatus
}

// RelationshipFilter narrows a list of care relationships to those the caller may see.
type RelationshipFilter struct {
	PatientID      *uuid.UUID
	PractitionerID *uuid.UUID
	TeamID         *uuid.UUID
	OrganizationID *uuid.UUID
	Kind           *RelationshipKind
	Active         *bool // in force now (or not)
}
