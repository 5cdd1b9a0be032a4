package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// explain runs the statements of setup, then query (an EXPLAIN) with args,
// then those of cleanup, in one transaction, and returns the plan's lines
// joined.
func (db *DB) explain(ctx context.Context, setup []string, query string, args []any, cleanup ...string) (string, error) {
	var plan []string
	err := db.InTx(ctx, func(tx *DB) error {
		for _, s := range setup {
			if _, err := tx.q.Exec(ctx, s); err != nil {
				return err
			}
		}
		rows, err := tx.q.Query(ctx, query, args...)
		if err != nil {
			return err
		}
		if plan, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return err
		}
		for _, s := range cleanup {
			if _, err := tx.q.Exec(ctx, s); err != nil {
				return err
			}
		}
		return nil
	})
	return strings.Join(plan, "\n"), err
}

// ExplainMutationResults returns the generic plan (as the pool's cached
// statement gets it) of MutationResults' statement for device and seqs.
func (db *DB) ExplainMutationResults(ctx context.Context, device uuid.UUID, seqs []int64) (string, error) {
	// EXECUTE takes no parameters of the protocol's: the arguments are
	// written out (a uuid and numbers; the third is not in the plan).
	nums := make([]string, len(seqs))
	for k, n := range seqs {
		nums[k] = strconv.FormatInt(n, 10)
	}
	return db.explain(ctx,
		[]string{"SET LOCAL plan_cache_mode = force_generic_plan", "PREPARE mutation_results (uuid, bigint[], text) AS " + mutationResultsSQL},
		fmt.Sprintf("EXPLAIN EXECUTE mutation_results('%s', '{%s}', NULL)", device, strings.Join(nums, ",")), nil,
		"DEALLOCATE mutation_results")
}
