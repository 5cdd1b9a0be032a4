package postgres

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
)

// DeleteInteraction deletes a draft interaction (its author only, or the
// system) and audits it; the change log keeps a tombstone so devices remove
// their copy. Signed interactions are never deleted: they are corrected by
// amendment. Errors: EUNAUTHENTICATED, EFORBIDDEN (not the author, a read-only
// token), ENOTFOUND (missing or not visible), ECONFLICT (signed).
func (db *DB) DeleteInteraction(ctx context.Context, id uuid.UUID) error {
	a, err := writerOf(ctx)
	if err != nil {
		return err
	}
	err = db.InTx(ctx, func(tx *DB) error {
		ex, err := tx.lockOwnInteraction(ctx, a, id)
		if err != nil {
			return err
		}
		if ex.Status != care.InteractionDraft {
			return care.Errorf(care.ECONFLICT, "a signed interaction cannot be deleted; amend it instead")
		}
		if _, err := tx.q.Exec(ctx, `DELETE FROM interactions WHERE id = $1`, id); err != nil {
			return translate(err)
		}
		return tx.audit(ctx, a, care.AuditDelete, interactionRecs([]*care.Interaction{ex}))
	})
	if err != nil {
		return fmt.Errorf("delete interaction: %w", err)
	}
	return nil
}
