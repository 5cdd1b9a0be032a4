package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

var allCARE = []int{5, 5, 4, 4, 5, 5, 4, 4, 5, 0} // one "does not apply": 41 + 41/9

func careSubmission(kind feedback.SubjectKind, id uuid.UUID, ratings []int) feedback.Submission {
	return feedback.Submission{SubjectKind: kind, SubjectID: id, Respondent: feedback.RespondentPatient,
		Instrument: feedback.InstrumentCARE, CARERatings: ratings, FreeText: "She listened. My name is Edith Brown."}
}

func TestFeedbackLinks(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	nurse := as(f.Nurse1Actor)
	link := func(t *testing.T, kind feedback.SubjectKind, id uuid.UUID) *feedback.LinkClaims {
		t.Helper()
		c, err := db.PrepareFeedbackLink(nurse, postgres.CreateFeedbackLinkInput{SubjectKind: kind, SubjectID: id, Instrument: feedback.InstrumentCARE})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	t.Run("a link is answered once and the response is scored", func(t *testing.T) {
		t.Parallel()
		c := link(t, feedback.SubjectInteraction, f.InteractionA1Signed)
		if c.OrganizationID != f.Nursing || time.Until(c.Expires) < 23*time.Hour {
			t.Fatalf("claims %+v", c)
		}
		if _, err := db.FeedbackLinkStatus(context.Background(), c); err != nil {
			t.Fatalf("fresh link status: %v", err)
		}
		r, err := db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectInteraction, f.InteractionA1Signed, allCARE))
		if err != nil {
			t.Fatal(err)
		}
		if !r.CARE.Scorable || r.CARE.Missing != 1 || r.CARE.Score < 45.5 || r.CARE.Score > 45.6 {
			t.Fatalf("score %+v, want 41 + 41/9 = 45.56", r.CARE)
		}
		if r.PractitionerID == nil || *r.PractitionerID != f.Nurse1 || r.TeamID == nil || *r.TeamID != f.Team ||
			r.RelationshipKind == nil || *r.RelationshipKind != care.KindNamedNurse {
			t.Fatalf("subject dimensions %+v", r)
		}
		_, err = db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectInteraction, f.InteractionA1Signed, allCARE))
		if !errors.Is(err, feedback.ErrLinkUsed) {
			t.Fatalf("second submit: %v, want used", err)
		}
		if _, err := db.FeedbackLinkStatus(context.Background(), c); !errors.Is(err, feedback.ErrLinkUsed) {
			t.Fatalf("status after use: %v", err)
		}
	})
	t.Run("concurrent double submits store one response", func(t *testing.T) {
		t.Parallel()
		c := link(t, feedback.SubjectPractitioner, f.Nurse2)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectPractitioner, f.Nurse2, allCARE))
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
			} else if !errors.Is(err, feedback.ErrLinkUsed) {
				t.Errorf("unexpected error %v", err)
			}
		}
		rows, err := db.QueryTextRows(context.Background(), `SELECT id FROM feedback_responses WHERE practitioner_id = $1`, f.Nurse2)
		if ok != 1 || err != nil || len(rows) != 1 {
			t.Fatalf("%d succeeded, %d stored (%v); want exactly one", ok, len(rows), err)
		}
	})
	t.Run("a link for one subject cannot answer for another", func(t *testing.T) {
		t.Parallel()
		c := link(t, feedback.SubjectInteraction, f.InteractionA2)
		_, err := db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectInteraction, f.InteractionA1Draft, allCARE))
		if !errors.Is(err, feedback.ErrLinkWrongSubject) {
			t.Fatalf("err = %v, want wrong subject", err)
		}
		_, err = db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectPractitioner, f.Nurse1, allCARE))
		if !errors.Is(err, feedback.ErrLinkWrongSubject) {
			t.Fatalf("err = %v, want wrong subject", err)
		}
		// the refused attempts did not use the link up
		if _, err := db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectInteraction, f.InteractionA2, allCARE)); err != nil {
			t.Fatalf("right subject after refusals: %v", err)
		}
	})
	t.Run("invalid answers do not use the link", func(t *testing.T) {
		t.Parallel()
		c := link(t, feedback.SubjectTeam, f.Team)
		_, err := db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectTeam, f.Team, []int{9, 9}))
		wantCode(t, err, care.EINVALID)
		if _, err := db.SubmitLinkedFeedback(context.Background(), c, careSubmission(feedback.SubjectTeam, f.Team, allCARE)); err != nil {
			t.Fatalf("valid after invalid: %v", err)
		}
	})
	t.Run("links only for subjects the nurse may see", func(t *testing.T) {
		t.Parallel()
		_, err := db.PrepareFeedbackLink(nurse, postgres.CreateFeedbackLinkInput{SubjectKind: feedback.SubjectInteraction, SubjectID: f.InteractionB1, Instrument: feedback.InstrumentFFT})
		wantCode(t, err, care.ENOTFOUND)
		_, err = db.PrepareFeedbackLink(nurse, postgres.CreateFeedbackLinkInput{SubjectKind: feedback.SubjectPartnership, SubjectID: f.PatientA1NamedNurse, Instrument: feedback.InstrumentFFT})
		wantCode(t, err, care.EINVALID)
		_, err = db.PrepareFeedbackLink(as(&care.Actor{Role: care.RoleIntegration, OrganizationID: f.Nursing}), postgres.CreateFeedbackLinkInput{SubjectKind: feedback.SubjectTeam, SubjectID: f.Team, Instrument: feedback.InstrumentFFT})
		wantCode(t, err, care.EFORBIDDEN)
	})
	t.Run("asking for a link about a patient's visit is audited", func(t *testing.T) {
		t.Parallel()
		c := link(t, feedback.SubjectInteraction, f.InteractionA1Draft)
		rows, err := db.QueryTextRows(context.Background(), `SELECT entity, action, actor_subject FROM access_audit_entries WHERE entity_id = $1`, c.ID)
		if err != nil || len(rows) != 1 || strings.Join(rows[0], " ") != "FeedbackLink create nurse-1" {
			t.Fatalf("audit rows %v (%v)", rows, err)
		}
	})
}

