package postgres

import (
	"context"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// pgx knows github.com/google/uuid's UUID only as a driver.Valuer and a
// sql.Scanner: every id bound was formatted as a 36-character string and
// parsed back by pgx, and every id read was formatted by pgx and parsed by
// uuid (a sixth of a sync push's CPU). registerUUID teaches each connection's
// type map to move uuid.UUID (and its pointers and slices) as the 16 bytes of
// PostgreSQL's binary uuid format.

// registerUUIDOnConnect is the pool's AfterConnect.
func registerUUIDOnConnect(_ context.Context, c *pgx.Conn) error {
	registerUUID(c.TypeMap())
	return nil
}

// registerUUID replaces the uuid and uuid[] types of m by ones whose codec
// encodes and scans uuid.UUID natively.
func registerUUID(m *pgtype.Map) {
	t := &pgtype.Type{Name: "uuid", OID: pgtype.UUIDOID, Codec: uuidCodec{}}
	m.RegisterType(t)
	m.RegisterType(&pgtype.Type{Name: "_uuid", OID: pgtype.UUIDArrayOID, Codec: &pgtype.ArrayCodec{ElementType: t}})
	m.RegisterDefaultPgType(uuid.UUID{}, "uuid")
	m.RegisterDefaultPgType([]uuid.UUID{}, "_uuid")
}

// pgUUID is a uuid.UUID as pgx's uuid codec gives and takes it.
type pgUUID uuid.UUID

func (u pgUUID) UUIDValue() (pgtype.UUID, error) { return pgtype.UUID{Bytes: u, Valid: true}, nil }

// ScanUUID leaves u unchanged for NULL, as uuid.UUID's Scan does.
func (u *pgUUID) ScanUUID(v pgtype.UUID) error {
	if v.Valid {
		*u = pgUUID(v.Bytes)
	}
	return nil
}

// uuidCodec is pgx's uuid codec, plus uuid.UUID values and *uuid.UUID targets.
type uuidCodec struct{ pgtype.UUIDCodec }

func (c uuidCodec) PlanEncode(m *pgtype.Map, oid uint32, format int16, value any) pgtype.EncodePlan {
	if _, ok := value.(uuid.UUID); ok {
		if next := c.UUIDCodec.PlanEncode(m, oid, format, pgUUID{}); next != nil {
			return encodeUUIDPlan{next}
		}
	}
	return c.UUIDCodec.PlanEncode(m, oid, format, value)
}

func (c uuidCodec) PlanScan(m *pgtype.Map, oid uint32, format int16, target any) pgtype.ScanPlan {
	if _, ok := target.(*uuid.UUID); ok {
		if next := c.UUIDCodec.PlanScan(m, oid, format, (*pgUUID)(nil)); next != nil {
			return scanUUIDPlan{next}
		}
	}
	return c.UUIDCodec.PlanScan(m, oid, format, target)
}

type encodeUUIDPlan struct{ next pgtype.EncodePlan }

func (p encodeUUIDPlan) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(pgUUID(value.(uuid.UUID)), buf)
}

type scanUUIDPlan struct{ next pgtype.ScanPlan }

func (p scanUUIDPlan) Scan(src []byte, dst any) error {
	return p.next.Scan(src, (*pgUUID)(dst.(*uuid.UUID)))
}
