package fhir

import (
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/care"
)

// appendEncounter appends the JSON of NewEncounter(i, nil) to buf, without
// reflection: a Bulk export writes hundreds of thousands of Encounters and
// encoding/json was most of its cost. TestAppendEncounterMatchesMapping
// holds it equal to the mapping.
func appendEncounter(buf []byte, i *care.Interaction) []byte {
	status := "finished"
	if i.Status == care.InteractionDraft {
		status = "in-progress"
	}
	buf = append(buf, `{"resourceType":"Encounter","id":"`...)
	buf = appendUUID(buf, i.ID)
	buf = append(buf, `","meta":{"versionId":"`...)
	buf = strconv.AppendInt(buf, i.Version, 10)
	buf = append(buf, `","lastUpdated":"`...)
	buf = appendInstant(buf, i.UpdatedAt)
	buf = append(buf, `","tag":[{"system":"`+SystemDocStatus+`","code":`...)
	buf = appendString(buf, string(i.Status))
	buf = append(buf, `}]},"status":"`...)
	buf = append(buf, status...)
	c := modeClass[i.Mode]
	buf = append(buf, `","class":{"system":"`...)
	buf = append(buf, c.System...)
	buf = append(buf, `","code":"`...)
	buf = append(buf, c.Code...)
	buf = append(buf, `","display":"`...)
	buf = append(buf, c.Display...)
	buf = append(buf, `"},"type":[{"coding":[{"system":"`+SystemMode+`","code":`...)
	buf = appendString(buf, string(i.Mode))
	buf = append(buf, `}]}],"subject":{"reference":"Patient/`...)
	buf = appendUUID(buf, i.PatientID)
	buf = append(buf, `"},"participant":[{"type":[{"coding":[{"system":"`+systemParticipant+`","code":"PPRF","display":"primary performer"}]}],"individual":{"reference":"Practitioner/`...)
	buf = appendUUID(buf, i.PractitionerID)
	buf = append(buf, `"}}`...)
	for _, p := range i.ParticipantIDs {
		buf = append(buf, `,{"type":[{"coding":[{"system":"`+systemParticipant+`","code":"PART","display":"Participation"}]}],"individual":{"reference":"Practitioner/`...)
		buf = appendUUID(buf, p)
		buf = append(buf, `"}}`...)
	}
	for _, o := range i.OtherPresent {
		buf = append(buf, `,{"type":[{"coding":[{"system":"`+systemParticipant+`","code":"PART","display":"Participation"}]}],"individual":{"display":`...)
		buf = appendString(buf, o)
		buf = append(buf, `}}`...)
	}
	buf = append(buf, `],"period":{"start":"`...)
	buf = appendInstant(buf, i.OccurredAt)
	buf = append(buf, '"')
	if i.DurationMinutes != nil {
		buf = append(buf, `,"end":"`...)
		buf = appendInstant(buf, i.OccurredAt.Add(time.Duration(*i.DurationMinutes)*time.Minute))
		buf = append(buf, `"},"length":{"value":`...)
		buf = strconv.AppendInt(buf, int64(*i.DurationMinutes), 10)
		buf = append(buf, `,"unit":"min","system":"`+systemUCUM+`","code":"min"`...)
	}
	buf = append(buf, '}')
	if i.Purpose != "" {
		buf = append(buf, `,"reasonCode":[{"text":`...)
		buf = appendString(buf, i.Purpose)
		buf = append(buf, `}]`...)
	}
	buf = append(buf, `,"serviceProvider":{"reference":"Organization/`...)
	buf = appendUUID(buf, i.OrganizationID)
	return append(buf, `"}}`...)
}

func appendUUID(buf []byte, u uuid.UUID) []byte {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return append(buf, b[:]...)
}

func appendInstant(buf []byte, t time.Time) []byte {
	return t.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000Z")
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaping as encoding/json does
// (quotes, backslashes, control characters, <, >, &, U+2028/9; invalid
// UTF-8 as U+FFFD).
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\r':
				buf = append(buf, '\\', 'r')
			case '\t':
				buf = append(buf, '\\', 't')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			buf = append(buf, s[start:i]...)
			buf = append(buf, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
