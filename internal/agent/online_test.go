package agent

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// expectSource checks the source an answer says it used.
func (r response) expectSource(t testing.TB, source string) response {
	t.Helper()
	if got, _ := r.body["source"].(string); got != source {
		t.Fatalf("source %q, want %q; body %s", got, source, r.raw)
	}
	return r
}

func TestOnlineAnswersFromTheVerdict(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("online"))
	// Before the first verdict the token answers, and says so.
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID").expectSource(t, sourceOffline)
	f.run()
	f.waitLogged("online: answering from the license API verdict")

	f.get("/v1/features/replication").expect(t, http.StatusOK, "VALID").expectSource(t, sourceOnline)
	// The token grants backup, the live verdict does not: the verdict wins.
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, "FEATURE_NOT_ENTITLED").expectSource(t, sourceOnline)
	if !strings.Contains(r.message(), "license API") {
		t.Errorf("message %q does not say the license API decided", r.message())
	}
	r = f.get("/v1/quotas/nodes").expect(t, http.StatusOK, "VALID").expectSource(t, sourceOnline)
	if r.body["limit"].(interface{ String() string }).String() != "5" {
		t.Errorf("quota from the verdict: %s", r.raw)
	}
	f.get("/v1/quotas/reports").expect(t, http.StatusNotFound, "FEATURE_NOT_ENTITLED").expectSource(t, sourceOnline)

	lic := f.get(pathLicense).expect(t, http.StatusOK, "VALID").expectSource(t, sourceOnline)
	if got := stringsOf(lic.body["features"]); !slices.Equal(got, []string{"replication"}) {
		t.Errorf("features %v, want the verdict's [replication]", got)
	}
	if lic.body["checkedAt"] == nil || lic.body["serial"] != "online" || lic.body["offlineSince"] != nil {
		t.Errorf("license answer %s", lic.raw)
	}
	main := lic.body["licenses"].([]any)[0].(map[string]any)
	if main["seats"].(interface{ String() string }).String() != "1" {
		t.Errorf("license from the verdict without its seats: %v", main)
	}
	f.get(pathReadyz).expect(t, http.StatusOK, "VALID").expectSource(t, sourceOnline)

	if got := f.metric("license_agent_online"); got != "1" {
		t.Errorf("license_agent_online %s, want 1", got)
	}
	if got := f.metric("license_agent_offline_seconds"); got != "0" {
		t.Errorf("license_agent_offline_seconds %s, want 0", got)
	}
	if got := f.metric(`license_agent_license_api_calls_total{call="validate",code="VALID"}`); got == "" || got == "0" {
		t.Errorf("validate calls %q, want some", got)
	}
	// The agent authenticates with the mounted token, and only calls validate.
	tok := string(f.issuer.sign(t, testClaims("online")))
	for _, req := range api.seen() {
		if req.method != http.MethodPost || req.path != license.PathValidate || req.token != tok || req.fingerprint != "" {
			t.Fatalf("unexpected call %+v", req)
		}
	}
}

func TestSuspensionAppliesWithTheNextVerdict(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("suspended"))
	f.run()
	f.waitLogged("online verdict", "code=VALID")

	// The hook runs in the poll loop when it logs the new verdict, before
	// it validates again: how many validations saw the suspension by then.
	var changed, seen atomic.Int64
	hook := func(line string) {
		if containsAll(line, "online verdict", "code=SUSPENDED") {
			seen.Store(int64(api.count(http.MethodPost, license.PathValidate)) - changed.Load())
		}
	}
	f.logs.hook.Store(&hook)
	api.with(func() {
		changed.Store(int64(len(api.requests)))
		api.verdict.Valid, api.verdict.Code, api.verdict.Message = false, license.CodeSuspended, "licensee globex is suspended"
		api.verdict.Licenses[0].State = license.CodeSuspended
		api.verdict.Features, api.verdict.Quotas = []string{}, map[string]int64{}
	})
	f.waitLogged("online verdict", "code=SUSPENDED")
	if n := seen.Load(); n != 1 {
		t.Errorf("the suspension was served after %d validations, want the first", n)
	}
	r := f.get("/v1/features/replication").expect(t, http.StatusForbidden, "SUSPENDED").expectSource(t, sourceOnline)
	if r.message() != "licensee globex is suspended" {
		t.Errorf("message %q, want the verdict's", r.message())
	}
	f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, "SUSPENDED")
	f.get(pathLicense).expect(t, http.StatusOK, "SUSPENDED").expectSource(t, sourceOnline)
	f.get("/v1/quotas/nodes").expect(t, http.StatusForbidden, "SUSPENDED")
	if got := f.metric("license_agent_license_valid"); got != "0" {
		t.Errorf("license_agent_license_valid %s while suspended online", got)
	}
}

