package license

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "test-license-token"

// fakeAPI stands in for the license API (internal/licenseapi): the same
// endpoints, status codes, nonces and detached signatures, over in-memory state.
type fakeAPI struct {
	t     testing.TB
	mux   *http.ServeMux
	token string

	mu             sync.Mutex
	key            signingKey  // signs every authenticated answer
	signOpts       signOptions // shapes the signature header
	now            func() time.Time
	maxActivations int32
	activations    []Activation
	seats          int32
	ttl            time.Duration
	leases         map[string]*Lease
	leaseSerial    int
	requests       []fakeRequest // every request, in order
	// fault, if set, may rewrite an answer before it is written.
	fault func(r *http.Request, a *fakeAnswer)
}

type fakeRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

type fakeAnswer struct {
	status int
	header http.Header
	body   []byte
}

func newFakeAPI(t testing.TB, key signingKey) *fakeAPI {
	f := &fakeAPI{
		t: t, mux: http.NewServeMux(), token: testToken, key: key, now: time.Now,
		maxActivations: 3, seats: 2, ttl: 2 * time.Minute, leases: map[string]*Lease{},
	}
	f.mux.HandleFunc("POST "+PathValidate, f.validate)
	f.mux.HandleFunc("POST "+PathActivations, f.activate)
	f.mux.HandleFunc("GET "+PathActivations, f.listActivations)
	f.mux.HandleFunc("DELETE "+PathActivations+"/{fingerprint}", f.deactivate)
	f.mux.HandleFunc("POST "+PathSeats, f.acquire)
	f.mux.HandleFunc("PUT "+PathSeats+"/{id}", f.heartbeat)
	f.mux.HandleFunc("DELETE "+PathSeats+"/{id}", f.release)
	return f
}

// serveTLS starts the fake on a real TLS listener (127.0.0.1) and returns a
// Client that pins the server's certificate and the fake's key.
func (f *fakeAPI) serveTLS(t testing.TB, opts ...ClientOption) (*httptest.Server, *Client) {
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	c, err := NewClient(srv.URL, f.token, keySetOf(t, f.key), append([]ClientOption{WithRootCAs(pool)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.requests = append(f.requests, fakeRequest{method: r.Method, path: r.URL.EscapedPath(), header: r.Header.Clone(), body: body})
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		// The real API cannot sign this: the token names no Product it trusts.
		f.write(w, r, f.answer(r, http.StatusUnauthorized, f.problem(r, CodeSignatureInvalid, "token signature does not verify"), false))
		return
	}
	f.mux.ServeHTTP(w, r)
}

func (f *fakeAPI) problem(r *http.Request, code Code, msg string) Problem {
	return Problem{Code: code, Message: msg, Nonce: r.Header.Get(HeaderNonce), Time: f.now()}
}

// answer encodes v and, if signed, signs it as the API does.
func (f *fakeAPI) answer(r *http.Request, status int, v any, signed bool) *fakeAnswer {
	body, err := json.Marshal(v)
	if err != nil {
		f.t.Error(err)
	}
	a := &fakeAnswer{status: status, header: http.Header{"Content-Type": {"application/json"}}, body: body}
	if signed {
		a.header.Set(HeaderSignature, signAnswer(f.t, f.key, body, f.signOpts))
	}
	return a
}

func (f *fakeAPI) write(w http.ResponseWriter, r *http.Request, a *fakeAnswer) {
	if f.fault != nil {
		f.fault(r, a)
	}
	for k, v := range a.header {
		w.Header()[k] = v
	}
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

func (f *fakeAPI) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	f.write(w, r, f.answer(r, status, v, true))
}

func (f *fakeAPI) fail(w http.ResponseWriter, r *http.Request, status int, code Code, msg string) {
	f.reply(w, r, status, f.problem(r, code, msg))
}

// decode reads a request body strictly, as the real API does, and checks that
// its nonce is the header's.
func (f *fakeAPI) decode(w http.ResponseWriter, r *http.Request, v any, nonce *string) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		f.fail(w, r, http.StatusBadRequest, CodeMalformed, err.Error())
		return false
	}
	if *nonce != r.Header.Get(HeaderNonce) {
		f.reply(w, r, http.StatusBadRequest, Problem{Code: CodeMalformed, Message: "body nonce differs from the header's", Field: "nonce", Nonce: r.Header.Get(HeaderNonce), Time: f.now()})
		return false
	}
	return true
}

