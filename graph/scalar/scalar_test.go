package scalar_test

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/rapportcare/rapport/care"
	"github.com/rapportcare/rapport/graph/scalar"
)

func TestGlobalID(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	g := scalar.GlobalID("Patient", id)
	t.Run("round trips", func(t *testing.T) {
		typ, got, err := scalar.ParseGlobalID(g)
		if err != nil || typ != "Patient" || got != id {
			t.Fatalf("ParseGlobalID(%q) = %q, %v, %v", g, typ, got, err)
		}
	})
	t.Run("is opaque", func(t *testing.T) {
		if g == id.String() || len(g) < 20 {
			t.Fatalf("global id %q is not opaque", g)
		}
	})
	t.Run("UnmarshalUUID takes global and bare ids", func(t *testing.T) {
		for _, in := range []string{g, id.String()} {
			got, err := scalar.UnmarshalUUID(context.Background(), in)
			if err != nil || got != id {
				t.Fatalf("UnmarshalUUID(%q) = %v, %v", in, got, err)
			}
		}
	})
	for _, bad := range []any{"", "not-base64!", "UGF0aWVudA", "UGF0aWVudDpub3QtYS11dWlk", 42, nil} {
		t.Run("rejects malformed", func(t *testing.T) {
			if _, err := scalar.UnmarshalUUID(context.Background(), bad); care.ErrorCode(err) != care.EINVALID {
				t.Fatalf("UnmarshalUUID(%v) = %v, want invalid", bad, err)
			}
		})
	}
}

func TestParseID(t *testing.T) {
	t.Parallel()
	id := uuid.MustParse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	tests := []struct {
		name, in, typ string
		ok            bool
	}{
		{"bare UUID for a type", id.String(), "Patient", true},
		{"global id of that type", scalar.GlobalID("Patient", id), "Patient", true},
		{"global id of another type", scalar.GlobalID("Team", id), "Patient", false},
		{"global id, any type", scalar.GlobalID("Team", id), "", true},
		{"malformed", "patient-1", "Patient", false},
		{"UUID without dashes", "0193a1b2c3d47e5f8a9b0c1d2e3f4a5b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := scalar.ParseID(tt.in, tt.typ)
			switch {
			case tt.ok && (err != nil || got != id):
				t.Errorf("ParseID(%q, %q) = %v, %v; want %v", tt.in, tt.typ, got, err, id)
			case !tt.ok && care.ErrorCode(err) != care.EINVALID:
				t.Errorf("ParseID(%q, %q) = %v, %v; want EINVALID", tt.in, tt.typ, got, err)
			}
		})
	}
}

func TestDate(t *testing.T) {
	t.Parallel()
	d, err := scalar.UnmarshalDate("1948-07-05")
	if err != nil || d.Year() != 1948 || d.Month() != 7 || d.Day() != 5 {
		t.Fatalf("UnmarshalDate = %v, %v", d, err)
	}
	for _, bad := range []any{"05/07/1948", "1948-13-01", 1948} {
		if _, err := scalar.UnmarshalDate(bad); care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("UnmarshalDate(%v) = %v, want invalid", bad, err)
		}
	}
}
