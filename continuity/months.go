package continuity

import (
	"slices"
	"time"
)

// MonthOf returns the first instant of t's calendar month in UTC.
func MonthOf(t time.Time) time.Time {
	y, m, _ := t.UTC().Date()
	return time.Date(y, m, 1, 0, 0, 0, 0, time.UTC)
}

// monthBounds returns [start, end) of the UTC month containing t.
func monthBounds(t time.Time) (time.Time, time.Time) {
	from := MonthOf(t)
	return from, from.AddDate(0, 1, 0)
}

// Months returns the first instants (UTC) of the calendar months that overlap
// the half-open window [from, to), oldest first: Months(15 Jan, 1 Mar) is
// [1 Jan, 1 Feb]. It returns nil when to is not after from.
func Months(from, to time.Time) []time.Time {
	if !to.After(from) {
		return nil
	}
	var out []time.Time
	for m := MonthOf(from); m.Before(to); m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

// MonthContacts is the contacts of one calendar month.
type MonthContacts struct {
	// Month is the first instant (UTC) of the month.
	Month    time.Time
	Contacts []Contact
}

// ByMonth buckets contacts into UTC calendar months, oldest month first, each
// month's contacts ordered by time then ID. Only months with contacts appear;
// no filtering is applied. A contact at 23:59:59.999 UTC on the last day of a
// month belongs to that month, one at 00:00 UTC on the first to the next.
func ByMonth(contacts []Contact) []MonthContacts {
	cs := slices.Clone(contacts)
	sortContacts(cs)
	var out []MonthContacts
	for _, c := range cs {
		m := MonthOf(c.At)
		if n := len(out); n == 0 || !out[n-1].Month.Equal(m) {
			out = append(out, MonthContacts{Month: m})
		}
		out[len(out)-1].Contacts = append(out[len(out)-1].Contacts, c)
	}
	return out
}
