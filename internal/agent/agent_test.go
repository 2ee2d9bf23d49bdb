package agent

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/internal/issuance"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// watch runs the agent's watch loop until stop is called, or the test ends.
func (f *fixture) watch() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { f.agent.Watch(ctx) })
	stop = func() { cancel(); wg.Wait() }
	f.t.Cleanup(stop)
	return stop
}

func (f *fixture) serial() string {
	s, _ := f.get(pathLicense).body["serial"].(string)
	return s
}

func TestReloadsWhenKubeletSwapsTheSecret(t *testing.T) {
	f := newFixture(t, testClaims("serial-1"))
	f.watch()
	if got := f.serial(); got != "serial-1" {
		t.Fatalf("serial %q, want serial-1", got)
	}

	c := testClaims("serial-2")
	c.Licenses[0].Features = []string{"replication", "backup", "sharding"}
	f.setToken(f.issuer.sign(t, c))
	f.waitUntil("the agent serves the swapped token", func() bool { return f.serial() == "serial-2" })
	f.get("/v1/features/sharding").expect(t, http.StatusOK, "VALID")
	if got := f.metric("license_agent_reloads_total"); got != "2" {
		t.Errorf("reloads_total %s, want 2 (start + swap)", got)
	}

	// The generation directory the first token lived in is gone; nothing
	// still reads through it.
	entries, err := os.ReadDir(f.license.dir)
	must(t, err)
	generations := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..2026") {
			generations++
		}
	}
	if generations != 1 {
		t.Fatalf("%d generation directories, want 1", generations)
	}
}

func TestReloadsWhenTheTrustAnchorRotates(t *testing.T) {
	f := newFixture(t, testClaims("old-key"))
	f.watch()
	next := newIssuer(t)

	// The operator publishes old and new key; then re-signs with the new one.
	both, err := keys.MarshalJWKS([]keys.PublicKey{keys.PublicKeyOf(f.issuer.key), keys.PublicKeyOf(next.key)})
	must(t, err)
	f.keys.update(map[string][]byte{"jwks.json": both})
	f.license.update(map[string][]byte{licenseTokenFile: next.sign(t, testClaims("new-key"))})
	f.waitUntil("the token signed with the rotated key is served", func() bool { return f.serial() == "new-key" })
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
}

func TestReloadSkipsUnchangedFiles(t *testing.T) {
	f := newFixture(t, testClaims("a"))
	if f.agent.Reload() {
		t.Fatal("Reload published although nothing changed")
	}
	f.setToken(f.issuer.sign(t, testClaims("b")))
	if !f.agent.Reload() {
		t.Fatal("Reload did not publish the new token")
	}
	if got := f.serial(); got != "b" {
		t.Fatalf("serial %q, want b", got)
	}
}

func TestForgedTokensAreRefused(t *testing.T) {
	for name, tc := range map[string]struct {
		forger func(trusted issuer) issuer
		code   license.Code
	}{
		"another key, same kid":  {func(tr issuer) issuer { return newIssuer(t).withID(tr.key.ID) }, license.CodeSignatureInvalid},
		"another key, own kid":   {func(issuer) issuer { return newIssuer(t) }, license.CodeUnknownKey},
		"trusted kid, other alg": {func(tr issuer) issuer { return newP256Issuer(t).withID(tr.key.ID) }, license.CodeSignatureInvalid},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, testClaims("genuine"))
			forged := testClaims("forged")
			forged.Licenses[0].Features = append(forged.Licenses[0].Features, "everything")
			f.setToken(tc.forger(f.issuer).sign(t, forged))
			f.agent.Reload()

			f.get("/v1/features/everything").expect(t, http.StatusForbidden, string(tc.code))
			f.get("/v1/features/replication").expect(t, http.StatusForbidden, string(tc.code))
			f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, string(tc.code))
			lic := f.get(pathLicense).expect(t, http.StatusOK, string(tc.code))
			if lic.body["valid"] != false || lic.body["licensee"] != nil {
				t.Fatalf("forged token reported as %s", lic.raw)
			}
			if got := f.metric(`license_agent_verification_failures_total{code="` + string(tc.code) + `"}`); got != "1" {
				t.Errorf("failures{%s} = %q, want 1", tc.code, got)
			}
		})
	}
}

