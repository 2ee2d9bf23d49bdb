package entitlement

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

var meta = ClaimsMeta{
	Namespace: "licensing", Product: "acme-db", ProductDisplayName: "Acme DB",
	Licensee: "globex", LicenseeDisplayName: "Globex Corp.", ExternalID: "crm-00042",
}

func sampleLicenses() []LicenseInput {
	return []LicenseInput{
		with(lic("main", "gold", monthly), func(li *LicenseInput) {
			li.Spec.Features = &v1alpha1.FeatureOverrides{Add: []v1alpha1.FeatureName{"audit"}, Remove: []v1alpha1.FeatureName{"replication"}}
			li.Spec.Quotas = v1alpha1.QuotaMap{"nodes": 20}
		}),
		lic("addon", "seats", floating),
		lic("bad", "missing", nil),
		with(lic("old", "trial", trial), func(li *LicenseInput) { li.KnownStart = tp(-20 * day) }),
	}
}

func TestBuildClaimsJSON(t *testing.T) {
	now := ts(day + 700*time.Millisecond)
	r := Evaluate(Input{Now: now, Licenses: sampleLicenses()})
	got, err := json.Marshal(BuildClaims(meta, r, now, "serial-1"))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"iss":"licensing.kubelicense.io/licensing/acme-db","sub":"globex","aud":["acme-db"],"jti":"serial-1",` +
		`"iat":1772409600,"nbf":1772409600,` +
		`"licensee":{"name":"globex","displayName":"Globex Corp.","externalID":"crm-00042","suspended":false},` +
		`"product":{"name":"acme-db","displayName":"Acme DB"},` +
		`"licenses":[` +
		`{"name":"addon","template":"seats","type":"Floating","startsAt":1772323200,"features":[],"quotas":{},"seats":5,"suspended":false},` +
		`{"name":"main","template":"gold","type":"Subscription","startsAt":1772323200,"validUntil":1774915200,"graceUntil":1775520000,"features":["audit","backup"],"quotas":{"nodes":20,"users":50},"suspended":false},` +
		`{"name":"old","template":"trial","type":"Trial","startsAt":1770595200,"validUntil":1771804800,"features":["everything"],"quotas":{},"suspended":false}],` +
		`"features":["audit","backup"],"quotas":{"nodes":20,"users":50}}`
	if string(got) != want {
		t.Errorf("claims JSON\n got %s\nwant %s", got, want)
	}
}

func TestBuildClaimsDeterministic(t *testing.T) {
	now := ts(day)
	encode := func(licenses []LicenseInput, issuedAt time.Time) []byte {
		b, err := json.Marshal(BuildClaims(meta, Evaluate(Input{Now: now, Licenses: licenses}), issuedAt, "s"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	first := encode(sampleLicenses(), now)
	reversed := sampleLicenses()
	slices.Reverse(reversed)
	for name, b := range map[string][]byte{
		"again":                           encode(sampleLicenses(), now),
		"licenses reordered":              encode(reversed, now),
		"issued later in the same second": encode(sampleLicenses(), now.Add(999*time.Millisecond)),
	} {
		if !bytes.Equal(b, first) {
			t.Errorf("%s: JSON differs\n%s\n%s", name, first, b)
		}
	}
}

func TestBuildClaimsIsolated(t *testing.T) {
	r := Evaluate(Input{Now: ts(day), Licenses: sampleLicenses()})
	c := BuildClaims(meta, r, ts(day), "s")
	c.Licenses[1].Features[0] = "changed"
	c.Licenses[1].Quotas["nodes"] = 0
	c.Features[0] = "changed"
	if r.Licenses[0].Features[0] != "audit" || r.Licenses[0].Quotas["nodes"] != 20 || r.Features[0] != "audit" {
		t.Errorf("claims share slices or maps with the result")
	}
}

func TestBuildClaimsExpiry(t *testing.T) {
	const month = 30 * day
	unix := func(d time.Duration) int64 { return ts(d).Unix() }
	brokenWithTTL := with(lic("x", "x", withTTL(perpetual, "1h")), func(li *LicenseInput) { li.Problem = "broken" })
	tests := []struct {
		name     string
		licenses []LicenseInput
		now      time.Time
		want     int64
	}{
		{"perpetual: no exp", []LicenseInput{lic("p", "p", perpetual)}, ts(day), 0},
		{"floating without duration: no exp", []LicenseInput{lic("f", "f", floating)}, ts(day), 0},
		{"one never ends: no exp", []LicenseInput{lic("m", "m", monthly), lic("p", "p", perpetual)}, ts(day), 0},
		{"the end of grace", []LicenseInput{lic("m", "m", monthly)}, ts(day), unix(month + 7*day)},
		{"validUntil without grace", []LicenseInput{lic("t", "t", trial)}, ts(day), unix(14 * day)},
		{"the latest end", []LicenseInput{lic("t", "t", trial), lic("m", "m", monthly)}, ts(day), unix(month + 7*day)},
		{"a pending license counts", []LicenseInput{lic("t", "t", trial), with(lic("m", "m", monthly), func(li *LicenseInput) { li.Spec.StartsAt = mt(month) })}, ts(day), unix(2*month + 7*day)},
		{"autoRenew: the current period's grace", []LicenseInput{lic("r", "r", renewing)}, ts(45 * day), unix(2*month + 7*day)},
		{"a hard end", []LicenseInput{with(lic("p", "p", perpetual), func(li *LicenseInput) { li.Spec.EndsAt = mt(10 * day) })}, ts(day), unix(10 * day)},
		{"TTL caps a perpetual token", []LicenseInput{lic("p", "p", withTTL(perpetual, "1h"))}, ts(day), unix(day + time.Hour)},
		{"the smallest TTL caps", []LicenseInput{lic("p", "p", withTTL(perpetual, "2h")), lic("m", "m", withTTL(monthly, "1h"))}, ts(day), unix(day + time.Hour)},
		{"an end before the TTL", []LicenseInput{lic("t", "t", withTTL(trial, "720h"))}, ts(day), unix(14 * day)},
		{"lapsed: expired at issuance", []LicenseInput{lic("t", "t", trial)}, ts(20 * day), unix(20 * day)},
		{"no grants: expired at issuance", nil, ts(day), unix(day)},
		{"only invalid, whose TTL does not count: expired at issuance", []LicenseInput{brokenWithTTL}, ts(day), unix(day)},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: tt.now, Licenses: tt.licenses})
			c := BuildClaims(meta, r, tt.now, "s")
			if c.Expiry != tt.want {
				t.Errorf("exp = %d, want %d (iat %d)", c.Expiry, tt.want, c.IssuedAt)
			}
			if c.IssuedAt != tt.now.Unix() || c.NotBefore != c.IssuedAt {
				t.Errorf("iat %d nbf %d, want both %d", c.IssuedAt, c.NotBefore, tt.now.Unix())
			}
		})
	}
}

func TestBuildClaimsEntitlements(t *testing.T) {
	t.Run("no licenses: empty, not null", func(t *testing.T) {
		c := BuildClaims(meta, Evaluate(Input{Now: ts(0)}), ts(0), "s")
		b, _ := json.Marshal(c)
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]string{"licenses": "[]", "features": "[]", "quotas": "{}", "aud": `["acme-db"]`} {
			if string(raw[key]) != want {
				t.Errorf("%s = %s, want %s", key, raw[key], want)
			}
		}
	})

	t.Run("top-level entitlements are those at iat", func(t *testing.T) {
		r := Evaluate(Input{Now: ts(13 * day), Licenses: []LicenseInput{lic("t", "t", trial), lic("p", "p", perpetual)}})
		if got := BuildClaims(meta, r, ts(13*day), "s").Features; !reflect.DeepEqual(got, []string{"backup", "everything"}) {
			t.Errorf("features at now = %v", got)
		}
		if got := BuildClaims(meta, r, ts(14*day), "s").Features; !reflect.DeepEqual(got, []string{"backup"}) {
			t.Errorf("features after the trial = %v", got)
		}
	})

	t.Run("suspension", func(t *testing.T) {
		licenses := []LicenseInput{with(lic("a", "p", perpetual), func(li *LicenseInput) { li.Spec.Suspended = true }), lic("b", "m", monthly)}
		c := BuildClaims(meta, Evaluate(Input{Now: ts(0), Licenses: licenses}), ts(0), "s")
		if !c.Licenses[0].Suspended || c.Licenses[1].Suspended || c.Licensee.Suspended {
			t.Errorf("suspended flags: %t %t licensee %t", c.Licenses[0].Suspended, c.Licenses[1].Suspended, c.Licensee.Suspended)
		}
		if !reflect.DeepEqual(c.Features, []string{"backup", "replication"}) || c.Quotas["nodes"] != 10 {
			t.Errorf("entitlements = %v %v, want the unsuspended license's", c.Features, c.Quotas)
		}
		c = BuildClaims(meta, Evaluate(Input{Now: ts(0), Licenses: licenses, LicenseeSuspended: true}), ts(0), "s")
		if !c.Licensee.Suspended || len(c.Features) != 0 || len(c.Quotas) != 0 || c.Features == nil || c.Quotas == nil {
			t.Errorf("suspended licensee: %t, entitlements %#v %#v", c.Licensee.Suspended, c.Features, c.Quotas)
		}
	})
}
