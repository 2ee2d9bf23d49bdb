package license

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// handlerTransport answers requests with the fake API in the caller's
// goroutine, so a synctest bubble holds client and server and its fake clock is
// the time of both. hang, if set, makes a request wait until it is cancelled.
type handlerTransport struct {
	h    http.Handler
	hang func(*http.Request) bool
}

func (t *handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.hang != nil && t.hang(r) {
		<-r.Context().Done()
		return nil, r.Context().Err()
	}
	sr := r.Clone(r.Context())
	if sr.Body == nil {
		sr.Body = http.NoBody // as a server sees a request without a body
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, sr)
	return rec.Result(), nil
}

func inMemoryClient(t *testing.T, f *fakeAPI) (*Client, *handlerTransport) {
	t.Helper()
	tr := &handlerTransport{h: f}
	c, err := NewClient("https://license-api.test", testToken, keySetOf(t, f.key), WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		t.Fatal(err)
	}
	return c, tr
}

// seatEvent is a SeatEvent with what the keeper said at that moment.
type seatEvent struct {
	SeatEvent
	held bool
	at   time.Duration // since KeepSeat
}

func keepSeat(t *testing.T, ctx context.Context, c *Client, holder string, opts ...KeeperOption) (*SeatKeeper, <-chan seatEvent) {
	t.Helper()
	events := make(chan seatEvent, 100)
	started := make(chan struct{})
	start := time.Now()
	var k *SeatKeeper
	record := OnSeatEvent(func(e SeatEvent) {
		<-started
		events <- seatEvent{SeatEvent: e, held: k.Held(), at: time.Since(start)}
	})
	k, err := c.KeepSeat(ctx, SeatRequest{License: "main", Holder: holder}, append(opts, record)...)
	if err != nil {
		t.Fatal(err)
	}
	close(started)
	return k, events
}

// expectEvent receives the next event and checks its kind, holding and time.
func expectEvent(t *testing.T, events <-chan seatEvent, kind SeatEventKind, held bool, at time.Duration) seatEvent {
	t.Helper()
	return expectEventBetween(t, events, kind, held, at, at)
}

// expectEventBetween is expectEvent for a time that backoff jitter moves.
func expectEventBetween(t *testing.T, events <-chan seatEvent, kind SeatEventKind, held bool, lo, hi time.Duration) seatEvent {
	t.Helper()
	e := <-events
	if e.Kind != kind || e.held != held || e.at < lo || e.at > hi {
		t.Fatalf("event %s (held %t) at %s, err %v; want %s (held %t) at %s to %s", e.Kind, e.held, e.at, e.Err, kind, held, lo, hi)
	}
	return e
}

func TestSeatKeeperHeartbeatsAndReleases(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed")) // ttl 2m, heartbeat every 40s
		c, _ := inMemoryClient(t, f)
		ctx, cancel := context.WithCancel(t.Context())
		k, events := keepSeat(t, ctx, c, "pod-a")

		acquired := expectEvent(t, events, SeatAcquired, true, 0)
		if l, ok := k.Lease(); !ok || l.ID != acquired.Lease.ID || l.Holder != "pod-a" {
			t.Errorf("Lease() = %+v, %t; want %q", l, ok, acquired.Lease.ID)
		}
		r1 := expectEvent(t, events, SeatRenewed, true, 40*time.Second)
		r2 := expectEvent(t, events, SeatRenewed, true, 80*time.Second)
		if !r2.Lease.ExpiresAt.After(r1.Lease.ExpiresAt) || r2.Lease.ID != acquired.Lease.ID {
			t.Errorf("heartbeat did not extend lease %q: %s then %s", acquired.Lease.ID, r1.Lease.ExpiresAt, r2.Lease.ExpiresAt)
		}

		cancel()
		released := expectEvent(t, events, SeatReleased, false, 80*time.Second)
		if released.Err != nil || released.Lease.ID != acquired.Lease.ID {
			t.Errorf("released %q: %v", released.Lease.ID, released.Err)
		}
		<-k.Done()
		if k.Held() || f.leaseCount() != 0 {
			t.Errorf("after Done: held %t, %d leases on the server", k.Held(), f.leaseCount())
		}
	})
}

func TestSeatKeeperReacquiresAfterSeatExpired(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		c, _ := inMemoryClient(t, f)
		_, events := keepSeat(t, t.Context(), c, "pod-a")

		first := expectEvent(t, events, SeatAcquired, true, 0)
		f.expire(first.Lease.ID) // taken by another holder while this one was away
		lost := expectEvent(t, events, SeatLost, false, 40*time.Second)
		if CodeOf(lost.Err) != CodeSeatExpired || lost.Lease.ID != first.Lease.ID {
			t.Errorf("lost %q: %v, want SEAT_EXPIRED", lost.Lease.ID, lost.Err)
		}
		again := expectEvent(t, events, SeatAcquired, true, 40*time.Second)
		if again.Lease.ID == first.Lease.ID {
			t.Errorf("re-acquired the lapsed lease id %q", again.Lease.ID)
		}
		expectEvent(t, events, SeatRenewed, true, 80*time.Second)
	})
}

func TestSeatKeeperWaitsForAFreeSeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		f.seats = 1
		c, _ := inMemoryClient(t, f)
		// Another holder takes the only seat and goes away without releasing it.
		if _, err := c.AcquireSeat(t.Context(), SeatRequest{License: "main", Holder: "crashed-pod"}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		k, events := keepSeat(t, ctx, c, "pod-a")

		waiting := expectEvent(t, events, SeatWaiting, false, 0)
		if CodeOf(waiting.Err) != CodeNoSeatsAvailable || waiting.RetryIn != 2*time.Minute {
			t.Errorf("waiting: %v, retry in %s; want NO_SEATS_AVAILABLE and the lapse of the other lease (2m)", waiting.Err, waiting.RetryIn)
		}
		acquired := expectEvent(t, events, SeatAcquired, true, 2*time.Minute)
		if acquired.Lease.Holder != "pod-a" {
			t.Errorf("acquired %+v", acquired.Lease)
		}
		cancel()
		expectEvent(t, events, SeatReleased, false, 2*time.Minute)
		<-k.Done()
	})
}

func TestSeatKeeperLosesTheSeatWhenHeartbeatsFail(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		c, _ := inMemoryClient(t, f)
		f.setFault(func(r *http.Request, a *fakeAnswer) {
			if r.Method == http.MethodPut { // an ingress that lost its backends
				a.status, a.header, a.body = http.StatusServiceUnavailable, http.Header{}, []byte("no healthy upstream")
			}
		})
		_, events := keepSeat(t, t.Context(), c, "pod-a", WithSeatBackoff(30*time.Second, 30*time.Second))

		expectEvent(t, events, SeatAcquired, true, 0)
		// Still held while retrying: the lease lasts until 2m.
		var last seatEvent
		for _, at := range []time.Duration{40 * time.Second, 70 * time.Second, 100 * time.Second} {
			last = expectEventBetween(t, events, SeatHeartbeatFailed, true, at, at+(at-40*time.Second)/10)
			if last.Err == nil || !strings.Contains(last.Err.Error(), "503") {
				t.Errorf("heartbeat error %v, want the 503", last.Err)
			}
		}
		// The last retry is cut short by the lapse.
		if want := 2*time.Minute - last.at; last.RetryIn != want {
			t.Errorf("last retry in %s, want %s (at the lapse)", last.RetryIn, want)
		}
		lost := expectEvent(t, events, SeatLost, false, 2*time.Minute)
		if !strings.Contains(lost.Err.Error(), "lapsed") {
			t.Errorf("lost: %v", lost.Err)
		}
		expectEvent(t, events, SeatAcquired, true, 2*time.Minute) // acquiring still works
	})
}

func TestSeatKeeperIsNotHeldPastExpiryWhileAHeartbeatHangs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		c, tr := inMemoryClient(t, f)
		tr.hang = func(r *http.Request) bool { return r.Method == http.MethodPut }
		_, events := keepSeat(t, t.Context(), c, "pod-a")

		expectEvent(t, events, SeatAcquired, true, 0)
		failed := expectEvent(t, events, SeatHeartbeatFailed, false, 2*time.Minute)
		if failed.RetryIn != 0 {
			t.Errorf("retry in %s after the lease lapsed, want 0", failed.RetryIn)
		}
		expectEvent(t, events, SeatLost, false, 2*time.Minute)
	})
}

func TestSeatKeeperReleaseIsBounded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		c, tr := inMemoryClient(t, f)
		tr.hang = func(r *http.Request) bool { return r.Method == http.MethodDelete }
		ctx, cancel := context.WithCancel(t.Context())
		k, events := keepSeat(t, ctx, c, "pod-a", WithSeatReleaseTimeout(3*time.Second))

		expectEvent(t, events, SeatAcquired, true, 0)
		cancel()
		released := expectEvent(t, events, SeatReleased, false, 3*time.Second)
		if released.Err == nil {
			t.Error("release that timed out reported no error")
		}
		<-k.Done()
	})
}

func TestSeatKeeperStopsWhileWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		f.seats = 0
		c, _ := inMemoryClient(t, f)
		ctx, cancel := context.WithCancel(t.Context())
		k, events := keepSeat(t, ctx, c, "pod-a")

		expectEvent(t, events, SeatWaiting, false, 0)
		expectEventBetween(t, events, SeatWaiting, false, time.Second, 1100*time.Millisecond)
		cancel()
		<-k.Done()
		synctest.Wait()
		if len(events) != 0 {
			t.Errorf("events after cancel while holding nothing: %+v", <-events)
		}
		if n := len(f.seen()); n != 2 {
			t.Errorf("%d requests, want the 2 acquire attempts and no release", n)
		}
	})
}

