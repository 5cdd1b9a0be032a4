package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// Feedback (docs/feedback.md). Who sees what:
//   - a practitioner (nurse, GP) sees feedback about her: about her, her
//     interactions and her relationships, and her own reflections;
//   - a practice admin sees her organisation's feedback;
//   - an integration with analytics:read sees its organisation's aggregates
//     (FeedbackScores), never single responses;
//   - the system sees everything.
// Reading a response whose subject involves a patient (an interaction, a
// patient's care relationship) is audited like any read of patient data.
// Anonymous responses (patients, carers, through links) store no respondent
// identity at all.

const entityFeedback = "FeedbackResponse"
const entityFeedbackLink = "FeedbackLink"

// feedbackSubject is what a subject belongs to, resolved when feedback is
// stored or a link is made.
type feedbackSubject struct {
	org              uuid.UUID
	interactionID    *uuid.UUID
	relationshipID   *uuid.UUID
	practitionerID   *uuid.UUID
	teamID           *uuid.UUID
	relationshipKind *string
	patientID        *uuid.UUID // for the audit trail only; never stored with the response
}

// firstTeamSQL is the first team (by id) the practitioner expression prac is
// an active member of.
func firstTeamSQL(prac string) string {
	return `(SELECT m.team_id FROM care_relationships m WHERE m.kind = 'team_member' AND m.practitioner_id = ` + prac +
		` AND ` + activeSQL("m") + ` ORDER BY m.team_id LIMIT 1)`
}

// resolveSubject loads what the subject belongs to, as a (which must be able
// to see it). ENOTFOUND when it is missing or not visible; EINVALID for a
// relationship that is not of the subject kind.
func (db *DB) resolveSubject(ctx context.Context, a *care.Actor, kind feedback.SubjectKind, id uuid.UUID) (*feedbackSubject, error) {
	var s feedbackSubject
	q := args{id}
	var sql string
	var isPartnership bool
	switch kind {
	case feedback.SubjectInteraction:
		sql = `SELECT i.organization_id, i.id, NULL::uuid, i.practitioner_id, ` + firstTeamSQL("i.practitioner_id") + `,
			(SELECT r.kind FROM care_relationships r WHERE r.patient_id = i.patient_id AND r.status = 'active'
			   AND (r.practitioner_id = i.practitioner_id OR r.team_id = ` + firstTeamSQL("i.practitioner_id") + `)
			 ORDER BY r.practitioner_id IS NULL, r.kind LIMIT 1),
			i.patient_id, false
			FROM interactions i JOIN patients p ON p.id = i.patient_id WHERE i.id = $1 AND ` + patientAccessSQL(a, "p", &q)
	case feedback.SubjectRelationship, feedback.SubjectPartnership:
		sql = `SELECT r.organization_id, NULL::uuid, r.id, r.practitioner_id,
			COALESCE(r.team_id, CASE WHEN r.practitioner_id IS NOT NULL THEN ` + firstTeamSQL("r.practitioner_id") + ` END),
			r.kind, r.patient_id, r.kind = 'partnership'
			FROM care_relationships r WHERE r.id = $1 AND ` + relationshipVisibleSQL(a, "r", &q)
	case feedback.SubjectPractitioner:
		sql = `SELECT pr.organization_id, NULL::uuid, NULL::uuid, pr.id, ` + firstTeamSQL("pr.id") + `, NULL::text, NULL::uuid, false
			FROM practitioners pr WHERE pr.id = $1 AND ` + orgVisibleSQL(a, "pr.organization_id", &q)
	case feedback.SubjectTeam:
		sql = `SELECT t.organization_id, NULL::uuid, NULL::uuid, NULL::uuid, t.id, NULL::text, NULL::uuid, false
			FROM teams t WHERE t.id = $1 AND ` + orgVisibleSQL(a, "t.organization_id", &q)
	default:
		return nil, care.Errorf(care.EINVALID, "unknown feedback subject kind")
	}
	err := db.q.QueryRow(ctx, sql, q...).Scan(&s.org, &s.interactionID, &s.relationshipID, &s.practitionerID, &s.teamID,
		&s.relationshipKind, &s.patientID, &isPartnership)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, care.Errorf(care.ENOTFOUND, "no such %s", kind)
	} else if err != nil {
		return nil, fmt.Errorf("resolve feedback subject: %w", err)
	}
	if (kind == feedback.SubjectPartnership) != isPartnership {
		return nil, care.Errorf(care.EINVALID, "a PARTNERSHIP relationship is a partnership subject; other relationships are care relationship subjects")
	}
	if kind == feedback.SubjectRelationship && s.relationshipKind != nil && *s.relationshipKind == string(care.KindTeamMember) {
		return nil, care.Errorf(care.EINVALID, "feedback on team working is about the team or the practitioner, not the membership")
	}
	return &s, nil
}

