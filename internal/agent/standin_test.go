package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/internal/token"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// standIn stands in for the operator's license API (internal/licenseapi): the
// same endpoints, status codes, nonces and signed answers (the Product's key,
// the one the agent pins), over in-memory state the test changes. It serves
// TLS on 127.0.0.1 like the real one, and the agent trusts it through
// --license-api-ca.
type standIn struct {
	t      testing.TB
	srv    *httptest.Server
	signer *token.ResponseSigner
	// ca is the kubelet volume holding ca.crt, as the ConfigMap is mounted.
	ca *kubeletVolume
	// signal is poked after each request, so tests waiting on the agent's
	// logs also wake on its calls.
	signal chan<- struct{}

	mu sync.Mutex
	// verdict is what /v1/validate answers, nonce and time filled in.
	verdict license.Verdict
	// leases are the seats taken, by id; a holder the test invents can hold one.
	leases map[string]*license.Lease
	serial int
	// activations are the active fingerprints of license "main".
	activations []string
	// down aborts every connection: the API is unreachable.
	down bool
	// rateLimited answers the next validations 429 with Retry-After.
	rateLimited int
	retryAfter  string
	requests    []standInRequest
}

type standInRequest struct {
	method, path string
	token        string
	fingerprint  string // of a validation
	at           time.Time
	status       int
	code         license.Code
}

// heartbeatEvery is the heartbeat the stand-in asks for: the keeper's fastest,
// so a lost seat is noticed within a test's patience.
const standInHeartbeat = 50 * time.Millisecond

func newStandIn(t testing.TB, f *fixture) *standIn {
	t.Helper()
	signer, err := token.NewResponseSigner(f.issuer.key)
	must(t, err)
	api := &standIn{t: t, signer: signer, signal: f.logged, leases: map[string]*license.Lease{}}
	api.verdict = license.Verdict{
		Valid: true, Code: license.CodeValid, Message: "valid: main (until 2026-12-31T12:00:00Z)",
		Licensee: license.LicenseeInfo{Name: "globex", DisplayName: "Globex Corp.", ExternalID: "crm-00042"},
		Product:  license.ProductInfo{Name: "acme-db", DisplayName: "Acme DB"},
		Licenses: []license.LicenseStatus{{
			Name: "main", Template: "enterprise-annual", Type: "Subscription", State: license.CodeValid,
			Features: []string{"replication"}, Quotas: map[string]int64{"nodes": 5},
			Seats: 1, MaxActivations: 1,
		}},
		// Less than the token grants (replication, backup; nodes 20): an answer
		// from the token is told apart from one from the API.
		Features: []string{"replication"}, Quotas: map[string]int64{"nodes": 5},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+license.PathValidate, api.validate)
	mux.HandleFunc("POST "+license.PathSeats, api.acquire)
	mux.HandleFunc("PUT "+license.PathSeats+"/{id}", api.heartbeat)
	mux.HandleFunc("DELETE "+license.PathSeats+"/{id}", api.release)
	mux.HandleFunc("POST "+license.PathActivations, api.activate)
	api.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.serve(mux, w, r)
	}))
	api.srv.StartTLS()
	t.Cleanup(api.srv.Close)
	api.ca = newVolume(t, map[string][]byte{"ca.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.srv.Certificate().Raw})})
	return api
}

func (api *standIn) serve(mux *http.ServeMux, w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	api.mu.Lock()
	defer func() {
		api.mu.Unlock()
		select {
		case api.signal <- struct{}{}:
		default:
		}
	}()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	req := standInRequest{method: r.Method, path: r.URL.Path, token: strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), at: time.Now()}
	if r.URL.Path == license.PathValidate {
		var v license.ValidateRequest
		_ = json.Unmarshal(body, &v)
		req.fingerprint = v.Fingerprint
	}
	defer func() {
		req.status, req.code = rec.status, rec.code
		api.requests = append(api.requests, req)
	}()
	switch {
	case api.down:
		panic(http.ErrAbortHandler) // the connection drops: unreachable
	case r.URL.Path == license.PathValidate && api.rateLimited > 0:
		api.rateLimited--
		// Unsigned, as the real API answers a 429 before reading the token.
		w.Header().Set("Retry-After", api.retryAfter)
		w.Header().Set("Content-Type", "application/json")
		rec.WriteHeader(http.StatusTooManyRequests)
		rec.code = license.CodeRateLimited
		_, _ = w.Write([]byte(`{"code":"RATE_LIMITED","message":"too many requests"}`))
		return
	}
	mux.ServeHTTP(rec, r)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	code   license.Code
}

func (r *statusRecorder) WriteHeader(status int) {
	r.status = status
	r.ResponseWriter.WriteHeader(status)
}