func (f *fakeAPI) validate(w http.ResponseWriter, r *http.Request) {
	var req ValidateRequest
	if !f.decode(w, r, &req, &req.Nonce) {
		return
	}
	v := Verdict{
		Valid: true, Code: CodeValid, Message: "entitled",
		Licensee: LicenseeInfo{Name: "globex"}, Product: ProductInfo{Name: "acme-db"},
		Licenses: []LicenseStatus{{Name: "main", State: CodeValid, Features: []string{"backup"}, Seats: f.seats, SeatsInUse: int32(len(f.leases))}},
		Features: []string{"backup"}, Quotas: map[string]int64{"nodes": 20},
		Nonce: req.Nonce, Time: f.now(),
	}
	if req.Feature != "" && req.Feature != "backup" {
		v.Valid, v.Code, v.Message = false, CodeFeatureNotEntitled, "feature "+req.Feature+" is not granted"
	}
	f.reply(w, r, http.StatusOK, v)
}

func (f *fakeAPI) activate(w http.ResponseWriter, r *http.Request) {
	var req ActivateRequest
	if !f.decode(w, r, &req, &req.Nonce) {
		return
	}
	ans := ActivationAnswer{Code: CodeValid, MaxActivations: f.maxActivations, Nonce: req.Nonce, Time: f.now()}
	if i := slices.IndexFunc(f.activations, func(a Activation) bool { return a.Fingerprint == req.Fingerprint }); i >= 0 {
		ans.Message, ans.Activation, ans.Activations = "already active", &f.activations[i], int32(len(f.activations))
		f.reply(w, r, http.StatusOK, ans)
		return
	}
	if int32(len(f.activations)) >= f.maxActivations {
		f.fail(w, r, http.StatusConflict, CodeTooManyActivations, "all activations are taken")
		return
	}
	f.activations = append(f.activations, Activation{License: req.License, Fingerprint: req.Fingerprint, Name: req.Name, Metadata: req.Metadata, ActivatedAt: f.now()})
	ans.Message, ans.Activation, ans.Activations = "activated", &f.activations[len(f.activations)-1], int32(len(f.activations))
	f.reply(w, r, http.StatusCreated, ans)
}

func (f *fakeAPI) listActivations(w http.ResponseWriter, r *http.Request) {
	f.reply(w, r, http.StatusOK, ActivationList{Code: CodeValid, Activations: f.activations, Nonce: r.Header.Get(HeaderNonce), Time: f.now()})
}

func (f *fakeAPI) deactivate(w http.ResponseWriter, r *http.Request) {
	fp, lic := r.PathValue("fingerprint"), r.URL.Query().Get("license")
	i := slices.IndexFunc(f.activations, func(a Activation) bool { return a.Fingerprint == fp && a.License == lic })
	if i < 0 {
		f.fail(w, r, http.StatusNotFound, CodeNotFound, fmt.Sprintf("fingerprint %q is not activated for license %q", fp, lic))
		return
	}
	gone := f.activations[i]
	f.activations = slices.Delete(f.activations, i, i+1)
	f.reply(w, r, http.StatusOK, ActivationAnswer{Code: CodeValid, Message: "deactivated", Activation: &gone, Activations: int32(len(f.activations)), MaxActivations: f.maxActivations, Nonce: r.Header.Get(HeaderNonce), Time: f.now()})
}

// lapse frees the seats whose lease expired, as the real API does on demand.
func (f *fakeAPI) lapse(now time.Time) {
	for id, l := range f.leases {
		if !now.Before(l.ExpiresAt) {
			delete(f.leases, id)
		}
	}
}

func (f *fakeAPI) seatAnswer(r *http.Request, msg string, l *Lease) SeatAnswer {
	var lease *Lease
	if l != nil {
		cp := *l
		lease = &cp
	}
	return SeatAnswer{Code: CodeValid, Message: msg, Lease: lease, Seats: f.seats, SeatsInUse: int32(len(f.leases)), Nonce: r.Header.Get(HeaderNonce), Time: f.now()}
}

func (f *fakeAPI) acquire(w http.ResponseWriter, r *http.Request) {
	var req SeatRequest
	if !f.decode(w, r, &req, &req.Nonce) {
		return
	}
	if req.Holder == "" {
		f.reply(w, r, http.StatusBadRequest, Problem{Code: CodeMalformed, Message: "holder is required", Field: "holder", Nonce: req.Nonce, Time: f.now()})
		return
	}
	now := f.now()
	f.lapse(now)
	for _, l := range f.leases {
		if l.Holder == req.Holder {
			f.reply(w, r, http.StatusOK, f.seatAnswer(r, "already held", l))
			return
		}
	}
	if int32(len(f.leases)) >= f.seats {
		next := time.Duration(math.MaxInt64)
		for _, l := range f.leases {
			next = min(next, l.ExpiresAt.Sub(now))
		}
		a := f.answer(r, http.StatusConflict, f.problem(r, CodeNoSeatsAvailable, "every seat is taken"), true)
		if len(f.leases) > 0 { // else no lease will lapse
			a.header.Set("Retry-After", fmt.Sprint(int(math.Ceil(next.Seconds()))))
		}
		f.write(w, r, a)
		return
	}
	f.leaseSerial++
	// Ids with a slash and a space check that the client escapes them.
	l := &Lease{
		ID: fmt.Sprintf("%s/%d x", req.License, f.leaseSerial), License: req.License, Holder: req.Holder,
		ExpiresAt: now.Add(f.ttl), TTL: f.ttl.String(), HeartbeatEvery: (f.ttl / 3).String(),
	}
	f.leases[l.ID] = l
	f.reply(w, r, http.StatusCreated, f.seatAnswer(r, "acquired", l))
}