func TestOfflineFallbackThenFailClosed(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("offline"))
	f.run()
	f.waitLogged("online: answering from the license API verdict")
	f.get("/v1/features/backup").expect(t, http.StatusForbidden, "FEATURE_NOT_ENTITLED")

	api.with(func() { api.down = true })
	f.waitLogged("offline: answering from the token")
	// The token answers now, and says since when the agent is offline.
	r := f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID").expectSource(t, sourceOffline)
	if r.body["offlineSince"] != "2026-12-01T12:00:00Z" || r.body["offlineReason"] == "" {
		t.Fatalf("offline answer %s", r.raw)
	}
	f.get(pathLicense).expect(t, http.StatusOK, "VALID").expectSource(t, sourceOffline)
	f.get(pathReadyz).expect(t, http.StatusOK, "VALID").expectSource(t, sourceOffline)
	if got := f.metric("license_agent_online"); got != "0" {
		t.Errorf("license_agent_online %s offline", got)
	}

	f.clock.Add(DefaultOfflineGrace - time.Second)
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID").expectSource(t, sourceOffline)
	if got := f.metric("license_agent_offline_seconds"); got != "899" {
		t.Errorf("license_agent_offline_seconds %s, want 899", got)
	}
	f.clock.Add(time.Second)
	r = f.get("/v1/features/replication").expect(t, http.StatusForbidden, "UNAVAILABLE").expectSource(t, sourceNone)
	if !strings.Contains(r.message(), "--offline-grace=15m0s") {
		t.Errorf("fail-closed message %q does not name --offline-grace", r.message())
	}
	f.get("/v1/quotas/nodes").expect(t, http.StatusForbidden, "UNAVAILABLE").expectSource(t, sourceNone)
	lic := f.get(pathLicense).expect(t, http.StatusOK, "UNAVAILABLE").expectSource(t, sourceNone)
	if lic.body["valid"] != false || len(lic.body["features"].([]any)) != 0 {
		t.Errorf("fail-closed license %s", lic.raw)
	}
	f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, "UNAVAILABLE").expectSource(t, sourceNone)
	if got := f.metric("license_agent_offline_seconds"); got != "900" {
		t.Errorf("license_agent_offline_seconds %s, want 900", got)
	}
	f.waitLogged("offline grace exceeded")

	api.with(func() { api.down = false })
	f.waitUntil("the agent is online again", func() bool {
		return f.loggedCount("online: answering from the license API verdict") == 2
	})
	f.get("/v1/features/replication").expect(t, http.StatusOK, "VALID").expectSource(t, sourceOnline)
	if !f.hasLogged("online: answering from the license API verdict", "offlineSince=2026-12-01T12:00:00Z") {
		t.Errorf("the return online does not say since when the agent was offline:\n%s", f.logs.text())
	}
}

func TestNoGraceFailsClosedAtOnce(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("no-grace"), func(_ *fixture, c *Config) { c.OfflineGrace = 0 })
	f.run()
	f.waitLogged("online: answering from the license API verdict")
	api.with(func() { api.down = true })
	f.waitLogged("offline grace exceeded")
	f.get("/v1/features/replication").expect(t, http.StatusForbidden, "UNAVAILABLE").expectSource(t, sourceNone)
	if f.hasLogged("offline: answering from the token") {
		t.Errorf("without grace the agent claims to answer from the token:\n%s", f.logs.text())
	}
}

