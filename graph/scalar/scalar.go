// Package scalar marshals Rapport's GraphQL scalars and global IDs: Date
// (ISO 8601 calendar date), raw UUIDs inside ID inputs, and the opaque Relay
// global IDs ("Type:uuid", base64url) that every Node carries.
package scalar

import (
	"context"
	"encoding/base64"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// GlobalID returns the opaque Relay ID of the record of type typ with id:
// "typ:" and the UUID's canonical text, base64url without padding. Every
// Node of every response carries one, so it is built in buffers on the stack
// and allocates only the string it returns.
func GlobalID(typ string, id uuid.UUID) string {
	var raw [64]byte
	b := append(append(raw[:0], typ...), ':')
	b = appendUUID(b, id)
	var enc [96]byte
	return string(base64.RawURLEncoding.AppendEncode(enc[:0], b))
}

// appendUUID appends id in its canonical form, as id.String() writes it.
func appendUUID(b []byte, id uuid.UUID) []byte {
	const hexDigits = "0123456789abcdef"
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0x0f])
	}
	return b
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

// ParseID returns the UUID inside s, which may be the record's bare UUID or
// its global ID. With typ set, a global ID of another type is an EINVALID
// error ("is a Team id, not a Patient id"); anything that is neither a UUID
// nor a global ID is EINVALID ("malformed id"). This is the one id rule of
// the API and the command line (docs/design.md, "Ids").
func ParseID(s, typ string) (uuid.UUID, error) {
	if id, err := uuid.Parse(s); err == nil && len(s) == 36 {
		return id, nil
	}
	got, id, err := ParseGlobalID(s)
	if err != nil {
		return uuid.Nil, err
	}
	if typ != "" && got != typ {
		return uuid.Nil, care.Errorf(care.EINVALID, "id is a %s id, not a %s id", got, typ)
	}
	return id, nil
}

// IsBareUUID reports whether s is written as a bare UUID (36 characters),
// as opposed to a global ID.
func IsBareUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// MarshalUUID writes a bare UUID. Entities' own ids use GlobalID instead.
func MarshalUUID(id uuid.UUID) graphql.ContextMarshaler {
	return graphql.ContextWriterFunc(func(_ context.Context, w io.Writer) error {
		_, err := io.WriteString(w, strconv.Quote(id.String()))
		return err
	})
}

// UnmarshalUUID accepts an ID input as either a global ID (as the API returns
// them) or a bare UUID (as an offline client generates them, e.g. UUIDv7).
// Where the input names a record of one type (patientId, the id of an
// UpdateTeamInput…, see ExpectedType) a global ID of another type is refused.
// Anything else is an EINVALID error.
func UnmarshalUUID(ctx context.Context, v any) (uuid.UUID, error) {
	s, ok := v.(string)
	if !ok {
		return uuid.Nil, care.Errorf(care.EINVALID, "id must be a string")
	}
	return ParseID(s, ExpectedType(ctx))
}

// nodeTypes are the types whose global IDs the API writes and node(id:) reads.
var nodeTypes = map[string]bool{
	"Organization": true, "Team": true, "Practitioner": true, "Patient": true,
	"CareRelationship": true, "Interaction": true, "SyncConflict": true,
}

// idFieldTypes names the record type of ID input fields and arguments by
// their name (without Id/Ids): patientId is a Patient, registeredPracticeId
// an Organization. Names not here (subjectId, deviceId, recordId…) may hold
// more than one type, or no global ID at all.
var idFieldTypes = map[string]string{
	"patient": "Patient", "practitioner": "Practitioner", "participant": "Practitioner",
	"team": "Team", "organization": "Organization", "partnerOrganization": "Organization",
	"practice": "Organization", "registeredPractice": "Organization",
	"interaction": "Interaction", "relationship": "CareRelationship", "conflict": "SyncConflict",
}

// inputTypes names the record an input type's own "id" field points at, for
// input types whose name does not say it plainly.
var inputTypes = map[string]string{"Relationship": "CareRelationship", "Conflict": "SyncConflict"}

// ExpectedType returns the node type the ID input being unmarshalled at ctx
// must name, or "" when any is fine. It reads gqlgen's path: a field or
// argument called <type>Id or <type>Ids names that type (idFieldTypes); the
// "id" field of an input object <Verb><Type>Input (UpdateTeamInput,
// SignInteractionInput…) names <Type>.
func ExpectedType(ctx context.Context) string {
	pc := graphql.GetPathContext(ctx)
	for pc != nil && pc.Field == nil { // list indices: participantIds[2]
		pc = pc.Parent
	}
	if pc == nil {
		return ""
	}
	name := *pc.Field
	if base, ok := strings.CutSuffix(name, "Ids"); ok {
		return idFieldTypes[base]
	}
	if base, ok := strings.CutSuffix(name, "Id"); ok {
		return idFieldTypes[base]
	}
	if name != "id" || pc.Parent == nil || pc.Parent.Field == nil || pc.Parent.Parent != nil {
		return "" // only an input object argument's own id field
	}
	fc := pc.ParentField
	if fc == nil || fc.Field.Definition == nil {
		return ""
	}
	arg := fc.Field.Definition.Arguments.ForName(*pc.Parent.Field)
	if arg == nil {
		return ""
	}
	typ, ok := strings.CutSuffix(arg.Type.Name(), "Input")
	if !ok {
		return ""
	}
	// Strip the verb: the type is the last capitalised word run that names a node.
	for i := 1; i < len(typ); i++ {
		if typ[i] >= 'A' && typ[i] <= 'Z' {
			cand := typ[i:]
			if t, ok := inputTypes[cand]; ok {
				return t
			}
			if nodeTypes[cand] {
				return cand
			}
		}
	}
	return ""
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