// CreateFeedbackLinkInput asks for a link a patient or carer answers through.
type CreateFeedbackLinkInput struct {
	SubjectKind          feedback.SubjectKind
	SubjectID            uuid.UUID
	Instrument           feedback.Instrument
	QuestionnaireID      *uuid.UUID
	QuestionnaireVersion *int // default: the latest version
	TTL                  time.Duration
}

// PrepareFeedbackLink checks that the caller may ask for feedback about the
// subject and returns the claims of a new single-use link for the caller to
// sign (the store holds no secret). The request is audited when the subject
// involves a patient. EUNAUTHENTICATED/EFORBIDDEN for callers who may not
// write, ENOTFOUND for a subject or questionnaire they cannot see, EINVALID
// for a bad lifetime or instrument.
func (db *DB) PrepareFeedbackLink(ctx context.Context, in CreateFeedbackLinkInput) (*feedback.LinkClaims, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if in.TTL == 0 {
		in.TTL = feedback.DefaultLinkTTL
	}
	if in.TTL < time.Minute || in.TTL > feedback.MaxLinkTTL {
		return nil, care.Errorf(care.EINVALID, "a feedback link lives between a minute and %d days", int(feedback.MaxLinkTTL.Hours()/24))
	}
	if !in.Instrument.Valid() {
		return nil, care.Errorf(care.EINVALID, "unknown instrument")
	}
	s, err := db.resolveSubject(ctx, a, in.SubjectKind, in.SubjectID)
	if err != nil {
		return nil, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fmt.Errorf("feedback link id: %w", err)
	}
	c := &feedback.LinkClaims{ID: id, OrganizationID: s.org, SubjectKind: in.SubjectKind, SubjectID: in.SubjectID,
		Instrument: in.Instrument, Expires: db.now().Add(in.TTL)}
	if in.Instrument == feedback.InstrumentQuestionnaire {
		if in.QuestionnaireID == nil {
			return nil, care.Errorf(care.EINVALID, "a questionnaire link names the questionnaire")
		}
		v := 0
		if in.QuestionnaireVersion != nil {
			v = *in.QuestionnaireVersion
		}
		q, err := db.questionnaire(ctx, *in.QuestionnaireID, v)
		if err != nil {
			return nil, err
		}
		if q.OrganizationID != a.OrganizationID && a.Role != care.RoleSystem {
			return nil, care.Errorf(care.ENOTFOUND, "no such questionnaire")
		}
		c.QuestionnaireID, c.QuestionnaireVersion = &q.ID, q.Version
	} else if in.QuestionnaireID != nil {
		return nil, care.Errorf(care.EINVALID, "only questionnaire links name a questionnaire")
	}
	if s.patientID != nil {
		if err := db.audit(ctx, a, care.AuditCreate, []auditRec{{*s.patientID, entityFeedbackLink, id}}); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// FeedbackLinkPage is what the public feedback page shows for a link.
type FeedbackLinkPage struct {
	// PractitionerName is the practitioner the feedback is about, if any
	// (directory data, as on the NHS service directory).
	PractitionerName string
	TeamName         string
	// Questionnaire is the version a questionnaire link pins.
	Questionnaire *feedback.Questionnaire
}

// FeedbackLinkStatus tells the public page whether a verified link may still
// be answered and what to show. feedback.ErrLinkUsed if it was used,
// ENOTFOUND if its subject no longer exists.
func (db *DB) FeedbackLinkStatus(ctx context.Context, c *feedback.LinkClaims) (*FeedbackLinkPage, error) {
	var used bool
	if err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM feedback_link_uses WHERE link_id = $1)`, c.ID).Scan(&used); err != nil {
		return nil, fmt.Errorf("feedback link status: %w", err)
	}
	if used {
		return nil, feedback.ErrLinkUsed
	}
	s, err := db.resolveSubject(ctx, care.SystemActor(), c.SubjectKind, c.SubjectID)
	if err != nil {
		return nil, err
	}
	page := &FeedbackLinkPage{}
	if s.practitionerID != nil {
		if err := db.q.QueryRow(ctx, `SELECT given_name || ' ' || family_name FROM practitioners WHERE id = $1`, *s.practitionerID).Scan(&page.PractitionerName); err != nil {
			return nil, fmt.Errorf("feedback link status: %w", err)
		}
	}
	if s.teamID != nil && s.practitionerID == nil {
		if err := db.q.QueryRow(ctx, `SELECT name FROM teams WHERE id = $1`, *s.teamID).Scan(&page.TeamName); err != nil {
			return nil, fmt.Errorf("feedback link status: %w", err)
		}
	}
	if c.QuestionnaireID != nil {
		if page.Questionnaire, err = db.questionnaire(ctx, *c.QuestionnaireID, c.QuestionnaireVersion); err != nil {
			return nil, err
		}
	}
	return page, nil
}

// SubmitLinkedFeedback stores an anonymous response given through a
// verified link (the caller has checked its signature and expiry). The
// submission must be about the link's subject, with its instrument, from a
// patient or carer. The link is marked used in the same transaction, under a
// unique key, so it works once even against concurrent submits. It stores no
// respondent identity. also is the Friends and Family Test answer of a CARE
// link that asks both (LinkClaims.AlsoFFT), stored in the same transaction
// and so all or nothing with the first. It returns the first response, or
// feedback.ErrLinkUsed, ErrLinkWrongSubject, EINVALID for a bad submission,
// ENOTFOUND if the subject is gone.
func (db *DB) SubmitLinkedFeedback(ctx context.Context, c *feedback.LinkClaims, s feedback.Submission, also ...feedback.Submission) (*feedback.Response, error) {
	if s.SubjectKind != c.SubjectKind || s.SubjectID != c.SubjectID {
		return nil, feedback.ErrLinkWrongSubject
	}
	if len(also) > 1 || (len(also) == 1 && (!c.AlsoFFT || also[0].Instrument != feedback.InstrumentFFT)) {
		return nil, care.Errorf(care.EINVALID, "this link asks for one questionnaire only")
	}
	for i := range also {
		if also[i].SubjectKind != c.SubjectKind || also[i].SubjectID != c.SubjectID {
			return nil, feedback.ErrLinkWrongSubject
		}
		if !also[i].Respondent.Anonymous() {
			return nil, care.Errorf(care.EINVALID, "feedback links are for patients and carers")
		}
		also[i].ID = nil
	}
	if s.Instrument != c.Instrument {
		return nil, care.Errorf(care.EINVALID, "this link asks for a different questionnaire")
	}
	if !s.Respondent.Anonymous() {
		return nil, care.Errorf(care.EINVALID, "feedback links are for patients and carers")
	}
	s.ID = nil // the server chooses; nothing the browser sends identifies the response
	if c.QuestionnaireID != nil {
		s.QuestionnaireID, s.QuestionnaireVersion = c.QuestionnaireID, c.QuestionnaireVersion
	}
	var out *feedback.Response
	err := db.InTx(ctx, func(tx *DB) error {
		_, err := tx.q.Exec(ctx, `INSERT INTO feedback_link_uses (link_id, expires_at) VALUES ($1, $2)`, c.ID, c.Expires)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "23505" {
			return feedback.ErrLinkUsed
		} else if err != nil {
			return fmt.Errorf("use feedback link: %w", err)
		}
		subj, err := tx.resolveSubject(ctx, care.SystemActor(), c.SubjectKind, c.SubjectID)
		if err != nil {
			return err
		}
		if out, err = tx.insertFeedback(ctx, subj, &s); err != nil {
			return err
		}
		for i := range also {
			if _, err := tx.insertFeedback(ctx, subj, &also[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SubmitFeedback stores feedback from a signed-in practitioner: a colleague's
// (about another practitioner, a team, a partnership, or an interaction or
// relationship she was not the practitioner of) or her own reflection
// (RespondentSelf, about herself or her own interactions and relationships).
// It is the one write path for the online mutation and sync pushes; creating
// again with an existing id returns the existing response. EFORBIDDEN for
// integrations and for feedback on oneself as a colleague or reflection on
// another; ENOTFOUND for a subject the caller cannot see; EINVALID for a bad
// submission.
func (db *DB) SubmitFeedback(ctx context.Context, s feedback.Submission) (*feedback.Response, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if s.Respondent != feedback.RespondentColleague && s.Respondent != feedback.RespondentSelf {
		return nil, care.Errorf(care.EINVALID, "patients and carers give feedback through a feedback link")
	}
	var out *feedback.Response
	err = db.InTx(ctx, func(tx *DB) error {
		if s.ID != nil {
			existing, err := tx.feedbackByID(ctx, a, *s.ID)
			if err != nil && care.ErrorCode(err) != care.ENOTFOUND {
				return err
			}
			if existing != nil {
				out = existing
				return nil
			}
		}
		subj, err := tx.resolveSubject(ctx, a, s.SubjectKind, s.SubjectID)
		if err != nil {
			return err
		}
		mine := subj.practitionerID != nil && *subj.practitionerID == a.PractitionerID && a.PractitionerID != uuid.Nil
		switch {
		case s.Respondent == feedback.RespondentSelf && !mine:
			return forbidden("record a reflection about someone else's work")
		case s.Respondent == feedback.RespondentColleague && mine:
			return forbidden("give colleague feedback about yourself; record a reflection instead")
		}
		out, err = tx.insertFeedback(ctx, subj, &s)
		if err != nil {
			return err
		}
		if subj.patientID != nil {
			return tx.audit(ctx, a, care.AuditCreate, []auditRec{{*subj.patientID, entityFeedback, out.ID}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// insertFeedback validates, scores and stores s about subj.
func (db *DB) insertFeedback(ctx context.Context, subj *feedbackSubject, s *feedback.Submission) (*feedback.Response, error) {
	var q *feedback.Questionnaire
	if s.Instrument == feedback.InstrumentQuestionnaire && s.QuestionnaireID != nil {
		var err error
		if q, err = db.questionnaire(ctx, *s.QuestionnaireID, s.QuestionnaireVersion); err != nil {
			return nil, err
		}
		if q.OrganizationID != subj.org {
			return nil, care.Errorf(care.ENOTFOUND, "no such questionnaire")
		}
	}
	score, err := s.Validate(q)
	if err != nil {
		return nil, err
	}
	id := uuid.Must(uuid.NewV7())
	if s.ID != nil {
		id = *s.ID
	}
	r := &feedback.Response{ID: id, OrganizationID: subj.org, SubjectKind: s.SubjectKind, SubjectID: s.SubjectID,
		PractitionerID: subj.practitionerID, TeamID: subj.teamID, Respondent: s.Respondent, Instrument: s.Instrument,
		CARERatings: s.CARERatings, CARE: score, FFT: s.FFT, QuestionnaireID: s.QuestionnaireID, FreeText: s.FreeText,
		SubmittedOn: dateOf(db.now()), Version: 1}
	if subj.relationshipKind != nil {
		k := care.RelationshipKind(*subj.relationshipKind)
		r.RelationshipKind = &k
	}
	var ratings []int16
	var careScore *float64
	var careMissing *int16
	if score != nil {
		for _, v := range s.CARERatings {
			ratings = append(ratings, int16(v))
		}
		m := int16(score.Missing)
		careMissing = &m
		if score.Scorable {
			careScore = &score.Score
		}
	}
	var answers []byte
	var qVersion *int
	if q != nil {
		r.QuestionnaireVersion = q.Version
		qVersion = &q.Version
		r.Answers = s.Answers
		if answers, err = json.Marshal(answersJSON(s.Answers)); err != nil {
			return nil, fmt.Errorf("encode answers: %w", err)
		}
	}
	var fft *string
	if s.FFT != nil {
		f := string(*s.FFT)
		fft = &f
	}
	_, err = db.q.Exec(ctx, `INSERT INTO feedback_responses (id, organization_id, subject_kind, interaction_id, relationship_id,
		practitioner_id, team_id, relationship_kind, respondent, instrument, care_ratings, care_score, care_missing, fft_answer,
		questionnaire_id, questionnaire_version, answers, free_text, submitted_on)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,NULLIF($18, ''),$19)`,
		id, subj.org, string(s.SubjectKind), subj.interactionID, subj.relationshipID, subj.practitionerID, subj.teamID,
		subj.relationshipKind, string(s.Respondent), string(s.Instrument), ratings, careScore, careMissing, fft,
		s.QuestionnaireID, qVersion, answers, s.FreeText, r.SubmittedOn)
	if err != nil {
		return nil, fmt.Errorf("store feedback: %w", translate(err))
	}
	return r, nil
}

func dateOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// answerJSON is how an answer is stored.
type answerJSON struct {
	Key    string  `json:"key"`
	Rating *int    `json:"rating,omitempty"`
	Choice *string `json:"choice,omitempty"`
	Yes    *bool   `json:"yes,omitempty"`
	Text   *string `json:"text,omitempty"`
}

func answersJSON(as []feedback.Answer) []answerJSON {
	out := make([]answerJSON, 0, len(as))
	for _, a := range as {
		out = append(out, answerJSON(a))
	}
	return out
}

// FeedbackFilter narrows feedback reads. Zero fields filter nothing.
type FeedbackFilter struct {
	OrganizationID   *uuid.UUID
	PractitionerID   *uuid.UUID
	TeamID           *uuid.UUID
	RelationshipKind *care.RelationshipKind
	SubjectKind      *feedback.SubjectKind
	SubjectID        *uuid.UUID
	Instrument       *feedback.Instrument
	Respondent       *feedback.Respondent
	From, To         *time.Time // submitted on or after From, before To
}

// feedbackVisibleSQL admits the feedback_responses alias f for a. Singles
// (responses) and aggregates (scores) differ only for integrations.
func feedbackVisibleSQL(a *care.Actor, f string, q *args, aggregate bool) string {
	switch {
	case a.Role == care.RoleSystem:
		return "true"
	case a.Role == care.RolePracticeAdmin:
		return f + ".organization_id = " + q.add(a.OrganizationID)
	case a.Role == care.RoleIntegration:
		if aggregate && a.HasScope(care.ScopeAnalyticsRead) {
			return f + ".organization_id = " + q.add(a.OrganizationID)
		}
		return "false"
	case a.PractitionerID != uuid.Nil:
		return f + ".practitioner_id = " + q.add(a.PractitionerID)
	}
	return "false"
}

func feedbackFilterSQL(f FeedbackFilter, q *args) string {
	w := "true"
	add := func(cond string, v any) { w += " AND " + fmt.Sprintf(cond, q.add(v)) }
	if f.OrganizationID != nil {
		add("f.organization_id = %s", *f.OrganizationID)
	}
	if f.PractitionerID != nil {
		add("f.practitioner_id = %s", *f.PractitionerID)
	}
	if f.TeamID != nil {
		add("f.team_id = %s", *f.TeamID)
	}
	if f.RelationshipKind != nil {
		add("f.relationship_kind = %s", string(*f.RelationshipKind))
	}
	if f.SubjectKind != nil {
		add("f.subject_kind = %s", string(*f.SubjectKind))
	}
	if f.SubjectID != nil {
		add("COALESCE(f.interaction_id, f.relationship_id, CASE f.subject_kind WHEN 'team' THEN f.team_id ELSE f.practitioner_id END) = %s", *f.SubjectID)
	}
	if f.Instrument != nil {
		add("f.instrument = %s", string(*f.Instrument))
	}
	if f.Respondent != nil {
		add("f.respondent = %s", string(*f.Respondent))
	}
	if f.From != nil {
		add("f.submitted_on >= %s::date", *f.From)
	}
	if f.To != nil {
		add("f.submitted_on < %s::date", *f.To)
	}
	return w
}

const feedbackCols = `f.id, f.organization_id, f.subject_kind,
	COALESCE(f.interaction_id, f.relationship_id, CASE f.subject_kind WHEN 'team' THEN f.team_id ELSE f.practitioner_id END),
	f.practitioner_id, f.team_id, f.relationship_kind, f.respondent, f.instrument, f.care_ratings, f.care_score, f.care_missing,
	f.fft_answer, f.questionnaire_id, f.questionnaire_version, f.answers, COALESCE(f.free_text, ''), f.submitted_on, f.version,
	COALESCE(i.patient_id, r.patient_id)`

const feedbackFrom = `feedback_responses f
	LEFT JOIN interactions i ON i.id = f.interaction_id
	LEFT JOIN care_relationships r ON r.id = f.relationship_id`

func scanFeedback(row pgx.CollectableRow) (*feedbackRow, error) {
	var x feedbackRow
	r := &x.Response
	var kind, resp, inst string
	var relKind, fft *string
	var ratings []int16
	var score *float64
	var missing *int16
	var qv *int
	var answers []byte
	if err := row.Scan(&r.ID, &r.OrganizationID, &kind, &r.SubjectID, &r.PractitionerID, &r.TeamID, &relKind, &resp, &inst,
		&ratings, &score, &missing, &fft, &r.QuestionnaireID, &qv, &answers, &r.FreeText, &r.SubmittedOn, &r.Version, &x.patientID); err != nil {
		return nil, err
	}
	r.SubjectKind, r.Respondent, r.Instrument = feedback.SubjectKind(kind), feedback.Respondent(resp), feedback.Instrument(inst)
	if relKind != nil {
		k := care.RelationshipKind(*relKind)
		r.RelationshipKind = &k
	}
	if fft != nil {
		a := feedback.FFTAnswer(*fft)
		r.FFT = &a
	}
	if ratings != nil {
		r.CARERatings = make([]int, len(ratings))
		for i, v := range ratings {
			r.CARERatings[i] = int(v)
		}
		r.CARE = &feedback.CAREScore{Missing: int(orZero(missing))}
		if score != nil {
			r.CARE.Scorable, r.CARE.Score = true, *score
		}
	}
	if qv != nil {
		r.QuestionnaireVersion = *qv
	}
	if answers != nil {
		var as []answerJSON
		if err := json.Unmarshal(answers, &as); err != nil {
			return nil, fmt.Errorf("decode answers: %w", err)
		}
		for _, a := range as {
			r.Answers = append(r.Answers, feedback.Answer(a))
		}
	}
	return &x, nil
}

func orZero[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

type feedbackRow struct {
	feedback.Response
	patientID *uuid.UUID
}

// MaxFeedbackPage is the most responses one FeedbackResponses call returns.
const MaxFeedbackPage = 100

// FeedbackResponses returns up to limit (1..MaxFeedbackPage, default 20)
// responses the caller may see, newest first, submitted before the response
// `before` (a cursor: the id of the last response of the previous page) when
// given. Reads of responses whose subject involves a patient are audited.
// EUNAUTHENTICATED without an actor; ELIMIT for a bad limit.
func (db *DB) FeedbackResponses(ctx context.Context, f FeedbackFilter, limit int, before *uuid.UUID) ([]*feedback.Response, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if limit == 0 {
		limit = 20
	}
	if limit < 1 || limit > MaxFeedbackPage {
		return nil, care.Errorf(care.ELIMIT, "limit must be 1 to %d", MaxFeedbackPage)
	}
	var q args
	where := feedbackVisibleSQL(a, "f", &q, false) + " AND " + feedbackFilterSQL(f, &q)
	if before != nil {
		b := q.add(*before)
		where += ` AND (f.submitted_on, f.id) < (SELECT b.submitted_on, b.id FROM feedback_responses b WHERE b.id = ` + b + `)`
	}
	sql := "SELECT " + feedbackCols + " FROM " + feedbackFrom + " WHERE " + where +
		" ORDER BY f.submitted_on DESC, f.id DESC LIMIT " + q.add(limit)
	return db.readFeedback(ctx, a, sql, q)
}

func (db *DB) readFeedback(ctx context.Context, a *care.Actor, sql string, q args) ([]*feedback.Response, error) {
	rows, err := db.q.Query(ctx, sql, q...)
	if err != nil {
		return nil, fmt.Errorf("read feedback: %w", err)
	}
	got, err := pgx.CollectRows(rows, scanFeedback)
	if err != nil {
		return nil, fmt.Errorf("read feedback: %w", err)
	}
	out := make([]*feedback.Response, len(got))
	var recs []auditRec
	for i, g := range got {
		out[i] = &g.Response
		if g.patientID != nil {
			recs = append(recs, auditRec{*g.patientID, entityFeedback, g.ID})
		}
	}
	if err := db.audit(ctx, a, care.AuditRead, recs); err != nil {
		return nil, err
	}
	return out, nil
}

// feedbackByID returns one visible response, audited; ENOTFOUND otherwise.
func (db *DB) feedbackByID(ctx context.Context, a *care.Actor, id uuid.UUID) (*feedback.Response, error) {
	q := args{id}
	sql := "SELECT " + feedbackCols + " FROM " + feedbackFrom + " WHERE f.id = $1 AND " + feedbackVisibleSQL(a, "f", &q, false)
	out, err := db.readFeedback(ctx, a, sql, q)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, care.Errorf(care.ENOTFOUND, "no such feedback")
	}
	return out[0], nil
}

// FeedbackResponse returns one response the caller may see, audited.
// ENOTFOUND when missing or not visible.
func (db *DB) FeedbackResponse(ctx context.Context, id uuid.UUID) (*feedback.Response, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	return db.feedbackByID(ctx, a, id)
}

// FeedbackScores returns the scores of the responses the caller may
// aggregate, for feedback.Breakdown: no text, no answers, no ids. Nothing is
// audited: no patient's data is read. EUNAUTHENTICATED without an actor.
func (db *DB) FeedbackScores(ctx context.Context, f FeedbackFilter) ([]feedback.Scored, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	var q args
	sql := `SELECT date_trunc('month', f.submitted_on)::date, COALESCE(f.practitioner_id::text, ''), COALESCE(f.team_id::text, ''),
		COALESCE(f.relationship_kind, ''), f.care_score, f.care_missing, f.fft_answer
		FROM feedback_responses f WHERE ` + feedbackVisibleSQL(a, "f", &q, true) + " AND " + feedbackFilterSQL(f, &q)
	rows, err := db.q.Query(ctx, sql, q...)
	if err != nil {
		return nil, fmt.Errorf("feedback scores: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (feedback.Scored, error) {
		var s feedback.Scored
		var score *float64
		var missing *int16
		var fft *string
		if err := r.Scan(&s.Month, &s.PractitionerID, &s.TeamID, &s.RelationshipKind, &score, &missing, &fft); err != nil {
			return s, err
		}
		if missing != nil {
			s.CARE = &feedback.CAREScore{Missing: int(*missing)}
			if score != nil {
				s.CARE.Scorable, s.CARE.Score = true, *score
			}
		}
		if fft != nil {
			a := feedback.FFTAnswer(*fft)
			s.FFT = &a
		}
		return s, nil
	})
	if err != nil {
		return nil, fmt.Errorf("feedback scores: %w", err)
	}
	return out, nil
}

// questionJSON is how a question is stored.
type questionJSON struct {
	Key      string                `json:"key"`
	Text     string                `json:"text"`
	Kind     feedback.QuestionKind `json:"kind"`
	Options  []string              `json:"options,omitempty"`
	ScaleMax int                   `json:"scaleMax,omitempty"`
	Required bool                  `json:"required"`
}

// questionnaire returns version v of a questionnaire (0: the latest), for
// any caller (the public page shows it). ENOTFOUND when missing.
func (db *DB) questionnaire(ctx context.Context, id uuid.UUID, v int) (*feedback.Questionnaire, error) {
	var q feedback.Questionnaire
	var raw []byte
	err := db.q.QueryRow(ctx, `SELECT id, version, organization_id, title, questions FROM feedback_questionnaires
		WHERE id = $1 AND ($2 = 0 OR version = $2) ORDER BY version DESC LIMIT 1`, id, v).
		Scan(&q.ID, &q.Version, &q.OrganizationID, &q.Title, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, care.Errorf(care.ENOTFOUND, "no such questionnaire")
	} else if err != nil {
		return nil, fmt.Errorf("load questionnaire: %w", err)
	}
	var qs []questionJSON
	if err := json.Unmarshal(raw, &qs); err != nil {
		return nil, fmt.Errorf("decode questionnaire: %w", err)
	}
	for _, x := range qs {
		q.Questions = append(q.Questions, feedback.Question(x))
	}
	return &q, nil
}

// Questionnaire returns version v (0: the latest) of a questionnaire of the
// caller's organisation. ENOTFOUND when missing or another organisation's.
func (db *DB) Questionnaire(ctx context.Context, id uuid.UUID, v int) (*feedback.Questionnaire, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q, err := db.questionnaire(ctx, id, v)
	if err != nil {
		return nil, err
	}
	if a.Role != care.RoleSystem && q.OrganizationID != a.OrganizationID {
		return nil, care.Errorf(care.ENOTFOUND, "no such questionnaire")
	}
	return q, nil
}

// Questionnaires returns the latest version of each of the caller's
// organisation's questionnaires, by title.
func (db *DB) Questionnaires(ctx context.Context) ([]*feedback.Questionnaire, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	rows, err := db.q.Query(ctx, `SELECT DISTINCT ON (id) id, version FROM feedback_questionnaires
		WHERE organization_id = $1 ORDER BY id, version DESC`, a.OrganizationID)
	if err != nil {
		return nil, fmt.Errorf("list questionnaires: %w", err)
	}
	type idv struct {
		id uuid.UUID
		v  int
	}
	ids, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (idv, error) {
		var x idv
		return x, r.Scan(&x.id, &x.v)
	})
	if err != nil {
		return nil, fmt.Errorf("list questionnaires: %w", err)
	}
	out := make([]*feedback.Questionnaire, 0, len(ids))
	for _, x := range ids {
		q, err := db.questionnaire(ctx, x.id, x.v)
		if err != nil {
			return nil, err
		}
		out = append(out, q)
	}
	return out, nil
}

// SaveQuestionnaire stores a new questionnaire (q.ID nil: version 1 of a new
// one) or the next version of an existing one of the caller's organisation;
// earlier versions stay as they were. Only practice admins (and the system)
// may. EFORBIDDEN for others, ENOTFOUND for another organisation's
// questionnaire, EINVALID for a malformed one.
func (db *DB) SaveQuestionnaire(ctx context.Context, id *uuid.UUID, title string, questions []feedback.Question) (*feedback.Questionnaire, error) {
	a, err := writerOf(ctx)
	if err != nil {
		return nil, err
	}
	if !hasRole(a, care.RolePracticeAdmin, care.RoleSystem) {
		return nil, forbidden("define questionnaires")
	}
	var out *feedback.Questionnaire
	err = db.InTx(ctx, func(tx *DB) error {
		prev := feedback.Questionnaire{ID: uuid.Must(uuid.NewV7()), OrganizationID: a.OrganizationID}
		if id != nil {
			p, err := tx.questionnaire(ctx, *id, 0)
			if err != nil {
				return err
			}
			if !adminOf(a, p.OrganizationID) {
				return care.Errorf(care.ENOTFOUND, "no such questionnaire")
			}
			prev = *p
		}
		next, err := prev.Revise(title, questions)
		if err != nil {
			return err
		}
		qs := make([]questionJSON, len(next.Questions))
		for i, x := range next.Questions {
			qs[i] = questionJSON(x)
		}
		raw, err := json.Marshal(qs)
		if err != nil {
			return fmt.Errorf("encode questionnaire: %w", err)
		}
		if _, err := tx.q.Exec(ctx, `INSERT INTO feedback_questionnaires (id, version, organization_id, title, questions) VALUES ($1,$2,$3,$4,$5)`,
			next.ID, next.Version, next.OrganizationID, next.Title, raw); err != nil {
			return fmt.Errorf("save questionnaire: %w", translate(err))
		}
		out = &next
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FeedbackByIDs returns the responses among ids the caller may see, aligned
// with ids (nil where missing or not visible), audited like FeedbackResponse.
// For the sync engine's pull and push results.
func (db *DB) FeedbackByIDs(ctx context.Context, ids []uuid.UUID) ([]*feedback.Response, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	q := args{ids}
	sql := "SELECT " + feedbackCols + " FROM " + feedbackFrom + " WHERE f.id = ANY($1::uuid[]) AND " + feedbackVisibleSQL(a, "f", &q, false)
	out, err := db.readFeedback(ctx, a, sql, q)
	if err != nil {
		return nil, err
	}
	return align(ids, out, func(r *feedback.Response) uuid.UUID { return r.ID }), nil
}