func (f *fakeAPI) heartbeat(w http.ResponseWriter, r *http.Request) {
	now := f.now()
	l, ok := f.leases[r.PathValue("id")]
	if !ok || !now.Before(l.ExpiresAt) {
		delete(f.leases, r.PathValue("id"))
		f.fail(w, r, http.StatusGone, CodeSeatExpired, "the lease lapsed and the seat was taken")
		return
	}
	l.ExpiresAt = now.Add(f.ttl)
	f.reply(w, r, http.StatusOK, f.seatAnswer(r, "renewed", l))
}

func (f *fakeAPI) release(w http.ResponseWriter, r *http.Request) {
	l, ok := f.leases[r.PathValue("id")]
	if !ok {
		f.fail(w, r, http.StatusNotFound, CodeNotFound, "no such lease")
		return
	}
	delete(f.leases, l.ID)
	f.reply(w, r, http.StatusOK, f.seatAnswer(r, "released", l))
}

// expire makes a lease lapse at once (its holder missed heartbeats).
func (f *fakeAPI) expire(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.leases, id)
}

func (f *fakeAPI) setFault(fault func(r *http.Request, a *fakeAnswer)) {
	f.with(func() { f.fault = fault })
}

// with changes the fake's state while no request is being answered.
func (f *fakeAPI) with(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

func (f *fakeAPI) seen() []fakeRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.requests)
}

func (f *fakeAPI) leaseCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.leases)
}