func TestFeedbackAnonymity(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	c, err := db.PrepareFeedbackLink(as(f.Nurse1Actor), postgres.CreateFeedbackLinkInput{SubjectKind: feedback.SubjectRelationship, SubjectID: f.PatientA1NamedNurse, Instrument: feedback.InstrumentFFT})
	if err != nil {
		t.Fatal(err)
	}
	good := feedback.FFTVeryGood
	id := uuid.New()
	r, err := db.SubmitLinkedFeedback(context.Background(), c, feedback.Submission{ID: &id, SubjectKind: feedback.SubjectRelationship, SubjectID: f.PatientA1NamedNurse,
		Respondent: feedback.RespondentCarer, Instrument: feedback.InstrumentFFT, FFT: &good})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	t.Run("the server chooses the id", func(t *testing.T) {
		if r.ID == id {
			t.Fatal("a browser-chosen id was stored")
		}
	})
	t.Run("no column can hold a respondent's identity", func(t *testing.T) {
		cols, err := db.QueryTextRows(ctx, `SELECT column_name FROM information_schema.columns WHERE table_name IN ('feedback_responses','feedback_link_uses')`)
		if err != nil {
			t.Fatal(err)
		}
		if len(cols) < 10 {
			t.Fatalf("columns %v", cols)
		}
		bad := map[string]bool{"ip": true, "agent": true, "author": true, "patient": true, "device": true, "user": true, "by": true,
			"email": true, "phone": true, "name": true, "address": true, "session": true, "cookie": true, "actor": true}
		for _, c := range cols {
			for _, word := range strings.Split(c[0], "_") {
				if bad[word] {
					t.Errorf("column %s could identify a respondent", c[0])
				}
			}
		}
	})
	t.Run("no stored value names the patient, the nurse who asked, or the link", func(t *testing.T) {
		rows, err := db.QueryTextRows(ctx, `SELECT row_to_json(f)::text FROM feedback_responses f`)
		if err != nil || len(rows) != 1 {
			t.Fatalf("%v %v", rows, err)
		}
		stored := rows[0][0]
		for _, v := range []string{f.PatientA1.String(), postgrestest.NHSNumber(0), "Brown", c.ID.String(), "nurse-1"} {
			if strings.Contains(stored, v) {
				t.Errorf("stored response contains %q: %s", v, stored)
			}
		}
		if !strings.Contains(stored, `"submitted_on":"`+time.Now().UTC().Format(time.DateOnly)+`"`) {
			t.Errorf("submission time is not a bare date: %s", stored)
		}
		uses, err := db.QueryTextRows(ctx, `SELECT row_to_json(u)::text FROM feedback_link_uses u`)
		if err != nil || len(uses) != 1 || strings.Contains(uses[0][0], r.ID.String()) {
			t.Fatalf("link use rows %v (%v): must not name the response", uses, err)
		}
		log, err := db.QueryTextRows(ctx, `SELECT coalesce(device_id::text, ''), coalesce(patient_id::text, ''), changed_at::time::text FROM sync_changes WHERE entity = 'feedback'`)
		if err != nil || len(log) != 1 || log[0][0] != "" || log[0][1] != "" || log[0][2] != "00:00:00" {
			t.Fatalf("change log rows %v (%v): no device, no patient, day granularity", log, err)
		}
	})
}