func TestBundledKeysBesideTheTokenAreIgnoredWithoutTrustFlag(t *testing.T) {
	f := newFixture(t, testClaims("genuine"))
	attacker := newIssuer(t)
	// Whoever can write the Secret replaces both the token and jwks.json.
	f.license.update(map[string][]byte{
		licenseTokenFile: attacker.sign(t, testClaims("forged")),
		bundledJWKSFile:  attacker.jwks(t),
	})
	f.agent.Reload()
	f.get("/v1/features/replication").expect(t, http.StatusForbidden, string(license.CodeUnknownKey))

	// The same volume is accepted when the bundled keys are trusted on purpose.
	trusting, err := New(Config{LicenseDir: f.license.dir, TrustBundledKeys: true, Listen: DefaultListen,
		Leeway: time.Minute, RecheckInterval: time.Hour, Now: f.clock.Now})
	must(t, err)
	if _, v := trusting.evaluate(f.clock.Now()); !v.valid {
		t.Fatalf("with --trust-bundled-keys: %s %s", v.code, v.message)
	}
}

func TestTrustBundledKeysWithoutJWKSBesideTheToken(t *testing.T) {
	f := newFixture(t, nil, func(f *fixture, c *Config) { c.JWKSFile, c.TrustBundledKeys = "", true })
	f.license.update(map[string][]byte{licenseTokenFile: f.issuer.sign(t, testClaims("x"))})
	f.agent.Reload()
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, string(license.CodeUnknownKey))
	if !strings.Contains(r.message(), "jwks.json") {
		t.Fatalf("message %q does not name the missing jwks.json", r.message())
	}
}

func TestPinnedTrustAnchorLostAfterAValidLicense(t *testing.T) {
	for name, tc := range map[string]struct {
		lose func(f *fixture)
		want string
	}{
		// kubelet drops the key when jwks.json leaves the ConfigMap.
		"missing": {func(f *fixture) { f.keys.update(map[string][]byte{}) },
			"trust anchor %s does not exist; mount the product's jwks.json there"},
		// A directory opens but cannot be read, even as root.
		"unreadable": {func(f *fixture) {
			f.keys.update(map[string][]byte{"jwks.json": nil})
			generation := f.keys.path(filepath.Join(kubeletDataDir, "jwks.json"))
			must(t, os.Remove(generation))
			must(t, os.Mkdir(generation, 0o755))
		}, "cannot read trust anchor %s: "},
	} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, testClaims("s"))
			f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")

			tc.lose(f)
			if !f.agent.Reload() {
				t.Fatal("Reload did not publish the lost trust anchor")
			}
			want := fmt.Sprintf(tc.want, f.keys.path("jwks.json"))
			code := string(license.CodeUnknownKey)
			if r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, code); !strings.HasPrefix(r.message(), want) {
				t.Errorf("feature message %q, want prefix %q", r.message(), want)
			}
			f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, code)
			if lic := f.get(pathLicense).expect(t, http.StatusOK, code); lic.body["valid"] != false || lic.body["serial"] != nil {
				t.Fatalf("license still reported without a trust anchor: %s", lic.raw)
			}

			f.keys.update(map[string][]byte{"jwks.json": f.issuer.jwks(t)})
			f.agent.Reload()
			f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
		})
	}
}

func TestClockMovingBackwardsIsReported(t *testing.T) {
	f := newFixture(t, testClaims("s"))
	f.get("/v1/features/replication").expect(t, http.StatusOK, "VALID")

	f.clock.Add(-10 * time.Minute)
	r := f.get("/v1/features/replication").expect(t, http.StatusForbidden, string(license.CodeNotYetValid))
	if !strings.Contains(r.message(), "system clock moved backwards") {
		t.Fatalf("message %q does not explain the clock", r.message())
	}
	f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, string(license.CodeNotYetValid))
	f.get(pathLicense).expect(t, http.StatusOK, string(license.CodeNotYetValid))
	if got := f.metric("license_agent_clock_skew_detected_total"); got != "1" {
		t.Fatalf("clock_skew_detected_total %q after one episode, want 1", got)
	}

	// Within the leeway of the latest time seen is not a backwards clock.
	f.clock.Add(10*time.Minute - 30*time.Second)
	f.get("/v1/features/replication").expect(t, http.StatusOK, "VALID")

	// A second episode is counted again.
	f.clock.Add(-time.Hour)
	f.get("/v1/features/replication").expect(t, http.StatusForbidden, string(license.CodeNotYetValid))
	if got := f.metric("license_agent_clock_skew_detected_total"); got != "2" {
		t.Fatalf("clock_skew_detected_total %q after two episodes, want 2", got)
	}
}