func TestClientEndpoints(t *testing.T) {
	f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
	_, c := f.serveTLS(t)
	ctx := t.Context()

	v, err := c.Validate(ctx, ValidateRequest{Feature: "backup"})
	if err != nil {
		t.Fatal(err)
	}
	if !v.Valid || v.Code != CodeValid || v.Licensee.Name != "globex" || v.Quotas["nodes"] != 20 || len(v.Licenses) != 1 {
		t.Errorf("Validate = %+v", v)
	}
	// A verdict that does not entitle is an answer, not an error.
	if v, err := c.Validate(ctx, ValidateRequest{Feature: "replication"}); err != nil || v.Valid || v.Code != CodeFeatureNotEntitled {
		t.Errorf("Validate(replication) = %+v, %v; want a FEATURE_NOT_ENTITLED verdict", v, err)
	}

	act := ActivateRequest{License: "main", Fingerprint: "fp/1 ?#", Name: "node-a", Metadata: map[string]string{"zone": "a"}}
	a, err := c.Activate(ctx, act)
	if err != nil {
		t.Fatal(err)
	}
	if a.Activation == nil || a.Activation.Fingerprint != act.Fingerprint || a.Activations != 1 || a.MaxActivations != 3 {
		t.Errorf("Activate = %+v", a)
	}
	if a, err := c.Activate(ctx, act); err != nil || a.Message != "already active" || a.Activations != 1 {
		t.Errorf("Activate again = %+v, %v; want the same activation (200)", a, err)
	}
	l, err := c.ListActivations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Activations) != 1 || l.Activations[0].Metadata["zone"] != "a" {
		t.Errorf("ListActivations = %+v", l)
	}
	if a, err := c.Deactivate(ctx, "main", act.Fingerprint); err != nil || a.Activations != 0 || a.Activation.Fingerprint != act.Fingerprint {
		t.Errorf("Deactivate = %+v, %v", a, err)
	}

	s, err := c.AcquireSeat(ctx, SeatRequest{License: "main", Holder: "pod-a"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Lease.Holder != "pod-a" || s.SeatsInUse != 1 || s.Lease.HeartbeatEvery != "40s" || !s.Lease.ExpiresAt.After(s.Time) {
		t.Errorf("AcquireSeat = %+v, lease %+v", s, s.Lease)
	}
	h, err := c.Heartbeat(ctx, s.Lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	if h.Lease.ID != s.Lease.ID || h.Lease.ExpiresAt.Before(s.Lease.ExpiresAt) {
		t.Errorf("Heartbeat = lease %+v, want %q renewed past %s", h.Lease, s.Lease.ID, s.Lease.ExpiresAt)
	}
	if r, err := c.ReleaseSeat(ctx, s.Lease.ID); err != nil || r.SeatsInUse != 0 {
		t.Errorf("ReleaseSeat = %+v, %v", r, err)
	}
	if n := f.leaseCount(); n != 0 {
		t.Errorf("%d leases left after release", n)
	}
}

func TestClientRequests(t *testing.T) {
	f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
	_, c := f.serveTLS(t)
	ctx := t.Context()

	if _, err := c.Validate(ctx, ValidateRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ListActivations(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Deactivate(ctx, "main & co", "fp/1 ?#"); CodeOf(err) != CodeNotFound {
		t.Fatal(err)
	}
	if _, err := c.Heartbeat(ctx, "a/b c"); CodeOf(err) != CodeSeatExpired {
		t.Fatal(err)
	}
	reqs := f.seen()
	if len(reqs) != 4 {
		t.Fatalf("%d requests, want 4", len(reqs))
	}
	nonces := map[string]bool{}
	for i, r := range reqs {
		if a := r.header.Get("Authorization"); a != "Bearer "+testToken {
			t.Errorf("request %d: Authorization = %q", i, a)
		}
		n := r.header.Get(HeaderNonce)
		if len(n) != 22 || len(n) > MaxNonceLength || strings.ContainsAny(n, "+/=") {
			t.Errorf("request %d: nonce %q is not 128 bits in unpadded base64url", i, n)
		}
		nonces[n] = true
	}
	if len(nonces) != len(reqs) {
		t.Errorf("nonces repeat: %v", nonces)
	}
	var body ValidateRequest
	if err := json.Unmarshal(reqs[0].body, &body); err != nil || body.Nonce != reqs[0].header.Get(HeaderNonce) {
		t.Errorf("validate body %s: nonce %q, want the header's (%v)", reqs[0].body, body.Nonce, err)
	}
	if len(reqs[1].body) != 0 {
		t.Errorf("GET sent a body: %q", reqs[1].body)
	}
	if p := reqs[2].path; p != PathActivations+"/fp%2F1%20%3F%23" {
		t.Errorf("deactivate path = %q, want the fingerprint escaped as one segment", p)
	}
	if p := reqs[3].path; p != PathSeats+"/a%2Fb%20c" {
		t.Errorf("heartbeat path = %q, want the lease id escaped as one segment", p)
	}

	// A refreshed token is used from the next request on.
	c.SetToken("refreshed-token")
	if _, err := c.ListActivations(ctx); CodeOf(err) != CodeSignatureInvalid {
		t.Fatalf("with a token the API does not know: %v, want a 401", err)
	}
	f.with(func() { f.token = "refreshed-token" })
	if _, err := c.ListActivations(ctx); err != nil {
		t.Fatal(err)
	}

	// After a key rotation, answers verify once the new JWKS is pinned.
	rotated := newEd25519Key(t, "k-next")
	f.with(func() { f.key = rotated })
	if _, err := c.ListActivations(ctx); CodeOf(err) != CodeUnknownKey {
		t.Fatalf("answer signed with a key not pinned yet: %v, want UNKNOWN_KEY", err)
	}
	c.SetKeys(keySetOf(t, rotated))
	if _, err := c.ListActivations(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestClientFailures(t *testing.T) {
	type setup func(t *testing.T, f *fakeAPI, c *Client)
	unsigned := func(status int, header http.Header, body string) setup {
		return func(t *testing.T, f *fakeAPI, _ *Client) {
			f.setFault(func(_ *http.Request, a *fakeAnswer) {
				a.status, a.header, a.body = status, header, []byte(body)
			})
		}
	}
	tests := []struct {
		name   string
		setup  setup
		call   func(ctx context.Context, c *Client, f *fakeAPI) error
		status int
		code   Code
		field  string
		retry  time.Duration
		signed bool
		msg    string
	}{{
		name: "too many activations",
		setup: func(t *testing.T, f *fakeAPI, c *Client) {
			f.with(func() { f.maxActivations = 1 })
			if _, err := c.Activate(t.Context(), ActivateRequest{License: "main", Fingerprint: "fp-1"}); err != nil {
				t.Fatal(err)
			}
		},
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.Activate(ctx, ActivateRequest{License: "main", Fingerprint: "fp-2"})
			return err
		},
		status: http.StatusConflict, code: CodeTooManyActivations, signed: true,
	}, {
		name: "deactivate an unknown fingerprint",
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.Deactivate(ctx, "main", "fp-9")
			return err
		},
		status: http.StatusNotFound, code: CodeNotFound, signed: true, msg: `"fp-9"`,
	}, {
		name: "no seats available",
		setup: func(t *testing.T, f *fakeAPI, c *Client) {
			f.with(func() { f.seats, f.ttl = 1, 90*time.Second })
			if _, err := c.AcquireSeat(t.Context(), SeatRequest{License: "main", Holder: "pod-a"}); err != nil {
				t.Fatal(err)
			}
		},
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.AcquireSeat(ctx, SeatRequest{License: "main", Holder: "pod-b"})
			return err
		},
		status: http.StatusConflict, code: CodeNoSeatsAvailable, signed: true, retry: 90 * time.Second,
	}, {
		name: "heartbeat of a lapsed lease",
		call: func(ctx context.Context, c *Client, f *fakeAPI) error {
			s, err := c.AcquireSeat(ctx, SeatRequest{License: "main", Holder: "pod-a"})
			if err != nil {
				return fmt.Errorf("acquire: %w", err)
			}
			f.expire(s.Lease.ID)
			_, err = c.Heartbeat(ctx, s.Lease.ID)
			return err
		},
		status: http.StatusGone, code: CodeSeatExpired, signed: true,
	}, {
		name: "release an unknown lease",
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.ReleaseSeat(ctx, "nope")
			return err
		},
		status: http.StatusNotFound, code: CodeNotFound, signed: true,
	}, {
		name: "malformed request names the field",
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.AcquireSeat(ctx, SeatRequest{License: "main"})
			return err
		},
		status: http.StatusBadRequest, code: CodeMalformed, field: "holder", signed: true, msg: `field "holder"`,
	}, {
		name: "suspended licensee (signed 403)",
		setup: func(t *testing.T, f *fakeAPI, _ *Client) {
			f.setFault(func(r *http.Request, a *fakeAnswer) {
				*a = *f.answer(r, http.StatusForbidden, f.problem(r, CodeSuspended, "licensee globex is suspended"), true)
			})
		},
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.AcquireSeat(ctx, SeatRequest{License: "main", Holder: "pod-a"})
			return err
		},
		status: http.StatusForbidden, code: CodeSuspended, signed: true,
	}, {
		name:  "token refused (unsigned 401)",
		setup: func(t *testing.T, f *fakeAPI, _ *Client) { f.with(func() { f.token = "another" }) },
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.Validate(ctx, ValidateRequest{})
			return err
		},
		status: http.StatusUnauthorized, code: CodeSignatureInvalid, msg: "unsigned answer",
	}, {
		name:  "rate limited (unsigned 429)",
		setup: unsigned(http.StatusTooManyRequests, http.Header{"Retry-After": {"7"}}, `{"code":"RATE_LIMITED","message":"slow down"}`),
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.Validate(ctx, ValidateRequest{})
			return err
		},
		status: http.StatusTooManyRequests, code: CodeRateLimited, retry: 7 * time.Second, msg: "retry after 7s",
	}, {
		name:  "rate limited without a body",
		setup: unsigned(http.StatusTooManyRequests, http.Header{"Retry-After": {"soon"}}, ``),
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.Validate(ctx, ValidateRequest{})
			return err
		},
		status: http.StatusTooManyRequests, code: CodeRateLimited, msg: "Too Many Requests",
	}, {
		name:  "unsigned 401 cannot claim a verdict code",
		setup: unsigned(http.StatusUnauthorized, nil, `{"code":"REVOKED","message":"gone"}`),
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.Validate(ctx, ValidateRequest{})
			return err
		},
		status: http.StatusUnauthorized, msg: "claims REVOKED",
	}, {
		name:  "unsigned 403 cannot claim a suspension",
		setup: unsigned(http.StatusForbidden, nil, `{"code":"SUSPENDED","message":"pay up"}`),
		call: func(ctx context.Context, c *Client, _ *fakeAPI) error {
			_, err := c.Validate(ctx, ValidateRequest{})
			return err
		},
		status: http.StatusForbidden, msg: "claims SUSPENDED, which only a signed answer can prove",
	}, {
		name:   "proxy error page",
		setup:  unsigned(http.StatusBadGateway, http.Header{"Content-Type": {"text/html"}}, "<html>\x1b[31mbad gateway</html>"),
		call:   func(ctx context.Context, c *Client, _ *fakeAPI) error { _, err := c.ListActivations(ctx); return err },
		status: http.StatusBadGateway, msg: "Bad Gateway",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
			_, c := f.serveTLS(t)
			if tt.setup != nil {
				tt.setup(t, f, c)
			}
			err := tt.call(t.Context(), c, f)
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("err = %v, want an *APIError", err)
			}
			if apiErr.StatusCode != tt.status || apiErr.Code != tt.code || apiErr.Field != tt.field || apiErr.RetryAfter != tt.retry || apiErr.Authenticated != tt.signed {
				t.Errorf("APIError = %+v, want status %d code %q field %q retry %s authenticated %t", apiErr, tt.status, tt.code, tt.field, tt.retry, tt.signed)
			}
			if got := CodeOf(err); got != tt.code {
				t.Errorf("CodeOf = %q, want %q", got, tt.code)
			}
			if errors.Is(err, ErrUntrustedAnswer) {
				t.Errorf("a failure answer is not an untrusted one: %v", err)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
			if strings.ContainsAny(err.Error(), "\x1b") || strings.Contains(err.Error(), testToken) {
				t.Errorf("error %q carries control characters or the token", err)
			}
		})
	}
}

