package postgres

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unicode/utf8"
)

// TestCursorAsJSONMarshalWritesIt holds encodeCursor's plain path to the
// cursor json.Marshal wrote before it, byte for byte (cursors already handed
// out must keep working, and a cursor must not depend on which path wrote
// it), over random keys of plain text, ids, times and the characters that
// need escaping, and requires every cursor to decode to its key (when the
// key is valid UTF-8, which json.Marshal does not keep otherwise).
func TestCursorAsJSONMarshalWritesIt(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 3))
	pieces := []string{"a", "Z", "0", " ", "-", ":", ".", "'", "O'Brien", "2026-12-07T10:00:00.123456Z",
		"01900000-0000-7000-8000-00000000a001", `"`, `\`, "<", ">", "&", "\x00", "\n", "\x7f", "é", "\u2028", "\xff", "~", "}"}
	plain := 0
	for range 5000 {
		key := make([]string, 1+rng.IntN(4))
		for i := range key {
			for range rng.IntN(6) {
				key[i] += pieces[rng.IntN(len(pieces))]
			}
		}
		want, _ := json.Marshal(key)
		got := encodeCursor(key)
		if got != base64.RawURLEncoding.EncodeToString(want) {
			b, _ := base64.RawURLEncoding.DecodeString(got)
			t.Fatalf("seed %d: key %q: cursor of %s, json.Marshal writes %s", seed, key, b, want)
		}
		if _, ok := appendPlainJSON(nil, key); ok {
			plain++
		}
		// json.Marshal writes invalid UTF-8 as U+FFFD: only valid keys come back.
		back, err := decodeCursor(got, len(key))
		if err != nil || (!slices.Equal(back, key) && !slices.ContainsFunc(key, func(k string) bool { return !utf8.ValidString(k) })) {
			t.Fatalf("seed %d: key %q decoded as %q, %v", seed, key, back, err)
		}
	}
	if plain < 500 {
		t.Fatalf("seed %d: only %d of 5000 keys took the plain path", seed, plain)
	}
}
