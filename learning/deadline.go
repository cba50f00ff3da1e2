package learning

import "time"

// WorkingDeadline returns the moment workingHours of working time have passed since
// from, counting only startHour to endHour, Monday to Friday, in loc: Friday 17:00 plus 2
// hours (9 to 18) is Monday 10:00, and Saturday anything plus 2 is Monday 11:00. A
// workingHours of 0 or less, or a window that is not 0 <= startHour < endHour <= 24,
// counts every hour.
func WorkingDeadline(from time.Time, workingHours int, loc *time.Location, startHour, endHour int) time.Time {
	if workingHours <= 0 || startHour < 0 || endHour > 24 || startHour >= endHour {
		return from.Add(time.Duration(max(workingHours, 0)) * time.Hour)
	}
	left := time.Duration(workingHours) * time.Hour
	t := from.In(loc)
	for {
		y, m, d := t.Date()
		open := time.Date(y, m, d, startHour, 0, 0, 0, loc)
		closing := time.Date(y, m, d, endHour, 0, 0, 0, loc)
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday && t.Before(closing) {
			if t.Before(open) {
				t = open
			}
			today := closing.Sub(t)
			if left <= today {
				return t.Add(left)
			}
			left -= today
		}
		t = time.Date(y, m, d+1, startHour, 0, 0, 0, loc)
	}
}
