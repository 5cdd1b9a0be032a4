package continuity

import (
	"testing"
	"time"
)

func TestMonths(t *testing.T) {
	utc := func(y int, m time.Month, d, h, min, s int) time.Time {
		return time.Date(y, m, d, h, min, s, 0, time.UTC)
	}
	tests := []struct {
		name     string
		from, to time.Time
		want     []time.Time
	}{
		{"window ending on a month start excludes that month", utc(2024, 1, 15, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0),
			[]time.Time{utc(2024, 1, 1, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0)}},
		{"one second into March includes March", utc(2024, 1, 15, 0, 0, 0), utc(2024, 3, 1, 0, 0, 1),
			[]time.Time{utc(2024, 1, 1, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0), utc(2024, 3, 1, 0, 0, 0)}},
		{"year boundary", utc(2023, 12, 31, 23, 59, 59), utc(2024, 1, 1, 0, 0, 1),
			[]time.Time{utc(2023, 12, 1, 0, 0, 0), utc(2024, 1, 1, 0, 0, 0)}},
		{"empty window", utc(2024, 1, 15, 0, 0, 0), utc(2024, 1, 15, 0, 0, 0), nil},
		{"reversed window", utc(2024, 2, 1, 0, 0, 0), utc(2024, 1, 1, 0, 0, 0), nil},
		{"non-UTC bounds are read in UTC", time.Date(2024, 2, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)), utc(2024, 2, 2, 0, 0, 0),
			[]time.Time{utc(2024, 1, 1, 0, 0, 0), utc(2024, 2, 1, 0, 0, 0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Months(tt.from, tt.to)
			if len(got) != len(tt.want) {
				t.Fatalf("Months = %v, want %v", got, tt.want)
			}
			for i := range got {
				if !got[i].Equal(tt.want[i]) || got[i].Location() != time.UTC {
					t.Errorf("Months[%d] = %v, want %v UTC", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestByMonth(t *testing.T) {
	lastSecond := time.Date(2024, 1, 31, 23, 59, 59, 0, time.UTC)
	firstInstant := time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)
	cet := time.Date(2024, 2, 1, 0, 30, 0, 0, time.FixedZone("CET", 3600)) // 31 Jan 23:30 UTC
	cs := []Contact{
		{ID: "feb", At: firstInstant, ProviderID: "A"},
		{ID: "jan-last", At: lastSecond, ProviderID: "A"},
		{ID: "jan-cet", At: cet, ProviderID: "B"},
		{ID: "apr", At: time.Date(2024, 4, 10, 0, 0, 0, 0, time.UTC), ProviderID: "A"},
	}
	got := ByMonth(cs)
	if len(got) != 3 {
		t.Fatalf("ByMonth gave %d months, want 3 (Jan, Feb, Apr): %+v", len(got), got)
	}
	want := []struct {
		month time.Time
		ids   []string
	}{
		{time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), []string{"jan-cet", "jan-last"}},
		{firstInstant, []string{"feb"}},
		{time.Date(2024, 4, 1, 0, 0, 0, 0, time.UTC), []string{"apr"}},
	}
	for i, w := range want {
		if !got[i].Month.Equal(w.month) {
			t.Errorf("month %d = %v, want %v", i, got[i].Month, w.month)
		}
		if len(got[i].Contacts) != len(w.ids) {
			t.Errorf("month %d has %d contacts, want %v", i, len(got[i].Contacts), w.ids)
			continue
		}
		for j, id := range w.ids {
			if got[i].Contacts[j].ID != id {
				t.Errorf("month %d contact %d = %s, want %s", i, j, got[i].Contacts[j].ID, id)
			}
		}
	}
	if cs[0].ID != "feb" {
		t.Error("ByMonth reordered its input")
	}
	t.Run("MonthOf", func(t *testing.T) {
		if m := MonthOf(lastSecond); !m.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("MonthOf(last second of January) = %v", m)
		}
		if m := MonthOf(firstInstant); !m.Equal(firstInstant) {
			t.Errorf("MonthOf(first instant of February) = %v", m)
		}
	})
}
