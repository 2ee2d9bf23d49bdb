package licenseapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	json "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// problem is a failed request on its way out: the HTTP status and the Problem body.
type problem struct {
	status     int
	code       license.Code
	message    string
	field      string
	retryAfter time.Duration
}

func (p *problem) Error() string { return string(p.code) + ": " + p.message }

func newProblem(status int, code license.Code, format string, args ...any) *problem {
	return &problem{status: status, code: code, message: fmt.Sprintf(format, args...)}
}

func malformed(field, format string, args ...any) *problem {
	p := newProblem(http.StatusBadRequest, license.CodeMalformed, format, args...)
	p.field = field
	return p
}

// exchange is one request on its way through the server: who asked (once
// authenticated), the nonce to echo, and the metrics labels.
type exchange struct {
	w        http.ResponseWriter
	r        *http.Request
	now      time.Time
	nonce    string
	endpoint string
	caller   *caller // nil until authenticated; answers are signed from then on
	status   int
	code     license.Code
}

// reply writes v (a pointer: an answer struct is not copied into the
// interface) as the JSON answer with status. Once the caller is
// authenticated the answer is signed with the Product's current key (header
// License-Signature over the exact body bytes); if that key is unavailable the
// answer cannot be trusted by the client, so it becomes a 503 instead.
func (s *Server) reply(x *exchange, status int, code license.Code, v any) {
	buf := getBuffer()
	defer putBuffer(buf)
	body := []byte(`{"code":"UNAVAILABLE","message":"the answer could not be encoded"}`)
	if err := json.MarshalWrite(buf, v, json.Deterministic(true)); err != nil {
		s.log.Error(err, "encode answer", "endpoint", x.endpoint)
		status, code = http.StatusInternalServerError, license.CodeUnavailable
	} else {
		body = buf.Bytes()
	}
	h := x.w.Header()
	// Shared, never-changed values: net/http only reads them.
	h["Content-Type"], h["Cache-Control"] = contentTypeJSON, cacheControlNoStore
	if x.caller != nil {
		sig, err := s.sign(x.caller, body)
		if err != nil {
			s.log.Error(err, "sign answer", "product", x.caller.namespace+"/"+x.caller.product)
			x.caller = nil
			s.fail(x, newProblem(http.StatusServiceUnavailable, license.CodeUnavailable,
				"the Product's signing key is unavailable, so the answer cannot be signed; see the Product's KeyAvailable condition"))
			return
		}
		h.Set(license.HeaderSignature, sig)
	}
	x.status, x.code = status, code
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body)
}

var (
	contentTypeJSON     = []string{"application/json"}
	cacheControlNoStore = []string{"no-store"}
)

// fail writes p as a Problem answer (signed when the caller is authenticated).
func (s *Server) fail(x *exchange, p *problem) {
	if p.retryAfter > 0 {
		x.w.Header().Set("Retry-After", strconv.FormatInt(ceilSeconds(p.retryAfter), 10))
	}
	s.reply(x, p.status, p.code, &license.Problem{
		Code: p.code, Message: p.message, Field: p.field, Nonce: x.nonce, Time: x.now,
	})
}

// failErr answers err: a *problem as it is, anything else as a 503 (the API
// server is the state store: when it fails, the answer is "try again").
func (s *Server) failErr(x *exchange, err error) {
	if p, ok := errors.AsType[*problem](err); ok {
		s.fail(x, p)
		return
	}
	s.log.Error(err, "license API request failed", "endpoint", x.endpoint)
	s.fail(x, &problem{status: http.StatusServiceUnavailable, code: license.CodeUnavailable,
		message: "the license API could not reach its state in the Kubernetes API server; retry shortly", retryAfter: time.Second})
}

// sign is the detached compact JWS over body with the caller's Product key.
func (s *Server) sign(c *caller, body []byte) (string, error) {
	key, err := s.keys.Current(c.ctx, c.productObj)
	if err != nil {
		return "", err
	}
	return s.signers.SignDetached(body, key)
}

func ceilSeconds(d time.Duration) int64 {
	return int64((d + time.Second - 1) / time.Second)
}

