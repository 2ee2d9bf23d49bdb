package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/token"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// t0 is "now" at the start of most tests.
var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// testClock is a clock the test moves by hand.
type testClock struct{ ns atomic.Int64 }

func newClock(t time.Time) *testClock {
	c := &testClock{}
	c.Set(t)
	return c
}

func (c *testClock) Now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) Set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *testClock) Add(d time.Duration) { c.ns.Add(int64(d)) }

// issuer is a product's signing key, as the operator holds it.
type issuer struct {
	key *keys.SigningKey
}

func newIssuer(t testing.TB) issuer {
	t.Helper()
	k, err := keys.Generate(keys.Ed25519, t0.Add(-30*day), nil)
	if err != nil {
		t.Fatal(err)
	}
	return issuer{key: k}
}

func newP256Issuer(t testing.TB) issuer {
	t.Helper()
	k, err := keys.Generate(keys.ECDSAP256, t0.Add(-30*day), nil)
	if err != nil {
		t.Fatal(err)
	}
	return issuer{key: k}
}

// withID is the same issuer key published under another kid: an attacker's key
// that claims to be the trusted one.
func (is issuer) withID(id string) issuer {
	k := *is.key
	k.ID = id
	return issuer{key: &k}
}

func (is issuer) jwks(t testing.TB) []byte {
	t.Helper()
	data, err := keys.MarshalJWKS([]keys.PublicKey{keys.PublicKeyOf(is.key)})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (is issuer) sign(t testing.TB, c *license.Claims) []byte {
	t.Helper()
	tok, err := token.Sign(c, is.key)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(tok)
}

// testClaims is a token issued an hour before t0 holding one Subscription
// license ("main") valid from a day before t0 for 30 days, then 7 days of grace.
func testClaims(serial string) *license.Claims { return claimsAt(serial, t0) }

// claimsAt is testClaims with now in place of t0.
func claimsAt(serial string, now time.Time) *license.Claims {
	iat := now.Add(-time.Hour).Unix()
	return &license.Claims{
		Issuer:    license.IssuerPrefix + "licensing/acme-db",
		Subject:   "globex",
		Audience:  []string{"acme-db"},
		ID:        serial,
		IssuedAt:  iat,
		NotBefore: iat,
		Licensee:  license.LicenseeInfo{Name: "globex", DisplayName: "Globex Corp.", ExternalID: "crm-00042"},
		Product:   license.ProductInfo{Name: "acme-db", DisplayName: "Acme DB"},
		Licenses: []license.Grant{{
			Name: "main", Template: "enterprise-annual", Type: "Subscription",
			StartsAt:   now.Add(-day).Unix(),
			ValidUntil: now.Add(30 * day).Unix(),
			GraceUntil: now.Add(37 * day).Unix(),
			Features:   []string{"replication", "backup"},
			Quotas:     map[string]int64{"nodes": 20},
		}},
		Features: []string{"replication", "backup"},
		Quotas:   map[string]int64{"nodes": 20},
	}
}

// kubeletVolume lays out a directory exactly as kubelet's atomic writer does
// for a Secret or ConfigMap volume:
//
//	..2026_12_01_12_00_00.000000001/license.jwt   the files of one generation
//	..data -> ..2026_12_01_12_00_00.000000001     swapped with a rename
//	license.jwt -> ..data/license.jwt             what the container reads
type kubeletVolume struct {
	t          testing.TB
	dir        string
	generation int
}

func newVolume(t testing.TB, files map[string][]byte) *kubeletVolume {
	t.Helper()
	v := &kubeletVolume{t: t, dir: t.TempDir()}
	if files != nil {
		v.update(files)
	}
	return v
}

func (v *kubeletVolume) path(name string) string { return filepath.Join(v.dir, name) }

// update publishes a new generation holding exactly files.
func (v *kubeletVolume) update(files map[string][]byte) {
	v.t.Helper()
	v.generation++
	gen := fmt.Sprintf("..2026_12_01_12_00_00.%09d", v.generation)
	must(v.t, os.Mkdir(v.path(gen), 0o755))
	for name, data := range files {
		must(v.t, os.WriteFile(filepath.Join(v.path(gen), name), data, 0o644))
	}
	old, _ := os.Readlink(v.path(kubeletDataDir))
	must(v.t, os.Symlink(gen, v.path("..data_tmp")))
	must(v.t, os.Rename(v.path("..data_tmp"), v.path(kubeletDataDir)))
	// Visible links: created for new keys, removed for keys no longer present.
	entries, err := os.ReadDir(v.dir)
	must(v.t, err)
	for _, e := range entries {
		if name := e.Name(); !strings.HasPrefix(name, "..") {
			if _, keep := files[name]; !keep {
				must(v.t, os.Remove(v.path(name)))
			}
		}
	}
	for name := range files {
		if _, err := os.Lstat(v.path(name)); os.IsNotExist(err) {
			must(v.t, os.Symlink(filepath.Join(kubeletDataDir, name), v.path(name)))
		}
	}
	if old != "" {
		must(v.t, os.RemoveAll(v.path(old)))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// fixture is an agent over a kubelet license volume and a kubelet trust-anchor
// volume, on a test clock.
type fixture struct {
	t       testing.TB
	issuer  issuer
	clock   *testClock
	license *kubeletVolume
	keys    *kubeletVolume
	agent   *Agent
	server  *httptest.Server
	cfg     Config
	// logged receives a signal after each log record of the agent; see waitUntil.
	logged chan struct{}
	logs   *testLogHandler
}

type fixtureOption func(*fixture, *Config)

// newFixture starts an agent pinned to a fresh issuer's JWKS and serving the
// token signed for claims (no token at all when claims is nil).
func newFixture(t testing.TB, claims *license.Claims, opts ...fixtureOption) *fixture {
	t.Helper()
	f := &fixture{t: t, issuer: newIssuer(t), clock: newClock(t0), logged: make(chan struct{}, 1)}
	f.logs = &testLogHandler{signal: f.logged}
	files := map[string][]byte{}
	if claims != nil {
		files[licenseTokenFile] = f.issuer.sign(t, claims)
		files[bundledJWKSFile] = f.issuer.jwks(t)
	}
	f.license = newVolume(t, files)
	f.keys = newVolume(t, map[string][]byte{"jwks.json": f.issuer.jwks(t)})
	cfg := Config{
		LicenseDir:      f.license.dir,
		JWKSFile:        f.keys.path("jwks.json"),
		Listen:          DefaultListen,
		Leeway:          time.Minute,
		RecheckInterval: time.Hour, // tests that need a reload ask for it, or rely on events
		Debounce:        10 * time.Millisecond,
		Now:             f.clock.Now,
		Logger:          slog.New(f.logs),
	}
	for _, o := range opts {
		o(f, &cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.agent, f.cfg = a, cfg
	f.server = httptest.NewServer(a.Handler())
	t.Cleanup(f.server.Close)
	return f
}

// withStateDir gives the agent a --state-dir.
func withStateDir(dir string) fixtureOption {
	return func(_ *fixture, c *Config) { c.StateDir = dir }
}

// restart replaces the agent with a new one on the same configuration, as a
// container restart does, and serves it at the same address.
func (f *fixture) restart() {
	f.t.Helper()
	a, err := New(f.cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	f.agent = a
	f.server.Config.Handler = a.Handler()
}

// setToken publishes a new generation of the license Secret.
func (f *fixture) setToken(tok []byte) {
	f.t.Helper()
	f.license.update(map[string][]byte{licenseTokenFile: tok, bundledJWKSFile: f.issuer.jwks(f.t)})
}

// response is a decoded reply.
type response struct {
	status int
	header http.Header
	raw    string
	body   map[string]any
}

func (f *fixture) do(method, path string) response {
	f.t.Helper()
	req, err := http.NewRequest(method, f.server.URL+path, nil)
	must(f.t, err)
	resp, err := f.server.Client().Do(req)
	must(f.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	must(f.t, err)
	r := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	if method != http.MethodHead && (path != pathMetrics || resp.StatusCode != http.StatusOK) {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			f.t.Fatalf("%s %s: Content-Type %q, want application/json; body %s", method, path, ct, raw)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&r.body); err != nil {
			f.t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, raw)
		}
	}
	return r
}

func (f *fixture) get(path string) response { f.t.Helper(); return f.do(http.MethodGet, path) }

// expect checks the status and the code of a reply.
func (r response) expect(t testing.TB, status int, code string) response {
	t.Helper()
	if r.status != status || r.body["code"] != code {
		t.Fatalf("got %d %v, want %d %s; body %s", r.status, r.body["code"], status, code, r.raw)
	}
	return r
}

func (r response) message() string { s, _ := r.body["message"].(string); return s }

// metric is the value of the sample line starting with name (labels included)
// in the exposition, or "" when absent.
func (f *fixture) metric(name string) string {
	f.t.Helper()
	for line := range strings.SplitSeq(f.get(pathMetrics).raw, "\n") {
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return rest
		}
	}
	return ""
}

// waitUntil blocks until cond holds, checking it again after each log record
// of the agent (every snapshot the agent publishes is logged, so the test
// wakes on the agent's own events) and, for conditions that change without a
// log record (a request reaching the test's API server), every 50ms. There is
// no deadline: a hang is ended by go test's -timeout, with the goroutine dump
// pointing here.
func (f *fixture) waitUntil(what string, cond func() bool) {
	f.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for logged := true; !cond(); {
		if logged {
			f.t.Logf("waiting until %s", what)
		}
		select {
		case <-f.logged:
			logged = true
		case <-tick.C:
			logged = false
		}
	}
}

// testLogHandler keeps the agent's log messages and signals each record: a
// buffered channel of one and a non-blocking send, so a record logged between a
// check and the wait is not lost, and the agent never blocks on its logger.
type testLogHandler struct {
	signal chan struct{}
	mu     sync.Mutex
	lines  []string
	// hook, if set, sees each record in the goroutine that logs it, before
	// that goroutine goes on.
	hook atomic.Pointer[func(line string)]
}

func (h *testLogHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *testLogHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *testLogHandler) WithGroup(string) slog.Handler            { return h }

func (h *testLogHandler) Handle(_ context.Context, r slog.Record) error {
	line := r.Level.String() + " " + r.Message
	r.Attrs(func(a slog.Attr) bool { line += " " + a.String(); return true })
	h.mu.Lock()
	h.lines = append(h.lines, line)
	h.mu.Unlock()
	if hook := h.hook.Load(); hook != nil {
		(*hook)(line)
	}
	select {
	case h.signal <- struct{}{}:
	default:
	}
	return nil
}

// text is everything logged so far, one record a line.
func (h *testLogHandler) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.lines, "\n")
}

func stringsOf(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	slices.Sort(out)
	return out
}
