package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/care"
)

// syncStatTables are the tables SyncRowCounts may count.
var syncStatTables = map[string]bool{
	"patients": true, "care_relationships": true, "interactions": true, "interaction_amendments": true, "access_audit": true,
	"sync_changes": true, "sync_mutations": true, "sync_conflicts": true, "devices": true, "device_scopes": true, "sync_field_clocks": true,
}

// SyncRowCounts returns how many rows each named table holds, for operators
// watching the sync tables grow and for tests proving a retried push wrote
// nothing; for access_audit it counts audit entries (one for each entity a
// row lists), which do not depend on how rows group them. Only the system
// actor may ask (EFORBIDDEN otherwise); EINVALID for a table it does not
// count.
func (db *DB) SyncRowCounts(ctx context.Context, tables ...string) (map[string]int64, error) {
	a, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	if a.Role != care.RoleSystem {
		return nil, forbidden("count rows")
	}
	out := make(map[string]int64, len(tables))
	for _, t := range tables {
		if !syncStatTables[t] {
			return nil, care.Errorf(care.EINVALID, "unknown table %q", t)
		}
		count := `SELECT count(*) FROM ` + pgx.Identifier{t}.Sanitize()
		if t == "access_audit" {
			// Count every read served so far, queued or not, by entry.
			if err := db.FlushAudit(ctx); err != nil {
				return nil, err
			}
			count = `SELECT coalesce(sum(cardinality(entities)), 0) FROM access_audit`
		}
		var n int64
		if err := db.q.QueryRow(ctx, count).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", t, err)
		}
		out[t] = n
	}
	return out, nil
}
