package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// twoLicenses holds "main" (valid now) and "addon" (expired a day ago, no grace),
// which alone grants the feature "analytics" and the quota "reports".
func twoLicenses() *license.Claims {
	c := testClaims("two")
	c.Licenses = append(c.Licenses, license.Grant{
		Name: "addon", Template: "analytics-trial", Type: "Trial",
		StartsAt: t0.Add(-30 * day).Unix(), ValidUntil: t0.Add(-day).Unix(),
		Features: []string{"analytics", "backup"},
		Quotas:   map[string]int64{"reports": 5, "nodes": 3},
	})
	return c
}

func TestFeatureEndpoint(t *testing.T) {
	f := newFixture(t, twoLicenses())

	r := f.get("/v1/features/replication").expect(t, http.StatusOK, "VALID")
	if r.raw != `{"feature":"replication","entitled":true,"code":"VALID","source":"offline"}` {
		t.Fatalf("body %s", r.raw)
	}
	r = f.get("/v1/features/sharding").expect(t, http.StatusForbidden, "FEATURE_NOT_ENTITLED")
	if r.body["feature"] != "sharding" || r.body["entitled"] != false || !strings.Contains(r.message(), "not granted by any license") {
		t.Fatalf("body %s", r.raw)
	}
	r = f.get("/v1/features/analytics").expect(t, http.StatusForbidden, "FEATURE_NOT_ENTITLED")
	if !strings.Contains(r.message(), "addon (EXPIRED)") {
		t.Fatalf("message %q does not name the lapsed license", r.message())
	}
	// Granted by both: the valid one wins.
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")

	// Names are echoed as JSON, whatever they contain.
	r = f.get(`/v1/features/%22%3Cx%3E`).expect(t, http.StatusForbidden, "FEATURE_NOT_ENTITLED")
	if r.body["feature"] != `"<x>` {
		t.Fatalf("feature %v", r.body["feature"])
	}

	if r := f.do(http.MethodHead, "/v1/features/replication"); r.status != http.StatusOK || r.raw != "" {
		t.Fatalf("HEAD: %d %q", r.status, r.raw)
	}
}

func TestFeatureOfASuspendedLicensee(t *testing.T) {
	c := testClaims("s")
	c.Licensee.Suspended = true
	f := newFixture(t, c)
	r := f.get("/v1/features/replication").expect(t, http.StatusForbidden, "SUSPENDED")
	if !strings.Contains(r.message(), "globex") {
		t.Fatalf("message %q", r.message())
	}
}

func TestQuotaEndpoint(t *testing.T) {
	f := newFixture(t, twoLicenses())
	r := f.get("/v1/quotas/nodes").expect(t, http.StatusOK, "VALID")
	if r.raw != `{"quota":"nodes","limit":20,"code":"VALID","source":"offline"}` { // addon's 3 nodes lapsed with it
		t.Fatalf("body %s", r.raw)
	}
	f.get("/v1/quotas/reports").expect(t, http.StatusForbidden, "FEATURE_NOT_ENTITLED")
	r = f.get("/v1/quotas/cpus").expect(t, http.StatusNotFound, "FEATURE_NOT_ENTITLED")
	if !strings.Contains(r.message(), `quota "cpus"`) {
		t.Fatalf("message %q", r.message())
	}

	f.clock.Add(31 * day)
	f.get("/v1/quotas/nodes").expect(t, http.StatusOK, "IN_GRACE_PERIOD")
	f.clock.Add(7 * day)
	f.get("/v1/quotas/nodes").expect(t, http.StatusForbidden, "EXPIRED")
	f.get("/v1/quotas/cpus").expect(t, http.StatusForbidden, "EXPIRED")
}

