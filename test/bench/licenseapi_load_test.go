package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/internal/testenv"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// contender is one side of a comparison: prepare gets it ready for c workers
// (leases to heartbeat, objects to update), op is one operation of worker w.
type contender struct {
	name    string
	prepare func(c int) error
	op      func(w int) error
	// requests, if set, counts the Kubernetes API requests this side made so
	// far: writes and reads (GET, LIST) of SeatLeases.
	requests *testenv.RequestCounter
}

// round is one timed run of a contender.
type round struct {
	ops           int64
	elapsed       time.Duration
	cpu           cpuTimes
	writes, reads int // SeatLease requests to the API server, when counted
	counted       bool
}

func (r round) rate() float64 { return float64(r.ops) / r.elapsed.Seconds() }

// cpuPerOp is the CPU this process and the control plane spent per operation.
func (r round) cpuPerOp() (self, controlPlane time.Duration) {
	if r.ops == 0 || !r.cpu.ok {
		return 0, 0
	}
	return r.cpu.self / time.Duration(r.ops), r.cpu.controlPlane / time.Duration(r.ops)
}

func (r round) String() string {
	self, cp := r.cpuPerOp()
	calls := ""
	if r.counted && r.ops > 0 {
		calls = fmt.Sprintf(", SeatLease requests per op: %.2f writes, %.2f reads", float64(r.writes)/float64(r.ops), float64(r.reads)/float64(r.ops))
	}
	return fmt.Sprintf("%.0f/s (CPU per op: this process %s, control plane %s%s)", r.rate(), roundDur(self), roundDur(cp), calls)
}

func roundDur(d time.Duration) time.Duration {
	if d > 10*time.Millisecond {
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}

// runWorkers runs op in c workers: warm-up, then counts the operations that end in
// the next d. Any failed operation fails the round: a throughput of errors
// measures nothing.
func runWorkers(c int, warm, d time.Duration, op func(w int) error, requests *testenv.RequestCounter) (round, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var (
		count    atomic.Int64
		errOnce  sync.Once
		firstErr error
		wg       sync.WaitGroup
	)
	for w := range c {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := op(w); err != nil {
					errOnce.Do(func() { firstErr = fmt.Errorf("worker %d: %w", w, err); cancel() })
					return
				}
				count.Add(1)
			}
		})
	}
	pause(ctx, warm)
	w0, r0 := seatLeaseRequests(requests)
	n0, t0, cpu0 := count.Load(), time.Now(), sampleCPU()
	pause(ctx, d)
	n1, t1, cpu1 := count.Load(), time.Now(), sampleCPU()
	w1, r1 := seatLeaseRequests(requests)
	cancel()
	wg.Wait()
	if firstErr != nil {
		return round{}, firstErr
	}
	return round{ops: n1 - n0, elapsed: t1.Sub(t0), cpu: cpu1.sub(cpu0), writes: w1 - w0, reads: r1 - r0, counted: requests != nil}, nil
}

func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// comparison is the outcome of compare.
type comparison struct {
	concurrency               int
	baseRates, ourRates       []float64
	ratios, cpuRatios         []float64
	baseCPU, ourCPU           []time.Duration // this process + control plane, per op
	ratio, baseRate, ourRate  float64
	cpuRatio                  float64
	medianBaseCPU, medianOurs time.Duration
}

