package license

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	json "github.com/go-json-experiment/json"
)

// DefaultMaxClockSkew is how far an answer's time may be from the local clock
// before the Client refuses it as replayed.
const DefaultMaxClockSkew = 5 * time.Minute

const (
	// maxAnswerSize bounds what the Client reads; real answers are a few KiB.
	maxAnswerSize = 1 << 20
	// defaultRequestTimeout bounds each request of a Client built without
	// WithHTTPClient, whatever the caller's context says.
	defaultRequestTimeout = 30 * time.Second
	// maxRetryAfter caps a Retry-After header, which no signature covers.
	maxRetryAfter = time.Hour
	nonceBytes    = 16 // 128 bits
)

// ErrUntrustedAnswer is in the chain of every error about an answer the Client
// refused to believe: unsigned where a signature is required, signed by a key
// that is not pinned, altered, answering another request (nonce) or too old
// (time), or too large. Its *Error says which (CodeOf). Such an answer may come
// from a spoofed server or a proxy that rewrites bodies; nothing in it is used.
var ErrUntrustedAnswer = errors.New("answer not trusted")

// APIError is a license API answer that reports a failure (HTTP 4xx or 5xx).
// It wraps an *Error with the same Code and Message, so CodeOf reads it.
type APIError struct {
	StatusCode int
	// Code is what the API says went wrong (NO_SEATS_AVAILABLE, SEAT_EXPIRED,
	// SUSPENDED, ...). It is empty for an unsigned answer that is not one of
	// the two the API cannot sign (see Authenticated).
	Code    Code
	Message string
	// Field names the request member at fault, for MALFORMED requests.
	Field string
	// RetryAfter is the Retry-After header (NO_SEATS_AVAILABLE, RATE_LIMITED),
	// or zero. Headers are not signed, so it is capped at an hour.
	RetryAfter time.Duration
	// Authenticated reports that the answer was signed by a pinned key and
	// echoed this request's nonce. The API cannot sign 401 (the token did not
	// verify, so no Product key is known) nor a 429 given before the token is
	// read: for those Authenticated is false and Code is only ever
	// SIGNATURE_INVALID, UNKNOWN_KEY or MALFORMED (401) or RATE_LIMITED (429);
	// trust them no further than "fix the token" or "retry later". Any other
	// unsigned failure (a proxy's 502, or a forgery) has an empty Code.
	Authenticated bool
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.Code != "" {
		b.WriteString(string(e.Code) + ": ")
	}
	b.WriteString(e.Message)
	fmt.Fprintf(&b, " (HTTP %d", e.StatusCode)
	if e.Field != "" {
		fmt.Fprintf(&b, ", field %q", e.Field)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, ", retry after %s", e.RetryAfter)
	}
	if !e.Authenticated {
		b.WriteString(", unsigned answer")
	}
	b.WriteString(")")
	return b.String()
}

// Unwrap lets CodeOf and errors.As find the Code as an *Error.
func (e *APIError) Unwrap() error { return &Error{Code: e.Code, Message: e.Message} }

// Client calls the operator's license API. Every answer it returns was signed by
// a key of the pinned KeySet over the exact body bytes, echoes the fresh nonce
// of its request and is dated within the tolerated clock skew; anything else is
// refused with ErrUntrustedAnswer. A Client is safe for concurrent use.
type Client struct {
	base    string // scheme://host[:port][/path], no trailing slash
	http    *http.Client
	maxSkew time.Duration
	token   atomic.Pointer[string]
	keys    atomic.Pointer[KeySet]
}

// ClientOption configures NewClient.
type ClientOption func(*clientOptions) error

type clientOptions struct {
	http    *http.Client
	roots   *x509.CertPool
	maxSkew time.Duration
}

// WithRootCAs pins the CAs that may sign the API's serving certificate (default:
// the system's roots).
func WithRootCAs(pool *x509.CertPool) ClientOption {
	return func(o *clientOptions) error {
		if pool == nil {
			return errors.New("WithRootCAs: the pool is nil")
		}
		o.roots = pool
		return nil
	}
}

// WithCACertPEM pins the CA certificates in pemData, for example the ca.crt of
// ConfigMap kubelicense-license-api-ca that the operator publishes.
func WithCACertPEM(pemData []byte) ClientOption {
	return func(o *clientOptions) error {
		pool, err := ParseCACerts(pemData)
		if err != nil {
			return fmt.Errorf("WithCACertPEM: %w", err)
		}
		o.roots = pool
		return nil
	}
}