func TestFeedbackAccess(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	nurse1, nurse2 := as(f.Nurse1Actor), as(f.Nurse2Actor)
	reflect := feedback.Submission{SubjectKind: feedback.SubjectInteraction, SubjectID: f.InteractionA1Signed, Respondent: feedback.RespondentSelf,
		Instrument: feedback.InstrumentCARE, CARERatings: []int{4, 4, 4, 4, 4, 4, 4, 4, 4, 4}, FreeText: "I rushed the end."}
	mine, err := db.SubmitFeedback(nurse1, reflect)
	if err != nil {
		t.Fatal(err)
	}
	colleague := feedback.Submission{SubjectKind: feedback.SubjectPractitioner, SubjectID: f.Nurse1, Respondent: feedback.RespondentColleague,
		Instrument: feedback.InstrumentFFT, FFT: ptr(feedback.FFTGood)}
	fromColleague, err := db.SubmitFeedback(nurse2, colleague)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("reflections are about one's own work, colleague feedback about others'", func(t *testing.T) {
		t.Parallel()
		other := reflect
		other.SubjectKind, other.SubjectID = feedback.SubjectPractitioner, f.Nurse1
		_, err := db.SubmitFeedback(nurse2, other)
		wantCode(t, err, care.EFORBIDDEN)
		self := colleague
		_, err = db.SubmitFeedback(nurse1, self)
		wantCode(t, err, care.EFORBIDDEN)
		anon := colleague
		anon.Respondent = feedback.RespondentPatient
		_, err = db.SubmitFeedback(nurse2, anon)
		wantCode(t, err, care.EINVALID)
	})
	t.Run("creating again with the same id returns the same response", func(t *testing.T) {
		t.Parallel()
		id := uuid.Must(uuid.NewV7())
		s := reflect
		s.ID = &id
		a := must[*feedback.Response](t)(db.SubmitFeedback(nurse1, s))
		b := must[*feedback.Response](t)(db.SubmitFeedback(nurse1, s))
		if a.ID != id || b.ID != id {
			t.Fatalf("ids %v %v want %v", a.ID, b.ID, id)
		}
	})
	t.Run("a practitioner sees feedback about her, not others'", func(t *testing.T) {
		t.Parallel()
		got := must[[]*feedback.Response](t)(db.FeedbackResponses(nurse1, postgres.FeedbackFilter{SubjectID: &f.Nurse1}, 0, nil))
		if len(got) != 1 || got[0].ID != fromColleague.ID {
			t.Fatalf("nurse1 sees %d", len(got))
		}
		if got := must[[]*feedback.Response](t)(db.FeedbackResponses(nurse2, postgres.FeedbackFilter{}, 0, nil)); len(got) != 0 {
			t.Fatalf("nurse2 sees %d responses about nurse1", len(got))
		}
		_, err := db.FeedbackResponse(nurse2, mine.ID)
		wantCode(t, err, care.ENOTFOUND)
	})
	t.Run("a practice admin sees her organisation's, not another's", func(t *testing.T) {
		t.Parallel()
		if got := must[[]*feedback.Response](t)(db.FeedbackResponses(as(f.AdminNActor), postgres.FeedbackFilter{}, 0, nil)); len(got) < 2 {
			t.Fatalf("admin of Nursing sees %d", len(got))
		}
		if got := must[[]*feedback.Response](t)(db.FeedbackResponses(as(f.AdminAActor), postgres.FeedbackFilter{}, 0, nil)); len(got) != 0 {
			t.Fatalf("admin of practice A sees %d of Nursing's", len(got))
		}
	})
	t.Run("reading feedback about a patient's visit is audited", func(t *testing.T) {
		t.Parallel()
		must[*feedback.Response](t)(db.FeedbackResponse(as(f.AdminNActor), mine.ID))
		rows, err := db.QueryTextRows(context.Background(), `SELECT patient_id::text FROM access_audit_entries WHERE entity = 'FeedbackResponse' AND action = 'read' AND entity_id = $1 AND actor_subject = 'admin-n'`, mine.ID)
		if err != nil || len(rows) == 0 || rows[0][0] != f.PatientA1.String() {
			t.Fatalf("audit %v (%v)", rows, err)
		}
	})
	t.Run("integrations get scores with analytics:read, never responses", func(t *testing.T) {
		t.Parallel()
		integ := &care.Actor{Role: care.RoleIntegration, OrganizationID: f.Nursing, Scopes: []string{care.ScopeAnalyticsRead}}
		if got := must[[]*feedback.Response](t)(db.FeedbackResponses(as(integ), postgres.FeedbackFilter{}, 0, nil)); len(got) != 0 {
			t.Fatalf("integration read %d responses", len(got))
		}
		if got := must[[]feedback.Scored](t)(db.FeedbackScores(as(integ), postgres.FeedbackFilter{})); len(got) < 2 {
			t.Fatalf("integration scores %d", len(got))
		}
		integ.Scopes = nil
		if got := must[[]feedback.Scored](t)(db.FeedbackScores(as(integ), postgres.FeedbackFilter{})); len(got) != 0 {
			t.Fatalf("integration without scope scores %d", len(got))
		}
	})
}

