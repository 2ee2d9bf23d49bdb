package license

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"
)

// SeatEventKind says what happened to the seat a SeatKeeper keeps.
type SeatEventKind string

const (
	// SeatAcquired: a lease was obtained, first or after one was lost.
	SeatAcquired SeatEventKind = "Acquired"
	// SeatRenewed: a heartbeat extended the lease.
	SeatRenewed SeatEventKind = "Renewed"
	// SeatWaiting: acquiring failed (NO_SEATS_AVAILABLE, the API unreachable,
	// ...); the keeper tries again after RetryIn.
	SeatWaiting SeatEventKind = "Waiting"
	// SeatHeartbeatFailed: a heartbeat failed but the lease has not lapsed
	// yet, so the seat is still held; the keeper tries again after RetryIn.
	SeatHeartbeatFailed SeatEventKind = "HeartbeatFailed"
	// SeatLost: the lease lapsed before a heartbeat got through, or the API
	// refused to renew it (SEAT_EXPIRED, a suspended license); the keeper
	// acquires again.
	SeatLost SeatEventKind = "Lost"
	// SeatReleased: the keeper's context ended and the lease was given back
	// (Err says why not, if it was not: the seat then lapses after its TTL).
	SeatReleased SeatEventKind = "Released"
)

// SeatEvent reports a change of the seat a SeatKeeper keeps.
type SeatEvent struct {
	Kind SeatEventKind
	// Lease is the lease concerned; zero for SeatWaiting.
	Lease Lease
	// Err says why, for SeatWaiting, SeatHeartbeatFailed, SeatLost and a
	// failed SeatReleased.
	Err error
	// RetryIn is when the keeper tries again, for SeatWaiting and
	// SeatHeartbeatFailed.
	RetryIn time.Duration
}

// Defaults of KeepSeat.
const (
	DefaultSeatReleaseTimeout = 5 * time.Second
	DefaultSeatMinBackoff     = time.Second
	DefaultSeatMaxBackoff     = time.Minute
	// minHeartbeat keeps a lease with a tiny TTL from spinning the keeper.
	minHeartbeat = 100 * time.Millisecond
)

// KeeperOption configures KeepSeat.
type KeeperOption func(*keeperOptions)

type keeperOptions struct {
	onEvent        func(SeatEvent)
	releaseTimeout time.Duration
	minBackoff     time.Duration
	maxBackoff     time.Duration
}

// OnSeatEvent calls fn on every change of the seat, from the keeper's
// goroutine, in order; fn must return quickly (a heartbeat waits for it).
func OnSeatEvent(fn func(SeatEvent)) KeeperOption {
	return func(o *keeperOptions) { o.onEvent = fn }
}

// WithSeatReleaseTimeout bounds the release done when the keeper's context
// ends (default DefaultSeatReleaseTimeout), so shutting down never hangs on an
// unreachable API.
func WithSeatReleaseTimeout(d time.Duration) KeeperOption {
	return func(o *keeperOptions) {
		if d > 0 {
			o.releaseTimeout = d
		}
	}
}

// WithSeatBackoff sets the delays between failed attempts that came without a
// Retry-After: from lo, doubling up to hi (defaults DefaultSeatMinBackoff and
// DefaultSeatMaxBackoff).
func WithSeatBackoff(lo, hi time.Duration) KeeperOption {
	return func(o *keeperOptions) {
		if lo > 0 && hi >= lo {
			o.minBackoff, o.maxBackoff = lo, hi
		}
	}
}

// SeatKeeper holds a floating seat for as long as its context lasts: it
// acquires a lease, waiting while every seat is taken, heartbeats it, acquires
// again when it is lost, and releases it when the context ends. Held says
// whether a seat is held at this instant. A SeatKeeper is safe for concurrent use.
type SeatKeeper struct {
	client *Client
	req    SeatRequest
	opts   keeperOptions
	done   chan struct{}

	mu    sync.Mutex
	lease *Lease
	// until is when the lease lapses on this host's clock: the server's
	// ExpiresAt minus its answer time, from the moment the request was sent.
	// It does not depend on the two clocks agreeing.
	until time.Time
}

