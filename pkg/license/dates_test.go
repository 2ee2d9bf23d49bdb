package license

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestVerifyRefusesDatesOutOfRange(t *testing.T) {
	ed := newEd25519Key(t, "k-ed")
	keys := keySetOf(t, ed)
	const (
		year10000 = 253402300800 // 10000-01-01T00:00:00Z: one second too late
		lastDate  = 253402300799 // 9999-12-31T23:59:59Z: the last accepted
	)
	withClaims := func(edit func(c *Claims)) string {
		c := sampleClaims()
		c.Licenses = append([]Grant(nil), c.Licenses...)
		edit(&c)
		return sign(t, ed, c, signOptions{})
	}
	grant := func(edit func(g *Grant)) func(c *Claims) {
		return func(c *Claims) { edit(&c.Licenses[0]) }
	}
	tests := []struct {
		name     string
		token    string
		wantCode Code
		wantMsg  string
	}{
		// The cases: nbf at MaxInt64 verified as VALID, exp at MaxInt64 read as expired.
		{"nbf MaxInt64", withClaims(func(c *Claims) { c.NotBefore = math.MaxInt64 }), CodeMalformed, `"nbf" is 9223372036854775807`},
		{"exp MaxInt64", withClaims(func(c *Claims) { c.Expiry = math.MaxInt64 }), CodeMalformed, `"exp"`},
		{"iat MaxInt64", withClaims(func(c *Claims) { c.IssuedAt = math.MaxInt64 }), CodeMalformed, `"iat"`},
		{"nbf MinInt64", withClaims(func(c *Claims) { c.NotBefore = math.MinInt64 }), CodeMalformed, `"nbf"`},
		{"exp before 1970", withClaims(func(c *Claims) { c.Expiry = -1 }), CodeMalformed, `"exp"`},
		{"iat before 1970", withClaims(func(c *Claims) { c.IssuedAt = -1 }), CodeMalformed, `"iat"`},
		{"exp in year 10000", withClaims(func(c *Claims) { c.Expiry = year10000 }), CodeMalformed, "1970"},
		{"exp in milliseconds", withClaims(func(c *Claims) { c.Expiry = testNow.UnixMilli() }), CodeMalformed, "Unix seconds"},
		{"startsAt MaxInt64", withClaims(grant(func(g *Grant) { g.StartsAt = math.MaxInt64 })), CodeMalformed, `license "main" (licenses[0]): "startsAt"`},
		{"startsAt before 1970", withClaims(grant(func(g *Grant) { g.StartsAt = -86400 })), CodeMalformed, `"startsAt"`},
		{"validUntil MaxInt64", withClaims(grant(func(g *Grant) { g.ValidUntil = math.MaxInt64 })), CodeMalformed, `"validUntil"`},
		{"validUntil negative", withClaims(grant(func(g *Grant) { g.ValidUntil = -1 })), CodeMalformed, `"validUntil"`},
		{"graceUntil MaxInt64", withClaims(grant(func(g *Grant) { g.GraceUntil = math.MaxInt64 })), CodeMalformed, `"graceUntil"`},
		{"second license out of range", withClaims(func(c *Claims) {
			c.Licenses = append(c.Licenses, Grant{Name: "addon", StartsAt: math.MinInt64})
		}), CodeMalformed, `license "addon" (licenses[1])`},

		// The bounds themselves are dates.
		{"nbf at the last date", withClaims(func(c *Claims) { c.NotBefore = lastDate }), CodeNotYetValid, ""},
		{"exp at the Unix epoch is unset", withClaims(func(c *Claims) { c.Expiry = 0 }), "", ""},
		{"startsAt at the Unix epoch", withClaims(grant(func(g *Grant) { g.StartsAt = 0 })), "", ""},
		{"validUntil at the last date", withClaims(grant(func(g *Grant) { g.ValidUntil, g.GraceUntil = lastDate, lastDate })), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := Verify(tt.token, keys, testNow)
			if CodeOf(err) != tt.wantCode {
				t.Fatalf("Verify() = %v, %v; want code %q", claims, err, tt.wantCode)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Verify() error = %q, want it to mention %q", err, tt.wantMsg)
			}
			if tt.wantCode == CodeMalformed && claims != nil {
				t.Errorf("Verify() returned claims %+v with a MALFORMED token", claims)
			}
		})
	}
}

func TestUnixTime(t *testing.T) {
	tests := []struct {
		sec  int64
		want string // RFC 3339, or "" for MALFORMED
	}{
		{0, "1970-01-01T00:00:00Z"},
		{1_780_000_000, "2026-05-28T20:26:40Z"},
		{MaxUnixTime, "9999-12-31T23:59:59Z"},
		{MaxUnixTime + 1, ""},
		{-1, ""},
		{math.MaxInt64, ""}, // time.Unix reads it as a date in the year 292277026596
		{math.MinInt64, ""},
		{1_780_000_000_000, ""}, // milliseconds
	}
	for _, tt := range tests {
		got, err := UnixTime(tt.sec)
		if tt.want == "" {
			if CodeOf(err) != CodeMalformed || !strings.Contains(err.Error(), "1970 to 9999") || !got.IsZero() {
				t.Errorf("UnixTime(%d) = %v, %v; want a MALFORMED error naming the range", tt.sec, got, err)
			}
			if CodeOf(CheckUnixTime(tt.sec)) != CodeMalformed {
				t.Errorf("CheckUnixTime(%d) = %v, want MALFORMED", tt.sec, CheckUnixTime(tt.sec))
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339) != tt.want || got.Location() != time.UTC {
			t.Errorf("UnixTime(%d) = %v, %v; want %s UTC", tt.sec, got, err, tt.want)
		}
		if err := CheckUnixTime(tt.sec); err != nil {
			t.Errorf("CheckUnixTime(%d) = %v", tt.sec, err)
		}
	}
}
