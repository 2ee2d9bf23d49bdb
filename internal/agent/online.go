package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// The online mode (--license-api): every OnlineInterval the agent asks the
// license API for the live verdict (POST /v1/validate, through the
// pkg/license client, which checks each answer's signature against the pinned
// JWKS and its nonce) and answers requests from the latest one. While the API
// is unreachable it answers from the token, for at most OfflineGrace after the
// last online verdict, then fails closed. One call per interval, whatever the
// number of requests: the API limits calls per licensee.

const (
	// pollTimeout bounds one validation: a verdict slower than that is not
	// fresher than the token.
	pollTimeout = 5 * time.Second
	// clientTimeout bounds every call of the client (seats, activations).
	clientTimeout = 15 * time.Second
	// A failing API is asked again after a backoff from OnlineInterval up to
	// maxBackoffIntervals intervals, and never more than a minute apart.
	maxBackoffIntervals = 30
	maxBackoff          = time.Minute
)

// The source of an answer, in its "source" member.
const (
	sourceOnline  = "online"  // the license API's live verdict
	sourceOffline = "offline" // the mounted token
	sourceNone    = "none"    // neither: offline for longer than the grace, failing closed
)

// sourceInfo says which source an answer used; every license answer embeds it.
type sourceInfo struct {
	Source string `json:"source"`
	// OfflineSince is the last online verdict (the agent's start if there was
	// none), for answers that are not online.
	OfflineSince  *time.Time `json:"offlineSince,omitempty"`
	OfflineReason string     `json:"offlineReason,omitempty"`
}

var (
	fromToken  = sourceInfo{Source: sourceOffline} // offline-only mode: no API configured
	fromOnline = sourceInfo{Source: sourceOnline}
)

// linkKind is where the answers at some instant come from.
type linkKind int

const (
	linkOffline linkKind = iota // the token
	linkOnline                  // the latest verdict
	linkClosed                  // nothing: offline past the grace
)

// onlineVerdict is one verdict of the license API, immutable, with the bodies
// of the entitled features encoded once.
type onlineVerdict struct {
	v *license.Verdict
	// at is when the verdict arrived, on the agent's clock.
	at       time.Time
	bodies   map[string][]byte // 200 answers of /v1/features/{name}
	declared map[string]bool   // quotas some license declares
}

func newOnlineVerdict(v *license.Verdict, at time.Time) *onlineVerdict {
	ov := &onlineVerdict{v: v, at: at, bodies: map[string][]byte{}, declared: map[string]bool{}}
	if v.Valid {
		for _, f := range v.Features {
			ov.bodies[f] = mustJSON(featureResponse{Feature: f, Entitled: true, Code: v.Code, sourceInfo: fromOnline})
		}
	}
	for _, l := range v.Licenses {
		for q := range l.Quotas {
			ov.declared[q] = true
		}
	}
	for q := range v.Quotas {
		ov.declared[q] = true
	}
	return ov
}

// linkState is what the latest validation gave.
type linkState struct {
	last *onlineVerdict // the latest verdict, nil before the first
	ok   bool           // the latest validation returned last
	// reason says why the latest validation gave nothing, when !ok.
	reason string
}

// online is the agent's link to the license API.
type online struct {
	transport *caTransport
	startedAt time.Time
	// fresh is how old the latest verdict may be and still be served: a call
	// that hangs is no better than one that fails.
	fresh    time.Duration
	hostname string

	state        atomic.Pointer[linkState]
	closedLogged atomic.Bool // "offline grace exceeded" logged for this episode

	// keeper holds the --seat seat once it was started; seatNote says why no
	// seat is held.
	keeper   atomic.Pointer[license.SeatKeeper]
	seatNote atomic.Pointer[usageNote]
	// activated is set once the --activate fingerprint is active.
	activated      atomic.Bool
	activationNote atomic.Pointer[usageNote]

	// fatal receives the configuration error found by the first verdict
	// (a --seat license without seats, ...); Run returns it.
	fatal chan error

	// Used by the poll goroutine only.
	client            *license.Client
	offlineLogged     bool
	activationStarted bool
	seatWait          usageNote // the latest "waiting for a seat" logged before the keeper started
	activationWait    usageNote
}