func TestRateLimitedValidationWaitsForRetryAfter(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("rate"))
	api.with(func() { api.rateLimited, api.retryAfter = 1, "1" })
	f.run()
	f.waitLogged("license API rate limited")
	f.waitLogged("online verdict", "code=VALID")
	reqs := api.seen()
	if len(reqs) < 2 || reqs[0].code != license.CodeRateLimited {
		t.Fatalf("requests %+v", reqs)
	}
	// A lower bound only: the agent must not ask again before Retry-After.
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("validated again %s after a 429 with Retry-After: 1", gap)
	}
	if got := f.metric(`license_agent_license_api_calls_total{call="validate",code="RATE_LIMITED"}`); got != "1" {
		t.Errorf("rate-limited calls %q, want 1", got)
	}
}

func TestRefreshedTokenReachesTheAPI(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("first"))
	f.run()
	f.waitLogged("online verdict")
	next := f.issuer.sign(t, testClaims("second"))
	f.setToken(next)
	f.waitUntil("the agent authenticates with the refreshed token", func() bool {
		reqs := api.seen()
		return reqs[len(reqs)-1].token == string(next)
	})
}

func TestSeatIsHeldForThePodsLife(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("seat"), func(_ *fixture, c *Config) {
		c.Seat, c.Holder = "main", "web-0/uid-0"
	})
	r := f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, "VALID")
	if seat := r.body["seat"].(map[string]any); seat["held"] != false {
		t.Fatalf("seat held before the agent runs: %s", r.raw)
	}
	run := f.run()
	f.waitLogged("seat acquired", "holder=web-0/uid-0")
	r = f.get(pathReadyz).expect(t, http.StatusOK, "VALID")
	if seat := r.body["seat"].(map[string]any); seat["held"] != true || seat["leaseID"] == "" || seat["holder"] != "web-0/uid-0" {
		t.Fatalf("readyz %s", r.raw)
	}
	if got := f.metric("license_agent_seat_held"); got != "1" {
		t.Errorf("license_agent_seat_held %s, want 1", got)
	}

	// The lease lapsed and someone else took the seat.
	api.with(func() {
		clear(api.leases)
		api.newLease("web-1/uid-1")
	})
	f.waitLogged("seat lost", "code=SEAT_EXPIRED")
	f.waitLogged("waiting for a seat", "code=NO_SEATS_AVAILABLE")
	r = f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, "VALID")
	if seat := r.body["seat"].(map[string]any); seat["held"] != false || seat["code"] != "NO_SEATS_AVAILABLE" {
		t.Fatalf("readyz without the seat %s", r.raw)
	}
	if got := f.metric("license_agent_seat_held"); got != "0" {
		t.Errorf("license_agent_seat_held %s, want 0", got)
	}

	// The other holder leaves: the agent takes the seat again.
	api.with(func() { clear(api.leases) })
	f.waitUntil("the seat is acquired again", func() bool { return f.loggedCount("seat acquired") == 2 })
	f.get(pathReadyz).expect(t, http.StatusOK, "VALID")
	if got := api.holders(); !slices.Equal(got, []string{"web-0/uid-0"}) {
		t.Fatalf("holders %v", got)
	}

	// SIGTERM: the seat is given back before Run returns.
	if err := run.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := api.holders(); len(got) != 0 {
		t.Errorf("seats still held after the agent stopped: %v", got)
	}
	if n := api.count(http.MethodDelete, license.PathSeats+"/"); n != 1 {
		t.Errorf("%d DELETE %s/{id}, want 1", n, license.PathSeats)
	}
	if !f.hasLogged("seat released", "license=main") {
		t.Errorf("no \"seat released\" in the log:\n%s", f.logs.text())
	}
}

func TestReadyAlwaysWithoutASeat(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("ready-always"), func(_ *fixture, c *Config) {
		c.Seat, c.Holder, c.ReadyAlways = "main", "web-0/uid-0", true
	})
	api.with(func() { api.newLease("web-1/uid-1") })
	f.run()
	f.waitLogged("waiting for a seat", "code=NO_SEATS_AVAILABLE")
	r := f.get(pathReadyz).expect(t, http.StatusOK, "VALID")
	if r.body["ready"] != true || r.body["seat"].(map[string]any)["held"] != false {
		t.Fatalf("readyz %s", r.raw)
	}
}

