package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/usage"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// benchSoak holds BENCH_SOAK_HOLDERS seats (default 1000) of one license with
// SeatKeepers, each with its own license.Client and connection (signatures
// and nonces checked, as in a pod), TTL 30s, heartbeat every 10s, for
// BENCH_SOAK_DURATION (default 2m) once all are held. Holders start spread
// over BENCH_SOAK_SPREAD (default 10s, one heartbeat period). A false lapse is
// a heartbeat answered 410 SEAT_EXPIRED, a keeper that lost its seat, or a
// holder whose lease is not, at the end, the one in the API server.
func benchSoak(b *testing.B, e *apiEnv) {
	holders := envInt("BENCH_SOAK_HOLDERS", 1000)
	d := envDuration("BENCH_SOAK_DURATION", 2*time.Minute)
	spread := envDuration("BENCH_SOAK_SPREAD", 10*time.Second)
	ttl := envDuration("BENCH_SOAK_TTL", 30*time.Second)
	g := e.issue(b, "soak", int32(max(holders+holders/10, 1000)))
	keySet := g.keySet(b)

	s := &soakStats{acquired: make([]atomic.Int32, holders)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	keepers := make([]*license.SeatKeeper, holders)
	start := time.Now()
	for i := range holders {
		hc := &http.Client{Timeout: 30 * time.Second, Transport: &timedTransport{stats: s, next: &http.Transport{
			TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: e.pool}, IdleConnTimeout: 90 * time.Second,
		}}}
		c, err := license.NewClient(e.url(), g.token, keySet, license.WithHTTPClient(hc))
		must(b, err)
		// All holders stop at once at the end: let their releases queue up.
		keepers[i], err = c.KeepSeat(ctx, license.SeatRequest{License: "main", Holder: fmt.Sprintf("holder-%04d", i), TTL: ttl.String()},
			license.OnSeatEvent(s.observe(i)), license.WithSeatReleaseTimeout(2*time.Minute))
		must(b, err)
		time.Sleep(spread / time.Duration(holders))
	}
	waitFor(b, 2*time.Minute, func() bool {
		return !slices.ContainsFunc(keepers, func(k *license.SeatKeeper) bool { return !k.Held() })
	})
	ramp := time.Since(start)

	stopProfile := startProfile(b, "soak")
	s.measuring.Store(true)
	cpu0, t0, hb0 := sampleCPU(), time.Now(), s.heartbeats.Load()
	time.Sleep(d)
	cpu1, t1, hb1 := sampleCPU(), time.Now(), s.heartbeats.Load()
	s.measuring.Store(false)
	stopProfile()

	// Every keeper must still hold the lease the API server has for it. A
	// keeper whose lease changes while the list is read is not judged.
	before := make([]license.Lease, holders)
	for i, k := range keepers {
		before[i], _ = k.Lease()
	}
	list := &licensingv1alpha1.SeatLeaseList{}
	must(b, e.c.List(context.Background(), list, client.InNamespace(g.ns)))
	holderOf := map[string]string{} // by lease id; a lost seat leaves its lapsed lease behind
	for i := range list.Items {
		holderOf[usage.LeaseID(&list.Items[i])] = list.Items[i].Spec.Holder
	}
	notHeld, taken := 0, 0
	for i, k := range keepers {
		l, ok := k.Lease()
		switch {
		case !ok:
			notHeld++
		case l.ID != before[i].ID:
		case holderOf[l.ID] != fmt.Sprintf("holder-%04d", i):
			taken++
		}
	}
	reacquired := 0
	for i := range s.acquired {
		if s.acquired[i].Load() > 1 {
			reacquired++
		}
	}

	cancel()
	releaseStart := time.Now()
	for _, k := range keepers {
		<-k.Done()
	}
	releasing := time.Since(releaseStart)
	left := &licensingv1alpha1.SeatLeaseList{}
	must(b, e.c.List(context.Background(), left, client.InNamespace(g.ns)))

	lat := s.window()
	beats := hb1 - hb0
	elapsed := t1.Sub(t0)
	cpu := cpu1.sub(cpu0)
	falseLapses := s.expired.Load() + s.lost.Load() + int64(notHeld) + int64(taken)
	verdict := "met"
	if falseLapses > 0 {
		verdict = "NOT met"
	}
	fmt.Printf("soak: %d holders (ramp %s), %s held: %d heartbeats (%.1f/s), latency p50 %s p99 %s max %s\n",
		holders, ramp.Round(time.Millisecond), d, beats, float64(beats)/elapsed.Seconds(),
		roundDur(percentile(lat, 0.50)), roundDur(percentile(lat, 0.99)), roundDur(percentile(lat, 1)))
	fmt.Printf("soak: false lapses %d (target 0: %s): 410 SEAT_EXPIRED %d, seats lost %d, not held at the end %d, lease taken %d; re-acquired %d; failed heartbeats (not 410) %d, acquire retries %d; leases in the API server at the end %d, after all released at once (in %s) %d (release errors %d)\n",
		falseLapses, verdict, s.expired.Load(), s.lost.Load(), notHeld, taken, reacquired,
		s.failed.Load(), s.waiting.Load(), len(list.Items), releasing.Round(time.Millisecond), len(left.Items), s.releaseErrors.Load())
	if beats > 0 && cpu.ok {
		fmt.Printf("soak: CPU per heartbeat: this process (API, manager, %d clients) %s, control plane %s; load average %s\n",
			holders, roundDur(cpu.self/time.Duration(beats)), roundDur(cpu.controlPlane/time.Duration(beats)), loadAverage())
	}
	for _, m := range s.messages() {
		fmt.Printf("soak: %s\n", m)
	}
	b.ReportMetric(float64(falseLapses), "false-lapses")
	b.ReportMetric(float64(percentile(lat, 0.50))/1e6, "p50-ms")
	b.ReportMetric(float64(percentile(lat, 0.99))/1e6, "p99-ms")
	b.ReportMetric(float64(beats)/elapsed.Seconds(), "heartbeats/s")
}