// usageNote is the state of the seat or the activation, for answers and logs.
type usageNote struct {
	code    license.Code
	message string
}

// ConfigError is a configuration the user must fix that only the license API
// could reveal (the --seat license has no seats, ...). license-agent exits
// with status 2 for it, as for a bad flag.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// newOnline prepares the online mode: the CA, and the fingerprint file.
func newOnline(a *Agent) (*online, error) {
	cfg := &a.cfg
	tr, err := newCATransport(cfg.LicenseAPICA)
	if err != nil {
		return nil, err
	}
	if cfg.FingerprintFile != "" {
		if cfg.Fingerprint, err = readFingerprint(cfg.FingerprintFile); err != nil {
			return nil, err
		}
	}
	o := &online{transport: tr, startedAt: a.now(), fresh: cfg.OnlineInterval + pollTimeout, fatal: make(chan error, 1)}
	o.hostname, _ = os.Hostname() // only a name shown with the activation
	o.state.Store(&linkState{reason: "no answer from the license API yet"})
	waiting := &usageNote{message: "waiting for the first verdict of the license API"}
	o.seatNote.Store(waiting)
	o.activationNote.Store(waiting)
	return o, nil
}

// readFingerprint reads --fingerprint-file: its content without surrounding
// white space, which must not be empty.
func readFingerprint(path string) (string, error) {
	fc := readFile(path)
	switch {
	case fc.missing:
		return "", fmt.Errorf("--fingerprint-file=%s does not exist; mount the file (e.g. the node's /etc/machine-id through a hostPath volume) or use --fingerprint or --fingerprint-env", path)
	case fc.readErr != "":
		return "", fmt.Errorf("--fingerprint-file=%s: %s", path, fc.readErr)
	}
	fp := strings.TrimSpace(fc.data)
	if fp == "" {
		return "", fmt.Errorf("the fingerprint is empty: --fingerprint-file=%s holds only white space; point it at a file that names this machine (e.g. /etc/machine-id), or use --fingerprint or --fingerprint-env", path)
	}
	if err := checkWireText("--fingerprint-file="+path, fp, license.MaxFingerprintLength); err != nil {
		return "", err
	}
	return fp, nil
}

// link is where the answers at t come from, and the source they say.
func (a *Agent) link(t time.Time) (linkKind, *onlineVerdict, sourceInfo) {
	o := a.online
	if o == nil {
		return linkOffline, nil, fromToken
	}
	st := o.state.Load()
	if st.ok && t.Sub(st.last.at) <= o.fresh {
		return linkOnline, st.last, fromOnline
	}
	since, reason := o.startedAt, st.reason
	if st.last != nil {
		since = st.last.at
	}
	if st.ok {
		reason = "the license API has not answered since " + formatTime(since)
	}
	info := sourceInfo{Source: sourceOffline, OfflineSince: &since, OfflineReason: reason}
	if t.Sub(since) < a.cfg.OfflineGrace {
		return linkOffline, nil, info
	}
	info.Source = sourceNone
	if o.closedLogged.CompareAndSwap(false, true) {
		a.log.Error("offline grace exceeded: failing closed, nothing is entitled until the license API answers",
			"offlineSince", formatTime(since), "offlineGrace", a.cfg.OfflineGrace, "reason", reason)
	}
	return linkClosed, nil, info
}

// closedVerdict is the answer while failing closed.
func (a *Agent) closedVerdict(info sourceInfo) verdict {
	return verdict{code: license.CodeUnavailable, message: fmt.Sprintf(
		"no verdict from the license API since %s, longer than --offline-grace=%s, so the agent no longer answers from the token (%s); restore the connection to %s, answers resume with its next verdict",
		formatTime(*info.OfflineSince), a.cfg.OfflineGrace, info.OfflineReason, a.cfg.LicenseAPI)}
}

