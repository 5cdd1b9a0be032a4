package sync_test

import (
	"testing"
	"time"

	"github.com/rapportcare/rapport/care"
	offline "github.com/rapportcare/rapport/sync"
)

func TestParseHLC(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		want     offline.HLC
		ok       bool
	}{
		{"device node", "1717000000000-000a-3f1c2b7e-1111-4d2a-9c33-0123456789ab", offline.HLC{Wall: 1717000000000, Counter: 10, Node: "3f1c2b7e-1111-4d2a-9c33-0123456789ab"}, true},
		{"server", "0000000000001-ffff-server", offline.HLC{Wall: 1, Counter: 0xffff, Node: "server"}, true},
		{"short wall", "171700000000-0000-a", offline.HLC{}, false},
		{"counter not hex", "1717000000000-00zz-a", offline.HLC{}, false},
		{"no node", "1717000000000-0000-", offline.HLC{}, false},
		{"bad node", "1717000000000-0000-a b", offline.HLC{}, false},
		{"negative", "-717000000000-0000-a", offline.HLC{}, false},
		{"empty", "", offline.HLC{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := offline.ParseHLC(tc.in)
			if tc.ok != (err == nil) {
				t.Fatalf("err %v", err)
			}
			if !tc.ok {
				if care.ErrorCode(err) != care.EINVALID {
					t.Fatalf("code %s", care.ErrorCode(err))
				}
				return
			}
			if got != tc.want || got.String() != tc.in {
				t.Fatalf("got %+v (%s)", got, got)
			}
		})
	}
}

func TestHLCCompare(t *testing.T) {
	t.Parallel()
	h := func(w int64, c uint16, n string) offline.HLC { return offline.HLC{Wall: w, Counter: c, Node: n} }
	for _, tc := range []struct {
		name string
		a, b offline.HLC
		want int
	}{
		{"wall first", h(2, 0, "a"), h(1, 9, "z"), 1},
		{"then counter", h(1, 1, "a"), h(1, 2, "a"), -1},
		{"then node breaks ties", h(1, 1, "b"), h(1, 1, "a"), 1},
		{"equal", h(1, 1, "a"), h(1, 1, "a"), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Compare(tc.b); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestClock(t *testing.T) {
	t.Parallel()
	base := time.UnixMilli(1_700_000_000_000)
	wall := base
	c := offline.NewClock("server", func() time.Time { return wall }, 5*time.Minute)

	t.Run("now is monotonic when the wall clock stands still or goes back", func(t *testing.T) {
		a := c.Now()
		b := c.Now()
		wall = base.Add(-time.Second)
		d := c.Now()
		if !(a.Compare(b) < 0 && b.Compare(d) < 0) || d.Wall != base.UnixMilli() || d.Counter != 2 {
			t.Fatalf("%s %s %s", a, b, d)
		}
		wall = base
	})
	t.Run("receive moves past a remote clock ahead within the skew", func(t *testing.T) {
		remote := offline.HLC{Wall: base.Add(time.Minute).UnixMilli(), Counter: 4, Node: "dev"}
		got, err := c.Receive(remote)
		if err != nil || got.Wall != remote.Wall || got.Counter != 5 || got.Node != "server" {
			t.Fatalf("%s %v", got, err)
		}
		if n := c.Now(); n.Compare(got) <= 0 {
			t.Fatalf("now %s not after %s", n, got)
		}
	})
	t.Run("receive of an older remote still advances", func(t *testing.T) {
		before := c.Peek()
		got, err := c.Receive(offline.HLC{Wall: 1, Node: "old"})
		if err != nil || got.Compare(before) <= 0 {
			t.Fatalf("%s %v", got, err)
		}
	})
	t.Run("a remote clock beyond the skew is refused and changes nothing", func(t *testing.T) {
		before := c.Peek()
		_, err := c.Receive(offline.HLC{Wall: base.Add(time.Hour).UnixMilli(), Node: "fast"})
		if care.ErrorCode(err) != care.EINVALID {
			t.Fatalf("err %v", err)
		}
		if c.Peek() != before {
			t.Fatal("clock moved")
		}
	})
	t.Run("a full counter carries into the next millisecond", func(t *testing.T) {
		wall = base.Add(2 * time.Hour)
		got, err := c.Receive(offline.HLC{Wall: wall.UnixMilli(), Counter: 0xffff, Node: "dev"})
		if err != nil || got.Wall != wall.UnixMilli()+1 || got.Counter != 0 {
			t.Fatalf("%s %v", got, err)
		}
	})
}
