package plugin

import (
	"testing"
	"time"
)

func TestRelativeTime(t *testing.T) {
	tests := []struct {
		offset time.Duration
		want   string
	}{
		{0, "now"},
		{400 * time.Millisecond, "now"},
		{-900 * time.Millisecond, "now"},
		{90 * time.Second, "in 90s"},
		{-3 * time.Hour, "3h ago"},
		{364 * day, "in 364d"},
		{-30 * day, "30d ago"},
		{3 * 365 * day, "in 3y"},
	}
	for _, tt := range tests {
		got := relativeTime(testNow.Add(tt.offset), testNow)
		if got != tt.want {
			t.Errorf("relativeTime(now%+v) = %q, want %q", tt.offset, got, tt.want)
		}
	}
}

func TestTimeFormats(t *testing.T) {
	at := testNow.Add(364 * day)
	if got, want := relativeAbsolute(at, testNow), "in 364d (2027-11-30T12:00:00Z)"; got != want {
		t.Errorf("relativeAbsolute() = %q, want %q", got, want)
	}
	if got, want := whenTime(testNow.Add(-2*day), testNow), "2026-11-29T12:00:00Z (2d ago)"; got != want {
		t.Errorf("whenTime() = %q, want %q", got, want)
	}
	local := time.Date(2026, 12, 1, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	if got, want := absoluteTime(local), "2026-12-01T12:00:00Z"; got != want {
		t.Errorf("absoluteTime(CET) = %q, want %q", got, want)
	}
	if !unixTime(0).IsZero() {
		t.Error("unixTime(0) is not the zero time")
	}
}