// compare measures ours against baseline. First each concurrency is tried once
// on both (short rounds); the one that gives the baseline its best throughput
// is kept for both. Then rounds alternate which side goes first, and the
// medians are reported. With BENCH_API_PROFILE_DIR set, one more round of ours
// runs under the CPU profiler (profile.pprof there), outside the measurement.
func compare(b *testing.B, title string, concurrencies []int, baseline, ours contender, profile string) comparison {
	warm := envDuration("BENCH_API_WARMUP", time.Second)
	calib := envDuration("BENCH_API_CALIBRATE", 3*time.Second)
	d := envDuration("BENCH_API_ROUND", 5*time.Second)
	rounds := envInt("BENCH_API_ROUNDS", 5)

	measure := func(ct contender, c int, d time.Duration) round {
		if err := ct.prepare(c); err != nil {
			b.Fatalf("%s: prepare %s for %d workers: %v", title, ct.name, c, err)
		}
		r, err := runWorkers(c, warm, d, ct.op, ct.requests)
		if err != nil {
			b.Fatalf("%s: %s, %d workers: %v", title, ct.name, c, err)
		}
		return r
	}

	best, bestRate := concurrencies[0], 0.0
	if len(concurrencies) > 1 {
		for _, c := range concurrencies {
			base := measure(baseline, c, calib)
			our := measure(ours, c, calib)
			fmt.Printf("%s: concurrency %d: %s %s, %s %s, ratio %.2f\n", title, c, baseline.name, base, ours.name, our, our.rate()/base.rate())
			if base.rate() > bestRate {
				best, bestRate = c, base.rate()
			}
		}
	}
	out := comparison{concurrency: best}
	for i := range rounds {
		var base, our round
		if i%2 == 0 {
			base, our = measure(baseline, best, d), measure(ours, best, d)
		} else {
			our, base = measure(ours, best, d), measure(baseline, best, d)
		}
		bs, bc := base.cpuPerOp()
		ourSelf, ourCP := our.cpuPerOp()
		out.baseRates = append(out.baseRates, base.rate())
		out.ourRates = append(out.ourRates, our.rate())
		out.ratios = append(out.ratios, our.rate()/base.rate())
		out.baseCPU = append(out.baseCPU, bs+bc)
		out.ourCPU = append(out.ourCPU, ourSelf+ourCP)
		if bs+bc > 0 {
			out.cpuRatios = append(out.cpuRatios, float64(ourSelf+ourCP)/float64(bs+bc))
		}
		fmt.Printf("%s: round %d, concurrency %d, load %s: %s %s; %s %s; ratio %.2f\n",
			title, i+1, best, loadAverage(), baseline.name, base, ours.name, our, our.rate()/base.rate())
	}
	out.ratio, out.baseRate, out.ourRate = median(out.ratios), median(out.baseRates), median(out.ourRates)
	out.medianBaseCPU, out.medianOurs = medianDur(out.baseCPU), medianDur(out.ourCPU)
	if len(out.cpuRatios) > 0 {
		out.cpuRatio = median(out.cpuRatios)
	}

	if profile != "" && os.Getenv("BENCH_API_PROFILE_DIR") != "" {
		profileTime := envDuration("BENCH_API_PROFILE_TIME", 10*time.Second)
		must(b, ours.prepare(best))
		stop := startProfile(b, profile)
		stopCP := startControlPlaneProfile(b, profile, warm+profileTime)
		r, err := runWorkers(best, warm, profileTime, ours.op, ours.requests)
		stop()
		stopCP()
		must(b, err)
		fmt.Printf("%s: profiled %s at concurrency %d: %s\n", title, ours.name, best, r)
		// The control plane's side of the baseline, to compare with ours'.
		must(b, baseline.prepare(best))
		stopCP = startControlPlaneProfile(b, profile+"-baseline", warm+profileTime)
		r, err = runWorkers(best, warm, profileTime, baseline.op, baseline.requests)
		stopCP()
		must(b, err)
		fmt.Printf("%s: profiled the control plane under %s at concurrency %d: %s\n", title, baseline.name, best, r)
	}
	return out
}

// controlPlaneProfile, when set (startAPIEnv sets it), fetches a CPU profile
// of kube-apiserver over d from its /debug/pprof endpoint.
var controlPlaneProfile func(ctx context.Context, d time.Duration) ([]byte, error)