// runOnline validates every OnlineInterval until ctx ends, and starts the
// seat keeper and the activation once a verdict allows. It returns after the
// seat was released.
func (a *Agent) runOnline(ctx context.Context) {
	o := a.online
	var usage sync.WaitGroup
	defer func() {
		usage.Wait()
		if k := o.keeper.Load(); k != nil {
			<-k.Done() // released, bounded by the keeper's release timeout
		}
	}()
	retry := a.newRetry()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		wait, err := a.poll(ctx, &retry, &usage)
		if err != nil {
			o.fatal <- err
			return
		}
		timer.Reset(wait)
	}
}

// poll validates once and says when to validate again.
func (a *Agent) poll(ctx context.Context, retry *retryDelay, usage *sync.WaitGroup) (time.Duration, error) {
	c, why := a.apiClient()
	if c == nil {
		wait := retry.after(nil)
		a.pollFailed(why, nil, wait)
		return wait, nil
	}
	pctx, cancel := context.WithTimeout(ctx, pollTimeout)
	v, err := c.Validate(pctx, license.ValidateRequest{Fingerprint: a.cfg.Fingerprint})
	cancel()
	if ctx.Err() != nil {
		return 0, nil
	}
	if err != nil {
		a.metrics.apiCall(callValidate, callCode(err))
		wait := retry.after(err)
		a.pollFailed(err.Error(), err, wait)
		return wait, nil
	}
	a.metrics.apiCall(callValidate, string(v.Code))
	retry.reset()
	a.pollSucceeded(v)
	if err := a.startUsage(ctx, c, v, usage); err != nil {
		return 0, err
	}
	return a.cfg.OnlineInterval, nil
}

// apiClient is the client of the license API with the current token and
// keys; nil (and why) while there is no token to authenticate with.
func (a *Agent) apiClient() (*license.Client, string) {
	o := a.online
	s := a.snap.Load()
	if o.client != nil {
		// A refreshed Secret or a rotated JWKS applies from the next call on.
		o.client.SetToken(s.token)
		o.client.SetKeys(s.keys)
		return o.client, ""
	}
	if s.token == "" || s.keys == nil {
		why := "no license token to authenticate with"
		if s.failure != nil {
			why += ": " + s.failure.Message
		}
		return nil, why
	}
	c, err := license.NewClient(a.cfg.LicenseAPI, s.token, s.keys,
		license.WithHTTPClient(&http.Client{Transport: o.transport, Timeout: clientTimeout}))
	if err != nil {
		return nil, err.Error()
	}
	o.client = c
	return c, ""
}

// pollFailed records a validation that gave no verdict and logs the agent
// going offline, once per episode.
func (a *Agent) pollFailed(reason string, err error, retryIn time.Duration) {
	o := a.online
	prev := o.state.Load()
	o.state.Store(&linkState{last: prev.last, reason: reason})
	if e, ok := errors.AsType[*license.APIError](err); ok && e.StatusCode == http.StatusTooManyRequests {
		a.log.Warn("license API rate limited", "retryIn", retryIn, "error", reason)
	}
	kind, _, info := a.link(a.now()) // logs when this failure ends the grace
	if !o.offlineLogged && kind == linkOffline {
		a.log.Warn("offline: answering from the token", "reason", reason, "offlineSince", formatTime(*info.OfflineSince),
			"failClosedAt", formatTime(info.OfflineSince.Add(a.cfg.OfflineGrace)), "retryIn", retryIn)
	}
	if o.offlineLogged {
		a.log.Debug("license API still unreachable", "reason", reason, "retryIn", retryIn)
	}
	o.offlineLogged = true
}