func TestClockBeforeTheIssueTimeIsReported(t *testing.T) {
	c := testClaims("from-the-future")
	c.NotBefore = 0 // only iat says when the token was made
	f := newFixture(t, c, func(f *fixture, _ *Config) { f.clock.Set(t0.Add(-3 * time.Hour)) })
	r := f.get("/v1/features/replication").expect(t, http.StatusForbidden, string(license.CodeNotYetValid))
	if !strings.Contains(r.message(), "before the license was issued") {
		t.Fatalf("message %q does not explain the clock", r.message())
	}
	if got := f.metric("license_agent_clock_skew_detected_total"); got != "1" {
		t.Fatalf("clock_skew_detected_total %q, want 1", got)
	}
}

func TestLicenseLapsesWithoutReload(t *testing.T) {
	f := newFixture(t, testClaims("s"))
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
	f.get(pathReadyz).expect(t, http.StatusOK, "VALID")

	f.clock.Add(31 * day)
	f.get("/v1/features/backup").expect(t, http.StatusOK, "IN_GRACE_PERIOD")
	f.get(pathReadyz).expect(t, http.StatusOK, "IN_GRACE_PERIOD")

	f.clock.Add(7 * day)
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, "EXPIRED")
	if !strings.Contains(r.message(), "the last at 2027-01-07T12:00:00Z") {
		t.Fatalf("message %q does not say when", r.message())
	}
	f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, "EXPIRED")
	if got := f.metric("license_agent_license_valid"); got != "0" {
		t.Fatalf("license_valid %q after expiry, want 0", got)
	}
}

func TestTokenExpiryIsCheckedAtRequestTime(t *testing.T) {
	c := testClaims("short-lived")
	c.Expiry = t0.Add(time.Hour).Unix()
	f := newFixture(t, c)
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")

	f.clock.Add(time.Hour + 59*time.Second) // within the leeway
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
	f.clock.Add(2 * time.Second)
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, "EXPIRED")
	if !strings.Contains(r.message(), "token expired") {
		t.Fatalf("message %q is not pkg/license's", r.message())
	}
	if got := f.metric(`license_agent_verification_failures_total{code="EXPIRED"}`); got != "1" {
		t.Fatalf(`failures{EXPIRED} %q, want 1`, got)
	}
	// The lapsed token's licenses are still shown, to explain the verdict.
	if lic := f.get(pathLicense); lic.body["valid"] != false || len(lic.body["licenses"].([]any)) != 1 {
		t.Fatalf("license body %s", lic.raw)
	}

	// The refreshed token arrives: valid again.
	c.Expiry = t0.Add(25 * time.Hour).Unix()
	f.setToken(f.issuer.sign(t, c))
	f.agent.Reload()
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
}

func TestNotYetValidTokenBecomesValid(t *testing.T) {
	c := testClaims("early")
	c.IssuedAt = t0.Unix()
	c.NotBefore = t0.Add(time.Hour).Unix()
	f := newFixture(t, c)
	f.get("/v1/features/backup").expect(t, http.StatusForbidden, "NOT_YET_VALID")
	f.clock.Add(time.Hour)
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
}

// The request-time lifetime check must agree with license.Verify to the
// nanosecond, or every request would verify the signature again.
func TestLifetimeWindowAgreesWithVerify(t *testing.T) {
	is := newIssuer(t)
	c := testClaims("w")
	c.NotBefore = t0.Unix()
	c.Expiry = t0.Add(time.Hour).Unix()
	tok := string(is.sign(t, c))
	ks, err := license.ParseJWKS(is.jwks(t))
	must(t, err)
	cfg := Config{Leeway: time.Minute}
	s := newSnapshot(inputs{}, tok, ks, t0)
	s.verify(&cfg)
	for _, at := range []time.Time{
		t0.Add(-time.Minute - 1), t0.Add(-time.Minute), t0.Add(-time.Minute + 1),
		t0.Add(time.Hour + time.Minute - 1), t0.Add(time.Hour + time.Minute), t0.Add(time.Hour + time.Minute + 1),
	} {
		_, verr := license.Verify(tok, ks, at, license.WithLeeway(time.Minute))
		if got, want := s.lifetimeOK(at.UnixNano()), verr == nil; got != want {
			t.Errorf("at %s: lifetimeOK %v, Verify %v", at.Format(time.RFC3339Nano), got, verr)
		}
	}
}

func TestMissingTokenAtStartIsServedUntilItAppears(t *testing.T) {
	f := newFixture(t, nil)
	f.watch()
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, "MALFORMED")
	if !strings.Contains(r.message(), "no license mounted yet") {
		t.Fatalf("message %q", r.message())
	}
	f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, "MALFORMED")
	f.get(pathHealthz)

	f.setToken(f.issuer.sign(t, testClaims("late")))
	f.waitUntil("ready once the token is mounted", func() bool { return f.get(pathReadyz).status == http.StatusOK })
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
}