// KeepSeat starts a SeatKeeper for req (License and Holder are required; Nonce
// is ignored). It returns at once: the keeper works in its own goroutine until
// ctx ends, then releases the seat (trying again within the release timeout
// when the API sheds or the call fails) and closes Done. Retry-After answers
// are honoured; other failures back off (WithSeatBackoff).
//
// A seat acquired by a request that ctx interrupted is not known to the keeper
// and lapses after its TTL.
func (c *Client) KeepSeat(ctx context.Context, req SeatRequest, opts ...KeeperOption) (*SeatKeeper, error) {
	if req.License == "" {
		return nil, newError(CodeMalformed, nil, "seat request has no license; name the license of the Licensee that has seats")
	}
	if req.Holder == "" {
		return nil, newError(CodeMalformed, nil, "seat request has no holder; name who holds the seat (for a pod: its name and uid)")
	}
	k := &SeatKeeper{
		client: c, req: req, done: make(chan struct{}),
		opts: keeperOptions{releaseTimeout: DefaultSeatReleaseTimeout, minBackoff: DefaultSeatMinBackoff, maxBackoff: DefaultSeatMaxBackoff},
	}
	for _, opt := range opts {
		opt(&k.opts)
	}
	go k.run(ctx)
	return k, nil
}

// Held reports whether the keeper holds a lease that has not lapsed.
func (k *SeatKeeper) Held() bool {
	_, ok := k.Lease()
	return ok
}

// Lease returns the lease held now, if any.
func (k *SeatKeeper) Lease() (Lease, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lease == nil || !time.Now().Before(k.until) {
		return Lease{}, false
	}
	return *k.lease, true
}

// Done is closed once the keeper stopped and gave its seat back.
func (k *SeatKeeper) Done() <-chan struct{} { return k.done }

func (k *SeatKeeper) run(ctx context.Context) {
	defer close(k.done)
	retry := backoff{lo: k.opts.minBackoff, hi: k.opts.maxBackoff}
	var next time.Time // when to act again
	for sleepUntil(ctx, next) {
		lease, until := k.current()
		switch {
		case lease == nil:
			next = k.acquire(ctx, &retry)
		case !time.Now().Before(until):
			k.drop(lease)
			k.emit(SeatEvent{Kind: SeatLost, Lease: *lease, Err: fmt.Errorf("lease %q lapsed at %s before a heartbeat got through", lease.ID, until.Format(time.RFC3339))})
			next = time.Time{}
		default:
			next = k.heartbeat(ctx, lease, until, &retry)
		}
	}
	k.release(ctx)
}

// acquire tries once to take a seat and says when to act next.
func (k *SeatKeeper) acquire(ctx context.Context, retry *backoff) time.Time {
	sent := time.Now()
	a, err := k.client.AcquireSeat(ctx, k.req)
	if err != nil {
		if ctx.Err() != nil {
			return time.Time{}
		}
		wait := retry.after(err)
		k.emit(SeatEvent{Kind: SeatWaiting, Err: err, RetryIn: wait})
		return time.Now().Add(wait)
	}
	retry.reset()
	k.hold(a, sent)
	k.emit(SeatEvent{Kind: SeatAcquired, Lease: *a.Lease})
	return time.Now().Add(heartbeatInterval(a))
}

// heartbeat renews lease once and says when to act next.
func (k *SeatKeeper) heartbeat(ctx context.Context, lease *Lease, until time.Time, retry *backoff) time.Time {
	sent := time.Now()
	hbCtx, cancel := context.WithDeadline(ctx, until) // past until, the answer is moot
	a, err := k.client.Heartbeat(hbCtx, lease.ID)
	cancel()
	switch {
	case err == nil:
		retry.reset()
		k.hold(a, sent)
		k.emit(SeatEvent{Kind: SeatRenewed, Lease: *a.Lease})
		return time.Now().Add(heartbeatInterval(a))
	case ctx.Err() != nil:
		return time.Time{}
	case refusedByAPI(err):
		k.drop(lease)
		retry.reset()
		k.emit(SeatEvent{Kind: SeatLost, Lease: *lease, Err: err})
		return time.Time{}
	default:
		// Keep trying until the lease lapses; run reports the loss at until.
		wait := min(retry.after(err), time.Until(until))
		k.emit(SeatEvent{Kind: SeatHeartbeatFailed, Lease: *lease, Err: err, RetryIn: wait})
		return time.Now().Add(wait)
	}
}

