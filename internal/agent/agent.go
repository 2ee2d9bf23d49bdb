package agent

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// Agent holds the verified license and answers questions about it. Reload
// verifies (signature included) through pkg/license and publishes an immutable
// snapshot; requests only read the snapshot and compare times.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	now     func() time.Time
	metrics *metrics

	// allowedHosts are the --allowed-host names, normalized.
	allowedHosts map[string]bool
	// online is the link to the license API; nil without --license-api.
	online *online

	snap atomic.Pointer[snapshot]
	// mu serialises reloads and re-verifications, so a slow reload never
	// publishes an older snapshot over a newer one. It guards the fields below.
	mu sync.Mutex
	// tokens is the newest token seen per licensee: an older one is superseded.
	tokens tokenMemory
	// tokensChanged and savedSeen say what --state-dir does not hold yet.
	tokensChanged bool
	savedSeen     int64
	// caProblem is why the --license-api-ca file last failed to load, logged once.
	caProblem string

	// lastSeen is the latest wall clock observed, in Unix nanoseconds; the clock
	// reading earlier than this (minus the leeway) has moved backwards.
	lastSeen atomic.Int64
	// clockBehind is set while the clock reads behind lastSeen or the token's
	// iat, so each episode is logged and counted once.
	clockBehind atomic.Bool
}

// New checks the mounts, loads the pinned trust anchor and the license, and
// returns an agent ready to serve. A missing license token is not an error (it
// is reported as MALFORMED until it appears); a missing or unusable --jwks file is.
func New(cfg Config) (*Agent, error) {
	if err := cfg.complete(); err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, log: cfg.Logger, now: cfg.Now, tokens: tokenMemory{}, allowedHosts: map[string]bool{}}
	for _, h := range cfg.AllowedHosts {
		a.allowedHosts[h] = true
	}
	if a.log == nil {
		a.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if a.now == nil {
		a.now = time.Now
	}
	if err := checkMounts(&a.cfg); err != nil {
		return nil, err
	}
	if cfg.JWKSFile != "" {
		// Checked here and not only on reload: a wrong anchor path is a
		// deployment mistake the pod should not start with.
		if _, err := license.LoadJWKSFile(cfg.JWKSFile); err != nil {
			return nil, fmt.Errorf("--jwks: %w; mount the product's <product>-license-keys ConfigMap (key jwks.json) and point --jwks at the file", err)
		}
	}
	if cfg.LicenseAPI != "" {
		o, err := newOnline(a)
		if err != nil {
			return nil, err
		}
		a.online = o
	}
	a.lastSeen.Store(a.now().UnixNano())
	if cfg.StateDir != "" {
		if err := a.restoreState(); err != nil {
			return nil, err
		}
	}
	a.metrics = newMetrics(a)
	a.Reload()
	return a, nil
}

// Reload reads the license and the trust anchor again and, if anything changed,
// verifies and publishes the result. It reports whether it published.
func (a *Agent) Reload() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.reloadCA()
	in := readInputs(&a.cfg)
	if cur := a.snap.Load(); cur != nil && cur.in == in {
		return false
	}
	// Counted before it is published: whoever sees the new license also
	// sees the reload that brought it.
	a.metrics.reloads.Inc()
	a.publish(a.admit(buildSnapshot(&a.cfg, in, a.now())))
	return true
}

// reloadCA picks up a changed --license-api-ca; an unusable file is logged
// once and the CA already loaded stays in use. The caller holds mu.
func (a *Agent) reloadCA() {
	if a.online == nil {
		return
	}
	problem := ""
	if err := a.online.transport.reload(); err != nil {
		problem = err.Error()
	}
	if problem != "" && problem != a.caProblem {
		a.log.Warn("--license-api-ca not reloaded; the CA loaded before stays in use", "file", a.cfg.LicenseAPICA, "error", problem)
	}
	a.caProblem = problem
}

// admit refuses a verified token older than one already seen for the same
// licensee, and remembers it when it is the newest; the caller holds mu.
func (a *Agent) admit(s *snapshot) *snapshot {
	if s.claims == nil {
		return s
	}
	newer, changed := a.tokens.admit(s.claims)
	if newer != nil {
		return s.refused(supersededError(s.claims, newer))
	}
	if changed {
		a.tokensChanged = true
		_ = a.saveState(false) // logged; the memory in this process still holds
	}
	return s
}

// persist writes --state-dir if the latest time seen or the tokens moved.
func (a *Agent) persist(force bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_ = a.saveState(force) // logged
}

