package postgres

import (
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgtype"
)

// The type map binds and scans uuid.UUID with the native codec, never
// through its driver.Valuer or sql.Scanner (strings).
func TestUUIDPlansAreNative(t *testing.T) {
	m := pgtype.NewMap()
	registerUUID(m)
	id := uuid.New()
	if _, ok := m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id).(encodeUUIDPlan); !ok {
		t.Fatalf("encode plan %T", m.PlanEncode(pgtype.UUIDOID, pgtype.BinaryFormatCode, id))
	}
	if _, ok := m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &id).(scanUUIDPlan); !ok {
		t.Fatalf("scan plan %T", m.PlanScan(pgtype.UUIDOID, pgtype.BinaryFormatCode, &id))
	}
	buf, err := m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, []uuid.UUID{id}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var back []uuid.UUID
	if err := m.Scan(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, buf, &back); err != nil || len(back) != 1 || back[0] != id {
		t.Fatalf("array round trip: %v %v", back, err)
	}
}
