// Package scalar marshals Rapport's GraphQL scalars and global IDs: Date
// (ISO 8601 calendar date), raw UUIDs inside ID inputs, and the opaque Relay
// global IDs ("Type:uuid", base64url) that every Node carries.
package scalar

import (
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// GlobalID returns the opaque Relay ID of the record of type typ with id.
func GlobalID(typ string, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + id.String()))
}

// ParseGlobalID returns the type name and UUID inside a global ID, or an
// EINVALID error if s is not one.
func ParseGlobalID(s string) (typ string, id uuid.UUID, err error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return "", uuid.Nil, care.Errorf(care.EINVALID, "malformed id")
	}
	typ, raw, ok := strings.Cut(string(b), ":")
	if !ok || typ == "" {
		return "", uuid.Nil, care.Errorf(care.EINVALID, "malformed id")
	}
	id, err = uuid.Parse(raw)
	if err != nil {
		return "", uuid.Nil, care.Errorf(care.EINVALID, "malformed id")
	}
	return typ, id, nil
}

// MarshalUUID writes a bare UUID. Entities' own ids use GlobalID instead.
func MarshalUUID(id uuid.UUID) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(id.String()))
	})
}

// UnmarshalUUID accepts an ID input as either a global ID (as the API returns
// them) or a bare UUID (as an offline client generates them, e.g. UUIDv7).
// Anything else is an EINVALID error.
func UnmarshalUUID(v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, care.Errorf(care.EINVALID, "id must be a string")
	}
	if id, err := uuid.Parse(s); err == nil && len(s) == 36 {
		return id, nil
	}
	_, id, err := ParseGlobalID(s)
	return id, err
}

// MarshalDate writes a calendar date as YYYY-MM-DD.
func MarshalDate(t time.Time) graphql.Marshaler {
	return graphql.WriterFunc(func(w io.Writer) {
		_, _ = io.WriteString(w, strconv.Quote(t.Format(time.DateOnly)))
	})
}

// UnmarshalDate parses YYYY-MM-DD into UTC midnight; EINVALID otherwise.
func UnmarshalDate(v any) (time.Time, error) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, care.Errorf(care.EINVALID, "date must be a string")
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, care.Errorf(care.EINVALID, "date must be YYYY-MM-DD")
	}
	return t, nil
}

// TypeName returns the GraphQL type name of a Node value, for GlobalID, or ""
// for a value that is not a node.
func TypeName(n any) string {
	switch n.(type) {
	case *care.Organization:
		return "Organization"
	case *care.Team:
		return "Team"
	case *care.Practitioner:
		return "Practitioner"
	case *care.Patient:
		return "Patient"
	case *care.CareRelationship:
		return "CareRelationship"
	case *care.Interaction:
		return "Interaction"
	case *care.InteractionAmendment:
		return "InteractionAmendment"
	}
	return ""
}