// pollSucceeded makes v the verdict to answer from and logs what changed.
func (a *Agent) pollSucceeded(v *license.Verdict) {
	o := a.online
	prev := o.state.Load()
	o.state.Store(&linkState{last: newOnlineVerdict(v, a.now()), ok: true})
	o.closedLogged.Store(false)
	if prev.last == nil || prev.last.v.Valid != v.Valid || prev.last.v.Code != v.Code {
		level := slog.LevelInfo
		if !v.Valid {
			level = slog.LevelWarn
		}
		a.log.Log(context.Background(), level, "online verdict", "valid", v.Valid, "code", v.Code, "message", v.Message,
			"licensee", v.Licensee.Name, "features", v.Features)
	}
	if !prev.ok {
		args := []any{"licenseAPI", a.cfg.LicenseAPI}
		if o.offlineLogged {
			since := o.startedAt
			if prev.last != nil {
				since = prev.last.at
			}
			args = append(args, "offlineSince", formatTime(since))
		}
		o.offlineLogged = false
		a.log.Info("online: answering from the license API verdict", args...)
	}
}

// startUsage starts holding the --seat seat and activating the --activate
// fingerprint once a verdict shows the license has seats (activations). A
// license that has none is a configuration error: the agent exits rather
// than wait for what will never come. A verdict that cannot tell (the
// license cannot be evaluated, the licensee is gone) is waited out.
func (a *Agent) startUsage(ctx context.Context, c *license.Client, v *license.Verdict, usage *sync.WaitGroup) error {
	o := a.online
	startSeat := a.cfg.Seat != "" && o.keeper.Load() == nil
	startActivation := a.cfg.Activate != "" && !o.activationStarted
	var seatWait, activationWait *usageNote
	if startSeat {
		ok, wait, err := checkUsage(v, "--seat", a.cfg.Seat, "has no seats", "seats", func(l license.LicenseStatus) int32 { return l.Seats })
		if err != nil {
			return err
		}
		startSeat, seatWait = ok, wait
	}
	if startActivation {
		ok, wait, err := checkUsage(v, "--activate", a.cfg.Activate, "takes no activations", "maxActivations", func(l license.LicenseStatus) int32 { return l.MaxActivations })
		if err != nil {
			return err
		}
		startActivation, activationWait = ok, wait
	}
	if seatWait != nil && *seatWait != o.seatWait {
		o.seatWait = *seatWait
		o.seatNote.Store(seatWait)
		a.log.Warn("waiting for a seat", "license", a.cfg.Seat, "code", seatWait.code, "message", seatWait.message)
	}
	if activationWait != nil && *activationWait != o.activationWait {
		o.activationWait = *activationWait
		o.activationNote.Store(activationWait)
		a.log.Warn("waiting for an activation", "license", a.cfg.Activate, "code", activationWait.code, "message", activationWait.message)
	}
	if startSeat {
		req := license.SeatRequest{License: a.cfg.Seat, Holder: a.cfg.Holder}
		if a.cfg.SeatTTL > 0 {
			req.TTL = a.cfg.SeatTTL.String()
		}
		retry := a.newRetry()
		k, err := c.KeepSeat(ctx, req, license.OnSeatEvent(a.onSeatEvent), license.WithSeatBackoff(retry.lo, retry.hi))
		if err != nil {
			return &ConfigError{Err: fmt.Errorf("--seat=%s: %w", a.cfg.Seat, err)}
		}
		o.seatNote.Store(&usageNote{message: "acquiring a seat"})
		o.keeper.Store(k)
	}
	if startActivation {
		o.activationStarted = true
		o.activationNote.Store(&usageNote{message: "activating the fingerprint"})
		usage.Go(func() { a.activate(ctx, c) })
	}
	return nil
}