func TestQuestionnaireVersionsStored(t *testing.T) {
	t.Parallel()
	db, f := setup(t)
	admin := as(f.AdminNActor)
	v1 := must[*feedback.Questionnaire](t)(db.SaveQuestionnaire(admin, nil, "Visit", []feedback.Question{
		{Key: "on_time", Text: "Did we arrive on time?", Kind: feedback.QuestionYesNo, Required: true},
		{Key: "ease", Text: "How easy was it to reach us?", Kind: feedback.QuestionRating},
	}))
	c := must[*feedback.LinkClaims](t)(db.PrepareFeedbackLink(as(f.Nurse1Actor), postgres.CreateFeedbackLinkInput{
		SubjectKind: feedback.SubjectTeam, SubjectID: f.Team, Instrument: feedback.InstrumentQuestionnaire, QuestionnaireID: &v1.ID}))
	v2 := must[*feedback.Questionnaire](t)(db.SaveQuestionnaire(admin, &v1.ID, "Visit", []feedback.Question{
		{Key: "on_time", Text: "Did we arrive on time?", Kind: feedback.QuestionYesNo, Required: true},
		{Key: "ease", Text: "How easy was it to reach us?", Kind: feedback.QuestionRating, ScaleMax: 10},
	}))
	if v2.Version != 2 || v2.ID != v1.ID {
		t.Fatalf("v2 %+v", v2)
	}
	yes, five := true, 5
	r, err := db.SubmitLinkedFeedback(context.Background(), c, feedback.Submission{SubjectKind: feedback.SubjectTeam, SubjectID: f.Team,
		Respondent: feedback.RespondentPatient, Instrument: feedback.InstrumentQuestionnaire,
		Answers: []feedback.Answer{{Key: "on_time", Yes: &yes}, {Key: "ease", Rating: &five}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a response given through a link keeps the version the link pinned", func(t *testing.T) {
		if r.QuestionnaireVersion != 1 {
			t.Fatalf("version %d", r.QuestionnaireVersion)
		}
		got := must[*feedback.Response](t)(db.FeedbackResponse(admin, r.ID))
		q := must[*feedback.Questionnaire](t)(db.Questionnaire(admin, *got.QuestionnaireID, got.QuestionnaireVersion))
		if q.Question("ease").ScaleMax != 5 || len(got.Answers) != 2 || *got.Answers[1].Rating != 5 {
			t.Fatalf("read back against v%d: %+v", q.Version, got.Answers)
		}
		if latest := must[[]*feedback.Questionnaire](t)(db.Questionnaires(admin)); len(latest) != 1 || latest[0].Version != 2 {
			t.Fatalf("latest %+v", latest)
		}
	})
	t.Run("only admins define questionnaires, only their own", func(t *testing.T) {
		_, err := db.SaveQuestionnaire(as(f.Nurse1Actor), nil, "x", v1.Questions)
		wantCode(t, err, care.EFORBIDDEN)
		_, err = db.SaveQuestionnaire(as(f.AdminAActor), &v1.ID, "x", v1.Questions)
		wantCode(t, err, care.ENOTFOUND)
	})
}