func TestLicenseEndpoint(t *testing.T) {
	c := twoLicenses()
	c.Expiry = t0.Add(24 * time.Hour).Unix()
	f := newFixture(t, c)
	r := f.get(pathLicense).expect(t, http.StatusOK, "VALID")

	var got struct {
		Valid    bool
		Code     string
		Message  string
		Licensee struct{ Name, DisplayName, ExternalID string }
		Product  struct{ Name, DisplayName string }
		Features []string
		Quotas   map[string]int64
		Serial   string
		Licenses []struct {
			Name, Template, Type, State string
			StartsAt, ValidUntil        time.Time
			GraceUntil                  *time.Time
			Features                    []string
			Quotas                      map[string]int64
		}
		ExpiresAt, IssuedAt, TokenExpiresAt time.Time
	}
	must(t, json.Unmarshal([]byte(r.raw), &got))
	switch {
	case !got.Valid, got.Licensee.DisplayName != "Globex Corp.", got.Licensee.ExternalID != "crm-00042",
		got.Product.Name != "acme-db", got.Serial != "two",
		strings.Join(got.Features, ",") != "backup,replication", // addon's analytics lapsed
		len(got.Quotas) != 1 || got.Quotas["nodes"] != 20,
		!got.ExpiresAt.Equal(t0.Add(37 * day)), !got.TokenExpiresAt.Equal(t0.Add(24 * time.Hour)),
		!got.IssuedAt.Equal(t0.Add(-time.Hour)), !strings.HasPrefix(got.Message, "valid until 2026-12-31T12:00:00Z"):
		t.Fatalf("license %s", r.raw)
	}
	if len(got.Licenses) != 2 || got.Licenses[0].State != "VALID" || got.Licenses[1].State != "EXPIRED" ||
		got.Licenses[1].GraceUntil != nil || got.Licenses[1].Template != "analytics-trial" ||
		!got.Licenses[0].ValidUntil.Equal(t0.Add(30*day)) {
		t.Fatalf("licenses %s", r.raw)
	}
}

func TestPerpetualLicense(t *testing.T) {
	c := testClaims("forever")
	c.Licenses[0].ValidUntil, c.Licenses[0].GraceUntil = 0, 0
	f := newFixture(t, c)
	r := f.get(pathLicense).expect(t, http.StatusOK, "VALID")
	if r.body["expiresAt"] != nil || r.body["licenses"].([]any)[0].(map[string]any)["validUntil"] != nil {
		t.Fatalf("perpetual license %s", r.raw)
	}
	if got := f.metric("license_agent_license_expiry_timestamp_seconds"); got != "+Inf" {
		t.Fatalf("expiry metric %q, want +Inf", got)
	}
}