// checkUsage reads the limit of license name in v: start when it is
// positive, a ConfigError when the license has none (or does not exist), a
// note to wait on when v cannot tell.
func checkUsage(v *license.Verdict, flagName, name, none, field string, limit func(license.LicenseStatus) int32) (bool, *usageNote, error) {
	var names []string
	for _, l := range v.Licenses {
		if l.Name != name {
			names = append(names, l.Name)
			continue
		}
		switch {
		case limit(l) > 0:
			return true, nil, nil
		case l.State == license.CodeMalformed:
			// Its template is missing or wrong: the limit is unknown, not zero.
			return false, &usageNote{code: l.State, message: fmt.Sprintf("license %s cannot be evaluated: %s", name, l.Message)}, nil
		}
		return false, nil, &ConfigError{Err: fmt.Errorf("%s=%s: license %s of Licensee %s %s (LicenseTemplate %s sets no %s): set spec.%s in the LicenseTemplate, or remove %s",
			flagName, name, name, v.Licensee.Name, none, l.Template, field, field, flagName)}
	}
	if len(names) == 0 {
		// No license at all (the Licensee is gone, or holds nothing usable).
		return false, &usageNote{code: v.Code, message: v.Message}, nil
	}
	return false, nil, &ConfigError{Err: fmt.Errorf("%s=%s: Licensee %s has no license %q; its licenses are %s: set %s to one of them",
		flagName, name, v.Licensee.Name, name, strings.Join(names, ", "), flagName)}
}

// activate activates the fingerprint, retrying with backoff until it is
// active or ctx ends.
func (a *Agent) activate(ctx context.Context, c *license.Client) {
	o := a.online
	retry := a.newRetry()
	for {
		ans, err := c.Activate(ctx, license.ActivateRequest{License: a.cfg.Activate, Fingerprint: a.cfg.Fingerprint, Name: o.hostname})
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			a.metrics.apiCall(callActivate, string(ans.Code))
			o.activationNote.Store(&usageNote{code: ans.Code, message: ans.Message})
			o.activated.Store(true)
			a.log.Info("fingerprint activated", "license", a.cfg.Activate, "message", ans.Message,
				"activations", ans.Activations, "maxActivations", ans.MaxActivations)
			return
		}
		code := callCode(err)
		a.metrics.apiCall(callActivate, code)
		wait := retry.after(err)
		o.activationNote.Store(&usageNote{code: license.Code(code), message: err.Error()})
		a.log.Warn("waiting for an activation", "license", a.cfg.Activate, "code", code, "retryIn", wait, "error", err.Error())
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-timer.C:
		}
	}
}

// onSeatEvent logs and counts what the seat keeper reports.
func (a *Agent) onSeatEvent(e license.SeatEvent) {
	o := a.online
	lic := a.cfg.Seat
	switch e.Kind {
	case license.SeatAcquired:
		a.metrics.apiCall(callAcquireSeat, string(license.CodeValid))
		o.seatNote.Store(&usageNote{code: license.CodeValid, message: "seat held"})
		a.log.Info("seat acquired", "license", lic, "holder", a.cfg.Holder, "lease", e.Lease.ID, "expiresAt", formatTime(e.Lease.ExpiresAt))
	case license.SeatRenewed:
		a.metrics.apiCall(callHeartbeat, string(license.CodeValid))
		a.log.Debug("seat renewed", "license", lic, "lease", e.Lease.ID, "expiresAt", formatTime(e.Lease.ExpiresAt))
	case license.SeatWaiting:
		code := callCode(e.Err)
		a.metrics.apiCall(callAcquireSeat, code)
		o.seatNote.Store(&usageNote{code: license.Code(code), message: e.Err.Error()})
		a.log.Warn("waiting for a seat", "license", lic, "code", code, "retryIn", e.RetryIn, "error", e.Err.Error())
	case license.SeatHeartbeatFailed:
		a.metrics.apiCall(callHeartbeat, callCode(e.Err))
		a.log.Warn("seat heartbeat failed; the seat is still held", "license", lic, "lease", e.Lease.ID, "retryIn", e.RetryIn, "error", e.Err.Error())
	case license.SeatLost:
		code := license.CodeSeatExpired
		if _, ok := errors.AsType[*license.APIError](e.Err); ok {
			a.metrics.apiCall(callHeartbeat, callCode(e.Err))
			if c := license.CodeOf(e.Err); c != "" {
				code = c
			}
		}
		o.seatNote.Store(&usageNote{code: code, message: e.Err.Error()})
		a.log.Warn("seat lost", "license", lic, "lease", e.Lease.ID, "code", code, "error", e.Err.Error())
	case license.SeatReleased:
		if e.Err != nil {
			a.metrics.apiCall(callReleaseSeat, callCode(e.Err))
			a.log.Warn("seat not released; it lapses after its TTL", "license", lic, "lease", e.Lease.ID, "error", e.Err.Error())
			return
		}
		a.metrics.apiCall(callReleaseSeat, string(license.CodeValid))
		o.seatNote.Store(&usageNote{message: "seat released"})
		a.log.Info("seat released", "license", lic, "lease", e.Lease.ID)
	}
}