// decodeBody decodes a JSON request body strictly into v: one object, no
// unknown, duplicate or case-variant members, nothing after it. The error names
// the member at fault.
func decodeBody(r *http.Request, v any) error {
	buf := getBuffer()
	defer putBuffer(buf) // Unmarshal copies what it keeps out of data
	_, err := buf.ReadFrom(r.Body)
	if maxErr, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return newProblem(http.StatusRequestEntityTooLarge, license.CodeMalformed,
			"the body is larger than %d bytes; the license API takes small JSON objects", maxErr.Limit)
	}
	if err != nil {
		return malformed("", "the body could not be read: %s", clip(err.Error()))
	}
	data := buf.Bytes()
	if len(bytes.TrimSpace(data)) == 0 {
		return malformed("", "the body is empty; send a JSON object")
	}
	err = json.Unmarshal(data, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	if se, ok := errors.AsType[*json.SemanticError](err); ok {
		field := strings.TrimPrefix(string(se.JSONPointer), "/")
		if errors.Is(se.Err, json.ErrUnknownName) {
			return malformed(field, "unknown member %q; see docs/license-api.md for the request fields (names are case-sensitive)", clip(field))
		}
		if field != "" {
			return malformed(field, "member %q has the wrong type; see docs/license-api.md for the request fields", clip(field))
		}
		return malformed("", "the body must be a JSON object")
	}
	if se, ok := errors.AsType[*jsontext.SyntacticError](err); ok {
		field := strings.TrimPrefix(string(se.JSONPointer), "/")
		if errors.Is(se.Err, jsontext.ErrDuplicateName) {
			return malformed(field, "member %q appears twice; send each member once", clip(field))
		}
		return malformed(field, "the body is not valid JSON at byte %d; send one JSON object", se.ByteOffset)
	}
	return malformed("", "the body is not valid JSON; send one JSON object")
}

// buffers hold request bodies and encoded answers while a request is served.
var buffers = sync.Pool{New: func() any { return bytes.NewBuffer(make([]byte, 0, 2<<10)) }}

// maxPooledBuffer: a buffer grown past it (a long list of activations) is
// left to the garbage collector rather than kept for every later request.
const maxPooledBuffer = 64 << 10

func getBuffer() *bytes.Buffer { return buffers.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	buffers.Put(b)
}

// clip bounds what the API echoes of a caller's input in a message.
func clip(s string) string {
	const max = 80
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// checkNonce accepts the caller's nonce: printable, at most MaxNonceLength.
func checkNonce(n string) error {
	if n == "" {
		return nil
	}
	if len(n) > license.MaxNonceLength || strings.ContainsFunc(n, notNonceChar) {
		return malformed("nonce", "nonce must be 1 to %d characters of [A-Za-z0-9._~+/=-] (for example 16 random bytes in base64url)", license.MaxNonceLength)
	}
	return nil
}

// notNonceChar is false for [A-Za-z0-9._~+/=-] (base64, base64url, hex),
// checked on every request twice: a loop, not a regexp.
func notNonceChar(r rune) bool {
	switch {
	case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z', '0' <= r && r <= '9':
		return false
	}
	return !strings.ContainsRune("._~+/=-", r)
}

// checkText accepts a caller-chosen identifier (fingerprint, holder, name):
// required when required, at most max bytes, valid UTF-8 without control characters.
func checkText(field, v string, max int, required bool) error {
	if v == "" {
		if required {
			return malformed(field, "%s is required", field)
		}
		return nil
	}
	if len(v) > max {
		return malformed(field, "%s is %d bytes, more than the %d allowed", field, len(v), max)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f || r == '\uFFFD' {
			return malformed(field, "%s holds a control character or invalid UTF-8; use printable text", field)
		}
	}
	return nil
}

var dnsLabelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// checkLicenseName accepts the name of a license in spec.licenses.
func checkLicenseName(v string, required bool) error {
	if v == "" {
		if required {
			return malformed("license", "license is required: the name of the license in the Licensee's spec.licenses")
		}
		return nil
	}
	if len(v) > 63 || !dnsLabelRE.MatchString(v) {
		return malformed("license", "license %q is not a license name (a DNS label of at most 63 characters)", clip(v))
	}
	return nil
}
