package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/feedback"
)

// bulkLoadOffSQL turns the change-log triggers of 002_sync.sql off for the
// rest of the transaction (their WHEN clause reads rapport.bulk_load): a
// million row-by-row trigger calls would dominate a bulk load.
const bulkLoadOffSQL = `SELECT set_config('rapport.bulk_load', 'on', true)`

// logBulkLoadSQL records every row the current transaction wrote to a synced
// table in the change log in one statement, all under one new sequence
// number, and notifies listeners once. Unlike an ordinary write it numbers
// its rows itself, as a stamp does (sync_stamp(), 009_sync_stamp_after_commit.sql):
// it takes the sync_clock row and holds it until it commits, so stamps
// queue behind it and number after it, and its number becomes visible with
// the clock's. A million rows are not left for a stamp to rewrite.
const logBulkLoadSQL = `
WITH s AS (UPDATE sync_clock SET seq = seq + 1 RETURNING seq),
     h AS (SELECT sync_hlc() AS hlc),
     ins AS (
INSERT INTO sync_changes AS sc (entity, entity_id, seq, op, patient_id, organization_id, version, hlc)
SELECT x.entity, x.id, (SELECT seq FROM s), 'upsert', x.pid, x.org, x.version, (SELECT hlc FROM h) FROM (
    SELECT 'organization' AS entity, id, NULL::uuid AS pid, id AS org, version FROM organizations WHERE xmin = pg_current_xact_id()::xid
    UNION ALL SELECT 'team', id, NULL, organization_id, version FROM teams WHERE xmin = pg_current_xact_id()::xid
    UNION ALL SELECT 'practitioner', id, NULL, organization_id, version FROM practitioners WHERE xmin = pg_current_xact_id()::xid
    UNION ALL SELECT 'patient', id, id, registered_practice_id, version FROM patients WHERE xmin = pg_current_xact_id()::xid
    UNION ALL SELECT 'care_relationship', id, patient_id, organization_id, version FROM care_relationships WHERE xmin = pg_current_xact_id()::xid
    UNION ALL SELECT 'interaction', id, patient_id, organization_id, version FROM interactions WHERE xmin = pg_current_xact_id()::xid
) x
ORDER BY x.entity, x.id
ON CONFLICT (entity, entity_id) DO UPDATE SET seq = EXCLUDED.seq, txid = EXCLUDED.txid, op = 'upsert', patient_id = EXCLUDED.patient_id,
    organization_id = EXCLUDED.organization_id, version = EXCLUDED.version, changed_fields = '{}', hlc = EXCLUDED.hlc,
    device_id = NULL, changed_at = now()
RETURNING 1)
SELECT pg_notify('rapport_sync', (SELECT seq FROM s)::text) FROM (SELECT count(*) FROM ins) n`

// logBulkLoad writes the change log for a bulk load (see logBulkLoadSQL).
// Into an empty log it sets the log's plain indexes aside and rebuilds them
// after, as bulkCopy does for the loaded tables; rows arrive in primary-key
// order so the key's index grows at its right edge.
func (db *DB) logBulkLoad(ctx context.Context) error {
	rebuild, err := db.setAsideIndexes(ctx, "sync_changes")
	if err != nil {
		return fmt.Errorf("load: change log: set indexes aside: %w", err)
	}
	if _, err := db.q.Exec(ctx, logBulkLoadSQL); err != nil {
		return fmt.Errorf("load: change log: %w", err)
	}
	for _, stmt := range rebuild {
		if _, err := db.q.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("load: change log: rebuild indexes: %w", err)
		}
	}
	return nil
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
	// Known holds the ids of the interactions passed to LoadSyncPage as
	// known whose patients the caller may see.
	Known map[uuid.UUID]bool
}

// SyncKnown is an interaction whose current form a sync pull already holds
// (its cache of encoded records, keyed by the change-log row that names the
// record's last write): LoadSyncPage does not read it again, but checks that
// the caller may see its patient, as it checks a loaded interaction, and
// audits it as served when so.
type SyncKnown struct {
	ID, PatientID uuid.UUID
}

// LoadSyncRows loads the current state of the records named, keeping only
// those the caller may see (patient data by the access rule; directory
// records as any authenticated actor may read them by id), with each
// interaction's amendments. Reads of patient data are audited: inside a
// transaction in it (a push answering with the record it wrote), outside one
// through the read-audit queue. Records that no longer exist are absent.
// EUNAUTHENTICATED without an actor; EUNAVAILABLE when the audit cannot keep
// up (nothing may then be served).
func (db *DB) LoadSyncRows(ctx context.Context, refs []SyncRef) (*SyncRows, error) {
	return db.loadSyncRows(ctx, refs, nil, false)
}

// LoadSyncPage is LoadSyncRows for a page of a sync pull: one statement per
// entity kind present (the access rule inside it), one for the amendments of
// every amended interaction, and one audit entry per patient whose records
// the page holds (entity SyncPage, the same page id on each: pageRecs),
// queued for the read-audit flusher (auditqueue.go) even inside the pull's
// snapshot transaction. The queue keeps the rule that a read is refused
// (EUNAVAILABLE) rather than served unaudited when the audit cannot keep up;
// rows queued for a page whose transaction then fails record a read that was
// made but not served, which errs on the side of the patient.
//
// known are interactions the page holds already (SyncKnown): one more
// statement, over their patients, tells which of them the caller may see
// (SyncRows.Known).
func (db *DB) LoadSyncPage(ctx context.Context, refs []SyncRef, known []SyncKnown) (*SyncRows, error) {
	return db.loadSyncRows(ctx, refs, known, true)
}

func (db *DB) loadSyncRows(ctx context.Context, refs []SyncRef, known []SyncKnown, queued bool) (*SyncRows, error) {
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
		Feedback: map[uuid.UUID]*feedback.Response{}, Known: map[uuid.UUID]bool{},
	}
	var recs []auditRec
	if len(known) > 0 {
		seen, err := db.VisiblePatientIDs(ctx, patientsOf(known))
		if err != nil {
			return nil, err
		}
		for _, k := range known {
			if seen[k.PatientID] {
				out.Known[k.ID] = true
				recs = append(recs, auditRec{k.PatientID, entityInteraction, k.ID})
			}
		}
	}
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
	if queued && len(recs) > 0 {
		if err := db.audits.enqueue(auditRows(ctx, a, care.AuditRead, pageRecs(recs))); err != nil {
			return nil, err
		}
		return out, nil
	}
	if err := db.audit(ctx, a, care.AuditRead, recs); err != nil {
		return nil, err
	}
	return out, nil
}

// patientsOf returns the known interactions' patients, each once.
func patientsOf(known []SyncKnown) []uuid.UUID {
	ps := make([]uuid.UUID, len(known))
	for k, kn := range known {
		ps[k] = kn.PatientID
	}
	return uniqueIDs(ps)
}

// entitySyncPage is the audited entity of a sync pull page.
const entitySyncPage = "SyncPage"

// pageRecs folds a pull page's audit records into one per patient, in order
// of first appearance, all naming one new page id: a page of 1,000
// interactions of a few patients costs a few audit rows, not 1,000, and
// still records who received which patient's records, when, through which
// request.
func pageRecs(recs []auditRec) []auditRec {
	page := uuid.Must(uuid.NewV7())
	seen := make(map[uuid.UUID]bool, 8)
	out := make([]auditRec, 0, 8)
	for _, r := range recs {
		if !seen[r.patientID] {
			seen[r.patientID] = true
			out = append(out, auditRec{r.patientID, entitySyncPage, page})
		}
	}
	return out
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