func TestClientRefusesUntrustedAnswers(t *testing.T) {
	pinned := newEd25519Key(t, "k-ed")
	validate := func(ctx context.Context, c *Client) error { _, err := c.Validate(ctx, ValidateRequest{}); return err }
	tests := []struct {
		name  string
		setup func(f *fakeAPI)
		call  func(ctx context.Context, c *Client) error
		code  Code
		msg   string
	}{{
		name: "tampered body",
		setup: func(f *fakeAPI) {
			f.fault = func(_ *http.Request, a *fakeAnswer) {
				a.body = bytes.Replace(a.body, []byte(`"nodes":20`), []byte(`"nodes":99`), 1)
			}
		},
		code: CodeSignatureInvalid, msg: "altered",
	}, {
		name: "tampered failure answer",
		setup: func(f *fakeAPI) {
			f.seats = 0
			f.fault = func(_ *http.Request, a *fakeAnswer) {
				a.body = bytes.Replace(a.body, []byte(CodeNoSeatsAvailable), []byte(CodeSuspended), 1)
			}
		},
		call: func(ctx context.Context, c *Client) error {
			_, err := c.AcquireSeat(ctx, SeatRequest{License: "main", Holder: "pod-a"})
			return err
		},
		code: CodeSignatureInvalid,
	}, {
		name:  "signed by a key not in the pinned JWKS",
		setup: func(f *fakeAPI) { f.key = newEd25519Key(t, "k-stranger") },
		code:  CodeUnknownKey, msg: `"k-stranger"`,
	}, {
		name:  "signed by another key under the pinned kid",
		setup: func(f *fakeAPI) { f.key = newEd25519Key(t, "k-ed") },
		code:  CodeSignatureInvalid,
	}, {
		name:  "signed as a license token",
		setup: func(f *fakeAPI) { f.signOpts.typ = strPtr(TokenType) },
		code:  CodeMalformed, msg: "typ",
	}, {
		name: "replayed answer to another request",
		setup: func(f *fakeAPI) {
			var first *fakeAnswer
			f.fault = func(_ *http.Request, a *fakeAnswer) {
				if first == nil {
					first = &fakeAnswer{status: a.status, header: a.header.Clone(), body: bytes.Clone(a.body)}
					return
				}
				*a = *first
			}
		},
		call: func(ctx context.Context, c *Client) error {
			if err := validate(ctx, c); err != nil {
				return fmt.Errorf("first request: %w", err)
			}
			return validate(ctx, c)
		},
		code: CodeSignatureInvalid, msg: "replay",
	}, {
		name: "stale answer",
		setup: func(f *fakeAPI) {
			f.now = func() time.Time { return time.Now().Add(-DefaultMaxClockSkew - time.Minute) }
		},
		code: CodeSignatureInvalid, msg: "more than the 5m0s tolerated",
	}, {
		name: "unsigned success",
		setup: func(f *fakeAPI) {
			f.fault = func(_ *http.Request, a *fakeAnswer) { a.header.Del(HeaderSignature) }
		},
		code: CodeSignatureInvalid, msg: "no License-Signature header",
	}, {
		name: "two signatures",
		setup: func(f *fakeAPI) {
			f.fault = func(_ *http.Request, a *fakeAnswer) { a.header.Add(HeaderSignature, a.header.Get(HeaderSignature)) }
		},
		code: CodeMalformed, msg: "2 License-Signature headers",
	}, {
		name: "oversized answer, even signed",
		setup: func(f *fakeAPI) {
			f.fault = func(r *http.Request, a *fakeAnswer) {
				big := f.problem(r, CodeValid, strings.Repeat("x", maxAnswerSize))
				*a = *f.answer(r, http.StatusOK, big, true)
				a.header.Set("Content-Length", fmt.Sprint(len(a.body)))
			}
		},
		code: CodeMalformed, msg: "more than the 1048576",
	}, {
		name: "oversized answer without a length",
		setup: func(f *fakeAPI) {
			f.fault = func(r *http.Request, a *fakeAnswer) {
				a.body = bytes.Repeat([]byte(" "), maxAnswerSize+1)
				a.header.Set("Transfer-Encoding", "chunked")
			}
		},
		code: CodeMalformed, msg: "more than the 1048576",
	}, {
		name: "redirect is not followed",
		setup: func(f *fakeAPI) {
			f.fault = func(_ *http.Request, a *fakeAnswer) {
				a.status, a.header, a.body = http.StatusTemporaryRedirect, http.Header{"Location": {"https://127.0.0.1:1/steal"}}, nil
			}
		},
		code: CodeSignatureInvalid,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, pinned)
			_, c := f.serveTLS(t)
			f.with(func() { tt.setup(f) })
			call := tt.call
			if call == nil {
				call = validate
			}
			err := call(t.Context(), c)
			if !errors.Is(err, ErrUntrustedAnswer) {
				t.Fatalf("err = %v, want ErrUntrustedAnswer", err)
			}
			if got := CodeOf(err); got != tt.code {
				t.Errorf("CodeOf = %q, want %q (%v)", got, tt.code, err)
			}
			if _, ok := errors.AsType[*APIError](err); ok {
				t.Errorf("an untrusted answer must not read as an API failure: %v", err)
			}
			if tt.msg != "" && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not contain %q", err, tt.msg)
			}
		})
	}
}

