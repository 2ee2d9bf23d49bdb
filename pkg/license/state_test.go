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

func TestGrantStateAtIgnoresOnlyTheLicensee(t *testing.T) {
	g := Grant{StartsAt: start, ValidUntil: until, GraceUntil: grace}
	for _, sec := range []int64{start - 1, start, until - 1, until, grace - 1, grace} {
		for _, suspended := range []bool{false, true} {
			g.Suspended = suspended
			want := (&Claims{}).GrantState(g, at(sec))
			if got := g.StateAt(at(sec)); got != want {
				t.Errorf("Grant{Suspended: %v}.StateAt(%d) = %s, GrantState = %s", suspended, sec, got, want)
			}
			if got := (&Claims{Licensee: LicenseeInfo{Suspended: true}}).GrantState(g, at(sec)); got != CodeSuspended {
				t.Errorf("GrantState with a suspended licensee = %s", got)
			}
		}
	}
}

func TestFeatureState(t *testing.T) {
	c := &Claims{Licenses: []Grant{
		{Name: "base", StartsAt: start, ValidUntil: until, GraceUntil: grace, Features: []string{"backup"}, Quotas: map[string]int64{"nodes": 10}},
		{Name: "addon", StartsAt: start, ValidUntil: grace, Features: []string{"backup", "audit"}},
		{Name: "future", StartsAt: grace, Features: []string{"ai"}, Quotas: map[string]int64{"gpus": 1}},
		{Name: "off", StartsAt: 0, Suspended: true, Features: []string{"frozen"}},
	}}
	tests := []struct {
		name    string
		claims  *Claims
		feature string
		at      time.Time
		want    Code
	}{
		{"granted by a valid license", c, "backup", at(start), CodeValid},
		{"valid beats grace", c, "backup", at(until), CodeValid},
		{"only in grace", c, "audit", at(grace - 1), CodeValid},
		{"granted only by a license not started, others valid", c, "ai", at(start), CodeFeatureNotEntitled},
		{"granted only by a suspended license", c, "frozen", at(start), CodeFeatureNotEntitled},
		{"granted by nothing", c, "teleport", at(start), CodeFeatureNotEntitled},
		{"nothing entitles yet: the licensee's state", c, "backup", at(start - 1), CodeNotYetValid},
		{"no licenses", &Claims{}, "backup", at(start), CodeExpired},
		{"licensee suspended", &Claims{Licensee: LicenseeInfo{Suspended: true}, Licenses: c.Licenses}, "backup", at(start), CodeSuspended},
		{"grace only", &Claims{Licenses: c.Licenses[:1]}, "backup", at(until), CodeInGracePeriod},
		{"expired", &Claims{Licenses: c.Licenses[:1]}, "backup", at(grace), CodeExpired},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.claims.FeatureState(tt.feature, tt.at); got != tt.want {
				t.Errorf("FeatureState(%q) = %s, want %s", tt.feature, got, tt.want)
			}
			if got := tt.claims.Index().FeatureState(tt.feature, tt.at); got != tt.want {
				t.Errorf("Index().FeatureState(%q) = %s, want %s", tt.feature, got, tt.want)
			}
		})
	}
}

// The index, the scans and the sums agree on every name at every bound.
func TestIndexAgreesWithClaims(t *testing.T) {
	c := &Claims{Licenses: []Grant{
		{StartsAt: start, ValidUntil: until, GraceUntil: grace, Features: []string{"a", "b", "a"}, Quotas: map[string]int64{"n": 1, "z": 0}},
		{StartsAt: until, ValidUntil: grace, Features: []string{"b", "c"}, Quotas: map[string]int64{"n": 2}},
		{StartsAt: grace, Features: []string{"d"}, Quotas: map[string]int64{"m": 3}},
		{StartsAt: 0, Suspended: true, Features: []string{"a", "e"}, Quotas: map[string]int64{"e": 4}},
	}}
	for _, licenseeSuspended := range []bool{false, true} {
		c.Licensee.Suspended = licenseeSuspended
		x := c.Index()
		for _, sec := range []int64{0, start - 1, start, until - 1, until, grace - 1, grace, grace + 1} {
			for _, name := range []string{"a", "b", "c", "d", "e", "n", "z", "m", "none"} {
				fs, xfs := c.FeatureState(name, at(sec)), x.FeatureState(name, at(sec))
				if fs != xfs || c.Entitled(name, at(sec)) != fs.Entitling() || slices.Contains(c.FeaturesAt(at(sec)), name) != fs.Entitling() {
					t.Errorf("at %d, feature %q: FeatureState %s, Index %s, Entitled %v, FeaturesAt %q", sec, name, fs, xfs, c.Entitled(name, at(sec)), c.FeaturesAt(at(sec)))
				}
				qs, xqs := c.QuotaState(name, at(sec)), x.QuotaState(name, at(sec))
				_, ok := c.Quota(name, at(sec))
				if _, inMap := c.QuotasAt(at(sec))[name]; qs != xqs || ok != qs.Entitling() || inMap != ok {
					t.Errorf("at %d, quota %q: QuotaState %s, Index %s, Quota ok %v, in QuotasAt %v", sec, name, qs, xqs, ok, inMap)
				}
			}
		}
	}
	if x := c.Index(); x.Claims() != c {
		t.Error("Index().Claims() is not the indexed claims")
	}
}

func TestLifetimeState(t *testing.T) {
	c := &Claims{NotBefore: start, Expiry: until}
	tests := []struct {
		at     time.Time
		leeway time.Duration
		want   Code
	}{
		{at(start).Add(-time.Nanosecond), 0, CodeNotYetValid},
		{at(start), 0, CodeValid},
		{at(start - 60), time.Minute, CodeValid},
		{at(start - 61), time.Minute, CodeNotYetValid},
		{at(until), 0, CodeValid},
		{at(until).Add(time.Nanosecond), 0, CodeExpired},
		{at(until + 60), time.Minute, CodeValid},
		{at(until + 1), -time.Hour, CodeExpired},
	}
	for _, tt := range tests {
		if got := c.LifetimeState(tt.at, tt.leeway); got != tt.want {
			t.Errorf("LifetimeState(%s, %s) = %s, want %s", tt.at.UTC().Format(time.RFC3339Nano), tt.leeway, got, tt.want)
		}
	}
	if got := (&Claims{}).LifetimeState(at(0), 0); got != CodeValid {
		t.Errorf("LifetimeState without nbf and exp = %s, want VALID", got)
	}
}
