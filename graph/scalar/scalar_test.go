package scalar_test

import (
	"context"
	"encoding/base64"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

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

// TestGlobalIDIsTypeColonUUIDInBase64 holds GlobalID to its definition,
// base64url("Type:" + the UUID's text) without padding, for random ids and
// type names of every length up to past its stack buffer.
func TestGlobalIDIsTypeColonUUIDInBase64(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	for i := range 2000 {
		var id uuid.UUID
		for j := range id {
			id[j] = byte(rng.UintN(256))
		}
		typ := strings.Repeat("Interaction", 8)[:1+i%80]
		want := base64.RawURLEncoding.EncodeToString([]byte(typ + ":" + id.String()))
		if got := scalar.GlobalID(typ, id); got != want {
			t.Fatalf("GlobalID(%q, %v) = %q, want %q", typ, id, got, want)
		}
	}
	id := uuid.MustParse("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
	if n := testing.AllocsPerRun(100, func() { scalar.GlobalID("Patient", id) }); n > 1 {
		t.Errorf("GlobalID allocates %v times, want only its string", n)
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
