package sync

import (
	"fmt"
	"strconv"
	"strings"
	gosync "sync"
	"time"

	"github.com/rapportcare/rapport/care"
)

// HLC is a hybrid logical clock timestamp: wall-clock milliseconds, a logical
// counter that orders events within one millisecond, and the node (device or
// server) that made it, which breaks the remaining ties. Its text form is
// `<unix ms, 13 digits>-<counter, 4 hex digits>-<node>`, so timestamps of one
// node sort as strings.
type HLC struct {
	Wall    int64  // unix milliseconds
	Counter uint16 // logical counter within Wall
	Node    string // who made it: a device id or "server"
}

// maxNodeLen bounds the node part of an HLC.
const maxNodeLen = 64

// String returns the text form.
func (h HLC) String() string {
	return fmt.Sprintf("%013d-%04x-%s", h.Wall, h.Counter, h.Node)
}

// IsZero reports whether h is the zero timestamp.
func (h HLC) IsZero() bool { return h.Wall == 0 && h.Counter == 0 && h.Node == "" }

// ParseHLC parses the text form; EINVALID naming the expected format when s is
// not one.
func ParseHLC(s string) (HLC, error) {
	bad := care.Errorf(care.EINVALID, "hlc %q is not a hybrid logical clock timestamp (<unix ms, 13 digits>-<counter, 4 hex digits>-<node>)", truncate(s, 80))
	parts := strings.SplitN(s, "-", 3)
	if len(parts) != 3 || len(parts[0]) != 13 || len(parts[1]) != 4 || parts[2] == "" || len(parts[2]) > maxNodeLen {
		return HLC{}, bad
	}
	wall, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || wall < 0 {
		return HLC{}, bad
	}
	c, err := strconv.ParseUint(parts[1], 16, 16)
	if err != nil {
		return HLC{}, bad
	}
	for _, r := range parts[2] {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return HLC{}, bad
		}
	}
	return HLC{Wall: wall, Counter: uint16(c), Node: parts[2]}, nil
}

// Compare orders two timestamps: by wall time, then counter, then node.
// It returns -1, 0 or +1.
func (h HLC) Compare(o HLC) int {
	switch {
	case h.Wall != o.Wall:
		return cmp(h.Wall, o.Wall)
	case h.Counter != o.Counter:
		return cmp(h.Counter, o.Counter)
	}
	return strings.Compare(h.Node, o.Node)
}

func cmp[T int64 | uint16](a, b T) int {
	if a < b {
		return -1
	}
	return 1
}

// Clock is a node's hybrid logical clock. It is safe for concurrent use; the
// wall clock is injected so tests control time.
type Clock struct {
	mu      gosync.Mutex
	node    string
	now     func() time.Time
	maxSkew time.Duration
	last    HLC
}

// NewClock returns a clock for node reading wall time from now; maxSkew is how
// far ahead of it a received timestamp may be.
func NewClock(node string, now func() time.Time, maxSkew time.Duration) *Clock {
	return &Clock{node: node, now: now, maxSkew: maxSkew, last: HLC{Node: node}}
}

// tick advances last to at least wall, bumping the counter when the wall time
// does not move; a full counter carries into the next millisecond.
func (c *Clock) tick(wall int64) HLC {
	if wall > c.last.Wall {
		c.last = HLC{Wall: wall, Node: c.node}
		return c.last
	}
	if c.last.Counter == 0xffff {
		c.last = HLC{Wall: c.last.Wall + 1, Node: c.node}
		return c.last
	}
	c.last = HLC{Wall: c.last.Wall, Counter: c.last.Counter + 1, Node: c.node}
	return c.last
}

// Now returns a fresh timestamp for a local event (an HLC send).
func (c *Clock) Now() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tick(c.now().UnixMilli())
}

// Peek returns the last timestamp issued, without advancing.
func (c *Clock) Peek() HLC {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Receive merges a remote timestamp into the clock (an HLC receive) and
// returns the clock's new timestamp, which is later than both. A remote wall
// time more than maxSkew ahead of this node's wall clock is refused with
// EINVALID and leaves the clock unchanged: a device whose clock runs ahead
// would otherwise drag every later timestamp into the future and win every
// last-writer-wins contest.
func (c *Clock) Receive(remote HLC) (HLC, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	phys := c.now().UnixMilli()
	if remote.Wall > phys+c.maxSkew.Milliseconds() {
		return HLC{}, care.Errorf(care.EINVALID, "the device clock is %s ahead of the server's: set the device's date and time correctly and try again",
			(time.Duration(remote.Wall-phys) * time.Millisecond).Round(time.Second))
	}
	wall := max(phys, c.last.Wall, remote.Wall)
	switch {
	case wall == c.last.Wall && wall == remote.Wall:
		top := max(c.last.Counter, remote.Counter)
		if top == 0xffff {
			c.last = HLC{Wall: wall + 1, Node: c.node}
		} else {
			c.last = HLC{Wall: wall, Counter: top + 1, Node: c.node}
		}
	case wall == c.last.Wall:
		return c.tick(wall), nil
	case wall == remote.Wall:
		if remote.Counter == 0xffff {
			c.last = HLC{Wall: wall + 1, Node: c.node}
		} else {
			c.last = HLC{Wall: wall, Counter: remote.Counter + 1, Node: c.node}
		}
	default:
		c.last = HLC{Wall: wall, Node: c.node}
	}
	return c.last, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
