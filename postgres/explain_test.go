package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ExplainMutationResults returns the generic plan (as the pool's cached
// statement gets it) of MutationResults' statement for device and seqs.
func (db *DB) ExplainMutationResults(ctx context.Context, device uuid.UUID, seqs []int64) (string, error) {
	var plan []string
	err := db.InTx(ctx, func(tx *DB) error {
		if _, err := tx.q.Exec(ctx, "SET LOCAL plan_cache_mode = force_generic_plan"); err != nil {
			return err
		}
		if _, err := tx.q.Exec(ctx, "PREPARE mutation_results (uuid, bigint[], text) AS "+mutationResultsSQL); err != nil {
			return err
		}
		// EXECUTE takes no parameters of the protocol's: the arguments are
		// written out (a uuid and numbers; the third is not in the plan).
		nums := make([]string, len(seqs))
		for k, n := range seqs {
			nums[k] = strconv.FormatInt(n, 10)
		}
		rows, err := tx.q.Query(ctx, fmt.Sprintf("EXPLAIN EXECUTE mutation_results('%s', '{%s}', NULL)", device, strings.Join(nums, ",")))
		if err != nil {
			return err
		}
		plan, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		_, err = tx.q.Exec(ctx, "DEALLOCATE mutation_results")
		return err
	})
	return strings.Join(plan, "\n"), err
}