// Calls of the license API, in license_agent_license_api_calls_total.
const (
	callValidate    = "validate"
	callActivate    = "activate"
	callAcquireSeat = "acquire_seat"
	callHeartbeat   = "heartbeat"
	callReleaseSeat = "release_seat"
)

// Codes of failed calls that got no code from the API.
const (
	codeUntrustedAnswer = "UNTRUSTED_ANSWER" // an answer the client refused to believe
	codeUnreachable     = "UNREACHABLE"      // no answer, or one without a code (a proxy's 502)
)

// callCode is the code of a failed call, for metrics and logs.
func callCode(err error) string {
	if errors.Is(err, license.ErrUntrustedAnswer) {
		return codeUntrustedAnswer
	}
	if c := license.CodeOf(err); c != "" {
		return string(c)
	}
	return codeUnreachable
}

// retryDelay doubles the wait between failed calls from lo to hi, with up to
// 10% jitter so that the pods of a rollout do not call in step. A
// Retry-After is honoured, up to maxBackoff.
type retryDelay struct {
	lo, hi, cur time.Duration
}

func (a *Agent) newRetry() retryDelay {
	lo := a.cfg.OnlineInterval
	return retryDelay{lo: lo, hi: max(lo, min(maxBackoffIntervals*lo, maxBackoff))}
}

func (b *retryDelay) after(err error) time.Duration {
	if e, ok := errors.AsType[*license.APIError](err); ok && e.RetryAfter > 0 {
		return min(max(e.RetryAfter, b.lo), maxBackoff)
	}
	b.cur = min(max(b.cur*2, b.lo), b.hi)
	return b.cur + rand.N(b.cur/10+1)
}

func (b *retryDelay) reset() { b.cur = 0 }

// seatStatus is the --seat seat in /v1/license and /readyz.
type seatStatus struct {
	License   string       `json:"license"`
	Holder    string       `json:"holder"`
	Held      bool         `json:"held"`
	LeaseID   string       `json:"leaseID,omitempty"`
	ExpiresAt *time.Time   `json:"expiresAt,omitempty"`
	Code      license.Code `json:"code,omitempty"`
	Message   string       `json:"message,omitempty"`
}

func (a *Agent) seatStatus() *seatStatus {
	if a.online == nil || a.cfg.Seat == "" {
		return nil
	}
	st := &seatStatus{License: a.cfg.Seat, Holder: a.cfg.Holder}
	if k := a.online.keeper.Load(); k != nil {
		if l, ok := k.Lease(); ok {
			st.Held, st.LeaseID, st.ExpiresAt = true, l.ID, &l.ExpiresAt
			st.Code = license.CodeValid
			return st
		}
	}
	n := a.online.seatNote.Load()
	st.Code, st.Message = n.code, n.message
	return st
}

// activationStatus is the --activate activation in /v1/license and /readyz.
// The fingerprint itself is not repeated (a machine-id is best kept private).
type activationStatus struct {
	License string       `json:"license"`
	Active  bool         `json:"active"`
	Code    license.Code `json:"code,omitempty"`
	Message string       `json:"message,omitempty"`
}

func (a *Agent) activationStatus() *activationStatus {
	if a.online == nil || a.cfg.Activate == "" {
		return nil
	}
	n := a.online.activationNote.Load()
	return &activationStatus{License: a.cfg.Activate, Active: a.online.activated.Load(), Code: n.code, Message: n.message}
}
