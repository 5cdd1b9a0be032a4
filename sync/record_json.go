package sync

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// A pull page's records are written as JSON once, straight from the loaded
// rows, instead of building a map per record for the GraphQL layer to encode
// again: the bytes are exactly what encoding/json writes for the record's map
// (patientData and the others in record.go: keys sorted, HTML characters
// escaped), which TestRecordJSONIsTheMapEncoded checks for every entity and
// edge values. A new field must be added to both.

// RawJSON is a JSON value already encoded. As the GraphQL JSON scalar it is
// written as it is (MarshalGQL); as input it is the value re-encoded.
type RawJSON []byte

// MarshalGQL writes the bytes unchanged.
func (r RawJSON) MarshalGQL(w io.Writer) {
	if len(r) == 0 {
		_, _ = io.WriteString(w, "null")
		return
	}
	_, _ = w.Write(r)
}

// UnmarshalGQL encodes the input value; EINVALID if it cannot be encoded.
func (r *RawJSON) UnmarshalGQL(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return care.Errorf(care.EINVALID, "not a JSON value: %v", err)
	}
	*r = b
	return nil
}

// MarshalJSON returns the bytes (null when empty).
func (r RawJSON) MarshalJSON() ([]byte, error) {
	if len(r) == 0 {
		return []byte("null"), nil
	}
	return r, nil
}

