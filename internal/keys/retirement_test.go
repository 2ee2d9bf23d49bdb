package keys

import (
	"testing"
	"time"
)

func TestRetiredKeyExpiry(t *testing.T) {
	retired := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		retiredAt time.Time
		lifetime  time.Duration
		forever   bool
		want      time.Time
		wantOK    bool
	}{
		{"one-year tokens", retired, 8760 * time.Hour, false, retired.Add(8760 * time.Hour), true},
		{"short-lived tokens", retired, 24 * time.Hour, false, retired.Add(24 * time.Hour), true},
		{"no lifetime: may leave at once", retired, 0, false, retired, true},
		{"negative lifetime counts as none", retired, -time.Hour, false, retired, true},
		{"fraction of a second rounds up", retired.Add(300 * time.Millisecond), time.Hour, false, retired.Add(time.Hour + time.Second), true},
		{"lifetime with a fraction rounds up", retired, time.Hour + time.Nanosecond, false, retired.Add(time.Hour + time.Second), true},
		{"perpetual tokens: never", retired, 8760 * time.Hour, true, time.Time{}, false},
		{"forever wins over zero lifetime", retired, 0, true, time.Time{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RetiredKeyExpiry(tt.retiredAt, tt.lifetime, tt.forever)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("RetiredKeyExpiry = %s, %v; want %s, %v", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
