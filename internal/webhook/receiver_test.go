package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	. "github.com/onsi/gomega"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// delivery is one request a receiver got, checked.
type delivery struct {
	ID, Timestamp string
	Query         string // the request URL's raw query
	Event         cloudevents.Event
	Data          licensingv1alpha1.LicenseEventData
	Problems      []string // what was wrong with it; empty when every check passed
}

// receiver is an HTTPS endpoint in the test process that verifies every
// request: the Standard Webhooks signature (with the reference library and
// again with crypto/hmac, as the spec describes it), the timestamp, and the
// CloudEvent in structured mode. answer decides the HTTP status of the n-th
// request (from 1); hang, when set, holds every request until it is closed.
type receiver struct {
	server *httptest.Server
	secret string

	mu         sync.Mutex
	deliveries []delivery
	answer     func(n int) int
	hang       chan struct{}
	arrived    chan struct{} // a request arrived (buffered, not blocking)
}

func newReceiver(secret string, tlsServer bool) *receiver {
	r := &receiver{secret: secret, answer: func(int) int { return http.StatusNoContent }, arrived: make(chan struct{}, 1000)}
	r.server = httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	r.server.Listener = l
	if tlsServer {
		r.server.StartTLS()
	} else {
		r.server.Start()
	}
	return r
}

// caBundle is the PEM of the receiver's certificate, for spec.caBundle.
func (r *receiver) caBundle() []byte {
	if r.server.Certificate() == nil {
		return nil // plain http
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.server.Certificate().Raw})
}

func (r *receiver) close() {
	r.mu.Lock()
	if r.hang != nil {
		select {
		case <-r.hang:
		default:
			close(r.hang)
		}
	}
	r.mu.Unlock()
	r.server.Close()
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	d := r.check(req, body, err)
	r.mu.Lock()
	r.deliveries = append(r.deliveries, d)
	n, answer, hang := len(r.deliveries), r.answer, r.hang
	r.mu.Unlock()
	r.arrived <- struct{}{}
	if hang != nil {
		select {
		case <-hang:
		case <-req.Context().Done():
		}
		return
	}
	w.WriteHeader(answer(n))
}

func (r *receiver) check(req *http.Request, body []byte, readErr error) delivery {
	d := delivery{ID: req.Header.Get("webhook-id"), Timestamp: req.Header.Get("webhook-timestamp"), Query: req.URL.RawQuery}
	fail := func(format string, args ...any) { d.Problems = append(d.Problems, fmt.Sprintf(format, args...)) }
	if readErr != nil {
		fail("read body: %v", readErr)
	}
	if req.Method != http.MethodPost {
		fail("method %s", req.Method)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/cloudevents+json" {
		fail("Content-Type %q", ct)
	}
	// The reference implementation, timestamp tolerance included.
	wh, err := standardwebhooks.NewWebhook(r.secret)
	if err != nil {
		fail("reference library refuses the secret: %v", err)
	} else if err := wh.Verify(body, req.Header); err != nil {
		fail("reference library: %v", err)
	}
	// The spec by hand: v1,<base64 HMAC-SHA256 of "id.timestamp.body">.
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.secret, "whsec_"))
	if err != nil {
		fail("decode secret: %v", err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(d.ID + "." + d.Timestamp + "." + string(body)))
	want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if got := req.Header.Get("webhook-signature"); !hmac.Equal([]byte(got), []byte(want)) {
		fail("webhook-signature %q, want %q", got, want)
	}
	if ts, err := strconv.ParseInt(d.Timestamp, 10, 64); err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		fail("webhook-timestamp %q is not now", d.Timestamp)
	}
	if err := json.Unmarshal(body, &d.Event); err != nil {
		fail("not a structured CloudEvent: %v", err)
		return d
	}
	if err := d.Event.Validate(); err != nil {
		fail("invalid CloudEvent: %v", err)
	}
	if d.Event.SpecVersion() != "1.0" || d.Event.DataContentType() != "application/json" {
		fail("specversion %q datacontenttype %q", d.Event.SpecVersion(), d.Event.DataContentType())
	}
	if d.Event.ID() != d.ID {
		fail("CloudEvent id %q differs from webhook-id %q", d.Event.ID(), d.ID)
	}
	if !strings.HasPrefix(d.Event.Type(), "io.kubelicense.") || !strings.HasPrefix(d.Event.Source(), "/apis/licensing.kubelicense.io/v1alpha1/namespaces/") {
		fail("type %q source %q", d.Event.Type(), d.Event.Source())
	}
	if err := d.Event.DataAs(&d.Data); err != nil {
		fail("data: %v", err)
	}
	if strings.Contains(string(body), "eyJ") || strings.Contains(string(body), "PRIVATE") {
		fail("the body carries what looks like a token or a key: %s", body)
	}
	return d
}

// got is a copy of the deliveries so far.
func (r *receiver) got() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.deliveries...)
}

// ofType is the deliveries of type t about licensee (any licensee when "").
func (r *receiver) ofType(t licensingv1alpha1.EventType, licensee string) []delivery {
	var out []delivery
	for _, d := range r.got() {
		if d.Event.Type() == string(t) && (licensee == "" || d.Data.Licensee == licensee) {
			out = append(out, d)
		}
	}
	return out
}

// problems lists every failed check of every delivery.
func (r *receiver) problems() []string {
	var out []string
	for _, d := range r.got() {
		out = append(out, d.Problems...)
	}
	return out
}
