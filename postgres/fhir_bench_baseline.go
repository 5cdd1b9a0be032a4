package postgres

import (
	"context"
	"fmt"
	"io"

	"github.com/google/uuid"
)

// BaselineCopyInteractions writes, with a plain COPY (SELECT …) TO STDOUT
// and no access rule, audit or mapping, every interaction of patients
// registered at practice (the rows a FHIR Bulk export of that practice's
// Encounters reads) to w, and returns how many rows it wrote. It is the
// baseline of the FHIR export benchmark; nothing else may call it.
func (db *DB) BaselineCopyInteractions(ctx context.Context, practice uuid.UUID, w io.Writer) (int64, error) {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("baseline copy: %w", err)
	}
	defer conn.Release()
	sql := fmt.Sprintf(`COPY (SELECT %s FROM interactions i JOIN patients p ON p.id = i.patient_id
		WHERE p.registered_practice_id = '%s') TO STDOUT`, interactionCols, practice)
	tag, err := conn.Conn().PgConn().CopyTo(ctx, w, sql)
	if err != nil {
		return 0, fmt.Errorf("baseline copy: %w", err)
	}
	return tag.RowsAffected(), nil
}
