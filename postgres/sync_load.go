package postgres

import (
	"context"
	"fmt"
)

// bulkLoadOffSQL turns the change-log triggers of 002_sync.sql off for the
// rest of the transaction (their WHEN clause reads rapport.bulk_load): a
// million row-by-row trigger calls would dominate a bulk load.
const bulkLoadOffSQL = `SELECT set_config('rapport.bulk_load', 'on', true)`

// logBulkLoadSQL records every row the current transaction wrote to a synced
// table in the change log in one statement, all under one new sequence
// number, and notifies listeners once.
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
