package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rapportcare/rapport/postgres"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// TestMutationResultsByKey: a push asks which of its numbers the device's
// earlier pushes applied. For a device with thousands of results left (not
// yet acknowledged, so not compacted), the answer is right, and the pool's
// generic plan reads each asked number by the primary key rather than every
// result of the device, whatever the statistics say: joined to the numbers,
// with statistics taken when every device had a few results, it read all
// of the device's (an index scan on the device alone, then a hash join), so
// each push cost more the more the device had pushed. Seen failing so.
func TestMutationResultsByKey(t *testing.T) {
	t.Parallel()
	url := postgrestest.URL(t)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	f := postgrestest.Seed(t, db)
	nurse := as(f.Nurse1Actor)
	record := func(device uuid.UUID, from, n int) {
		t.Helper()
		recs := make([]postgres.MutationRecord, n)
		for k := range recs {
			seq := from + k
			recs[k] = postgres.MutationRecord{Seq: int64(seq), Result: []byte(fmt.Sprintf(`{"status":"APPLIED","n":%d}`, seq))}
		}
		if err := db.InTx(nurse, func(tx *postgres.DB) error { return tx.RecordMutations(nurse, device, recs) }); err != nil {
			t.Fatal(err)
		}
	}
	register := func() uuid.UUID {
		t.Helper()
		id := uuid.Must(uuid.NewV7())
		if _, err := db.RegisterDevice(nurse, id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	// Statistics taken while the district's devices had a few results each,
	// as autovacuum takes them: then one device leaves thousands (offline
	// for a week, or never acknowledging). The generic plan is made from
	// those statistics.
	for range 100 {
		record(register(), 1, 5)
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "ANALYZE sync_mutations"); err != nil {
		t.Fatal(err)
	}
	phone := register()
	const recorded = 3000
	record(phone, 1, recorded)

	asked := make([]int64, 50) // a push of 50: ten recorded, forty new
	for k := range asked {
		asked[k] = int64(recorded - 9 + k)
	}
	got, err := db.MutationResults(nurse, phone, asked)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Errorf("%d of the 50 numbers have results; want the 10 recorded", len(got))
	}
	for _, n := range asked[:10] {
		if want := fmt.Sprintf(`{"n": %d, "status": "APPLIED"}`, n); string(got[n]) != want {
			t.Errorf("result of %d = %s, want %s", n, got[n], want)
		}
	}

	plan, err := db.ExplainMutationResults(nurse, phone, asked)
	if err != nil {
		t.Fatal(err)
	}
	// Every read of sync_mutations must name the number in its index
	// condition: the device alone is a read of all its results.
	lines := strings.Split(plan, "\n")
	reads := 0
	for k, line := range lines {
		if !strings.Contains(line, " on sync_mutations ") {
			continue
		}
		reads++
		byKey := false
		for _, next := range lines[k+1:] {
			if strings.Contains(next, "->") {
				break
			}
			byKey = byKey || strings.Contains(next, "Index Cond:") && strings.Contains(next, "mutation_seq = ")
		}
		if !byKey {
			t.Errorf("the generic plan reads the device's results without the number (%s):\n%s", strings.TrimSpace(line), plan)
		}
	}
	if reads == 0 {
		t.Errorf("the generic plan reads no results:\n%s", plan)
	}
}
