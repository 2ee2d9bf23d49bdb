package plugin

import (
	"strings"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func TestExitCodeForCode(t *testing.T) {
	tests := map[license.Code]int{
		license.CodeValid:               ExitOK,
		license.CodeInGracePeriod:       ExitOK,
		license.CodeExpired:             ExitNotEntitled,
		license.CodeNotYetValid:         ExitNotEntitled,
		license.CodeSuspended:           ExitNotEntitled,
		license.CodeRevoked:             ExitRevoked,
		license.CodeFeatureNotEntitled:  ExitNotEntitled,
		license.CodeTooManyActivations:  ExitNotEntitled,
		license.CodeNoSeatsAvailable:    ExitNotEntitled,
		license.CodeFingerprintMismatch: ExitNotEntitled,
		license.CodeSignatureInvalid:    ExitVerifyFailed,
		license.CodeUnknownKey:          ExitVerifyFailed,
		license.CodeMalformed:           ExitVerifyFailed,
		"":                              ExitVerifyFailed,
		"SOMETHING_NEW":                 ExitVerifyFailed,
	}
	for code, want := range tests {
		if got := exitCodeForCode(code); got != want {
			t.Errorf("exitCodeForCode(%q) = %d, want %d", code, got, want)
		}
	}
}

func TestVerifyToken(t *testing.T) {
	key, other := testKey(1), testKey(2)
	anchor := must(license.ParseJWKS(jwksOf(key)))
	claims := sampleClaims("licensing", "acme-db", "globex", testNow)
	good := sign(claims, key)

	suspended := sampleClaims("licensing", "acme-db", "globex", testNow)
	suspended.Licensee.Suspended = true
	shortLived := sampleClaims("licensing", "acme-db", "globex", testNow)
	shortLived.Expiry = testNow.Add(-time.Hour).Unix()
	extended := sampleClaims("licensing", "acme-db", "globex", testNow)
	extended.Licenses[0].Features = append(extended.Licenses[0].Features, "analytics")
	// "analytics" comes from an add-on in grace while main is valid.
	addonInGrace := sampleClaims("licensing", "acme-db", "globex", testNow)
	addonInGrace.Licenses[1].ValidUntil, addonInGrace.Licenses[1].GraceUntil = testNow.Add(-day).Unix(), testNow.Add(6*day).Unix()

	tests := []struct {
		name    string
		token   string
		at      time.Time
		feature string
		opts    []license.Option
		code    license.Code
		claims  bool
		line    string
	}{
		{name: "valid", token: good, at: testNow, code: license.CodeValid, claims: true,
			line: "VALID: licensee globex, product acme-db: valid until 2027-11-30T12:00:00Z (in 364d), then in the grace period until 2027-12-07T12:00:00Z (in 371d)"},
		{name: "feature granted", token: good, at: testNow, feature: "replication", code: license.CodeValid, claims: true,
			line: `VALID: licensee globex, product acme-db: feature "replication" granted; valid until`},
		{name: "feature of the expired trial", token: good, at: testNow, feature: "analytics", code: license.CodeFeatureNotEntitled, claims: true,
			line: `FEATURE_NOT_ENTITLED: licensee globex, product acme-db: feature "analytics" is granted only by licenses that do not entitle now: trial (EXPIRED)`},
		{name: "feature of a license in grace", token: sign(addonInGrace, key), at: testNow, feature: "analytics", code: license.CodeInGracePeriod, claims: true,
			line: `IN_GRACE_PERIOD: licensee globex, product acme-db: feature "analytics" granted; in the grace period until 2026-12-07T12:00:00Z (in 6d); renew the license`},
		{name: "grace", token: good, at: testNow.Add(365 * day), code: license.CodeInGracePeriod, claims: true,
			line: "IN_GRACE_PERIOD: licensee globex, product acme-db: in the grace period until 2027-12-07T12:00:00Z (in 6d); renew the license"},
		{name: "expired", token: good, at: testNow.Add(400 * day), code: license.CodeExpired, claims: true,
			line: "EXPIRED: licensee globex, product acme-db: every license has ended, the last at 2027-12-07T12:00:00Z (29d ago); renew the license"},
		{name: "not yet valid", token: good, at: testNow.Add(-2 * day), code: license.CodeNotYetValid, claims: true,
			line: "NOT_YET_VALID: licensee globex, product acme-db: no license has started yet; the first starts at 2026-11-30T12:00:00Z (in 24h)"},
		{name: "suspended", token: sign(suspended, key), at: testNow, code: license.CodeSuspended, claims: true,
			line: `SUSPENDED: licensee globex, product acme-db: licensee "globex" is suspended; contact the vendor`},
		{name: "token lifetime over", token: sign(shortLived, key), at: testNow, code: license.CodeExpired, claims: true,
			line: "EXPIRED: licensee globex, product acme-db: token expired at 2026-12-01T11:00:00Z"},
		{name: "signed by another key", token: sign(claims, other), at: testNow, code: license.CodeUnknownKey,
			line: "UNKNOWN_KEY: token signed with key"},
		{name: "payload altered", token: withPayload(good, extended), at: testNow, code: license.CodeSignatureInvalid,
			line: "SIGNATURE_INVALID: signature does not verify"},
		{name: "garbage", token: "not a token", at: testNow, code: license.CodeMalformed,
			line: "MALFORMED: token is not a compact JWS"},
		{name: "empty", token: "\n", at: testNow, code: license.CodeMalformed,
			line: "MALFORMED: token is empty"},
		{name: "another product's token", token: good, at: testNow, opts: []license.Option{license.WithAudience("other-db")}, code: license.CodeMalformed,
			line: `MALFORMED: token audience is ["acme-db"], which does not include "other-db"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := verifyToken(tt.token, anchor, tt.at, tt.feature, tt.opts...)
			if v.Code != tt.code || v.Valid != tt.code.Entitling() {
				t.Errorf("Code, Valid = %s, %t; want %s, %t", v.Code, v.Valid, tt.code, tt.code.Entitling())
			}
			if (v.Claims != nil) != tt.claims {
				t.Errorf("Claims = %v, want claims: %t", v.Claims, tt.claims)
			}
			if got := v.line(); !strings.HasPrefix(got, tt.line) {
				t.Errorf("line() = %q\nwant prefix %q", got, tt.line)
			}
			if strings.Contains(v.line(), "\n") {
				t.Errorf("line() spans several lines: %q", v.line())
			}
		})
	}
}