// TestSeatKeeperOverTLS runs the keeper against the fake API on a real TLS
// listener, with the real clock: acquire, then release on cancel.
func TestSeatKeeperOverTLS(t *testing.T) {
	f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
	_, c := f.serveTLS(t)
	ctx, cancel := context.WithCancel(t.Context())
	events := make(chan SeatEvent, 100)
	k, err := c.KeepSeat(ctx, SeatRequest{License: "main", Holder: "pod-a"}, OnSeatEvent(func(e SeatEvent) { events <- e }))
	if err != nil {
		t.Fatal(err)
	}
	if e := <-events; e.Kind != SeatAcquired || f.leaseCount() != 1 {
		t.Fatalf("first event %s (%v), %d leases; want Acquired", e.Kind, e.Err, f.leaseCount())
	}
	if !k.Held() {
		t.Error("not held after Acquired")
	}
	cancel()
	<-k.Done()
	if e := <-events; e.Kind != SeatReleased || e.Err != nil {
		t.Errorf("last event %s (%v), want Released", e.Kind, e.Err)
	}
	if k.Held() || f.leaseCount() != 0 {
		t.Errorf("after Done: held %t, %d leases", k.Held(), f.leaseCount())
	}
}

func TestKeepSeatArguments(t *testing.T) {
	c, _ := inMemoryClient(t, newFakeAPI(t, newEd25519Key(t, "k-ed")))
	for _, req := range []SeatRequest{{Holder: "pod-a"}, {License: "main"}} {
		if _, err := c.KeepSeat(t.Context(), req); CodeOf(err) != CodeMalformed {
			t.Errorf("KeepSeat(%+v) = %v, want MALFORMED", req, err)
		}
	}
}

func TestHeartbeatInterval(t *testing.T) {
	now := testNow
	tests := []struct {
		every string
		life  time.Duration
		want  time.Duration
	}{
		{every: "40s", life: 2 * time.Minute, want: 40 * time.Second},
		{every: "", life: 2 * time.Minute, want: 40 * time.Second},
		{every: "soon", life: 90 * time.Second, want: 30 * time.Second},
		{every: "-1s", life: 90 * time.Second, want: 30 * time.Second},
		{every: "2m", life: 2 * time.Minute, want: 40 * time.Second}, // would let it lapse
		{every: "1ns", life: time.Second, want: minHeartbeat},
	}
	for _, tt := range tests {
		a := &SeatAnswer{Time: now, Lease: &Lease{HeartbeatEvery: tt.every, ExpiresAt: now.Add(tt.life)}}
		if got := heartbeatInterval(a); got != tt.want {
			t.Errorf("heartbeatInterval(every %q, life %s) = %s, want %s", tt.every, tt.life, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	b := backoff{lo: time.Second, hi: 10 * time.Second}
	for _, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		got := b.after(context.DeadlineExceeded)
		if lo, hi := want*time.Second, want*time.Second*11/10; got < lo || got > hi {
			t.Errorf("backoff %s, want %s to %s", got, lo, hi)
		}
	}
	if got := b.after(&APIError{StatusCode: 409, RetryAfter: 42 * time.Second}); got != 42*time.Second {
		t.Errorf("with Retry-After: %s, want 42s", got)
	}
	b.reset()
	if got := b.after(context.DeadlineExceeded); got > 1100*time.Millisecond {
		t.Errorf("after reset: %s", got)
	}
}

// A release shed by a busy API (503 with Retry-After, as when every pod of a
// rollout stops at once) is tried again within the release timeout.
func TestSeatKeeperRetriesAShedRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		c, tr := inMemoryClient(t, f)
		shed := 0
		tr.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodDelete && shed < 2 {
				shed++
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = w.Write([]byte(`{"code":"UNAVAILABLE","message":"the license API is at its limit of requests in flight"}`))
				return
			}
			f.ServeHTTP(w, r)
		})
		ctx, cancel := context.WithCancel(t.Context())
		k, events := keepSeat(t, ctx, c, "pod-a")

		expectEvent(t, events, SeatAcquired, true, 0)
		cancel()
		released := expectEvent(t, events, SeatReleased, false, 2*time.Second)
		if released.Err != nil {
			t.Errorf("release after two 503s: %v", released.Err)
		}
		<-k.Done()
		if shed != 2 || f.leaseCount() != 0 {
			t.Errorf("%d releases shed, %d leases left on the server; want 2 and 0", shed, f.leaseCount())
		}
	})
}

// A release the API refuses is not tried again.
func TestSeatKeeperDoesNotRetryARefusedRelease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeAPI(t, newEd25519Key(t, "k-ed"))
		c, _ := inMemoryClient(t, f)
		ctx, cancel := context.WithCancel(t.Context())
		k, events := keepSeat(t, ctx, c, "pod-a")

		expectEvent(t, events, SeatAcquired, true, 0)
		f.fault = func(r *http.Request, a *fakeAnswer) {
			if r.Method == http.MethodDelete {
				*a = *f.answer(r, http.StatusForbidden, f.problem(r, CodeSuspended, "suspended"), true)
			}
		}
		cancel()
		released := expectEvent(t, events, SeatReleased, false, 0)
		if CodeOf(released.Err) != CodeSuspended {
			t.Errorf("release refused as SUSPENDED reported %v", released.Err)
		}
		<-k.Done()
		deletes := 0
		for _, r := range f.seen() {
			if r.method == http.MethodDelete {
				deletes++
			}
		}
		if deletes != 1 {
			t.Errorf("%d release requests, want 1", deletes)
		}
	})
}
