package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/postgres/postgrestest"
)

// uuid.UUID travels in PostgreSQL's binary format (postgres/uuid.go): the
// same values in and out as through its driver.Valuer and sql.Scanner.
func TestUUIDEncoding(t *testing.T) {
	db := postgrestest.New(t)
	ctx := context.Background()
	a, b := uuid.New(), uuid.Must(uuid.NewV7())
	t.Run("value, pointer, slice and text round trip", func(t *testing.T) {
		var gotA uuid.UUID
		var gotB *uuid.UUID
		var gotNil *uuid.UUID
		var gotSlice []uuid.UUID
		var text string
		err := db.ScanRaw(ctx, `SELECT $1::uuid, $2::uuid, $3::uuid, $4::uuid[], $1::uuid::text`,
			[]any{a, &b, (*uuid.UUID)(nil), []uuid.UUID{b, a}}, &gotA, &gotB, &gotNil, &gotSlice, &text)
		if err != nil {
			t.Fatal(err)
		}
		if gotA != a || gotB == nil || *gotB != b || gotNil != nil || !slices.Equal(gotSlice, []uuid.UUID{b, a}) || text != a.String() {
			t.Fatalf("got %v %v %v %v %q", gotA, gotB, gotNil, gotSlice, text)
		}
	})
	t.Run("a NULL leaves a uuid.UUID unchanged, as its Scan does", func(t *testing.T) {
		got := a
		if err := db.ScanRaw(ctx, `SELECT NULL::uuid`, nil, &got); err != nil {
			t.Fatal(err)
		}
		if got != a {
			t.Fatalf("got %v", got)
		}
	})
	t.Run("a uuid bound to a text parameter is its string", func(t *testing.T) {
		var s string
		if err := db.ScanRaw(ctx, `SELECT $1::text`, []any{a}, &s); err != nil {
			t.Fatal(err)
		}
		if s != a.String() {
			t.Fatalf("got %q", s)
		}
	})
}