// reply signs the body as the license API does, over the exact bytes.
func (api *standIn) reply(w http.ResponseWriter, status int, code license.Code, v any) {
	body, err := json.Marshal(v)
	must(api.t, err)
	sig, err := api.signer.SignDetached(body)
	must(api.t, err)
	w.Header().Set(license.HeaderSignature, sig)
	w.Header().Set("Content-Type", "application/json")
	if rec, ok := w.(*statusRecorder); ok {
		rec.code = code
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (api *standIn) fail(w http.ResponseWriter, r *http.Request, status int, code license.Code, format string, args ...any) {
	api.reply(w, status, code, license.Problem{Code: code, Message: fmt.Sprintf(format, args...), Nonce: r.Header.Get(license.HeaderNonce), Time: time.Now()})
}

func (api *standIn) decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		api.fail(w, r, http.StatusBadRequest, license.CodeMalformed, "%v", err)
		return false
	}
	return true
}

func (api *standIn) main() *license.LicenseStatus { return &api.verdict.Licenses[0] }

func (api *standIn) validate(w http.ResponseWriter, r *http.Request) {
	var req license.ValidateRequest
	if !api.decode(w, r, &req) {
		return
	}
	v := api.verdict
	v.Nonce, v.Time = req.Nonce, time.Now()
	if req.Fingerprint != "" && api.main().MaxActivations > 0 && !slices.Contains(api.activations, req.Fingerprint) && v.Valid {
		// The only license is node-locked: without the activation nothing counts.
		v.Valid, v.Code, v.Message = false, license.CodeFingerprintMismatch, fmt.Sprintf("fingerprint %q is not activated for a license that entitles; activate it (POST /v1/activations)", req.Fingerprint)
		v.Features, v.Quotas = []string{}, map[string]int64{}
	}
	api.reply(w, http.StatusOK, v.Code, v)
}

func (api *standIn) acquire(w http.ResponseWriter, r *http.Request) {
	var req license.SeatRequest
	if !api.decode(w, r, &req) {
		return
	}
	l := api.main()
	if req.License != l.Name {
		api.fail(w, r, http.StatusNotFound, license.CodeNotFound, "Licensee globex has no license %q", req.License)
		return
	}
	if l.Seats <= 0 {
		api.fail(w, r, http.StatusConflict, license.CodeNoSeatsAvailable, "license %s has no seats (its template sets no seats)", l.Name)
		return
	}
	for _, lease := range api.leases {
		if lease.Holder == req.Holder {
			api.reply(w, http.StatusOK, license.CodeValid, api.seatAnswer(r, lease))
			return
		}
	}
	if int32(len(api.leases)) >= l.Seats {
		api.fail(w, r, http.StatusConflict, license.CodeNoSeatsAvailable, "every seat of license %s is taken", l.Name)
		return
	}
	lease := api.newLease(req.Holder)
	api.reply(w, http.StatusCreated, license.CodeValid, api.seatAnswer(r, lease))
}

func (api *standIn) newLease(holder string) *license.Lease {
	api.serial++
	lease := &license.Lease{
		ID: fmt.Sprintf("main.0.%024x", api.serial), License: "main", Holder: holder,
		ExpiresAt: time.Now().Add(2 * time.Minute), TTL: "2m0s", HeartbeatEvery: standInHeartbeat.String(),
	}
	api.leases[lease.ID] = lease
	return lease
}

func (api *standIn) seatAnswer(r *http.Request, lease *license.Lease) license.SeatAnswer {
	cp := *lease
	return license.SeatAnswer{Code: license.CodeValid, Message: "seat acquired", Lease: &cp, Seats: api.main().Seats,
		SeatsInUse: int32(len(api.leases)), Nonce: r.Header.Get(license.HeaderNonce), Time: time.Now()}
}

func (api *standIn) heartbeat(w http.ResponseWriter, r *http.Request) {
	lease, ok := api.leases[r.PathValue("id")]
	if !ok {
		api.fail(w, r, http.StatusGone, license.CodeSeatExpired, "the lease lapsed and another holder took the seat")
		return
	}
	lease.ExpiresAt = time.Now().Add(2 * time.Minute)
	api.reply(w, http.StatusOK, license.CodeValid, api.seatAnswer(r, lease))
}

func (api *standIn) release(w http.ResponseWriter, r *http.Request) {
	lease, ok := api.leases[r.PathValue("id")]
	if !ok {
		api.fail(w, r, http.StatusNotFound, license.CodeNotFound, "no lease %q", r.PathValue("id"))
		return
	}
	delete(api.leases, lease.ID)
	api.reply(w, http.StatusOK, license.CodeValid, api.seatAnswer(r, lease))
}