func TestChangeBeforeTheWatchStartsIsNotMissed(t *testing.T) {
	f := newFixture(t, testClaims("before-watch"))
	// kubelet swaps the Secret after New loaded it but before Watch has its
	// inotify watches: no event will ever report this change.
	f.setToken(f.issuer.sign(t, testClaims("swapped-early")))
	f.watch()
	f.waitUntil("the token swapped before the watch is served", func() bool { return f.serial() == "swapped-early" })
}

func TestReadyAlways(t *testing.T) {
	f := newFixture(t, nil, func(_ *fixture, c *Config) { c.ReadyAlways = true })
	r := f.get(pathReadyz).expect(t, http.StatusOK, "MALFORMED")
	if r.body["ready"] != true || r.body["valid"] != false {
		t.Fatalf("readyz %s", r.raw)
	}
}

func TestProductAndIssuerPinning(t *testing.T) {
	f := newFixture(t, testClaims("s"), func(_ *fixture, c *Config) { c.Product = "other-product" })
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, "MALFORMED")
	if !strings.Contains(r.message(), "other-product") {
		t.Fatalf("message %q", r.message())
	}
	f = newFixture(t, testClaims("s"), func(_ *fixture, c *Config) {
		c.Product, c.Issuer = "acme-db", license.IssuerPrefix+"licensing/acme-db"
	})
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
}

func TestBundleFile(t *testing.T) {
	is := newIssuer(t)
	bundle, err := license.MarshalBundle(string(is.sign(t, testClaims("bundled"))), is.jwks(t))
	must(t, err)
	dir := t.TempDir()
	path := filepath.Join(dir, "acme-db.license.json")
	must(t, os.WriteFile(path, bundle, 0o644))
	anchor := filepath.Join(dir, "jwks.json")
	must(t, os.WriteFile(anchor, is.jwks(t), 0o644))
	clock := newClock(t0)
	base := Config{BundleFile: path, Listen: DefaultListen, Leeway: time.Minute, RecheckInterval: time.Hour, Now: clock.Now}

	pinned := base
	pinned.JWKSFile = anchor
	a, err := New(pinned)
	must(t, err)
	if _, v := a.evaluate(clock.Now()); !v.valid {
		t.Fatalf("pinned: %s %s", v.code, v.message)
	}

	trusting := base
	trusting.TrustBundledKeys = true
	a, err = New(trusting)
	must(t, err)
	if _, v := a.evaluate(clock.Now()); !v.valid {
		t.Fatalf("bundled keys: %s %s", v.code, v.message)
	}

	// A bundle re-made by someone else with their own keys is refused by the pinned agent.
	attacker := newIssuer(t)
	forged, err := license.MarshalBundle(string(attacker.sign(t, testClaims("forged"))), attacker.jwks(t))
	must(t, err)
	must(t, os.WriteFile(path, forged, 0o644))
	a, err = New(pinned)
	must(t, err)
	if _, v := a.evaluate(clock.Now()); v.valid || v.code != license.CodeUnknownKey {
		t.Fatalf("forged bundle: %v %s %s", v.valid, v.code, v.message)
	}

	must(t, os.WriteFile(path, []byte("{}"), 0o644))
	a.Reload()
	if _, v := a.evaluate(clock.Now()); v.code != license.CodeMalformed || !strings.Contains(v.message, path) {
		t.Fatalf("not a bundle: %s %s", v.code, v.message)
	}
}

