package care_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

var now = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

func TestCreatePatientInputValidate(t *testing.T) {
	t.Parallel()
	base := func() care.CreatePatientInput {
		return care.CreatePatientInput{NHSNumber: "943 476 5919", GivenName: " Ada ", FamilyName: "Lovelace",
			BirthDate: time.Date(1940, 1, 2, 0, 0, 0, 0, time.UTC), RegisteredPracticeID: uuid.New()}
	}
	t.Run("normalises NHS number and names", func(t *testing.T) {
		in := base()
		if err := in.Validate(now); err != nil {
			t.Fatal(err)
		}
		if in.NHSNumber != "9434765919" || in.GivenName != "Ada" {
			t.Fatalf("got %q %q", in.NHSNumber, in.GivenName)
		}
	})
	bad := map[string]func(*care.CreatePatientInput){
		"invalid NHS number": func(in *care.CreatePatientInput) { in.NHSNumber = "9434765918" },
		"blank given name":   func(in *care.CreatePatientInput) { in.GivenName = "   " },
		"overlong name":      func(in *care.CreatePatientInput) { in.FamilyName = strings.Repeat("x", 201) },
		"birth in future":    func(in *care.CreatePatientInput) { in.BirthDate = now.AddDate(0, 0, 1) },
		"no birth date":      func(in *care.CreatePatientInput) { in.BirthDate = time.Time{} },
	}
	for name, mutate := range bad {
		t.Run("rejects "+name, func(t *testing.T) {
			in := base()
			mutate(&in)
			if code := care.ErrorCode(in.Validate(now)); code != care.EINVALID {
				t.Fatalf("code = %q, want invalid", code)
			}
		})
	}
}

func TestStartRelationshipInputValidate(t *testing.T) {
	t.Parallel()
	p, pr, tm, o1, o2 := ptr(uuid.New()), ptr(uuid.New()), ptr(uuid.New()), ptr(uuid.New()), ptr(uuid.New())
	cases := []struct {
		name string
		in   care.StartRelationshipInput
		ok   bool
	}{
		{"usual GP with practitioner", care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: p, PractitionerID: pr}, true},
		{"usual GP with a team", care.StartRelationshipInput{Kind: care.KindUsualGP, PatientID: p, TeamID: tm}, false},
		{"key worker with team", care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: p, TeamID: tm}, true},
		{"carer named person", care.StartRelationshipInput{Kind: care.KindCarer, PatientID: p, RelatedPersonName: ptr(" Sam ")}, true},
		{"named nurse named person", care.StartRelationshipInput{Kind: care.KindNamedNurse, PatientID: p, RelatedPersonName: ptr("Sam")}, false},
		{"patient kind without patient", care.StartRelationshipInput{Kind: care.KindKeyWorker, PractitionerID: pr}, false},
		{"two parties", care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: p, PractitionerID: pr, TeamID: tm}, false},
		{"team member", care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: pr, TeamID: tm}, true},
		{"team member with patient", care.StartRelationshipInput{Kind: care.KindTeamMember, PractitionerID: pr, TeamID: tm, PatientID: p}, false},
		{"partnership", care.StartRelationshipInput{Kind: care.KindPartnership, OrganizationID: o1, PartnerOrganizationID: o2}, true},
		{"partnership with itself", care.StartRelationshipInput{Kind: care.KindPartnership, OrganizationID: o1, PartnerOrganizationID: o1}, false},
		{"unknown kind", care.StartRelationshipInput{Kind: "friend", PatientID: p, PractitionerID: pr}, false},
		{"end before start", care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: p, PractitionerID: pr, PeriodStart: ptr(now), PeriodEnd: ptr(now.Add(-time.Hour))}, false},
		{"unknown consent", care.StartRelationshipInput{Kind: care.KindKeyWorker, PatientID: p, PractitionerID: pr, Consent: ptr(care.Consent("maybe"))}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := c.in
			err := in.Validate(now)
			if c.ok && err != nil {
				t.Fatalf("Validate() = %v, want ok", err)
			}
			if !c.ok && care.ErrorCode(err) != care.EINVALID {
				t.Fatalf("Validate() = %v, want invalid", err)
			}
			if c.ok && (in.PeriodStart == nil || *in.Consent != care.ConsentNotRecorded && c.in.Consent == nil) {
				t.Fatalf("defaults not filled: %+v", in)
			}
		})
	}
}

func TestInteractionInputsValidate(t *testing.T) {
	t.Parallel()
	t.Run("rejects occurredAt two days ahead", func(t *testing.T) {
		in := care.CreateInteractionInput{Mode: care.ModeHomeVisit, OccurredAt: now.Add(48 * time.Hour)}
		if care.ErrorCode(in.Validate(now)) != care.EINVALID {
			t.Fatal("accepted a visit two days in the future")
		}
	})
	t.Run("accepts slight device clock skew", func(t *testing.T) {
		in := care.CreateInteractionInput{Mode: care.ModeHomeVisit, OccurredAt: now.Add(10 * time.Minute)}
		if err := in.Validate(now); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("rejects negative duration", func(t *testing.T) {
		in := care.CreateInteractionInput{Mode: care.ModePhone, OccurredAt: now, DurationMinutes: ptr(-5)}
		if care.ErrorCode(in.Validate(now)) != care.EINVALID {
			t.Fatal("accepted a negative duration")
		}
	})
	t.Run("amendment needs a reason", func(t *testing.T) {
		in := care.AmendInteractionInput{Notes: ptr("corrected")}
		if care.ErrorCode(in.Validate()) != care.EINVALID {
			t.Fatal("accepted an amendment without a reason")
		}
	})
	t.Run("amendment must change something", func(t *testing.T) {
		in := care.AmendInteractionInput{Reason: "typo"}
		if care.ErrorCode(in.Validate()) != care.EINVALID {
			t.Fatal("accepted an empty amendment")
		}
	})
}

func TestEnumsRoundTrip(t *testing.T) {
	t.Parallel()
	var m care.InteractionMode
	if err := m.UnmarshalGQL("HOME_VISIT"); err != nil || m != care.ModeHomeVisit {
		t.Fatalf("UnmarshalGQL(HOME_VISIT) = %q, %v", m, err)
	}
	var b strings.Builder
	m.MarshalGQL(&b)
	if b.String() != `"HOME_VISIT"` {
		t.Fatalf("MarshalGQL = %s", b.String())
	}
	if err := m.UnmarshalGQL("TELEPATHY"); care.ErrorCode(err) != care.EINVALID {
		t.Fatalf("UnmarshalGQL(TELEPATHY) = %v, want invalid", err)
	}
	if err := m.UnmarshalGQL(7); care.ErrorCode(err) != care.EINVALID {
		t.Fatalf("UnmarshalGQL(7) = %v, want invalid", err)
	}
}

func TestErrorCode(t *testing.T) {
	t.Parallel()
	if care.ErrorCode(nil) != "" {
		t.Fatal("nil error has a code")
	}
	wrapped := care.Errorf(care.ENOTFOUND, "no such patient")
	if care.ErrorCode(wrapped) != care.ENOTFOUND || care.ErrorMessage(wrapped) != "no such patient" {
		t.Fatal("lost code or message")
	}
	if care.ErrorCode(errPlain{}) != care.EINTERNAL || care.ErrorMessage(errPlain{}) != "Internal error." {
		t.Fatal("internal error leaked its message")
	}
}

type errPlain struct{}

func (errPlain) Error() string { return "pq: secret detail" }
