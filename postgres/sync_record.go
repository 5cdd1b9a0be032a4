package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// SyncFieldClock is the last change of one field of a record: the record
// version it produced, its hybrid logical clock and the device it came from.
type SyncFieldClock struct {
	HLC      string
	Version  int64
	DeviceID *uuid.UUID
}

// SyncRecordState is what a sync push needs to know about a record before it
// changes it: whether it exists, whose patient it belongs to, whether the
// caller may see it, its version and status, and its per-field clocks (by
// column name; fields untouched since creation have none).
type SyncRecordState struct {
	Exists         bool
	Visible        bool
	PatientID      *uuid.UUID
	PractitionerID *uuid.UUID
	Version        int64
	Status         string
	FieldClocks    map[string]SyncFieldClock
}

// LockSyncRecord locks an interaction or care relationship (entity
// "interaction" or "care_relationship") for the rest of the transaction and
// returns its state; Exists is false when there is none. Nothing of a record
// the caller may not see leaves this package except Exists and PatientID,
// which sync uses only to say that a record left the device's scope. It must
// be called inside InTx; EINVALID for another entity.
func (db *DB) LockSyncRecord(ctx context.Context, entity string, id uuid.UUID) (*SyncRecordState, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if !db.inTx {
		return nil, errNotInTx
	}
	q := args{id}
	var sql string
	switch entity {
	case "interaction":
		sql = `SELECT t.patient_id, t.practitioner_id, t.version, t.status,
			EXISTS (SELECT 1 FROM patients p WHERE p.id = t.patient_id AND ` + patientAccessSQL(a, "p", &q) + `)
			FROM interactions t WHERE t.id = $1 FOR UPDATE OF t`
	case "care_relationship":
		sql = `SELECT t.patient_id, t.practitioner_id, t.version, t.status, ` + relationshipVisibleSQL(a, "t", &q) + `
			FROM care_relationships t WHERE t.id = $1 FOR UPDATE OF t`
	default:
		return nil, care.Errorf(care.EINVALID, "%s records are not changed through sync", entity)
	}
	st := &SyncRecordState{FieldClocks: map[string]SyncFieldClock{}}
	err = db.q.QueryRow(ctx, sql, q...).Scan(&st.PatientID, &st.PractitionerID, &st.Version, &st.Status, &st.Visible)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", entity, err)
	}
	st.Exists = true
	rows, err := db.q.Query(ctx, `SELECT field, hlc, version, device_id FROM sync_field_clocks WHERE entity = $1 AND entity_id = $2`, entity, id)
	if err != nil {
		return nil, fmt.Errorf("field clocks: %w", err)
	}
	var field string
	var fc SyncFieldClock
	_, err = pgx.ForEachRow(rows, []any{&field, &fc.HLC, &fc.Version, &fc.DeviceID}, func() error {
		st.FieldClocks[field] = fc
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("field clocks: %w", err)
	}
	return st, nil
}

// PatientVisible reports whether the caller may see the patient now.
func (db *DB) PatientVisible(ctx context.Context, patientID uuid.UUID) (bool, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return false, err
	}
	q := args{patientID}
	var ok bool
	err = db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM patients p WHERE p.id = $1 AND `+patientAccessSQL(a, "p", &q)+`)`, q...).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("patient visible: %w", err)
	}
	return ok, nil
}

// DeviceHadPatient reports whether the patient was ever in the device's sync
// scope (so the device may hold their records), which lets sync tell a device
// that a record left its scope without revealing records it never had.
func (db *DB) DeviceHadPatient(ctx context.Context, device, patientID uuid.UUID) (bool, error) {
	var ok bool
	err := db.q.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM device_scopes WHERE device_id = $1 AND patient_id = $2)`, device, patientID).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("device scope: %w", err)
	}
	return ok, nil
}

// SyncRows holds current records loaded for sync, keyed by id.
type SyncRows struct {
	Patients      map[uuid.UUID]*care.Patient
	Relationships map[uuid.UUID]*care.CareRelationship
	Interactions  map[uuid.UUID]*care.Interaction
	Amendments    map[uuid.UUID][]*care.InteractionAmendment // by interaction
	Practitioners map[uuid.UUID]*care.Practitioner
	Teams         map[uuid.UUID]*care.Team
	Organizations map[uuid.UUID]*care.Organization
	Feedback      map[uuid.UUID]*feedback.Response
}

// SyncRef names one record.
type SyncRef struct {
	Entity string
	ID     uuid.UUID
}

