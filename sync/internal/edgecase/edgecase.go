// Package edgecase gives the records that tests of the sync record formats
// (the native protocol's JSON in package sync, the RxDB documents in
// sync/rxdb) write both ways and compare: one of each entity per case, with
// the values that test an encoder. It is imported by tests only.
package edgecase

import (
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// Case is one record of every entity the sync protocol carries.
type Case struct {
	Patient      *care.Patient
	Relationship *care.CareRelationship
	Interaction  *care.Interaction
	Amendments   []*care.InteractionAmendment
	Practitioner *care.Practitioner
	Team         *care.Team
	Organization *care.Organization
	Feedback     *feedback.Response
}

// Cases returns one case for each edge string: strings needing escapes
// (quotes, control characters, HTML characters, U+2028 and U+2029, invalid
// UTF-8, non-ASCII, DEL), optional fields absent and present in turn, empty,
// nil and full lists, amendments with and without content, times with
// nanoseconds in other zones, and extreme numbers and versions (past 2^53,
// where a JavaScript number loses digits, and the largest int64).
func Cases() []Case {
	strs := []string{"", "plain", `quote " backslash \ slash /`, "tab\tnew\nline\r\b\f\x00\x1f", "<b>&amp;</b>", "Zoë Ωmega 日本",
		"line\u2028para\u2029", "bad \xff\xfe utf8", "emoji 🩺", "\x7f del"}
	times := []time.Time{
		time.Date(2026, 12, 5, 12, 30, 0, 0, time.UTC),
		time.Date(1901, 1, 2, 3, 4, 5, 123456789, time.FixedZone("X", 5*3600+1800)),
		time.Date(2099, 7, 1, 0, 0, 0, 1000, time.FixedZone("Y", -8*3600)),
	}
	ints := []int{0, -1, 15, 1<<31 - 1}
	versions := []int64{1, 0, -5, 1<<53 + 1, 1<<63 - 1}
	id := func() uuid.UUID { return uuid.Must(uuid.NewV7()) }
	out := make([]Case, 0, len(strs))
	for k, s := range strs {
		s2 := strs[(k+3)%len(strs)]
		at, at2 := times[k%len(times)], times[(k+1)%len(times)]
		n := ints[k%len(ints)]
		v := versions[k%len(versions)]
		var optS *string
		var optID *uuid.UUID
		var optT *time.Time
		var optN *int
		if k%2 == 1 {
			optS, optID, optT, optN = &s2, new(uuid.UUID), &at2, &n
			*optID = id()
		}
		var participants []uuid.UUID
		var others []string
		var ams []*care.InteractionAmendment
		switch k % 3 {
		case 1:
			participants, others = []uuid.UUID{}, []string{}
		case 2:
			participants, others = []uuid.UUID{id(), id()}, []string{s, s2, ""}
			ams = []*care.InteractionAmendment{
				{ID: id(), AmendedByID: id(), AmendedAt: at2, Reason: s2,
					Before: care.InteractionContent{Purpose: s, Notes: s2, DurationMinutes: optN},
					After:  care.InteractionContent{Purpose: s2, Notes: s, DurationMinutes: &n}},
				{ID: id(), AmendedByID: id(), AmendedAt: at, Reason: s},
			}
		}
		c := Case{
			Patient: &care.Patient{ID: id(), NHSNumber: s, GivenName: s2, FamilyName: s, BirthDate: at.Truncate(24 * time.Hour),
				RegisteredPracticeID: id(), CreatedAt: at, UpdatedAt: at2, Version: v},
			Relationship: &care.CareRelationship{ID: id(), Kind: care.RelationshipKind(s2), Status: care.RelationshipStatus(s), OrganizationID: id(),
				PatientID: optID, PractitionerID: optID, TeamID: optID, PartnerOrganizationID: optID, RelatedPersonName: optS,
				PeriodStart: at, PeriodEnd: optT, Consent: care.Consent(s), PatientPreference: care.PatientPreference(s2),
				CreatedAt: at, UpdatedAt: at2, Version: v},
			Interaction: &care.Interaction{ID: id(), PatientID: id(), PractitionerID: id(), OrganizationID: id(), Mode: care.InteractionMode(s),
				OccurredAt: at, DurationMinutes: optN, ParticipantIDs: participants, OtherPresent: others, Purpose: s, Notes: s2,
				Status: care.InteractionStatus(s2), SignedAt: optT, SignedByID: optID, CreatedAt: at, UpdatedAt: at2, Version: v},
			Amendments: ams,
			Practitioner: &care.Practitioner{ID: id(), OrganizationID: id(), GivenName: s, FamilyName: s2, Profession: care.Profession(s),
				Active: k%2 == 0, CreatedAt: at, UpdatedAt: at2, Version: v},
			Team:         &care.Team{ID: id(), OrganizationID: id(), Name: s, CreatedAt: at, UpdatedAt: at2, Version: v},
			Organization: &care.Organization{ID: id(), Name: s, Kind: care.OrganizationKind(s2), ODSCode: optS, CreatedAt: at, UpdatedAt: at2, Version: v},
			Feedback: &feedback.Response{ID: id(), OrganizationID: id(), SubjectKind: feedback.SubjectKind(s), SubjectID: id(),
				PractitionerID: optID, FreeText: s2, SubmittedOn: at, Version: v, CARERatings: []int{n, 5},
				Answers: []feedback.Answer{{Key: s, Rating: optN, Text: optS}}},
		}
		if k%2 == 1 {
			c.Feedback.CARE = &feedback.CAREScore{Scorable: true, Score: 37.5}
		}
		out = append(out, c)
	}
	return out
}