// UnmarshalJSON keeps a copy of the value's bytes.
func (r *RawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// jw appends JSON to a page's buffer.
type jw struct{ b []byte }

func (w *jw) key(first bool, k string) {
	if !first {
		w.b = append(w.b, ',')
	}
	w.b = append(w.b, '"')
	w.b = append(w.b, k...)
	w.b = append(w.b, '"', ':')
}

// safeJSON reports whether s encodes as itself between quotes: printable
// ASCII other than the characters encoding/json escapes.
func safeJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

func (w *jw) str(s string) {
	if safeJSON(s) {
		w.b = append(w.b, '"')
		w.b = append(w.b, s...)
		w.b = append(w.b, '"')
		return
	}
	b, _ := json.Marshal(s) // never fails for a string
	w.b = append(w.b, b...)
}

func (w *jw) optStr(s *string) {
	if s == nil {
		w.null()
		return
	}
	w.str(*s)
}

func (w *jw) null() { w.b = append(w.b, "null"...) }

func (w *jw) id(id uuid.UUID) {
	var buf [38]byte
	buf[0], buf[37] = '"', '"'
	hex.Encode(buf[1:9], id[0:4])
	buf[9] = '-'
	hex.Encode(buf[10:14], id[4:6])
	buf[14] = '-'
	hex.Encode(buf[15:19], id[6:8])
	buf[19] = '-'
	hex.Encode(buf[20:24], id[8:10])
	buf[24] = '-'
	hex.Encode(buf[25:37], id[10:])
	w.b = append(w.b, buf[:]...)
}

func (w *jw) optID(id *uuid.UUID) {
	if id == nil {
		w.null()
		return
	}
	w.id(*id)
}

func (w *jw) time(t time.Time) {
	w.b = append(w.b, '"')
	w.b = t.UTC().Truncate(time.Microsecond).AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

func (w *jw) optTime(t *time.Time) {
	if t == nil {
		w.null()
		return
	}
	w.time(*t)
}

func (w *jw) date(t time.Time) {
	w.b = append(w.b, '"')
	w.b = t.AppendFormat(w.b, time.DateOnly)
	w.b = append(w.b, '"')
}

func (w *jw) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jw) optInt(n *int) {
	if n == nil {
		w.null()
		return
	}
	w.int(int64(*n))
}

func (w *jw) bool(v bool) { w.b = strconv.AppendBool(w.b, v) }

func enumJSON[T ~string](w *jw, v T) { w.str(EnumText(v)) }

// appendPatientJSON appends patientData(p) as encoding/json writes it.
func appendPatientJSON(b []byte, p *care.Patient) []byte {
	w := jw{b}
	w.b = append(w.b, '{')
	w.key(true, "birthDate")
	w.date(p.BirthDate)
	w.key(false, "createdAt")
	w.time(p.CreatedAt)
	w.key(false, "familyName")
	w.str(p.FamilyName)
	w.key(false, "givenName")
	w.str(p.GivenName)
	w.key(false, "id")
	w.id(p.ID)
	w.key(false, "nhsNumber")
	w.str(p.NHSNumber)
	w.key(false, "registeredPracticeId")
	w.id(p.RegisteredPracticeID)
	w.key(false, "updatedAt")
	w.time(p.UpdatedAt)
	w.key(false, "version")
	w.int(p.Version)
	return append(w.b, '}')
}

// appendRelationshipJSON appends relationshipData(r).
func appendRelationshipJSON(b []byte, r *care.CareRelationship) []byte {
	w := jw{b}
	w.b = append(w.b, '{')
	w.key(true, "consent")
	enumJSON(&w, r.Consent)
	w.key(false, "createdAt")
	w.time(r.CreatedAt)
	w.key(false, "id")
	w.id(r.ID)
	w.key(false, "kind")
	enumJSON(&w, r.Kind)
	w.key(false, "organizationId")
	w.id(r.OrganizationID)
	w.key(false, "partnerOrganizationId")
	w.optID(r.PartnerOrganizationID)
	w.key(false, "patientId")
	w.optID(r.PatientID)
	w.key(false, "patientPreference")
	enumJSON(&w, r.PatientPreference)
	w.key(false, "periodEnd")
	w.optTime(r.PeriodEnd)
	w.key(false, "periodStart")
	w.time(r.PeriodStart)
	w.key(false, "practitionerId")
	w.optID(r.PractitionerID)
	w.key(false, "relatedPersonName")
	w.optStr(r.RelatedPersonName)
	w.key(false, "status")
	enumJSON(&w, r.Status)
	w.key(false, "teamId")
	w.optID(r.TeamID)
	w.key(false, "updatedAt")
	w.time(r.UpdatedAt)
	w.key(false, "version")
	w.int(r.Version)
	return append(w.b, '}')
}

func (w *jw) content(c care.InteractionContent) {
	w.b = append(w.b, '{')
	w.key(true, "durationMinutes")
	w.optInt(c.DurationMinutes)
	w.key(false, "notes")
	w.str(c.Notes)
	w.key(false, "purpose")
	w.str(c.Purpose)
	w.b = append(w.b, '}')
}

// appendInteractionJSON appends interactionData(i, ams).
func appendInteractionJSON(b []byte, i *care.Interaction, ams []*care.InteractionAmendment) []byte {
	w := jw{b}
	w.b = append(w.b, '{')
	w.key(true, "amendments")
	w.b = append(w.b, '[')
	for k, m := range ams {
		if k > 0 {
			w.b = append(w.b, ',')
		}
		w.b = append(w.b, '{')
		w.key(true, "after")
		w.content(m.After)
		w.key(false, "amendedAt")
		w.time(m.AmendedAt)
		w.key(false, "amendedById")
		w.id(m.AmendedByID)
		w.key(false, "before")
		w.content(m.Before)
		w.key(false, "id")
		w.id(m.ID)
		w.key(false, "reason")
		w.str(m.Reason)
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ']')
	w.key(false, "createdAt")
	w.time(i.CreatedAt)
	w.key(false, "durationMinutes")
	w.optInt(i.DurationMinutes)
	w.key(false, "id")
	w.id(i.ID)
	w.key(false, "mode")
	enumJSON(&w, i.Mode)
	w.key(false, "notes")
	w.str(i.Notes)
	w.key(false, "occurredAt")
	w.time(i.OccurredAt)
	w.key(false, "organizationId")
	w.id(i.OrganizationID)
	w.key(false, "otherPresent")
	w.b = append(w.b, '[')
	for k, s := range i.OtherPresent {
		if k > 0 {
			w.b = append(w.b, ',')
		}
		w.str(s)
	}
	w.b = append(w.b, ']')
	w.key(false, "participantIds")
	w.b = append(w.b, '[')
	for k, id := range i.ParticipantIDs {
		if k > 0 {
			w.b = append(w.b, ',')
		}
		w.id(id)
	}
	w.b = append(w.b, ']')
	w.key(false, "patientId")
	w.id(i.PatientID)
	w.key(false, "practitionerId")
	w.id(i.PractitionerID)
	w.key(false, "purpose")
	w.str(i.Purpose)
	w.key(false, "signedAt")
	w.optTime(i.SignedAt)
	w.key(false, "signedById")
	w.optID(i.SignedByID)
	w.key(false, "status")
	enumJSON(&w, i.Status)
	w.key(false, "updatedAt")
	w.time(i.UpdatedAt)
	w.key(false, "version")
	w.int(i.Version)
	return append(w.b, '}')
}

// appendPractitionerJSON appends practitionerData(p).
func appendPractitionerJSON(b []byte, p *care.Practitioner) []byte {
	w := jw{b}
	w.b = append(w.b, '{')
	w.key(true, "active")
	w.bool(p.Active)
	w.key(false, "createdAt")
	w.time(p.CreatedAt)
	w.key(false, "familyName")
	w.str(p.FamilyName)
	w.key(false, "givenName")
	w.str(p.GivenName)
	w.key(false, "id")
	w.id(p.ID)
	w.key(false, "organizationId")
	w.id(p.OrganizationID)
	w.key(false, "profession")
	enumJSON(&w, p.Profession)
	w.key(false, "updatedAt")
	w.time(p.UpdatedAt)
	w.key(false, "version")
	w.int(p.Version)
	return append(w.b, '}')
}

// appendTeamJSON appends teamData(t).
func appendTeamJSON(b []byte, t *care.Team) []byte {
	w := jw{b}
	w.b = append(w.b, '{')
	w.key(true, "createdAt")
	w.time(t.CreatedAt)
	w.key(false, "id")
	w.id(t.ID)
	w.key(false, "name")
	w.str(t.Name)
	w.key(false, "organizationId")
	w.id(t.OrganizationID)
	w.key(false, "updatedAt")
	w.time(t.UpdatedAt)
	w.key(false, "version")
	w.int(t.Version)
	return append(w.b, '}')
}

// appendOrganizationJSON appends organizationData(o).
func appendOrganizationJSON(b []byte, o *care.Organization) []byte {
	w := jw{b}
	w.b = append(w.b, '{')
	w.key(true, "createdAt")
	w.time(o.CreatedAt)
	w.key(false, "id")
	w.id(o.ID)
	w.key(false, "kind")
	enumJSON(&w, o.Kind)
	w.key(false, "name")
	w.str(o.Name)
	w.key(false, "odsCode")
	w.optStr(o.ODSCode)
	w.key(false, "updatedAt")
	w.time(o.UpdatedAt)
	w.key(false, "version")
	w.int(o.Version)
	return append(w.b, '}')
}

// appendFeedbackJSON appends feedbackData(r): feedback is rare in a pull, so
// it is the map encoded.
func appendFeedbackJSON(b []byte, r *feedback.Response) []byte {
	out, _ := json.Marshal(feedbackData(r)) // JSON-native values only: never fails
	return append(b, out...)
}

// RecordData is the result's record as GraphQL sends it: RecordJSON when
// the push encoded it, otherwise Record encoded (null without a record).
func (r *ChangeResult) RecordData() (RawJSON, error) {
	if r.RecordJSON != nil || r.Record == nil {
		return r.RecordJSON, nil
	}
	b, err := json.Marshal(r.Record)
	if err != nil {
		return nil, fmt.Errorf("encode result record: %w", err)
	}
	return b, nil
}