func TestNewRefusesBadMounts(t *testing.T) {
	is := newIssuer(t)
	anchor := newVolume(t, map[string][]byte{"jwks.json": is.jwks(t)})
	lic := newVolume(t, nil)
	base := Config{LicenseDir: lic.dir, JWKSFile: anchor.path("jwks.json"), Listen: DefaultListen, Leeway: time.Minute, RecheckInterval: time.Hour}
	for name, tc := range map[string]struct {
		mutate func(*Config)
		want   []string
	}{
		"license dir missing": {func(c *Config) { c.LicenseDir = filepath.Join(lic.dir, "nope") }, []string{"--license-dir", "does not exist", "mount the license Secret"}},
		"jwks missing":        {func(c *Config) { c.JWKSFile = anchor.path("other.json") }, []string{"--jwks", "other.json", "license-keys"}},
		"jwks not a key set":  {func(c *Config) { c.JWKSFile = anchor.path("..data") }, []string{"--jwks"}},
		"no trust anchor":     {func(c *Config) { c.JWKSFile = "" }, []string{"--jwks", "--trust-bundled-keys"}},
		"bundle dir missing":  {func(c *Config) { c.BundleFile = "/nonexistent/dir/bundle.json" }, []string{"--bundle", "does not exist"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := base
			tc.mutate(&cfg)
			_, err := New(cfg)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// revokedSecret is the license Secret's data once the operator has removed the
// token: license.json says why, jwks.json stays.
func revokedSecret(t testing.TB, is issuer, reason string, at time.Time) map[string][]byte {
	t.Helper()
	content, err := issuance.RevokedContent(issuance.Desired{
		Claims: *testClaims("gone"), Revoke: true, RevokeReason: reason, Now: at,
	}, is.jwks(t))
	must(t, err)
	return content.Data
}

func TestRevokedLicense(t *testing.T) {
	for name, trustBundled := range map[string]bool{"pinned anchor": false, "bundled keys": true} {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, testClaims("s"), func(f *fixture, c *Config) {
				if trustBundled {
					c.JWKSFile, c.TrustBundledKeys = "", true
				}
			})
			f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")

			reason := "License main expired on 2026-11-30 and onExpiry is Revoke"
			f.license.update(revokedSecret(t, f.issuer, reason, t0.Add(-time.Hour)))
			if !f.agent.Reload() {
				t.Fatal("Reload did not publish the revocation")
			}
			code := string(license.CodeRevoked)
			r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, code)
			for _, part := range []string{reason, "2026-12-01T11:00:00Z", `licensee "globex"`} {
				if !strings.Contains(r.message(), part) {
					t.Errorf("message %q does not mention %q", r.message(), part)
				}
			}
			f.get("/v1/quotas/nodes").expect(t, http.StatusForbidden, code)
			f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, code)
			if lic := f.get(pathLicense).expect(t, http.StatusOK, code); lic.body["valid"] != false || lic.body["serial"] != nil {
				t.Errorf("revoked license reported as %s", lic.raw)
			}
			if got := f.metric(`license_agent_verification_failures_total{code="REVOKED"}`); got != "1" {
				t.Errorf("failures{REVOKED} = %q, want 1", got)
			}

			// A new token ends the revocation.
			f.setToken(f.issuer.sign(t, claimsAt("renewed", t0.Add(time.Minute))))
			f.agent.Reload()
			f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
		})
	}
}

func TestLicenseJSONWithoutTokenIsNotARevocation(t *testing.T) {
	f := newFixture(t, nil)
	f.license.update(map[string][]byte{"license.json": []byte(`{"iss":"x","sub":"globex"}`)})
	f.agent.Reload()
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, string(license.CodeMalformed))
	for _, part := range []string{f.license.path(licenseTokenFile) + " does not exist", "license.json is not valid JSON for a revocation notice"} {
		if !strings.Contains(r.message(), part) {
			t.Errorf("message %q does not mention %q", r.message(), part)
		}
	}
}

// An older token of the same licensee put back in place of a newer one (the
// pre-suspension token, say) is refused as superseded, with REVOKED.
func TestOlderTokenIsRefusedAsSuperseded(t *testing.T) {
	f := newFixture(t, testClaims("newer"))
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")

	older := claimsAt("older", t0.Add(-time.Hour)) // issued two hours before t0
	f.setToken(f.issuer.sign(t, older))
	f.agent.Reload()
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, string(license.CodeRevoked))
	for _, part := range []string{"superseded", `serial "older"`, `serial "newer"`, "2026-12-01T10:00:00Z", "2026-12-01T11:00:00Z"} {
		if !strings.Contains(r.message(), part) {
			t.Errorf("message %q does not mention %q", r.message(), part)
		}
	}
	f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, string(license.CodeRevoked))
	if lic := f.get(pathLicense).expect(t, http.StatusOK, string(license.CodeRevoked)); lic.body["serial"] != nil {
		t.Errorf("superseded token still described: %s", lic.raw)
	}

	// The newer token, or one issued in the same second, is served again.
	sameSecond := testClaims("same-second")
	f.setToken(f.issuer.sign(t, sameSecond))
	f.agent.Reload()
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
	if got := f.serial(); got != "same-second" {
		t.Fatalf("serial %q, want same-second", got)
	}

	// Another licensee's older token is not superseded by this one's.
	other := claimsAt("other", t0.Add(-time.Hour))
	other.Subject, other.Licensee.Name = "initech", "initech"
	f.setToken(f.issuer.sign(t, other))
	f.agent.Reload()
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
}