// reverify verifies the current token again at t, when its lifetime verdict
// has flipped since it was verified.
func (a *Agent) reverify(t time.Time) *snapshot {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.snap.Load()
	if s.stale(t.UnixNano()) {
		s = a.admit(s.reverified(&a.cfg, t))
		a.publish(s)
	}
	return s
}

// publish makes s current; the caller holds mu.
func (a *Agent) publish(s *snapshot) {
	a.snap.Store(s)
	if s.failure != nil {
		a.metrics.failures.WithLabelValues(string(s.failure.Code)).Inc()
	}
	switch {
	case s.claims == nil:
		a.log.Warn("license not verified", "code", s.failure.Code, "message", s.failure.Message)
	case s.failure != nil:
		a.log.Warn("license token not valid now", "code", s.failure.Code, "message", s.failure.Message, "serial", s.claims.ID)
	default:
		a.log.Info("license verified", "serial", s.claims.ID, "licensee", s.claims.Licensee.Name,
			"product", s.claims.Product.Name, "state", s.claims.State(s.verifiedAt), "features", s.claims.FeaturesAt(s.verifiedAt))
	}
}

// check returns the snapshot to answer from at t and, when the token does not
// stand at t, why: not verified, clock moved backwards, or its lifetime. It is
// on the path of every request, so the common case is loads and comparisons.
func (a *Agent) check(t time.Time) (*snapshot, *license.Error) {
	now := t.UnixNano()
	s := a.snap.Load()
	last := a.observeClock(now)
	if s.claims == nil {
		return s, s.failure
	}
	if f := a.checkClock(s, now, last, t); f != nil {
		return s, f
	}
	if s.stale(now) {
		s = a.reverify(t)
	}
	return s, s.failure
}

// observeClock records now as the latest time seen and returns the previous
// one. It writes at most once a second, so concurrent requests do not contend
// on the shared word.
func (a *Agent) observeClock(now int64) int64 {
	last := a.lastSeen.Load()
	if now-last > int64(time.Second) {
		a.lastSeen.CompareAndSwap(last, now)
	}
	return last
}

// checkClock reports a clock that moved backwards: behind a time already seen,
// or behind the token's issue time, by more than the leeway.
//
// Such a clock is reported as NOT_YET_VALID rather than served from: turning
// the clock back is the cheapest way to stretch an expired license, and a
// verdict taken on a wrong clock is wrong either way. The state holds until the
// clock catches up (or the agent restarts, which forgets the times seen).
func (a *Agent) checkClock(s *snapshot, now, last int64, t time.Time) *license.Error {
	leeway := a.cfg.Leeway.Nanoseconds()
	behindSeen := now < last-leeway
	behindIssue := now < s.issuedAtFloor
	if !behindSeen && !behindIssue {
		if a.clockBehind.Load() && a.clockBehind.CompareAndSwap(true, false) {
			a.log.Info("system clock caught up; licenses are evaluated again", "now", t.UTC().Format(time.RFC3339))
		}
		return nil
	}
	var msg string
	if behindSeen {
		msg = fmt.Sprintf("system clock moved backwards: it reads %s but the agent already saw %s (leeway %s); licenses are not honoured until the clock is right again, fix the node's time (NTP)",
			formatTime(t), formatTime(time.Unix(0, last)), a.cfg.Leeway)
	} else {
		msg = fmt.Sprintf("system clock moved backwards: it reads %s, before the license was issued at %s (leeway %s); fix the node's time (NTP)",
			formatTime(t), formatTime(time.Unix(s.claims.IssuedAt, 0)), a.cfg.Leeway)
	}
	if a.clockBehind.CompareAndSwap(false, true) {
		a.metrics.clockSkew.Inc()
		a.log.Warn("system clock moved backwards", "message", msg)
	}
	return &license.Error{Code: license.CodeNotYetValid, Message: msg}
}

// verdict is the answer to "is the license valid now, and why".
type verdict struct {
	valid   bool
	code    license.Code
	message string
}

// evaluate decides the license at t: the token first (verified, clock, lifetime),
// then the best state of its licenses.
func (a *Agent) evaluate(t time.Time) (*snapshot, verdict) {
	s, fail := a.check(t)
	if fail != nil {
		return s, verdict{code: fail.Code, message: fail.Message}
	}
	code := s.claims.State(t)
	return s, verdict{valid: code.Entitling(), code: code, message: s.claims.Explain(code, t, nil)}
}

func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }
