package bench

// The license API benchmarks (docs/performance.md, "License API"), each against
// the real limit measured in the same run, on one local control plane and one
// manager serving the API over TLS on 127.0.0.1:
//
//   - Validate: POST /v1/validate against a bare net/http TLS server (same TLS
//     config, same server timeouts) that answers the bytes of a real verdict.
//   - Heartbeat: PUT /v1/seats/{id} against a loop that updates a SeatLease
//     (renewedAt) with the same client settings: the one write a heartbeat needs.
//   - AcquireRelease: POST then DELETE /v1/seats against a loop that creates
//     and deletes a SeatLease: the two writes a seat taken and given back needs.
//   - Soak: 1000 SeatKeepers (pkg/license) heartbeating for 2 minutes; counts
//     false lapses and heartbeat latency.
//
//	make bench-api
//	BENCH_API_ROUNDS=3 BENCH_SOAK_DURATION=10s make bench-api   # quicker
//
// Clients and the API share the host's cores, so every round of both sides
// pays the same client cost: the same keep-alive HTTP client, the same requests.

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/testenv"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// Targets of issue 11: ours over the baseline's throughput.
const (
	validateTarget = 0.5
	seatsTarget    = 0.8
)

func BenchmarkLicenseAPI(b *testing.B) {
	e := startAPIEnv(b)
	defer e.stop()
	fmt.Printf("license API benchmarks: nproc %d, GOMAXPROCS %d, %s %s/%s, load average %s\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH, loadAverage())
	b.Run("Validate", func(b *testing.B) {
		for b.Loop() {
			benchValidate(b, e)
		}
	})
	b.Run("Heartbeat", func(b *testing.B) {
		for b.Loop() {
			benchHeartbeat(b, e)
		}
	})
	b.Run("AcquireRelease", func(b *testing.B) {
		for b.Loop() {
			benchAcquireRelease(b, e)
		}
	})
	b.Run("Soak", func(b *testing.B) {
		for b.Loop() {
			benchSoak(b, e)
		}
	})
}

func concurrencies() []int { return envInts("BENCH_API_CONCURRENCY", []int{1, 4, 16, 64}) }

func benchValidate(b *testing.B, e *apiEnv) {
	g := e.issue(b, "validate", 0)
	hc := keepAliveClient(e.pool)
	defer hc.CloseIdleConnections()
	validate := func(base string) func(int) error {
		return func(int) error {
			n := newNonce()
			_, err := call(hc, http.MethodPost, base+license.PathValidate, g.token, n, `{"nonce":"`+n+`"}`, http.StatusOK)
			return err
		}
	}
	header, body := sampleVerdict(b, hc, e.url(), g)
	bare := startBareServer(b, e, header, body)
	defer bare.stop()
	fmt.Printf("validate: the verdict is %d bytes, its headers %d; the bare server answers the same bytes\n", len(body), headerSize(header))
	none := func(int) error { return nil }
	c := compare(b, "validate", concurrencies(),
		contender{name: "bare TLS handler", prepare: none, op: validate(bare.url)},
		contender{name: "license API", prepare: none, op: validate(e.url())},
		"validate")
	c.report(b, "validate", "requests", validateTarget)
}

// sampleVerdict is one real answer of /v1/validate: its headers (signature
// included) and body, checked to be a signed VALID verdict.
func sampleVerdict(b *testing.B, hc *http.Client, base string, g grant) (http.Header, []byte) {
	n := newNonce()
	req, err := http.NewRequest(http.MethodPost, base+license.PathValidate, strings.NewReader(`{"nonce":"`+n+`"}`))
	must(b, err)
	req.Header.Set("Authorization", "Bearer "+g.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	must(b, err)
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	must(b, err)
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("validate: HTTP %d: %s", resp.StatusCode, body)
	}
	must(b, license.VerifyResponse(body, resp.Header.Get(license.HeaderSignature), g.keySet(b)))
	var v license.Verdict
	must(b, json.Unmarshal(body, &v))
	if v.Code != license.CodeValid {
		b.Fatalf("validate: the sample verdict is %s, not VALID: %s", v.Code, body)
	}
	h := resp.Header.Clone()
	h.Del("Date")
	h.Del("Content-Length")
	return h, body
}

func headerSize(h http.Header) int {
	n := 0
	for k, vs := range h {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

type bareServer struct {
	url  string
	stop func()
}

// startBareServer serves header and body for every request, as cheaply as
// net/http allows, with the license API's TLS config and server settings.
func startBareServer(b *testing.B, e *apiEnv, header http.Header, body []byte) bareServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.Copy(io.Discard, r.Body)
			maps.Copy(w.Header(), header)
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
		}),
		// The same settings as licenseapi.Server.Start.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
	go func() { _ = srv.Serve(tls.NewListener(ln, e.tls.Clone())) }()
	return bareServer{url: "https://" + ln.Addr().String(), stop: func() { _ = srv.Close() }}
}