// LoadSyncRows loads the current state of the records named, keeping only
// those the caller may see (patient data by the access rule; directory
// records as any authenticated actor may read them by id), with each
// interaction's amendments. Reads of patient data are audited. Records that
// no longer exist are absent. EUNAUTHENTICATED without an actor.
func (db *DB) LoadSyncRows(ctx context.Context, refs []SyncRef) (*SyncRows, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	ids := map[string][]uuid.UUID{}
	for _, r := range refs {
		ids[r.Entity] = append(ids[r.Entity], r.ID)
	}
	out := &SyncRows{
		Patients: map[uuid.UUID]*care.Patient{}, Relationships: map[uuid.UUID]*care.CareRelationship{},
		Interactions: map[uuid.UUID]*care.Interaction{}, Amendments: map[uuid.UUID][]*care.InteractionAmendment{},
		Practitioners: map[uuid.UUID]*care.Practitioner{}, Teams: map[uuid.UUID]*care.Team{}, Organizations: map[uuid.UUID]*care.Organization{},
		Feedback: map[uuid.UUID]*feedback.Response{},
	}
	var recs []auditRec
	if v := ids["patient"]; len(v) > 0 {
		ps, err := db.visiblePatients(ctx, a, v, false)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p != nil {
				out.Patients[p.ID] = p
			}
		}
		recs = append(recs, patientRecs(ps)...)
	}
	if v := ids["care_relationship"]; len(v) > 0 {
		rs, err := db.visibleRels(ctx, a, v, false)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r != nil {
				out.Relationships[r.ID] = r
			}
		}
		recs = append(recs, relationshipRecs(rs)...)
	}
	if v := ids["interaction"]; len(v) > 0 {
		is, err := db.visibleInteractions(ctx, a, v, false)
		if err != nil {
			return nil, err
		}
		var amended []uuid.UUID
		for _, i := range is {
			if i != nil {
				out.Interactions[i.ID] = i
				if i.Status == care.InteractionAmended {
					amended = append(amended, i.ID)
				}
			}
		}
		recs = append(recs, interactionRecs(is)...)
		if len(amended) > 0 {
			ams, err := db.amendmentsNoAudit(ctx, amended)
			if err != nil {
				return nil, err
			}
			for _, m := range ams {
				out.Amendments[m.InteractionID] = append(out.Amendments[m.InteractionID], m)
				recs = append(recs, auditRec{out.Interactions[m.InteractionID].PatientID, entityAmendment, m.ID})
			}
		}
	}
	if v := ids["feedback"]; len(v) > 0 {
		// FeedbackByIDs applies feedback visibility and audits itself.
		fs, err := db.FeedbackByIDs(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, r := range fs {
			if r != nil {
				out.Feedback[r.ID] = r
			}
		}
	}
	if v := ids["practitioner"]; len(v) > 0 {
		ps, err := db.practitionersByID(ctx, v, false)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if p != nil {
				out.Practitioners[p.ID] = p
			}
		}
	}
	if v := ids["team"]; len(v) > 0 {
		ts, err := db.teamsByID(ctx, v, false)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			if t != nil {
				out.Teams[t.ID] = t
			}
		}
	}
	if v := ids["organization"]; len(v) > 0 {
		os, err := db.orgsByID(ctx, v)
		if err != nil {
			return nil, err
		}
		for _, o := range os {
			if o != nil {
				out.Organizations[o.ID] = o
			}
		}
	}
	if err := db.audit(ctx, a, care.AuditRead, recs); err != nil {
		return nil, err
	}
	return out, nil
}

const amendmentsNoAuditSQL = `
SELECT am.id, am.interaction_id, am.amended_by_id, am.amended_at, am.reason,
       am.before_purpose, am.before_notes, am.before_duration_minutes,
       am.after_purpose, am.after_notes, am.after_duration_minutes
FROM interaction_amendments am WHERE am.interaction_id = ANY($1::uuid[])
ORDER BY am.interaction_id, am.amended_at, am.id`

// amendmentsNoAudit loads the amendments of interactions the caller already
// may see (the caller checks), oldest first per interaction.
func (db *DB) amendmentsNoAudit(ctx context.Context, ids []uuid.UUID) ([]*care.InteractionAmendment, error) {
	rows, err := db.q.Query(ctx, amendmentsNoAuditSQL, ids)
	if err != nil {
		return nil, fmt.Errorf("load amendments: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (*care.InteractionAmendment, error) {
		var m care.InteractionAmendment
		err := r.Scan(&m.ID, &m.InteractionID, &m.AmendedByID, &m.AmendedAt, &m.Reason,
			&m.Before.Purpose, &m.Before.Notes, &m.Before.DurationMinutes,
			&m.After.Purpose, &m.After.Notes, &m.After.DurationMinutes)
		return &m, err
	})
	if err != nil {
		return nil, fmt.Errorf("load amendments: %w", err)
	}
	return out, nil
}