// release gives the seat back on the way out, bounded by the release timeout
// even though ctx has ended.
func (k *SeatKeeper) release(ctx context.Context) {
	lease, _ := k.current()
	if lease == nil {
		return
	}
	k.drop(lease)
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), k.opts.releaseTimeout)
	defer cancel()
	// A release the API shed (503, 429: many holders stopping at once, as in
	// a rollout) or that failed on the way is tried again within the timeout,
	// honouring Retry-After: else the seat stays taken until its TTL.
	retry := backoff{lo: k.opts.minBackoff, hi: k.opts.maxBackoff}
	for {
		_, err := k.client.ReleaseSeat(rctx, lease.ID)
		if refusedByAPI(err) {
			if c := CodeOf(err); c == CodeSeatExpired || c == CodeNotFound {
				err = nil // lapsed already: the seat is free, which is all release wants
			}
		}
		if err == nil || refusedByAPI(err) || !sleepUntil(rctx, time.Now().Add(retry.after(err))) {
			k.emit(SeatEvent{Kind: SeatReleased, Lease: *lease, Err: err})
			return
		}
	}
}

func (k *SeatKeeper) current() (*Lease, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lease, k.until
}

func (k *SeatKeeper) hold(a *SeatAnswer, sent time.Time) {
	lease := *a.Lease
	k.mu.Lock()
	defer k.mu.Unlock()
	k.lease, k.until = &lease, sent.Add(a.Lease.ExpiresAt.Sub(a.Time))
}

func (k *SeatKeeper) drop(lease *Lease) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.lease == lease {
		k.lease = nil
	}
}

func (k *SeatKeeper) emit(e SeatEvent) {
	if k.opts.onEvent != nil {
		k.opts.onEvent(e)
	}
}

// refusedByAPI reports a signed 4xx answer: the API looked at the request and
// said no, so trying the same lease again is pointless. 429 only says "later".
func refusedByAPI(err error) bool {
	e, ok := errors.AsType[*APIError](err)
	return ok && e.Authenticated && e.StatusCode >= 400 && e.StatusCode < 500 && e.StatusCode != http.StatusTooManyRequests
}

// heartbeatInterval is the lease's HeartbeatEvery, or a third of its life when
// that is missing or would let it lapse.
func heartbeatInterval(a *SeatAnswer) time.Duration {
	life := a.Lease.ExpiresAt.Sub(a.Time)
	every, err := time.ParseDuration(a.Lease.HeartbeatEvery)
	if err != nil || every <= 0 || every > life/2 {
		every = life / 3
	}
	return max(every, minHeartbeat)
}

// backoff doubles the delay between failed attempts, with up to 10% jitter so
// that holders that failed together do not retry together.
type backoff struct {
	lo, hi, cur time.Duration
}

// after is how long to wait after err: its Retry-After, or the next backoff.
func (b *backoff) after(err error) time.Duration {
	if e, ok := errors.AsType[*APIError](err); ok && e.RetryAfter > 0 {
		return e.RetryAfter
	}
	b.cur = min(max(b.cur*2, b.lo), b.hi)
	return b.cur + rand.N(b.cur/10+1)
}

func (b *backoff) reset() { b.cur = 0 }

// sleepUntil waits until t and reports whether ctx is still live.
func sleepUntil(ctx context.Context, t time.Time) bool {
	if d := time.Until(t); d > 0 {
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-ctx.Done():
		case <-timer.C:
		}
	}
	return ctx.Err() == nil
}
