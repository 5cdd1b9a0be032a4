package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
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

// SyncRef names one record.
type SyncRef struct {
	Entity string
	ID     uuid.UUID
}
