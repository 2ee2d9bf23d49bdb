package licenseapi

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// Limit is one token bucket: Rate requests per second, bursts of Burst.
type Limit struct {
	Rate  float64
	Burst int
}

// keyedLimiter is a token bucket per key (a licensee, a client address). Buckets
// idle long enough to be full again are dropped when the map grows, so a flood
// of addresses cannot grow it without bound.
type keyedLimiter struct {
	name  string
	limit Limit

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// maxBuckets bounds a limiter's map before idle buckets are swept.
const maxBuckets = 10000

func newKeyedLimiter(name string, l Limit) *keyedLimiter {
	return &keyedLimiter{name: name, limit: l, buckets: map[string]*bucket{}}
}

// decision is a limiter's verdict on one request, with what the RateLimit
// headers tell the client.
type decision struct {
	allowed    bool
	limit      int
	remaining  int
	reset      time.Duration // until the bucket is full again
	retryAfter time.Duration // until one request is allowed, when not allowed
}

// allow takes one token for key at now.
func (k *keyedLimiter) allow(key string, now time.Time) decision {
	if k == nil || k.limit.Rate <= 0 {
		return decision{allowed: true}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b, ok := k.buckets[key]
	if !ok {
		if len(k.buckets) >= maxBuckets {
			k.sweep(now)
		}
		b = &bucket{lim: rate.NewLimiter(rate.Limit(k.limit.Rate), k.limit.Burst)}
		k.buckets[key] = b
	}
	b.last = now
	d := decision{limit: k.limit.Burst}
	r := b.lim.ReserveN(now, 1)
	if delay := r.DelayFrom(now); delay > 0 || !r.OK() {
		r.CancelAt(now)
		d.retryAfter = max(delay, time.Second)
	} else {
		d.allowed = true
	}
	tokens := b.lim.TokensAt(now)
	d.remaining = max(int(math.Floor(tokens)), 0)
	d.reset = time.Duration((float64(k.limit.Burst) - tokens) / k.limit.Rate * float64(time.Second))
	return d
}

// sweep drops the buckets that have refilled since their last use: forgetting
// them changes nothing. Caller holds mu.
func (k *keyedLimiter) sweep(now time.Time) {
	full := time.Duration(float64(k.limit.Burst) / k.limit.Rate * float64(time.Second))
	for key, b := range k.buckets {
		if now.Sub(b.last) > full {
			delete(k.buckets, key)
		}
	}
	if len(k.buckets) >= maxBuckets { // all busy: a flood; start over rather than grow
		clear(k.buckets)
	}
}

// setHeaders writes the RateLimit headers of d.
func (d decision) setHeaders(h http.Header) {
	if d.limit == 0 {
		return
	}
	h.Set("RateLimit-Limit", strconv.Itoa(d.limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(d.remaining))
	h.Set("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.reset), 10))
}

func (d decision) problem(what string) *problem {
	return &problem{
		status: http.StatusTooManyRequests, code: license.CodeRateLimited, retryAfter: d.retryAfter,
		message: "too many requests " + what + "; retry after the Retry-After header",
	}
}
