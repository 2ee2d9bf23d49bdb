package plugin

import (
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
)

// relativeTime says how far t is from now the way kubectl's AGE column does:
// "in 364d", "3h ago", or "now" within a second.
func relativeTime(t, now time.Time) string {
	d := t.Sub(now).Truncate(time.Second)
	switch {
	case d == 0:
		return "now"
	case d > 0:
		return "in " + duration.HumanDuration(d)
	default:
		return duration.HumanDuration(-d) + " ago"
	}
}

// absoluteTime is t in RFC 3339, UTC, whole seconds: what the API server stores.
func absoluteTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// relativeAbsolute is a table cell: "in 364d (2027-12-01T00:00:00Z)".
func relativeAbsolute(t, now time.Time) string {
	return relativeTime(t, now) + " (" + absoluteTime(t) + ")"
}

// whenTime is for prose: "2027-12-01T00:00:00Z (in 364d)".
func whenTime(t, now time.Time) string {
	return absoluteTime(t) + " (" + relativeTime(t, now) + ")"
}

// unixTime converts a claim timestamp; 0 means absent.
func unixTime(sec int64) time.Time {
	if sec == 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}