// WithHTTPClient sends requests with hc, whose transport decides TLS, proxies
// and timeouts. The Client never follows redirects, whatever hc says: a
// redirect would carry the license token elsewhere.
func WithHTTPClient(hc *http.Client) ClientOption {
	return func(o *clientOptions) error {
		if hc == nil {
			return errors.New("WithHTTPClient: the client is nil")
		}
		o.http = hc
		return nil
	}
}

// WithMaxClockSkew sets how far an answer's time may be from the local clock
// (default DefaultMaxClockSkew). Smaller values narrow the window in which a
// recorded answer could be replayed; both clocks must then be kept by NTP.
func WithMaxClockSkew(d time.Duration) ClientOption {
	return func(o *clientOptions) error {
		if d <= 0 {
			return fmt.Errorf("WithMaxClockSkew: %s is not positive", d)
		}
		o.maxSkew = d
		return nil
	}
}

// NewClient returns a client of the license API at baseURL
// (https://host:port, as served by the manager's --license-api-bind-address).
// token is the license token it authenticates with (the content of
// license.jwt); keys is the Product's JWKS that every answer must be signed
// with (LoadJWKSFile of the mounted jwks.json).
func NewClient(baseURL, token string, keys *KeySet, opts ...ClientOption) (*Client, error) {
	base, err := ParseBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, errors.New("license API client: no trusted keys; pass the Product's JWKS (LoadJWKSFile of jwks.json), which signs every answer")
	}
	if strings.TrimSpace(token) == "" {
		return nil, errors.New("license API client: the license token is empty; pass the content of license.jwt")
	}
	o := clientOptions{maxSkew: DefaultMaxClockSkew}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, fmt.Errorf("license API client: %w", err)
		}
	}
	if o.http != nil && o.roots != nil {
		return nil, errors.New("license API client: WithHTTPClient excludes WithRootCAs and WithCACertPEM; set RootCAs in the TLS config of that client's transport")
	}
	c := &Client{base: base, maxSkew: o.maxSkew}
	if o.http != nil {
		hc := *o.http // a copy, so the caller's client keeps its redirect policy
		c.http = &hc
	} else {
		tr := &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			tr = dt.Clone() // its timeouts and pool sizes
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: o.roots, MinVersion: tls.VersionTLS12}
		c.http = &http.Client{Transport: tr, Timeout: defaultRequestTimeout}
	}
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.SetToken(token)
	c.SetKeys(keys)
	return c, nil
}

// SetToken replaces the license token, for example when the license Secret was
// refreshed. Requests already sent keep the old one.
func (c *Client) SetToken(token string) {
	token = strings.TrimSpace(token)
	c.token.Store(&token)
}

// SetKeys replaces the pinned keys, for example when the Product's jwks.json
// changed after a key rotation. A nil keys is ignored.
func (c *Client) SetKeys(keys *KeySet) {
	if keys != nil {
		c.keys.Store(keys)
	}
}

