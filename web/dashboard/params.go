package dashboard

import (
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// span is a range of whole UTC months: From (inclusive) to To (exclusive).
type span struct{ From, To time.Time }

// months lists the first day of each month in s.
func (s span) months() []time.Time {
	var out []time.Time
	for m := s.From; m.Before(s.To); m = m.AddDate(0, 1, 0) {
		out = append(out, m)
	}
	return out
}

func monthOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// monthSpan reads `months` (how many, lo to hi, default def) and `to` (the
// month after the last one shown, YYYY-MM; default the current month, so
// only complete months are shown).
func monthSpan(q url.Values, now time.Time, def, lo, hi int) (span, error) {
	n, err := intParam(q, "months", def, lo, hi)
	if err != nil {
		return span{}, err
	}
	to := monthOf(now)
	if s := q.Get("to"); s != "" {
		t, err := time.Parse("2006-01", s)
		if err != nil || t.Year() < 2000 || t.Year() > 2100 {
			return span{}, paramError("The end month must be a month like 2025-01.")
		}
		to = t
	}
	return span{From: to.AddDate(0, -n, 0), To: to}, nil
}

func intParam(q url.Values, name string, def, lo, hi int) (int, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, paramError(fmt.Sprintf("%s must be a whole number from %d to %d.", label(name), lo, hi))
	}
	return n, nil
}

// shareParam reads a share given as a percentage (0–100) and returns it as
// 0–1; empty gives def (nil: not used).
func shareParam(q url.Values, name string, def *float64) (*float64, error) {
	s := q.Get(name)
	if s == "" {
		return def, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 100 {
		return nil, paramError(fmt.Sprintf("%s must be a percentage from 0 to 100.", label(name)))
	}
	f /= 100
	return &f, nil
}

// label names a parameter as the page's form does.
func label(name string) string {
	switch name {
	case "months":
		return "Months shown"
	case "minContacts":
		return "Contacts at least"
	case "upcBelow":
		return "UPC below"
	case "cocBelow":
		return "COC below"
	case "usualBelow":
		return "Usual clinician share below"
	case "target":
		return "SLICC target"
	}
	return name
}
