package care_test

import (
	"testing"

	"github.com/rapportcare/rapport/care"
)

func TestNormalizeNHSNumber(t *testing.T) {
	t.Parallel()
	valid := []struct{ in, want string }{
		{"1000000001", "1000000001"},   // sum 10, 11 - 10 = 1
		{"0000006009", "0000006009"},   // sum 24, 11 - 2 = 9
		{"9434765919", "9434765919"},   // NHS Digital's published test number
		{"943 476 5919", "9434765919"}, // as printed on letters
		{"943-476-5919", "9434765919"},
		{" 4010232137 ", "4010232137"},
		{"9434765870", "9434765870"}, // sum 308 = 28*11, so 11 - 0 = 11, read as 0
	}
	for _, c := range valid {
		t.Run("accepts "+c.in, func(t *testing.T) {
			got, err := care.NormalizeNHSNumber(c.in)
			if err != nil {
				t.Fatalf("NormalizeNHSNumber(%q) = %v", c.in, err)
			}
			if got != c.want {
				t.Fatalf("NormalizeNHSNumber(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
	invalid := []struct{ name, in string }{
		{"empty", ""},
		{"too short", "943476591"},
		{"too long", "94347659190"},
		{"letters", "94347659A9"},
		{"wrong check digit", "9434765918"},
		{"transposed digits", "9434765991"},
		// 100000000x: sum 1*10 = 10, 11 - 10 = 1, so the check digit must be 1.
		{"0 where 1 is due", "1000000000"},
		// 000000600x: sum 6*4 = 24, 24 mod 11 = 2, 11 - 2 = 9.
		{"0 where 9 is due", "0000006000"},
		// 200000000x: sum 2*10 = 20, 20 mod 11 = 9, 11 - 9 = 2.
		{"0 where 2 is due", "2000000000"},
	}
	for _, c := range invalid {
		t.Run("rejects "+c.name, func(t *testing.T) {
			_, err := care.NormalizeNHSNumber(c.in)
			if code := care.ErrorCode(err); code != care.EINVALID {
				t.Fatalf("NormalizeNHSNumber(%q) code = %q, want %q", c.in, code, care.EINVALID)
			}
		})
	}
	t.Run("rejects a number whose check digit would be 10", func(t *testing.T) {
		// 000000300x: the 3 sits at weight 4, sum 12, 12 mod 11 = 1, 11 - 1 = 10:
		// no single digit can be the check digit, so every ending is invalid.
		for d := '0'; d <= '9'; d++ {
			n := "000000300" + string(d)
			if _, err := care.NormalizeNHSNumber(n); err == nil {
				t.Fatalf("NormalizeNHSNumber(%q) accepted a number whose check digit would be 10", n)
			}
		}
	})
}