func TestErrorsAreJSON(t *testing.T) {
	f := newFixture(t, testClaims("s"))
	for _, tc := range []struct {
		method, path string
		status       int
		code         string
	}{
		{http.MethodGet, "/", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/v1/licence", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/v1/features/", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/v1/features/a/b", http.StatusNotFound, codeNotFound},
		{http.MethodGet, "/v1/quotas/", http.StatusNotFound, codeNotFound},
		{http.MethodPost, pathLicense, http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{http.MethodDelete, "/v1/features/backup", http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{http.MethodPut, "/v1/quotas/nodes", http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{http.MethodPost, pathReadyz, http.StatusMethodNotAllowed, codeMethodNotAllowed},
		{http.MethodPost, pathMetrics, http.StatusMethodNotAllowed, codeMethodNotAllowed},
	} {
		r := f.do(tc.method, tc.path).expect(t, tc.status, tc.code)
		if r.message() == "" {
			t.Errorf("%s %s: no message: %s", tc.method, tc.path, r.raw)
		}
		if tc.status == http.StatusMethodNotAllowed && r.header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s: Allow %q", tc.method, tc.path, r.header.Get("Allow"))
		}
	}
}

func TestProbeHandlerServesOnlyHealthAndMetrics(t *testing.T) {
	f := newFixture(t, testClaims("s"))
	f.server.Config.Handler = f.agent.ProbeHandler()
	f.get(pathReadyz).expect(t, http.StatusOK, "VALID")
	if r := f.get(pathHealthz); r.status != http.StatusOK || r.body["status"] != "ok" {
		t.Fatalf("healthz %d %s", r.status, r.raw)
	}
	r := f.get(pathLicense).expect(t, http.StatusNotFound, codeNotFound)
	if !strings.Contains(r.message(), "--listen") {
		t.Errorf("message %q does not point at the license API", r.message())
	}
	f.get("/v1/features/backup").expect(t, http.StatusNotFound, codeNotFound)
}

func TestMetricsAreExposed(t *testing.T) {
	c := testClaims("s")
	c.Expiry = t0.Add(time.Hour).Unix()
	f := newFixture(t, c)
	for name, want := range map[string]string{
		"license_agent_license_valid":                                 "1",
		"license_agent_license_expiry_timestamp_seconds":              promFloat(t0.Add(37 * day)),
		"license_agent_token_expiry_timestamp_seconds":                promFloat(t0.Add(time.Hour)),
		"license_agent_reloads_total":                                 "1",
		"license_agent_clock_skew_detected_total":                     "0",
		`license_agent_verification_failures_total{code="MALFORMED"}`: "0",
	} {
		if got := f.metric(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	if !strings.Contains(f.get(pathMetrics).raw, "go_goroutines") {
		t.Error("no Go runtime metrics")
	}
}

// promFloat is t in Unix seconds as the text exposition writes it.
func promFloat(t time.Time) string { return strconv.FormatFloat(float64(t.Unix()), 'g', -1, 64) }

// The agent's explanations are pkg/license's, word for word: one text per
// state, shared with the plugin.
func TestMessagesComeFromPkgLicense(t *testing.T) {
	c := twoLicenses()
	c.Licenses = append(c.Licenses, license.Grant{Name: "later", StartsAt: t0.Add(90 * day).Unix(), Features: []string{"sharding"}})
	f := newFixture(t, c)
	at := func() time.Time { return f.clock.Now() }
	state := func() string { return c.Explain(c.State(at()), at(), nil) }
	for _, step := range []struct {
		advance time.Duration
		path    string
		code    license.Code
		want    func() string
	}{
		{0, pathLicense, license.CodeValid, state},
		{0, "/v1/features/analytics", license.CodeFeatureNotEntitled, func() string { return c.ExplainFeature("analytics", at()) }},
		{0, "/v1/features/sharding", license.CodeFeatureNotEntitled, func() string { return c.ExplainFeature("sharding", at()) }},
		{0, "/v1/features/nothing", license.CodeFeatureNotEntitled, func() string { return c.ExplainFeature("nothing", at()) }},
		{0, "/v1/quotas/reports", license.CodeFeatureNotEntitled, func() string { return c.ExplainQuota("reports", at()) }},
		{0, "/v1/quotas/cpus", license.CodeFeatureNotEntitled, func() string { return c.ExplainQuota("cpus", at()) }},
		{31 * day, pathLicense, license.CodeInGracePeriod, state},
		{0, pathReadyz, license.CodeInGracePeriod, state},
		// main has ended; "later" has not started.
		{7 * day, "/v1/features/backup", license.CodeNotYetValid, state},
		{0, pathReadyz, license.CodeNotYetValid, state},
	} {
		f.clock.Add(step.advance)
		r := f.get(step.path)
		if got, want := r.message(), step.want(); r.body["code"] != string(step.code) || got != want {
			t.Errorf("%s at %s: %v %q\nwant %s with pkg/license's\n %q", step.path, at().Format(time.RFC3339), r.body["code"], got, step.code, want)
		}
	}

	ended := testClaims("ended")
	ended.Licenses[0].ValidUntil, ended.Licenses[0].GraceUntil = t0.Add(-2*day).Unix(), t0.Add(-day).Unix()
	f = newFixture(t, ended)
	if got, want := f.get("/v1/features/backup").message(), ended.Explain(license.CodeExpired, t0, nil); got != want {
		t.Errorf("expired: message %q, want %q", got, want)
	}
	suspended := testClaims("s")
	suspended.Licensee.Suspended = true
	f = newFixture(t, suspended)
	if got, want := f.get("/v1/features/backup").message(), suspended.Explain(license.CodeSuspended, t0, nil); got != want {
		t.Errorf("suspended: message %q, want %q", got, want)
	}
	early := testClaims("early")
	early.Licenses[0].StartsAt = t0.Add(day).Unix()
	f = newFixture(t, early)
	if got, want := f.get(pathReadyz).message(), early.Explain(license.CodeNotYetValid, t0, nil); got != want {
		t.Errorf("not yet valid: message %q, want %q", got, want)
	}
}

// The agent's answer for a feature is Claims.Entitled's, with Claims.FeatureState's
// code, at every instant that matters: each boundary of each license, a
// nanosecond and a second either side.
func TestFeatureDecisionAgreesWithClaimsEntitled(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 7))
	names := []string{"a", "b", "c", "d"}
	for round := range 300 {
		c := &license.Claims{Licensee: license.LicenseeInfo{Name: "globex", Suspended: rng.IntN(10) == 0}}
		base := t0.Unix()
		for i := range 1 + rng.IntN(4) {
			g := license.Grant{Name: fmt.Sprintf("l%d", i), StartsAt: base + rng.Int64N(200) - 100, Suspended: rng.IntN(6) == 0}
			if rng.IntN(4) > 0 { // else perpetual
				g.ValidUntil = g.StartsAt + 1 + rng.Int64N(100)
				if rng.IntN(2) == 0 {
					g.GraceUntil = g.ValidUntil + rng.Int64N(50)
				}
			}
			for _, n := range names {
				if rng.IntN(2) == 0 {
					g.Features = append(g.Features, n)
				}
			}
			c.Licenses = append(c.Licenses, g)
		}
		s := newSnapshot(inputs{}, "", nil, t0)
		s.precompute(c)
		var instants []time.Time
		for _, g := range c.Licenses {
			for _, sec := range []int64{g.StartsAt, g.ValidUntil, g.GraceUntil} {
				edge := time.Unix(sec, 0)
				instants = append(instants, edge.Add(-time.Second), edge.Add(-time.Nanosecond), edge, edge.Add(time.Nanosecond), edge.Add(time.Second))
			}
		}
		for _, at := range instants {
			for _, name := range names {
				w := httptest.NewRecorder()
				writeFeature(w, s, name, at, fromToken)
				var got featureResponse
				must(t, json.Unmarshal(w.Body.Bytes(), &got))
				entitled, code := c.Entitled(name, at), c.FeatureState(name, at)
				if got.Entitled != entitled || got.Code != code || (w.Code == http.StatusOK) != entitled {
					t.Fatalf("round %d, feature %q at %s: agent answers %d %+v; Claims.Entitled %t, FeatureState %s; licenses %+v",
						round, name, at.Format(time.RFC3339Nano), w.Code, got, entitled, code, c.Licenses)
				}
			}
		}
	}
}

// A web page can resolve its own name to 127.0.0.1 (DNS rebinding) and read the
// agent with the user's browser; the browser still sends that name as Host.
func TestHostHeaderIsChecked(t *testing.T) {
	f := newFixture(t, testClaims("s"), func(_ *fixture, c *Config) {
		c.AllowedHosts = []string{"acme-db-agent.shop.svc", "10.0.0.5", "fd00::5"}
	})
	withHost := func(handler http.Handler, host string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/v1/features/backup", nil)
		req.Host = host
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		return w
	}
	for _, host := range []string{
		"127.0.0.1:8089", "127.0.0.1", "127.1.2.3:8089", "localhost:8089", "LocalHost", "localhost.", "[::1]:8089", "[::1]",
		"[::ffff:127.0.0.1]:8089", "acme-db-agent.shop.svc:8089", "ACME-DB-AGENT.shop.svc", "10.0.0.5:8089", "[fd00::5]:8089",
		"", // HTTP/1.0 without Host: not a browser
	} {
		if w := withHost(f.agent.Handler(), host); w.Code != http.StatusOK {
			t.Errorf("Host %q: %d %s, want 200", host, w.Code, w.Body)
		}
	}
	for _, host := range []string{
		"evil.example", "evil.example:8089", "127.0.0.1.nip.io:8089", "localhost.evil.example", "app.localhost",
		"10.0.0.6:8089", "[fd00::6]:8089", "shop.svc", "acme-db-agent.shop.svc.evil.example",
	} {
		w := withHost(f.agent.Handler(), host)
		var body map[string]any
		must(t, json.Unmarshal(w.Body.Bytes(), &body))
		if w.Code != http.StatusMisdirectedRequest || body["code"] != codeHostNotAllowed || w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("Host %q: %d %s, want 421 %s", host, w.Code, w.Body, codeHostNotAllowed)
			continue
		}
		if msg, _ := body["message"].(string); !strings.Contains(msg, "--allowed-host") || !strings.Contains(msg, "DNS rebinding") {
			t.Errorf("Host %q: message %q does not say what to do", host, body["message"])
		}
	}
	// Probes come from kubelet and Prometheus by the pod IP: any Host.
	req := httptest.NewRequest(http.MethodGet, pathReadyz, nil)
	req.Host = "10.244.1.7:8090"
	w := httptest.NewRecorder()
	f.agent.ProbeHandler().ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		t.Errorf("probe with the pod IP as Host: %d %s", w.Code, w.Body)
	}
}

// CONNECT asks a proxy to open a tunnel; the agent answers it as any other
// method it does not serve.
func TestConnectIsMethodNotAllowed(t *testing.T) {
	f := newFixture(t, testClaims("s"))
	for name, url := range map[string]string{"api": f.server.URL, "probes": httptest.NewServer(f.agent.ProbeHandler()).URL} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		must(t, err)
		defer conn.Close()
		host := strings.TrimPrefix(url, "http://")
		_, err = fmt.Fprintf(conn, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", host, host)
		must(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodConnect})
		must(t, err)
		var body map[string]string
		must(t, json.NewDecoder(resp.Body).Decode(&body))
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed || body["code"] != codeMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s: CONNECT got %d %v (Allow %q), want 405 %s", name, resp.StatusCode, body, resp.Header.Get("Allow"), codeMethodNotAllowed)
		}
	}
}