func (api *standIn) activate(w http.ResponseWriter, r *http.Request) {
	var req license.ActivateRequest
	if !api.decode(w, r, &req) {
		return
	}
	l := api.main()
	ans := license.ActivationAnswer{Code: license.CodeValid, MaxActivations: l.MaxActivations, Nonce: req.Nonce, Time: time.Now()}
	switch {
	case l.MaxActivations <= 0:
		api.fail(w, r, http.StatusConflict, license.CodeTooManyActivations, "license %s takes no activations (its template sets no maxActivations)", l.Name)
	case slices.Contains(api.activations, req.Fingerprint):
		ans.Message, ans.Activations = "fingerprint already active", int32(len(api.activations))
		api.reply(w, http.StatusOK, license.CodeValid, ans)
	case int32(len(api.activations)) >= l.MaxActivations:
		api.fail(w, r, http.StatusConflict, license.CodeTooManyActivations, "all %d activations of license %s are taken", l.MaxActivations, l.Name)
	default:
		api.activations = append(api.activations, req.Fingerprint)
		ans.Message, ans.Activations = "fingerprint activated", int32(len(api.activations))
		api.reply(w, http.StatusCreated, license.CodeValid, ans)
	}
}

// with changes the stand-in's state between two requests.
func (api *standIn) with(change func()) {
	api.mu.Lock()
	defer api.mu.Unlock()
	change()
}

func (api *standIn) seen() []standInRequest {
	api.mu.Lock()
	defer api.mu.Unlock()
	return slices.Clone(api.requests)
}

// count is the number of requests of method and path prefix seen so far.
func (api *standIn) count(method, prefix string) int {
	n := 0
	for _, r := range api.seen() {
		if r.method == method && strings.HasPrefix(r.path, prefix) {
			n++
		}
	}
	return n
}

// holders are the holders of the seats taken now.
func (api *standIn) holders() []string {
	api.mu.Lock()
	defer api.mu.Unlock()
	var out []string
	for _, l := range api.leases {
		out = append(out, l.Holder)
	}
	slices.Sort(out)
	return out
}

// newOnlineFixture is an agent on the license volume of claims, in online
// mode against a stand-in license API, polling every 10ms.
func newOnlineFixture(t testing.TB, claims *license.Claims, opts ...fixtureOption) (*fixture, *standIn) {
	t.Helper()
	var api *standIn
	online := func(f *fixture, c *Config) {
		api = newStandIn(t, f)
		c.LicenseAPI = api.srv.URL
		c.LicenseAPICA = api.ca.path("ca.crt")
		c.OnlineInterval = 10 * time.Millisecond
		c.OfflineGrace = DefaultOfflineGrace
	}
	f := newFixture(t, claims, append([]fixtureOption{online}, opts...)...)
	return f, api
}

// running is the agent's Run loop in a goroutine.
type running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// run starts the agent's Run loop (servers, file watch, the online mode); the
// fixture's test server keeps answering from the same agent. It is stopped
// when the test ends.
func (f *fixture) run() *running {
	f.t.Helper()
	api, err := net.Listen("tcp", "127.0.0.1:0")
	must(f.t, err)
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		r.err = f.agent.Run(ctx, api, nil)
	}()
	f.t.Cleanup(func() { r.stop() })
	return r
}

// stop cancels Run, as SIGTERM does, and returns what it returned.
func (r *running) stop() error {
	r.cancel()
	return r.wait()
}

// wait returns what Run returned once it did.
func (r *running) wait() error {
	<-r.done
	return r.err
}

// hasLogged reports whether the agent logged a record containing all of parts.
func (f *fixture) hasLogged(parts ...string) bool {
	for line := range strings.SplitSeq(f.logs.text(), "\n") {
		if containsAll(line, parts...) {
			return true
		}
	}
	return false
}

// loggedCount is the number of records containing all of parts.
func (f *fixture) loggedCount(parts ...string) int {
	n := 0
	for line := range strings.SplitSeq(f.logs.text(), "\n") {
		if containsAll(line, parts...) {
			n++
		}
	}
	return n
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func (f *fixture) waitLogged(parts ...string) {
	f.t.Helper()
	f.waitUntil("the agent logs "+strings.Join(parts, " … "), func() bool { return f.hasLogged(parts...) })
}

// configError is the *ConfigError in err, or fails the test.
func configError(t testing.TB, err error) *ConfigError {
	t.Helper()
	ce, ok := errors.AsType[*ConfigError](err)
	if !ok {
		t.Fatalf("Run returned %v, want a *ConfigError", err)
	}
	return ce
}
