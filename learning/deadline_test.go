package learning

import (
	"testing"
	"time"
)

func TestWorkingDeadline(t *testing.T) {
	loc := Config{}.withDefaults().Location
	at := func(day, hour, minute int) time.Time { // June 2026: the 1st is a Monday, the 5th a Friday
		return time.Date(2026, time.June, day, hour, minute, 0, 0, loc)
	}
	f := func(from time.Time, hours int, want time.Time) {
		t.Helper()
		if got := WorkingDeadline(from, hours, loc, 9, 18); !got.Equal(want) {
			t.Errorf("WorkingDeadline(%s, %d) = %s, want %s", from.Format(time.RFC1123), hours, got.In(loc).Format(time.RFC1123), want.Format(time.RFC1123))
		}
	}
	f(at(1, 10, 0), 2, at(1, 12, 0))                                // Monday morning
	f(at(1, 16, 0), 2, at(1, 18, 0))                                // ends exactly at closing, not the next morning
	f(at(1, 17, 30), 2, at(2, 10, 30))                              // runs over into Tuesday
	f(at(1, 7, 0), 2, at(1, 11, 0))                                 // before opening counts from 9:00
	f(at(1, 20, 0), 2, at(2, 11, 0))                                // after closing counts from the next morning
	f(at(5, 17, 0), 2, at(8, 10, 0))                                // Friday 17:00 → Monday 10:00
	f(at(5, 18, 0), 2, at(8, 11, 0))                                // Friday at closing → Monday
	f(at(6, 12, 0), 2, at(8, 11, 0))                                // Saturday → Monday start + 2h
	f(at(7, 23, 59), 2, at(8, 11, 0))                               // Sunday night → Monday start + 2h
	f(at(1, 9, 0), 12, at(2, 12, 0))                                // 9 hours Monday, 3 Tuesday
	f(at(5, 10, 0), 45, at(12, 10, 0))                              // a whole working week
	f(at(1, 10, 0), 0, at(1, 10, 0))                                // nothing to wait for
	f(at(5, 9, 0).UTC(), 2, at(5, 11, 0))                           // the zone of from does not matter
	f(time.Date(2026, 6, 5, 9, 0, 0, 0, time.UTC), 2, at(8, 10, 0)) // 09:00 UTC is 17:00 in Shanghai
}