func TestUsageTheLicenseDoesNotHaveIsAConfigError(t *testing.T) {
	for name, tc := range map[string]struct {
		seat, activate string
		change         func(*license.LicenseStatus)
		want           []string
	}{
		"seat, no seats": {seat: "main", change: func(l *license.LicenseStatus) { l.Seats = 0 },
			want: []string{"--seat=main", "has no seats", "LicenseTemplate enterprise-annual", "set spec.seats", "remove --seat"}},
		"seat, no such license": {seat: "addon",
			want: []string{"--seat=addon", `Licensee globex has no license "addon"`, "its licenses are main"}},
		"activation, no activations": {activate: "main", change: func(l *license.LicenseStatus) { l.MaxActivations = 0 },
			want: []string{"--activate=main", "takes no activations", "set spec.maxActivations", "remove --activate"}},
	} {
		t.Run(name, func(t *testing.T) {
			f, api := newOnlineFixture(t, testClaims("config"), func(_ *fixture, c *Config) {
				c.Seat, c.Holder, c.Activate = tc.seat, "web-0/uid-0", tc.activate
				if tc.activate != "" {
					c.Fingerprint = "node-a"
				}
			})
			if tc.change != nil {
				api.with(func() { tc.change(api.main()) })
			}
			ce := configError(t, f.run().wait())
			for _, w := range tc.want {
				if !strings.Contains(ce.Error(), w) {
					t.Errorf("error %q does not contain %q", ce, w)
				}
			}
			if n := api.count(http.MethodPost, license.PathSeats) + api.count(http.MethodPost, license.PathActivations); n != 0 {
				t.Errorf("%d seat or activation requests for a license that has none", n)
			}
		})
	}
}

// A license the operator cannot evaluate has no known limit: the agent waits
// rather than exit.
func TestSeatOfALicenseThatCannotBeEvaluatedIsWaitedFor(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("malformed"), func(_ *fixture, c *Config) {
		c.Seat, c.Holder = "main", "web-0/uid-0"
	})
	api.with(func() {
		l := api.main()
		l.Seats, l.State, l.Message = 0, license.CodeMalformed, "LicenseTemplate enterprise-annual does not exist"
	})
	f.run()
	f.waitLogged("waiting for a seat", "code=MALFORMED", "does not exist")
	api.with(func() { api.main().Seats, api.main().State = 1, license.CodeValid })
	f.waitLogged("seat acquired")
	f.get(pathReadyz).expect(t, http.StatusOK, "VALID")
}

func TestFingerprintIsActivatedAtStart(t *testing.T) {
	f, api := newOnlineFixture(t, testClaims("node-locked"), func(_ *fixture, c *Config) {
		c.Activate, c.Fingerprint = "main", "node-a"
	})
	api.with(func() { api.activations = []string{"node-b"} }) // the only activation is taken
	f.run()
	f.waitLogged("waiting for an activation", "code=TOO_MANY_ACTIVATIONS")
	f.waitLogged("online verdict", "code=FINGERPRINT_MISMATCH")
	r := f.get(pathReadyz).expect(t, http.StatusServiceUnavailable, "FINGERPRINT_MISMATCH")
	if act := r.body["activation"].(map[string]any); act["active"] != false || act["code"] != "TOO_MANY_ACTIVATIONS" {
		t.Fatalf("readyz %s", r.raw)
	}
	if strings.Contains(fmt.Sprint(r.body["activation"]), "node-a") {
		t.Errorf("the activation status repeats the fingerprint: %s", r.raw)
	}

	api.with(func() { api.activations = nil }) // node-b was deactivated
	f.waitLogged("fingerprint activated", "license=main")
	f.waitUntil("the agent is ready", func() bool {
		return f.get(pathReadyz).status == http.StatusOK && f.hasLogged("online verdict", "code=VALID")
	})
	f.get("/v1/features/replication").expect(t, http.StatusOK, "VALID").expectSource(t, sourceOnline)
	if got := f.metric("license_agent_fingerprint_activated"); got != "1" {
		t.Errorf("license_agent_fingerprint_activated %s, want 1", got)
	}
	for _, req := range api.seen() {
		if req.path == license.PathValidate && req.fingerprint != "node-a" {
			t.Fatalf("validation without the fingerprint: %+v", req)
		}
	}
	if got := api.count(http.MethodPost, license.PathActivations); got < 2 {
		t.Errorf("%d activation requests, want a retry after TOO_MANY_ACTIVATIONS", got)
	}
}
