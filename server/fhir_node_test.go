package server

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcare/rapport/auth"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestFHIRClientAndValidator runs test/fhir/check.mjs against the real
// server: a real FHIR client (fhir-kit-client) searches every type the
// CapabilityStatement lists, follows every next link and reads each match
// back; an independent validator (FHIR.js) checks every resource, Bundle,
// the CapabilityStatement and an OperationOutcome against R4.
func TestFHIRClientAndValidator(t *testing.T) {
	t.Parallel()
	node, dir := nodeHarness(t, "fhir", "fhir-kit-client")
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal(err)
	}
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	ctx := context.Background()
	sys := postgrestest.As(ctx, care.SystemActor())

	// Every resource type needs at least one instance: an amendment
	// (Provenance), a practice questionnaire, identified feedback.
	notes := "seen, well, amended"
	if _, err := db.AmendInteraction(sys, care.AmendInteractionInput{ID: f.InteractionA1Signed, Notes: &notes, Reason: "typo"}); err != nil {
		t.Fatal(err)
	}
	q, err := db.SaveQuestionnaire(postgrestest.As(ctx, f.AdminNActor), nil, "Team working", []feedback.Question{
		{Key: "handover", Text: "Was the handover clear?", Kind: feedback.QuestionYesNo, Required: true},
		{Key: "support", Text: "How supported did you feel?", Kind: feedback.QuestionRating, ScaleMax: 5},
		{Key: "shift", Text: "Which shift?", Kind: feedback.QuestionSingleChoice, Options: []string{"early", "late"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	yes, four, early := true, 4, "early"
	good := feedback.FFTGood
	for _, s := range []struct {
		actor *care.Actor
		sub   feedback.Submission
	}{
		{f.Nurse1Actor, feedback.Submission{SubjectKind: feedback.SubjectInteraction, SubjectID: f.InteractionA1Signed, Respondent: feedback.RespondentSelf,
			Instrument: feedback.InstrumentCARE, CARERatings: []int{4, 4, 5, 3, 4, 0, 4, 4, 4, 4}, FreeText: "I rushed the end."}},
		{f.Nurse2Actor, feedback.Submission{SubjectKind: feedback.SubjectPractitioner, SubjectID: f.Nurse1, Respondent: feedback.RespondentColleague,
			Instrument: feedback.InstrumentFFT, FFT: &good}},
		{f.Nurse2Actor, feedback.Submission{SubjectKind: feedback.SubjectPractitioner, SubjectID: f.Nurse1, Respondent: feedback.RespondentColleague,
			Instrument: feedback.InstrumentQuestionnaire, QuestionnaireID: &q.ID, QuestionnaireVersion: q.Version,
			Answers: []feedback.Answer{{Key: "handover", Yes: &yes}, {Key: "support", Rating: &four}, {Key: "shift", Choice: &early}}}},
	} {
		if _, err := db.SubmitFeedback(postgrestest.As(ctx, s.actor), s.sub); err != nil {
			t.Fatal(err)
		}
	}

	e := newEnv(t, db, Config{})
	srv := httptest.NewServer(e.handler)
	defer srv.Close()
	token := e.token(t, care.RoleNurse, f.Nurse1, f.Nursing)
	bulk, err := e.verifier.MintHMAC(auth.MintRequest{Subject: "analytics-platform", OrganizationID: f.PracticeA, Role: care.RoleIntegration,
		Scopes: []string{care.ScopeBulkExport, care.ScopePatientsRead}})
	if err != nil {
		t.Fatal(err)
	}
	extra, _ := json.Marshal(map[string]string{"amendedEncounter": f.InteractionA1Signed.String(), "missingPatient": uuid.NewString()})

	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, node, filepath.Join(dir, "check.mjs"), srv.URL+FHIRBase, token, string(extra), bulk)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	t.Logf("FHIR client and validator:\n%s", out)
	if err != nil {
		t.Fatalf("check failed: %v", err)
	}
	if !strings.Contains(string(out), " validations, 0 failures") {
		t.Fatal("check summary missing")
	}
	if strings.Contains(e.logs.String(), token) {
		t.Error("the token was logged")
	}
}