// benchHeartbeat compares heartbeats with updating an object of the same
// shape. Both sides keep BENCH_API_LEASES leases or objects (default four per
// worker at the highest concurrency: 256) and go round them, so that, as with
// real holders, a lease is not renewed again before the cache has seen its
// last renewal (which would cost a conflict and a live read).
func benchHeartbeat(b *testing.B, e *apiEnv) {
	g := e.issue(b, "heartbeat", 1000)
	hc := keepAliveClient(e.pool)
	defer hc.CloseIdleConnections()
	pool := envInt("BENCH_API_LEASES", 4*slices.Max(concurrencies()))
	var (
		leases []string
		turns  []int // per worker: its next turn round the pool
		c      int   // workers
	)
	// next is the index, in a pool of n >= c, of what worker w renews now:
	// worker w goes round the indices w, w+c, w+2c... below n, its own.
	next := func(w, n int) int {
		i := w + turns[w]%((n-w+c-1)/c)*c
		turns[w]++
		return i
	}
	ours := contender{
		name: "license API heartbeat", requests: e.requests,
		prepare: func(workers int) error {
			for len(leases) < max(pool, workers) {
				id, err := acquire(hc, e.url(), g.token, fmt.Sprintf("holder-%d", len(leases)))
				if err != nil {
					return err
				}
				leases = append(leases, id)
			}
			c, turns = workers, make([]int, workers)
			return nil
		},
		op: func(w int) error {
			_, err := call(hc, http.MethodPut, e.url()+license.PathSeats+"/"+url.PathEscape(leases[next(w, len(leases))]), g.token, newNonce(), "", http.StatusOK)
			return err
		},
	}
	must(b, ours.prepare(1))
	template := leaseObject(b, e, g)
	bc, counter, baseNS := baselineClient(b, e)
	var objs []*licensingv1alpha1.SeatLease
	baseline := contender{
		name: "object update", requests: counter,
		prepare: func(workers int) error {
			for len(objs) < max(pool, workers) {
				o := cloneLease(template, baseNS, fmt.Sprintf("heartbeat-%d", len(objs)))
				if err := bc.Create(context.Background(), o); err != nil {
					return err
				}
				objs = append(objs, o)
			}
			c, turns = workers, make([]int, workers)
			return nil
		},
		op: func(w int) error {
			o := objs[next(w, len(objs))]
			o.Spec.RenewedAt = metav1.NewMicroTime(time.Now())
			return bc.Update(context.Background(), o)
		},
	}
	r := compare(b, "heartbeat", concurrencies(), baseline, ours, "heartbeat")
	r.report(b, "heartbeat", "heartbeats", seatsTarget)
	e.deleteLeases(b, g.ns, baseNS)
}

// benchAcquireRelease compares taking a seat for a new holder and giving one
// back with creating and deleting an object of the same shape. Each worker
// gives back the seat it took BENCH_API_HOLD operations before (default 2):
// a real holder keeps its seat for a while, so its release finds the lease
// in the cache; a release right after the acquire would read it live.
func benchAcquireRelease(b *testing.B, e *apiEnv) {
	g := e.issue(b, "seats", 1000)
	hc := keepAliveClient(e.pool)
	defer hc.CloseIdleConnections()
	hold := envInt("BENCH_API_HOLD", 2)
	release := func(id string) error {
		_, err := call(hc, http.MethodDelete, e.url()+license.PathSeats+"/"+url.PathEscape(id), g.token, newNonce(), "", http.StatusOK)
		return err
	}
	var holders atomic.Int64
	held := newHolding[string]()
	ours := contender{
		name: "license API acquire+release", requests: e.requests,
		prepare: func(c int) error { return held.reset(c, release) },
		op: func(w int) error {
			id, err := acquire(hc, e.url(), g.token, fmt.Sprintf("holder-%d", holders.Add(1)))
			if err != nil {
				return err
			}
			return held.push(w, id, hold, release)
		},
	}
	id, err := acquire(hc, e.url(), g.token, "template")
	must(b, err)
	template := leaseObject(b, e, g)
	must(b, release(id))

	bc, counter, baseNS := baselineClient(b, e)
	remove := func(o *licensingv1alpha1.SeatLease) error {
		rv := o.ResourceVersion
		return bc.Delete(context.Background(), o, client.Preconditions{UID: &o.UID, ResourceVersion: &rv})
	}
	var names atomic.Int64
	objs := newHolding[*licensingv1alpha1.SeatLease]()
	baseline := contender{
		name: "object create+delete", requests: counter,
		prepare: func(c int) error { return objs.reset(c, remove) },
		op: func(w int) error {
			o := cloneLease(template, baseNS, fmt.Sprintf("seat-%d", names.Add(1)))
			o.Spec.LeaseID = randomLeaseID()
			if err := bc.Create(context.Background(), o); err != nil {
				return err
			}
			return objs.push(w, o, hold, remove)
		},
	}
	r := compare(b, "acquire+release", concurrencies(), baseline, ours, "acquire-release")
	r.report(b, "acquire+release", "pairs", seatsTarget)
	e.deleteLeases(b, g.ns, baseNS)
}

// holding is what each worker holds, oldest first.
type holding[T any] struct{ byWorker [][]T }

func newHolding[T any]() *holding[T] { return &holding[T]{} }

// push adds v to worker w's holdings and gives back the oldest beyond hold.
func (h *holding[T]) push(w int, v T, hold int, give func(T) error) error {
	h.byWorker[w] = append(h.byWorker[w], v)
	if len(h.byWorker[w]) <= hold {
		return nil
	}
	oldest := h.byWorker[w][0]
	h.byWorker[w] = h.byWorker[w][1:]
	return give(oldest)
}

// reset gives back everything the last round held and makes room for c workers.
func (h *holding[T]) reset(c int, give func(T) error) error {
	for _, vs := range h.byWorker {
		for _, v := range vs {
			if err := give(v); err != nil {
				return err
			}
		}
	}
	h.byWorker = make([][]T, c)
	return nil
}

// acquire takes a seat for holder and returns the lease id.
func acquire(hc *http.Client, base, token, holder string) (string, error) {
	n := newNonce()
	data, err := call(hc, http.MethodPost, base+license.PathSeats, token, n,
		fmt.Sprintf(`{"nonce":%q,"license":"main","holder":%q}`, n, holder), http.StatusCreated)
	if err != nil {
		return "", err
	}
	var a license.SeatAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return "", err
	}
	if a.Lease == nil {
		return "", errNoLease
	}
	return a.Lease.ID, nil
}

// leaseObject is one SeatLease the API wrote for g, as the API server has it.
func leaseObject(b *testing.B, e *apiEnv, g grant) *licensingv1alpha1.SeatLease {
	list := &licensingv1alpha1.SeatLeaseList{}
	must(b, e.c.List(context.Background(), list, client.InNamespace(g.ns)))
	if len(list.Items) == 0 {
		b.Fatalf("no SeatLease in %s after an acquire", g.ns)
	}
	return &list.Items[0]
}

// cloneLease is a copy of t named name in namespace ns, ready to create.
func cloneLease(t *licensingv1alpha1.SeatLease, ns, name string) *licensingv1alpha1.SeatLease {
	o := &licensingv1alpha1.SeatLease{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, Labels: maps.Clone(t.Labels),
			OwnerReferences: t.OwnerReferences,
		},
		Spec: t.Spec,
	}
	o.Spec.Holder = name
	return o
}

// baselineClient is a client with the same settings as the manager's, and
// its request counter; the baselines write in baselineNamespace.
func baselineClient(b *testing.B, e *apiEnv) (client.Client, *testenv.RequestCounter, string) {
	counter := &testenv.RequestCounter{}
	cfg := rest.CopyConfig(e.cfg)
	cfg.Wrap(counter.Wrap)
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	must(b, err)
	return c, counter, baselineNamespace
}

// deleteLeases deletes the SeatLeases a benchmark left in namespaces, so that
// the next one starts with a cache as small as the first did.
func (e *apiEnv) deleteLeases(b *testing.B, namespaces ...string) {
	for _, ns := range namespaces {
		must(b, e.c.DeleteAllOf(context.Background(), &licensingv1alpha1.SeatLease{}, client.InNamespace(ns)))
	}
}

func randomLeaseID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
