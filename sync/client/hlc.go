package client

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// hlc is a hybrid logical clock: wall milliseconds that never go backwards,
// a counter to order events within one millisecond, and the node (device)
// that made it. Its text form is "<unix ms, 13 digits>-<counter, 4 hex
// digits>-<node>", which sorts as the clock does.
type hlc struct {
	ms    int64
	count uint16
	node  string
}

// tick advances the clock for a local event at wall time now and returns it.
func (c *hlc) tick(now time.Time) string {
	pt := now.UnixMilli()
	if pt > c.ms {
		c.ms, c.count = pt, 0
	} else {
		c.bump()
	}
	return c.String()
}

// bump increments the counter, spilling into the milliseconds on overflow.
func (c *hlc) bump() {
	if c.count == 0xffff {
		c.ms, c.count = c.ms+1, 0
		return
	}
	c.count++
}

// observe merges a remote clock (e.g. the server's after a push) so later
// local events sort after it. Malformed remote clocks are ignored.
func (c *hlc) observe(remote string, now time.Time) {
	ms, count, ok := parseHLC(remote)
	if !ok {
		return
	}
	pt := now.UnixMilli()
	switch {
	case pt > c.ms && pt > ms:
		c.ms, c.count = pt, 0
	case ms > c.ms:
		c.ms, c.count = ms, count
		c.bump()
	case ms == c.ms:
		c.count = max(c.count, count)
		c.bump()
	default:
		c.bump()
	}
}

// String returns the clock's text form.
func (c *hlc) String() string { return fmt.Sprintf("%013d-%04x-%s", c.ms, c.count, c.node) }

// parseHLC reads the milliseconds and counter of an HLC's text form.
func parseHLC(s string) (ms int64, count uint16, ok bool) {
	parts := strings.SplitN(s, "-", 3)
	if len(parts) != 3 || len(parts[0]) != 13 || len(parts[1]) != 4 {
		return 0, 0, false
	}
	ms, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil {
		return 0, 0, false
	}
	n, err := strconv.ParseUint(parts[1], 16, 16)
	if err != nil {
		return 0, 0, false
	}
	return ms, uint16(n), true
}
