package license

import (
	"maps"
	"slices"
	"testing"
	"time"
)

// Window of the grants below, in Unix seconds.
const (
	start = 1_000_000
	until = 2_000_000
	grace = 3_000_000
)

func at(sec int64) time.Time { return time.Unix(sec, 0) }

func TestGrantState(t *testing.T) {
	subscription := Grant{StartsAt: start, ValidUntil: until, GraceUntil: grace}
	noGrace := Grant{StartsAt: start, ValidUntil: until}
	perpetual := Grant{StartsAt: start}
	suspended := Grant{StartsAt: start, ValidUntil: until, Suspended: true}

	tests := []struct {
		name              string
		grant             Grant
		licenseeSuspended bool
		at                time.Time
		want              Code
	}{
		{"before start", subscription, false, at(start - 1), CodeNotYetValid},
		{"just before start", subscription, false, at(start).Add(-time.Nanosecond), CodeNotYetValid},
		{"at start", subscription, false, at(start), CodeValid},
		{"just before validUntil", subscription, false, at(until).Add(-time.Nanosecond), CodeValid},
		{"at validUntil", subscription, false, at(until), CodeInGracePeriod},
		{"just before graceUntil", subscription, false, at(grace).Add(-time.Nanosecond), CodeInGracePeriod},
		{"at graceUntil", subscription, false, at(grace), CodeExpired},
		{"after graceUntil", subscription, false, at(grace + 1), CodeExpired},

		{"no grace: before validUntil", noGrace, false, at(until - 1), CodeValid},
		{"no grace: at validUntil", noGrace, false, at(until), CodeExpired},

		{"perpetual: before start", perpetual, false, at(start - 1), CodeNotYetValid},
		{"perpetual: far future", perpetual, false, at(start).AddDate(100, 0, 0), CodeValid},

		{"grant suspended while valid", suspended, false, at(start), CodeSuspended},
		{"grant suspended before start", suspended, false, at(0), CodeSuspended},
		{"grant suspended after expiry", suspended, false, at(grace), CodeSuspended},
		{"licensee suspended", subscription, true, at(start), CodeSuspended},
		{"licensee suspended, perpetual", perpetual, true, at(grace), CodeSuspended},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Claims{Licensee: LicenseeInfo{Suspended: tt.licenseeSuspended}}
			if got := c.GrantState(tt.grant, tt.at); got != tt.want {
				t.Errorf("GrantState() = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestState(t *testing.T) {
	valid := Grant{StartsAt: start, ValidUntil: until, GraceUntil: grace}
	inGrace := Grant{StartsAt: 0, ValidUntil: start, GraceUntil: until}
	future := Grant{StartsAt: until}
	suspended := Grant{StartsAt: 0, Suspended: true}
	expired := Grant{StartsAt: 0, ValidUntil: start}
	now := at(start)

	tests := []struct {
		name   string
		grants []Grant
		want   Code
	}{
		{"no licenses", nil, CodeExpired},
		{"one valid", []Grant{valid}, CodeValid},
		{"valid beats grace", []Grant{inGrace, valid}, CodeValid},
		{"grace beats not yet valid", []Grant{future, inGrace}, CodeInGracePeriod},
		{"not yet valid beats suspended", []Grant{suspended, future}, CodeNotYetValid},
		{"suspended beats expired", []Grant{expired, suspended}, CodeSuspended},
		{"only expired", []Grant{expired, expired}, CodeExpired},
		{"everything", []Grant{expired, suspended, future, inGrace, valid}, CodeValid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Claims{Licenses: tt.grants}
			if got := c.State(now); got != tt.want {
				t.Errorf("State() = %s, want %s", got, tt.want)
			}
		})
	}

	c := &Claims{Licensee: LicenseeInfo{Suspended: true}, Licenses: []Grant{valid}}
	if got := c.State(now); got != CodeSuspended {
		t.Errorf("State() with suspended licensee = %s, want SUSPENDED", got)
	}
}

func TestEntitlements(t *testing.T) {
	c := &Claims{
		// The issue-time fields must not leak into the moment-based answers.
		Features: []string{"issued-only"},
		Quotas:   map[string]int64{"issued-only": 1},
		Licenses: []Grant{
			{Name: "base", StartsAt: start, ValidUntil: until, GraceUntil: grace,
				Features: []string{"replication", "backup"}, Quotas: map[string]int64{"nodes": 10, "zero": 0}},
			{Name: "addon", StartsAt: start, ValidUntil: until,
				Features: []string{"backup", "audit"}, Quotas: map[string]int64{"nodes": 5}},
			{Name: "future", StartsAt: grace,
				Features: []string{"ai"}, Quotas: map[string]int64{"nodes": 100, "gpus": 2}},
			{Name: "suspended", StartsAt: 0, Suspended: true,
				Features: []string{"suspended-feature"}, Quotas: map[string]int64{"nodes": 1000}},
		},
	}
	type quota struct {
		value int64
		ok    bool
	}
	tests := []struct {
		name     string
		at       time.Time
		features []string
		quotas   map[string]int64
		nodes    quota
		zero     quota
		gpus     quota
	}{
		{"before start", at(start - 1), nil, map[string]int64{}, quota{}, quota{}, quota{}},
		{"both valid", at(start), []string{"audit", "backup", "replication"},
			map[string]int64{"nodes": 15, "zero": 0}, quota{15, true}, quota{0, true}, quota{}},
		{"base in grace, addon expired", at(until), []string{"backup", "replication"},
			map[string]int64{"nodes": 10, "zero": 0}, quota{10, true}, quota{0, true}, quota{}},
		{"base expired, future started", at(grace), []string{"ai"},
			map[string]int64{"nodes": 100, "gpus": 2}, quota{100, true}, quota{}, quota{2, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.FeaturesAt(tt.at); !slices.Equal(got, tt.features) {
				t.Errorf("FeaturesAt() = %q, want %q", got, tt.features)
			}
			if got := c.QuotasAt(tt.at); !maps.Equal(got, tt.quotas) {
				t.Errorf("QuotasAt() = %v, want %v", got, tt.quotas)
			}
			for _, f := range []string{"replication", "backup", "audit", "ai", "suspended-feature", "issued-only"} {
				if got, want := c.Entitled(f, tt.at), slices.Contains(tt.features, f); got != want {
					t.Errorf("Entitled(%q) = %v, want %v", f, got, want)
				}
			}
			for name, want := range map[string]quota{"nodes": tt.nodes, "zero": tt.zero, "gpus": tt.gpus, "issued-only": {}} {
				if v, ok := c.Quota(name, tt.at); v != want.value || ok != want.ok {
					t.Errorf("Quota(%q) = %d, %v, want %d, %v", name, v, ok, want.value, want.ok)
				}
			}
		})
	}
}

func TestExpiresAt(t *testing.T) {
	tests := []struct {
		name   string
		claims Claims
		want   time.Time
	}{
		{"no licenses: lapsed at issue", Claims{IssuedAt: start}, at(start).UTC()},
		{"grace end", Claims{Licenses: []Grant{{ValidUntil: until, GraceUntil: grace}}}, at(grace).UTC()},
		{"no grace", Claims{Licenses: []Grant{{ValidUntil: until}}}, at(until).UTC()},
		{"latest of several", Claims{Licenses: []Grant{{ValidUntil: start}, {ValidUntil: until, GraceUntil: grace}, {ValidUntil: until}}}, at(grace).UTC()},
		{"a perpetual license never ends", Claims{Licenses: []Grant{{ValidUntil: until}, {StartsAt: start}}}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.claims.ExpiresAt(); !got.Equal(tt.want) || got.IsZero() != tt.want.IsZero() {
				t.Errorf("ExpiresAt() = %v, want %v", got, tt.want)
			}
		})
	}
}