func TestClientSignedButBroken(t *testing.T) {
	f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
	_, c := f.serveTLS(t)

	f.setFault(func(r *http.Request, a *fakeAnswer) {
		*a = *f.answer(r, http.StatusOK, map[string]any{"valid": "yes", "nonce": r.Header.Get(HeaderNonce), "time": f.now()}, true)
	})
	if _, err := c.Validate(t.Context(), ValidateRequest{}); CodeOf(err) != CodeMalformed || errors.Is(err, ErrUntrustedAnswer) || !strings.Contains(err.Error(), "wire format") {
		t.Errorf("signed answer with a wrong type: %v, want MALFORMED about the wire format", err)
	}

	f.setFault(func(r *http.Request, a *fakeAnswer) {
		*a = *f.answer(r, http.StatusCreated, SeatAnswer{Code: CodeValid, Nonce: r.Header.Get(HeaderNonce), Time: f.now()}, true)
	})
	if _, err := c.AcquireSeat(t.Context(), SeatRequest{License: "main", Holder: "pod-a"}); CodeOf(err) != CodeMalformed || !strings.Contains(err.Error(), "no lease id") {
		t.Errorf("seat answer without a lease: %v, want MALFORMED", err)
	}

	f.setFault(func(r *http.Request, a *fakeAnswer) {
		now := f.now()
		*a = *f.answer(r, http.StatusOK, SeatAnswer{Lease: &Lease{ID: "x", ExpiresAt: now.Add(-time.Second)}, Nonce: r.Header.Get(HeaderNonce), Time: now}, true)
	})
	if _, err := c.Heartbeat(t.Context(), "x"); CodeOf(err) != CodeMalformed || !strings.Contains(err.Error(), "not after the answer's time") {
		t.Errorf("lease that expired already: %v, want MALFORMED", err)
	}

	f.setFault(func(r *http.Request, a *fakeAnswer) {
		*a = *f.answer(r, http.StatusAccepted, f.problem(r, CodeValid, "later"), true)
	})
	if _, err := c.ListActivations(t.Context()); err == nil || !strings.Contains(err.Error(), "unexpected HTTP 202") {
		t.Errorf("signed 202: %v, want an unexpected status", err)
	}
}

