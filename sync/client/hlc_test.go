package client

import (
	"testing"
	"time"
)

func TestHLC(t *testing.T) {
	at := func(ms int64) time.Time { return time.UnixMilli(ms) }
	t.Run("ticks never go backwards when the wall clock does", func(t *testing.T) {
		c := hlc{node: "dev"}
		a := c.tick(at(1_700_000_000_000))
		b := c.tick(at(1_600_000_000_000))
		if !(a < b) {
			t.Errorf("%s then %s: not increasing", a, b)
		}
		if b != "1700000000000-0001-dev" {
			t.Errorf("b = %s", b)
		}
	})
	t.Run("a server clock ahead is adopted, and later ticks sort after it", func(t *testing.T) {
		c := hlc{node: "dev"}
		c.tick(at(1_700_000_000_000))
		c.observe("1700000005000-0007-server", at(1_700_000_000_001))
		if got := c.tick(at(1_700_000_000_002)); got != "1700000005000-0009-dev" {
			t.Errorf("tick = %s", got)
		}
	})
	t.Run("malformed remote clocks are ignored", func(t *testing.T) {
		c := hlc{node: "dev"}
		c.tick(at(1_700_000_000_000))
		c.observe("not-a-clock", at(1_700_000_000_000))
		c.observe("99999999999999-0000-x", at(1_700_000_000_000))
		if c.ms != 1_700_000_000_000 {
			t.Errorf("ms = %d", c.ms)
		}
	})
	t.Run("text form parses back", func(t *testing.T) {
		c := hlc{ms: 1_700_000_000_123, count: 0xbeef, node: "abc"}
		ms, n, ok := parseHLC(c.String())
		if !ok || ms != c.ms || n != c.count {
			t.Errorf("parse(%s) = %d %x %v", c.String(), ms, n, ok)
		}
	})
}