// Validate asks for the live verdict of the licensee (POST /v1/validate). A
// verdict that does not entitle (Valid false) is an answer, not an error.
func (c *Client) Validate(ctx context.Context, req ValidateRequest) (*Verdict, error) {
	var v Verdict
	err := c.call(ctx, http.MethodPost, PathValidate, func(nonce string) any { req.Nonce = nonce; return req }, &v, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

// Activate activates a fingerprint for a license (POST /v1/activations); asking
// again for an active fingerprint succeeds too. With every activation taken it
// fails with TOO_MANY_ACTIVATIONS.
func (c *Client) Activate(ctx context.Context, req ActivateRequest) (*ActivationAnswer, error) {
	var a ActivationAnswer
	err := c.call(ctx, http.MethodPost, PathActivations, func(nonce string) any { req.Nonce = nonce; return req }, &a, http.StatusCreated, http.StatusOK)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ListActivations lists the licensee's activations (GET /v1/activations).
func (c *Client) ListActivations(ctx context.Context) (*ActivationList, error) {
	var l ActivationList
	if err := c.call(ctx, http.MethodGet, PathActivations, nil, &l, http.StatusOK); err != nil {
		return nil, err
	}
	return &l, nil
}

// Deactivate frees the activation of fingerprint for the named license
// (DELETE /v1/activations/{fingerprint}); NOT_FOUND if it is not active.
func (c *Client) Deactivate(ctx context.Context, license, fingerprint string) (*ActivationAnswer, error) {
	if err := checkSegment("fingerprint", fingerprint); err != nil {
		return nil, err
	}
	if license == "" {
		return nil, newError(CodeMalformed, nil, "license is empty; name the license the fingerprint was activated for")
	}
	path := PathActivations + "/" + url.PathEscape(fingerprint) + "?" + url.Values{"license": {license}}.Encode()
	var a ActivationAnswer
	if err := c.call(ctx, http.MethodDelete, path, nil, &a, http.StatusOK); err != nil {
		return nil, err
	}
	return &a, nil
}

// AcquireSeat takes a seat lease for req.Holder (POST /v1/seats); the same
// holder asking again gets its lease back. With every seat taken it fails with
// NO_SEATS_AVAILABLE and, when a lease will lapse, a RetryAfter. Keep the lease
// with Heartbeat every Lease.HeartbeatEvery, or let KeepSeat do it.
func (c *Client) AcquireSeat(ctx context.Context, req SeatRequest) (*SeatAnswer, error) {
	var a SeatAnswer
	err := c.call(ctx, http.MethodPost, PathSeats, func(nonce string) any { req.Nonce = nonce; return req }, &a, http.StatusCreated, http.StatusOK)
	if err == nil {
		err = checkLease(http.MethodPost+" "+PathSeats, &a)
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Heartbeat renews a seat lease (PUT /v1/seats/{id}) and returns it with its new
// expiry. It fails with SEAT_EXPIRED when the lease lapsed and the seat was
// taken by another holder.
func (c *Client) Heartbeat(ctx context.Context, leaseID string) (*SeatAnswer, error) {
	if err := checkSegment("lease id", leaseID); err != nil {
		return nil, err
	}
	path := PathSeats + "/" + url.PathEscape(leaseID)
	var a SeatAnswer
	err := c.call(ctx, http.MethodPut, path, nil, &a, http.StatusOK)
	if err == nil {
		err = checkLease(http.MethodPut+" "+path, &a)
	}
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// ReleaseSeat gives a seat lease back (DELETE /v1/seats/{id}).
func (c *Client) ReleaseSeat(ctx context.Context, leaseID string) (*SeatAnswer, error) {
	if err := checkSegment("lease id", leaseID); err != nil {
		return nil, err
	}
	var a SeatAnswer
	if err := c.call(ctx, http.MethodDelete, PathSeats+"/"+url.PathEscape(leaseID), nil, &a, http.StatusOK); err != nil {
		return nil, err
	}
	return &a, nil
}

// call sends one request with a fresh nonce and decodes its answer into out
// once it is verified. body, if set, builds the request body around the nonce.
func (c *Client) call(ctx context.Context, method, path string, body func(nonce string) any, out any, success ...int) error {
	nonce, err := newNonce()
	if err != nil {
		return fmt.Errorf("license API %s %s: %w", method, path, err)
	}
	if err := c.exchange(ctx, method, path, nonce, body, out, success); err != nil {
		return fmt.Errorf("license API %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) exchange(ctx context.Context, method, path, nonce string, body func(string) any, out any, success []int) error {
	token := *c.token.Load()
	if token == "" {
		return newError(CodeMalformed, nil, "the license token is empty; pass the content of license.jwt to SetToken")
	}
	var reqBody io.Reader
	if body != nil {
		data, err := json.Marshal(body(nonce))
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		reqBody = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, reqBody)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(HeaderNonce, nonce)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err // already names the method and URL, never the token
	}
	defer func() { _ = resp.Body.Close() }()

	answer, err := readAnswer(resp)
	if err != nil {
		return err
	}
	sigs := resp.Header.Values(HeaderSignature)
	if len(sigs) > 1 {
		return untrusted(newError(CodeMalformed, nil, fmt.Sprintf("answer has %d %s headers; the license API sends one", len(sigs), HeaderSignature)))
	}
	if len(sigs) == 0 && resp.StatusCode >= 400 {
		return unsignedFailure(resp, answer)
	}
	if err := VerifyResponse(answer, strings.Join(sigs, ""), c.keys.Load()); err != nil {
		return untrusted(err)
	}
	if err := checkFreshness(answer, nonce, time.Now(), c.maxSkew); err != nil {
		return untrusted(err)
	}
	switch {
	case slices.Contains(success, resp.StatusCode):
		if err := json.Unmarshal(answer, out); err != nil {
			return newError(CodeMalformed, err, fmt.Sprintf("signed answer does not decode as %T; this client and the license API disagree on the wire format, upgrade the older one", out))
		}
		return nil
	case resp.StatusCode >= 400:
		var p Problem
		if err := json.Unmarshal(answer, &p); err != nil {
			return newError(CodeMalformed, err, fmt.Sprintf("signed HTTP %d answer is not a Problem (code, message)", resp.StatusCode))
		}
		return &APIError{
			StatusCode: resp.StatusCode, Code: p.Code, Message: p.Message, Field: p.Field,
			RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Authenticated: true,
		}
	default:
		return fmt.Errorf("unexpected HTTP %d answer (want %v); is %s the license API?", resp.StatusCode, success, c.base)
	}
}

// readAnswer reads the body up to maxAnswerSize.
func readAnswer(resp *http.Response) ([]byte, error) {
	if resp.ContentLength > maxAnswerSize {
		return nil, untrusted(newError(CodeMalformed, nil, fmt.Sprintf("answer is %d bytes, more than the %d this client reads", resp.ContentLength, maxAnswerSize)))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerSize+1))
	if err != nil {
		return nil, fmt.Errorf("read answer (HTTP %d): %w", resp.StatusCode, err)
	}
	if len(data) > maxAnswerSize {
		return nil, untrusted(newError(CodeMalformed, nil, fmt.Sprintf("answer is more than the %d bytes this client reads", maxAnswerSize)))
	}
	return data, nil
}

func untrusted(err error) error { return fmt.Errorf("%w: %w", ErrUntrustedAnswer, err) }

// unsignedFailure reads a failure answer that carries no signature. Only the
// codes of the two answers the API cannot sign are kept: anyone on the path
// could have written any other.
func unsignedFailure(resp *http.Response, body []byte) error {
	var p Problem
	_ = json.Unmarshal(body, &p) // a proxy's HTML page is an answer too
	e := &APIError{
		StatusCode: resp.StatusCode,
		Message:    cleanText(p.Message),
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()),
	}
	switch {
	case resp.StatusCode == http.StatusUnauthorized && slices.Contains([]Code{CodeSignatureInvalid, CodeUnknownKey, CodeMalformed}, p.Code):
		e.Code = p.Code
	case resp.StatusCode == http.StatusTooManyRequests:
		e.Code = CodeRateLimited
	case p.Code != "":
		e.Message = fmt.Sprintf("unsigned answer claims %s, which only a signed answer can prove: %s", cleanText(string(p.Code)), e.Message)
	}
	if e.Message == "" {
		e.Message = "license API answered " + http.StatusText(resp.StatusCode)
	}
	return e
}

// cleanText bounds text from an unsigned answer before it reaches a log.
func cleanText(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	return truncate(s, 512)
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date (RFC 9110
// section 10.2.3); anything else is zero.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseUint(v, 10, 64); err == nil {
		return time.Duration(min(secs, uint64(maxRetryAfter/time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter).Round(time.Second)
	}
	return 0
}

func newNonce() (string, error) {
	b := make([]byte, nonceBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate nonce: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// checkSegment refuses path segments that would address another endpoint.
func checkSegment(what, s string) error {
	if s == "" || s == "." || s == ".." {
		return newError(CodeMalformed, nil, fmt.Sprintf("%s %q is not a usable path segment; pass the %s the license API gave", what, s, what))
	}
	return nil
}

// checkLease refuses a seat answer without a usable lease: the caller would
// hold nothing while believing it holds a seat.
func checkLease(call string, a *SeatAnswer) error {
	switch {
	case a.Lease == nil || a.Lease.ID == "":
		return fmt.Errorf("license API %s: %w", call, newError(CodeMalformed, nil, "seat answer has no lease id"))
	case !a.Lease.ExpiresAt.After(a.Time):
		return fmt.Errorf("license API %s: %w", call, newError(CodeMalformed, nil, fmt.Sprintf("lease %q expires at %s, not after the answer's time %s", a.Lease.ID, a.Lease.ExpiresAt.Format(time.RFC3339), a.Time.Format(time.RFC3339))))
	}
	return nil
}

// ParseBaseURL checks the license API's base URL as NewClient takes it (https,
// a host, no user info, query or fragment) and returns it without a trailing slash.
func ParseBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "", fmt.Errorf("license API URL: %w", err)
	}
	switch {
	case u.Scheme != "https":
		return "", fmt.Errorf("license API URL %q: scheme must be https (https://host:port); the license token is a credential and must not travel in clear", raw)
	case u.Host == "":
		return "", fmt.Errorf("license API URL %q has no host; use https://host:port", raw)
	case u.User != nil:
		return "", fmt.Errorf("license API URL %q has user info; give https://host:port with no user: the license token authenticates", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("license API URL %q has a query or fragment; use https://host:port", raw)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// ParseCACerts builds a pool from PEM CA certificates (the license API's
// ca.crt), refusing anything else: a key mounted by mistake is reported, not skipped.
func ParseCACerts(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block #%d is a %q; pass CA certificates only (ca.crt), never a key", n, cleanText(block.Type))
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("PEM block #%d: %w", n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, errors.New("no PEM certificate found; pass the CA bundle (ca.crt, -----BEGIN CERTIFICATE-----)")
	}
	return pool, nil
}