func TestClientArguments(t *testing.T) {
	f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
	_, c := f.serveTLS(t)
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"deactivate without a fingerprint": func() error { _, err := c.Deactivate(ctx, "main", ""); return err },
		"deactivate without a license":     func() error { _, err := c.Deactivate(ctx, "", "fp-1"); return err },
		"heartbeat of ..":                  func() error { _, err := c.Heartbeat(ctx, ".."); return err },
		"release of an empty id":           func() error { _, err := c.ReleaseSeat(ctx, ""); return err },
		"empty token": func() error {
			c.SetToken(" ")
			defer c.SetToken(testToken)
			_, err := c.ListActivations(ctx)
			return err
		},
	} {
		if err := call(); CodeOf(err) != CodeMalformed {
			t.Errorf("%s: %v, want MALFORMED", name, err)
		}
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("%d requests sent for calls that cannot succeed", n)
	}
}

func TestClientTLS(t *testing.T) {
	key := newEd25519Key(t, "k-ed")
	f := newFakeAPI(t, key)
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	keys := keySetOf(t, key)

	// Without the API's CA pinned, the handshake fails before the token is sent.
	c, err := NewClient(srv.URL, testToken, keys)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(t.Context(), ValidateRequest{}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("unpinned CA: %v, want a certificate error", err)
	}
	if n := len(f.seen()); n != 0 {
		t.Errorf("%d requests reached a server whose certificate is not trusted", n)
	}

	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	c, err = NewClient(srv.URL+"/", testToken, keys, WithCACertPEM(append([]byte("# ca.crt\n"), caPEM...)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(t.Context(), ValidateRequest{}); err != nil {
		t.Errorf("pinned CA from PEM: %v", err)
	}

	// A caller's http.Client is used as is, but never follows redirects.
	hc := srv.Client()
	c, err = NewClient(srv.URL, testToken, keys, WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Validate(t.Context(), ValidateRequest{}); err != nil {
		t.Errorf("WithHTTPClient: %v", err)
	}
	if hc.CheckRedirect != nil {
		t.Error("NewClient changed the caller's http.Client")
	}
}

func TestNewClientErrors(t *testing.T) {
	keys := keySetOf(t, newEd25519Key(t, "k-ed"))
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("secret material")})
	tests := []struct {
		name  string
		url   string
		token string
		keys  *KeySet
		opts  []ClientOption
		msg   string
	}{
		{name: "http", url: "http://license-api:9443", msg: "scheme must be https"},
		{name: "no scheme", url: "license-api:9443", msg: "scheme must be https"},
		{name: "no host", url: "https:///v1", msg: "no host"},
		{name: "user info", url: "https://admin:hunter2@license-api", msg: "user info"},
		{name: "query", url: "https://license-api?x=1", msg: "query"},
		{name: "unparsable", url: "https://license-api:port", msg: "license API URL"},
		{name: "no keys", keys: nil, msg: "no trusted keys"},
		{name: "empty token", token: " \n", msg: "token is empty"},
		{name: "garbage CA", opts: []ClientOption{WithCACertPEM([]byte("not pem"))}, msg: "no PEM certificate found"},
		{name: "private key as CA", opts: []ClientOption{WithCACertPEM(keyPEM)}, msg: `is a "PRIVATE KEY"`},
		{name: "broken certificate", opts: []ClientOption{WithCACertPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2}}))}, msg: "PEM block #1"},
		{name: "nil pool", opts: []ClientOption{WithRootCAs(nil)}, msg: "nil"},
		{name: "nil http client", opts: []ClientOption{WithHTTPClient(nil)}, msg: "nil"},
		{name: "http client and CA", opts: []ClientOption{WithHTTPClient(http.DefaultClient), WithRootCAs(x509.NewCertPool())}, msg: "excludes"},
		{name: "zero skew", opts: []ClientOption{WithMaxClockSkew(0)}, msg: "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, token, ks := tt.url, tt.token, tt.keys
			if url == "" {
				url = "https://license-api:9443"
			}
			if token == "" {
				token = testToken
			}
			if ks == nil && tt.name != "no keys" {
				ks = keys
			}
			c, err := NewClient(url, token, ks, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("NewClient = %v, %v; want an error containing %q", c, err, tt.msg)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "secret material") {
				t.Errorf("error %q leaks a secret", err)
			}
		})
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := testNow
	tests := map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"30":                            30 * time.Second,
		" 30 ":                          30 * time.Second,
		"-5":                            0,
		"+5":                            0,
		"1.5":                           0,
		"soon":                          0,
		"99999999999999999999":          0, // does not fit; ignored rather than trusted
		"86400":                         maxRetryAfter,
		"Tue, 01 Dec 2026 12:00:45 GMT": 45 * time.Second,
		"Tue, 01 Dec 2026 11:00:00 GMT": 0,
		"Wed, 02 Dec 2026 12:00:00 GMT": maxRetryAfter,
	}
	for v, want := range tests {
		if got := parseRetryAfter(v, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", v, got, want)
		}
	}
}

func TestAPIErrorCode(t *testing.T) {
	err := fmt.Errorf("hold seat: %w", &APIError{StatusCode: 409, Code: CodeNoSeatsAvailable, Message: "every seat is taken", RetryAfter: time.Minute, Authenticated: true})
	if got := CodeOf(err); got != CodeNoSeatsAvailable {
		t.Errorf("CodeOf = %q", got)
	}
	if got, want := err.Error(), "hold seat: NO_SEATS_AVAILABLE: every seat is taken (HTTP 409, retry after 1m0s)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// An application that wrapped http.DefaultTransport (for tracing, say) still
// gets a client, with a transport of its own.
func TestNewClientWithAWrappedDefaultTransport(t *testing.T) {
	saved := http.DefaultTransport
	t.Cleanup(func() { http.DefaultTransport = saved })
	http.DefaultTransport = roundTripFunc(saved.RoundTrip)

	f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
	if _, c := f.serveTLS(t); c == nil {
		t.Fatal("no client")
	} else if _, err := c.Validate(t.Context(), ValidateRequest{}); err != nil {
		t.Fatal(err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