// startControlPlaneProfile profiles kube-apiserver for d into
// BENCH_API_PROFILE_DIR/name-apiserver.pprof; the returned func waits for it.
func startControlPlaneProfile(b *testing.B, name string, d time.Duration) func() {
	dir := os.Getenv("BENCH_API_PROFILE_DIR")
	if dir == "" || controlPlaneProfile == nil {
		return func() {}
	}
	done := make(chan error, 1)
	path := filepath.Join(dir, name+"-apiserver.pprof")
	go func() {
		data, err := controlPlaneProfile(context.Background(), d)
		if err == nil {
			err = os.WriteFile(path, data, 0o644)
		}
		done <- err
	}()
	return func() {
		must(b, <-done)
		fmt.Printf("kube-apiserver CPU profile: %s\n", path)
	}
}

// startProfile starts the CPU profiler into BENCH_API_PROFILE_DIR/name.pprof,
// if that variable is set; the returned func stops it. The heap profiles
// name-heap-start.pprof and name-heap-end.pprof bracket it: what was
// allocated meanwhile is
// go tool pprof -sample_index=alloc_space -diff_base name-heap-start.pprof name-heap-end.pprof
func startProfile(b *testing.B, name string) func() {
	dir := os.Getenv("BENCH_API_PROFILE_DIR")
	if dir == "" {
		return func() {}
	}
	writeHeap := func(suffix string) {
		f, err := os.Create(filepath.Join(dir, name+"-heap-"+suffix+".pprof"))
		must(b, err)
		must(b, pprof.Lookup("allocs").WriteTo(f, 0))
		must(b, f.Close())
	}
	writeHeap("start")
	path := filepath.Join(dir, name+".pprof")
	f, err := os.Create(path)
	must(b, err)
	must(b, pprof.StartCPUProfile(f))
	return func() {
		pprof.StopCPUProfile()
		must(b, f.Close())
		writeHeap("end")
		fmt.Printf("CPU profile: %s (and heap profiles around it)\n", path)
	}
}

func seatLeaseRequests(c *testenv.RequestCounter) (writes, reads int) {
	if c == nil {
		return 0, 0
	}
	return c.Writes("seatleases"), c.Gets("seatleases")
}

func medianDur(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(median(xs))
}

// report prints the medians and reports them as benchmark metrics.
func (c comparison) report(b *testing.B, title, unit string, target float64) {
	b.ReportMetric(c.baseRate, "baseline-"+unit+"/s")
	b.ReportMetric(c.ourRate, unit+"/s")
	b.ReportMetric(c.ratio, "ratio")
	if c.cpuRatio > 0 {
		b.ReportMetric(inverse(c.cpuRatio), "cpu-ratio") // baseline ÷ ours, like ratio
	}
	verdict := "met"
	if c.ratio < target {
		verdict = "NOT met"
	}
	fmt.Printf("%s, median of %d rounds at concurrency %d: ours %.0f/s, baseline %.0f/s, ratio %.2f (target >= %.2f: %s); CPU per op (this process + control plane): ours %s, baseline %s, baseline/ours %.2f\n",
		title, len(c.ratios), c.concurrency, c.ourRate, c.baseRate, c.ratio, target, verdict,
		roundDur(c.medianOurs), roundDur(c.medianBaseCPU), inverse(c.cpuRatio))
}

func inverse(x float64) float64 {
	if x == 0 {
		return 0
	}
	return 1 / x
}

// call sends one license API request as license.Client does (bearer token,
// nonce header, JSON body that carries the same nonce) and reads the whole
// answer; another status than want is an error that quotes the answer.
func call(hc *http.Client, method, url, token, nonce, body string, want int) ([]byte, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(license.HeaderNonce, nonce)
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, url, resp.StatusCode, want, clipBody(data))
	}
	return data, nil
}

func clipBody(b []byte) string {
	if len(b) > 300 {
		return string(b[:300]) + "..."
	}
	return string(b)
}

var errNoLease = errors.New("the answer has no lease")
