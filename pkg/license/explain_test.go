package license

import (
	"strings"
	"testing"
	"time"
)

// everyCode lists the Code constants; a new one must get an explanation.
var everyCode = []Code{
	CodeValid, CodeInGracePeriod, CodeExpired, CodeNotYetValid, CodeSuspended, CodeRevoked,
	CodeSignatureInvalid, CodeUnknownKey, CodeMalformed, CodeFeatureNotEntitled,
	CodeTooManyActivations, CodeNoSeatsAvailable, CodeFingerprintMismatch,
}

func TestExplainCoversEveryCode(t *testing.T) {
	seen := map[string]Code{}
	for _, code := range everyCode {
		text := Explain(code)
		if text == "" || strings.Contains(text, "\n") {
			t.Errorf("Explain(%s) = %q, want one non-empty line", code, text)
		}
		if other, dup := seen[text]; dup {
			t.Errorf("Explain(%s) is the same text as Explain(%s): %q", code, other, text)
		}
		seen[text] = code
	}
	if got := Explain("SOMETHING_NEW"); got != "" {
		t.Errorf(`Explain("SOMETHING_NEW") = %q, want ""`, got)
	}
}

// explainAt is the moment the state explanations are asked at; the grants
// below are placed around it, in whole days.
var explainAt = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func explainDay(n int) int64 { return explainAt.AddDate(0, 0, n).Unix() }

func TestClaimsExplain(t *testing.T) {
	valid := Grant{Name: "main", StartsAt: explainDay(-1), ValidUntil: explainDay(30), GraceUntil: explainDay(37), Features: []string{"backup"}}
	noGrace := Grant{Name: "main", StartsAt: explainDay(-1), ValidUntil: explainDay(30)}
	perpetual := Grant{Name: "forever", StartsAt: explainDay(-1)}
	inGrace := Grant{Name: "old", StartsAt: explainDay(-40), ValidUntil: explainDay(-2), GraceUntil: explainDay(5)}
	later := Grant{Name: "later", StartsAt: explainDay(10), ValidUntil: explainDay(40)}
	soon := Grant{Name: "soon", StartsAt: explainDay(3)}
	ended := Grant{Name: "ended", StartsAt: explainDay(-60), ValidUntil: explainDay(-30), GraceUntil: explainDay(-20)}
	suspended := Grant{Name: "held", StartsAt: explainDay(-1), ValidUntil: explainDay(30), Suspended: true}

	tests := []struct {
		name     string
		licenses []Grant
		suspend  bool
		want     string
	}{
		{"valid with grace", []Grant{valid}, false, "valid until 2026-12-31T12:00:00Z, then in the grace period until 2027-01-07T12:00:00Z"},
		{"valid without grace", []Grant{noGrace}, false, "valid until 2026-12-31T12:00:00Z"},
		{"valid for ever", []Grant{valid, perpetual}, false, "valid with no end date"},
		{"valid while another is in grace", []Grant{noGrace, inGrace}, false, "valid until 2026-12-31T12:00:00Z"},
		{"in grace", []Grant{inGrace, ended}, false, "in the grace period until 2026-12-06T12:00:00Z; renew the license"},
		{"not yet valid", []Grant{later, soon, ended}, false, "no license has started yet; the first starts at 2026-12-04T12:00:00Z"},
		{"licensee suspended", []Grant{valid}, true, `licensee "globex" is suspended; contact the vendor`},
		{"every license suspended or ended", []Grant{suspended, ended}, false, "every license is suspended or has ended; contact the vendor"},
		{"expired", []Grant{ended}, false, "every license has ended, the last at 2026-11-11T12:00:00Z; renew the license"},
		{"no licenses", nil, false, "the token holds no licenses; nothing is entitled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Claims{Licensee: LicenseeInfo{Name: "globex", Suspended: tt.suspend}, Licenses: tt.licenses}
			code := c.State(explainAt)
			if got := c.Explain(code, explainAt, nil); got != tt.want {
				t.Errorf("Explain(%s) =\n %q\nwant\n %q", code, got, tt.want)
			}
		})
	}

	t.Run("formats instants with formatTime", func(t *testing.T) {
		c := &Claims{Licenses: []Grant{valid}}
		got := c.Explain(CodeValid, explainAt, func(t time.Time) string { return t.Format("2006-01-02") + " (soon)" })
		if want := "valid until 2026-12-31 (soon), then in the grace period until 2027-01-07 (soon)"; got != want {
			t.Errorf("Explain() = %q, want %q", got, want)
		}
	})
	t.Run("a state the licenses are not in falls back to Explain", func(t *testing.T) {
		c := &Claims{Licenses: []Grant{ended}}
		for _, code := range []Code{CodeValid, CodeInGracePeriod, CodeNotYetValid} {
			if got := c.Explain(code, explainAt, nil); got != Explain(code) {
				t.Errorf("Explain(%s) of expired licenses = %q, want Explain's %q", code, got, Explain(code))
			}
		}
	})
	t.Run("other codes fall back to Explain", func(t *testing.T) {
		c := &Claims{Licenses: []Grant{valid}}
		for _, code := range []Code{CodeRevoked, CodeSignatureInvalid, CodeFeatureNotEntitled} {
			if got := c.Explain(code, explainAt, nil); got != Explain(code) {
				t.Errorf("Explain(%s) = %q, want Explain's %q", code, got, Explain(code))
			}
		}
	})
}

func TestClaimsExplainNotGranted(t *testing.T) {
	c := &Claims{
		Licensee: LicenseeInfo{Name: "globex"},
		Licenses: []Grant{
			{Name: "main", StartsAt: explainDay(-1), ValidUntil: explainDay(30), Features: []string{"backup"}, Quotas: map[string]int64{"nodes": 20}},
			{Name: "addon", StartsAt: explainDay(-30), ValidUntil: explainDay(-1), Features: []string{"analytics"}, Quotas: map[string]int64{"reports": 5}},
			{Name: "next", StartsAt: explainDay(5), Features: []string{"analytics"}},
		},
	}
	tests := []struct {
		name, got, want string
	}{
		{"feature in no license", c.ExplainFeature("sharding", explainAt), `feature "sharding" is not granted by any license of globex`},
		{"feature only in lapsed licenses", c.ExplainFeature("analytics", explainAt), `feature "analytics" is granted only by licenses that do not entitle now: addon (EXPIRED), next (NOT_YET_VALID)`},
		{"feature granted", c.ExplainFeature("backup", explainAt), `feature "backup" is granted by main (VALID)`},
		{"quota in no license", c.ExplainQuota("cpus", explainAt), `quota "cpus" is not granted by any license of globex`},
		{"quota only in lapsed licenses", c.ExplainQuota("reports", explainAt), `quota "reports" is granted only by licenses that do not entitle now: addon (EXPIRED)`},
		{"quota granted", c.ExplainQuota("nodes", explainAt), `quota "nodes" is granted by main (VALID)`},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}
	// A name from a request is repeated bounded.
	if got := c.ExplainFeature(strings.Repeat("x", 10000), explainAt); len(got) > 300 || !strings.Contains(got, "(10000 bytes)") {
		t.Errorf("ExplainFeature(10000 bytes) = %d bytes: %.120q", len(got), got)
	}
}
