package licenseapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/token"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// SigningKeys gives the key a Product signs with now (the Licensee controller's
// source of keys), or an error when it has none.
type SigningKeys interface {
	Current(ctx context.Context, p *licensingv1alpha1.Product) (*keys.SigningKey, error)
}

// Options configure the license API server.
type Options struct {
	// Addr is the listen address, e.g. ":9443".
	Addr string
	// TLS serves HTTPS; nil serves plain HTTP (tests of the handler only).
	TLS *tls.Config
	// Cache answers reads (the manager's informer cache); Live reads the API
	// server where the cache may lag; Writer writes.
	Cache  client.Reader
	Live   client.Reader
	Writer client.Client
	Keys   SigningKeys
	Clock  clock.PassiveClock
	Log    logr.Logger

	// PerLicensee, PerAddress and FailedAuth are the rate limits; zero values
	// take the defaults (see DefaultOptions).
	PerLicensee, PerAddress, FailedAuth Limit
	// DefaultSeatTTL is the lease TTL when a request names none; MinSeatTTL and
	// MaxSeatTTL bound what a request may ask for.
	DefaultSeatTTL, MinSeatTTL, MaxSeatTTL time.Duration
	// ShutdownTimeout bounds how long in-flight requests may finish on shutdown.
	ShutdownTimeout time.Duration
	// MaxInFlight bounds the requests served at once; past it the API sheds
	// load with 503 UNAVAILABLE and Retry-After instead of queueing requests
	// until they time out (a seat heartbeat that waits too long lapses anyway).
	MaxInFlight int
	// Outbox records activations created and removed for webhooks; nil: none.
	Outbox *webhook.Outbox
}

// Defaults, documented in docs/license-api.md with the reasons for each number.
var (
	DefaultPerLicensee = Limit{Rate: 100, Burst: 200}
	DefaultPerAddress  = Limit{Rate: 50, Burst: 100}
	DefaultFailedAuth  = Limit{Rate: 0.2, Burst: 5}
)

const (
	DefaultSeatTTL         = 2 * time.Minute
	DefaultMinSeatTTL      = 10 * time.Second
	DefaultMaxSeatTTL      = 24 * time.Hour
	DefaultShutdownTimeout = 10 * time.Second
	DefaultMaxInFlight     = 256
)

// Server is the license API. It is a manager Runnable that does not need leader
// election: every replica serves, from state in the API server.
type Server struct {
	opts     Options
	cached   *cachedReads // the Product, Licensee, templates and JWKS of requests
	store    *store
	keys     SigningKeys
	clock    clock.PassiveClock
	log      logr.Logger
	jwks     jwksCache
	verified *memo[string, verifiedToken]
	signers  signerCache
	// evaluations memoizes each Licensee's evaluation for the second.
	evaluations evaluations
	handler     http.Handler

	perLicensee, perAddress, failedAuth *keyedLimiter
	inFlight                            chan struct{}

	mu       sync.Mutex
	listener net.Listener
}

// New builds the server; Start serves it.
func New(o Options) (*Server, error) {
	if o.Cache == nil || o.Live == nil || o.Writer == nil || o.Keys == nil {
		return nil, errors.New("license API: Cache, Live, Writer and Keys are required")
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	o.PerLicensee = orDefault(o.PerLicensee, DefaultPerLicensee)
	o.PerAddress = orDefault(o.PerAddress, DefaultPerAddress)
	o.FailedAuth = orDefault(o.FailedAuth, DefaultFailedAuth)
	if o.DefaultSeatTTL == 0 {
		o.DefaultSeatTTL = DefaultSeatTTL
	}
	if o.MinSeatTTL == 0 {
		o.MinSeatTTL = DefaultMinSeatTTL
	}
	if o.MaxSeatTTL == 0 {
		o.MaxSeatTTL = DefaultMaxSeatTTL
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	if o.DefaultSeatTTL < o.MinSeatTTL || o.DefaultSeatTTL > o.MaxSeatTTL {
		return nil, fmt.Errorf("license API: the default seat TTL %s is outside [%s, %s]", o.DefaultSeatTTL, o.MinSeatTTL, o.MaxSeatTTL)
	}
	s := &Server{
		opts:        o,
		cached:      newCachedReads(o.Cache),
		store:       &store{cache: o.Cache, live: o.Live, write: o.Writer, outbox: o.Outbox, clock: o.Clock},
		keys:        o.Keys,
		clock:       o.Clock,
		log:         o.Log.WithName("license-api"),
		perLicensee: newKeyedLimiter("licensee", o.PerLicensee),
		perAddress:  newKeyedLimiter("address", o.PerAddress),
		failedAuth:  newKeyedLimiter("failed-auth", o.FailedAuth),
		inFlight:    make(chan struct{}, o.MaxInFlight),
		verified:    newMemo[string, verifiedToken](maxVerified),
		jwks:        jwksCache{parsed: newMemo[client.ObjectKey, parsedJWKS](maxCachedJWKS)},
		signers:     signerCache{signers: newMemo[string, *token.ResponseSigner](maxCachedJWKS)},
		evaluations: evaluations{latest: newMemo[client.ObjectKey, keyedEvaluation](maxEvaluations)},
	}
	s.handler = s.routes()
	return s, nil
}

func orDefault(l, d Limit) Limit {
	if l.Rate == 0 && l.Burst == 0 {
		return d
	}
	if l.Burst <= 0 {
		l.Burst = max(1, int(l.Rate))
	}
	return l
}

// Handler is the API's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// NeedLeaderElection is false: every replica serves the API.
func (s *Server) NeedLeaderElection() bool { return false }

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// Start serves until ctx ends, then stops taking connections and lets the
// requests in flight finish (at most ShutdownTimeout).
func (s *Server) Start(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("license API: listen on %s: %w", s.opts.Addr, err)
	}
	if s.opts.TLS != nil {
		ln = tls.NewListener(ln, s.opts.TLS)
	}
	s.mu.Lock()
	s.listener = ln
	s.mu.Unlock()
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		// HTTP/2 is off (the TLS config offers http/1.1 only), as for metrics.
		TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		ErrorLog:     nil,
	}
	s.log.Info("serving the license API", "address", ln.Addr().String(), "tls", s.opts.TLS != nil)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("license API: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("license API: shut down: %w", err)
	}
	return nil
}

func (s *Server) now() time.Time { return s.clock.Now().UTC() }

// signerCache keeps one prepared signer per key id.
type signerCache struct {
	signers *memo[string, *token.ResponseSigner]
}

// SignDetached signs body with key, preparing its signer once.
func (c *signerCache) SignDetached(body []byte, key *keys.SigningKey) (string, error) {
	signer, ok := c.signers.get(key.ID)
	if !ok {
		var err error
		if signer, err = token.NewResponseSigner(key); err != nil {
			return "", err
		}
		c.signers.put(key.ID, signer)
	}
	return signer.SignDetached(body)
}
