package sync

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestFeedbackThroughSync drives the FEEDBACK glue the push and pull hooks
// call: a reflection created offline is stored once through the one write
// path, and comes back as a record with its score.
func TestFeedbackThroughSync(t *testing.T) {
	t.Parallel()
	db := postgrestest.New(t)
	f := postgrestest.Seed(t, db)
	ctx := postgrestest.As(context.Background(), f.Nurse1Actor)
	id := uuid.Must(uuid.NewV7())
	fields := map[string]any{"subjectKind": "INTERACTION", "subjectId": f.InteractionA1Signed.String(), "respondent": "SELF",
		"instrument": "CARE_MEASURE", "careRatings": []any{4, 4, 4, 4, 4, 4, 4, 4, 0, 0}, "freeText": "rushed"}

	t.Run("a CREATE is stored once with the device's id", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			r, err := createFeedback(ctx, db, id, fields)
			if err != nil {
				t.Fatal(err)
			}
			if r.ID != id || !r.CARE.Scorable || r.CARE.Score != 40 {
				t.Fatalf("response %+v %+v", r, r.CARE)
			}
		}
		rs, err := db.FeedbackByIDs(ctx, []uuid.UUID{id, uuid.New()})
		if err != nil || len(rs) != 2 || rs[0] == nil || rs[1] != nil {
			t.Fatalf("FeedbackByIDs %v %v", rs, err)
		}
		data := feedbackData(rs[0])
		if data["id"] != id.String() || data["respondent"] != "SELF" || data["careScore"] != 40.0 || data["subjectKind"] != "INTERACTION" {
			t.Fatalf("record %v", data)
		}
	})
	t.Run("malformed or anonymous-kind CREATEs are refused", func(t *testing.T) {
		for name, bad := range map[string]map[string]any{
			"unknown field":    {"subjectKind": "TEAM", "subjectId": f.Team.String(), "respondent": "COLLEAGUE", "instrument": "FFT", "fftAnswer": "GOOD", "ip": "1.2.3.4"},
			"patient via sync": {"subjectKind": "TEAM", "subjectId": f.Team.String(), "respondent": "PATIENT", "instrument": "FFT", "fftAnswer": "GOOD"},
			"bad subject id":   {"subjectKind": "TEAM", "subjectId": "x", "respondent": "COLLEAGUE", "instrument": "FFT", "fftAnswer": "GOOD"},
			"bad answer":       {"subjectKind": "TEAM", "subjectId": f.Team.String(), "respondent": "COLLEAGUE", "instrument": "FFT", "fftAnswer": "MEH"},
		} {
			if _, err := createFeedback(ctx, db, uuid.New(), bad); care.ErrorCode(err) != care.EINVALID {
				t.Errorf("%s: err = %v, want EINVALID", name, err)
			}
		}
	})
	t.Run("applyFeedback: CREATE only, the result carries the record", func(t *testing.T) {
		e := New(db, Config{})
		res, err := e.applyFeedback(ctx, db, &ChangeInput{ID: id, Op: OpCreate, Entity: EntityFeedback, Fields: fields})
		if err != nil || res.Status != StatusApplied || *res.Version != 1 || res.Record["id"] != id.String() {
			t.Fatalf("result %+v (%v)", res, err)
		}
		if _, err := e.applyFeedback(ctx, db, &ChangeInput{ID: id, Op: OpUpdate, Entity: EntityFeedback, Fields: fields}); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("UPDATE: err = %v", err)
		}
	})
	t.Run("feedback about a hidden subject is not found", func(t *testing.T) {
		_, err := createFeedback(ctx, db, uuid.New(), map[string]any{"subjectKind": "INTERACTION", "subjectId": f.InteractionB1.String(),
			"respondent": "COLLEAGUE", "instrument": "FFT", "fftAnswer": "GOOD"})
		if care.ErrorCode(err) != care.ENOTFOUND {
			t.Fatalf("err = %v", err)
		}
	})
}