// soakStats collects what the keepers and their transports saw.
type soakStats struct {
	measuring                    atomic.Bool
	heartbeats, expired, failed  atomic.Int64 // PUT answers: all, 410, other non-200 or no answer
	lost, waiting, releaseErrors atomic.Int64 // keeper events
	acquired                     []atomic.Int32
	mu                           sync.Mutex
	latencies                    []time.Duration // heartbeats answered while measuring
	notes                        []string
}

func (s *soakStats) observe(holder int) func(license.SeatEvent) {
	return func(ev license.SeatEvent) {
		switch ev.Kind {
		case license.SeatAcquired:
			s.acquired[holder].Add(1)
		case license.SeatLost:
			s.lost.Add(1)
			s.note(fmt.Sprintf("holder %d lost its seat: %v", holder, ev.Err))
		case license.SeatWaiting:
			s.waiting.Add(1)
			s.note(fmt.Sprintf("holder %d waits to acquire: %v", holder, ev.Err))
		case license.SeatHeartbeatFailed:
			s.note(fmt.Sprintf("holder %d heartbeat failed: %v", holder, ev.Err))
		case license.SeatReleased:
			if ev.Err != nil {
				s.releaseErrors.Add(1)
				s.note(fmt.Sprintf("holder %d release failed: %v", holder, ev.Err))
			}
		}
	}
}

// note keeps the first few messages of trouble.
func (s *soakStats) note(m string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.notes) < 10 {
		s.notes = append(s.notes, m)
	}
}

func (s *soakStats) messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.notes)
}

func (s *soakStats) record(d time.Duration) {
	if !s.measuring.Load() {
		return
	}
	s.mu.Lock()
	s.latencies = append(s.latencies, d)
	s.mu.Unlock()
}

func (s *soakStats) window() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.latencies)
	slices.Sort(out)
	return out
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// timedTransport times heartbeats (PUT) from sending to the last byte of the
// answer, before the client checks its signature, and counts their statuses.
type timedTransport struct {
	stats *soakStats
	next  http.RoundTripper
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPut {
		return t.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err == nil {
		t.stats.heartbeats.Add(1)
	}
	switch {
	case err != nil && req.Context().Err() != nil:
		return nil, err // the keeper stopped: not a failure of the API
	case err != nil:
		t.stats.failed.Add(1)
		t.stats.note(fmt.Sprintf("heartbeat failed: %v", err))
		return nil, err
	case resp.StatusCode == http.StatusGone:
		t.stats.expired.Add(1)
	case resp.StatusCode != http.StatusOK:
		t.stats.failed.Add(1)
		t.stats.note(fmt.Sprintf("heartbeat answered HTTP %d", resp.StatusCode))
	}
	resp.Body = &timedBody{ReadCloser: resp.Body, done: func() { t.stats.record(time.Since(start)) }}
	return resp, nil
}

// timedBody calls done once, at the end of the body or when it is closed.
type timedBody struct {
	io.ReadCloser
	done func()
	once sync.Once
}

func (b *timedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.once.Do(b.done)
	}
	return n, err
}

func (b *timedBody) Close() error {
	b.once.Do(b.done)
	return b.ReadCloser.Close()
}
