package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

// BenchmarkManagerMemory runs the manager binary (cmd/manager, a process of its
// own, so its RSS is its own) against the local control plane, with
// BENCH_LICENSEES Licensees (default 10,000) and BENCH_SECRETS unrelated Secrets
// of 512 KiB (default 1,000) in the cluster. It reports the manager's RSS and
// Go heap after issuance, then restarts it and reports the time until every
// Licensee was reconciled again, the writes it made meanwhile (its own client
// metrics, and resourceVersions compared), and the RSS after the restart.
//
//	make bench-scale
//	BENCH_LICENSEES=100 BENCH_SECRETS=10 make bench-scale    # a quick check
func BenchmarkManagerMemory(b *testing.B) {
	log.SetLogger(logr.Discard())
	env, err := testenv.New()
	must(b, err)
	cfg, err := testenv.Start(env)
	must(b, err)
	defer func() { _ = env.Stop() }()
	cfg.QPS, cfg.Burst = 5000, 10000
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.Scheme})
	must(b, err)
	dir := b.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	must(b, os.WriteFile(kubeconfig, env.KubeConfig, 0o600))
	bin := filepath.Join(dir, "manager")
	// Built as the Dockerfile builds the image's binary: what ships is measured.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./cmd/manager")
	build.Dir = testenv.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/manager: %v\n%s", err, out)
	}
	n, m := envInt("BENCH_LICENSEES", 10000), envInt("BENCH_SECRETS", 1000)
	workers := envInt("BENCH_WORKERS", controllers.DefaultLicenseeConcurrency)
	ctx := context.Background()

	for b.Loop() {
		start := time.Now()
		createUnrelatedSecrets(ctx, b, c, m)
		fmt.Printf("%d unrelated Secrets of 512 KiB created in %s\n", m, time.Since(start).Round(time.Millisecond))

		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-memory-"}}
		must(b, c.Create(ctx, ns))
		first := startManager(b, bin, kubeconfig, dir, workers)
		must(b, c.Create(ctx, &licensingv1alpha1.Product{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "acme-db"},
			Spec:       licensingv1alpha1.ProductSpec{Features: []licensingv1alpha1.FeatureDefinition{{Name: "replication"}}},
		}))
		duration := licensingv1alpha1.Duration("8760h")
		must(b, c.Create(ctx, &licensingv1alpha1.LicenseTemplate{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "annual"},
			Spec: licensingv1alpha1.LicenseTemplateSpec{
				ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"}, Type: licensingv1alpha1.LicenseTypeSubscription,
				Duration: &duration, Features: []licensingv1alpha1.FeatureName{"replication"},
			},
		}))
		waitFor(b, 60*time.Second, func() bool {
			p := &licensingv1alpha1.Product{}
			return c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "acme-db"}, p) == nil && meta.IsStatusConditionTrue(p.Status.Conditions, licensingv1alpha1.ConditionReady)
		})
		watcher, err := c.Watch(ctx, &licensingv1alpha1.LicenseeList{}, client.InNamespace(ns.Name))
		must(b, err)
		start = time.Now()
		createLicensees(ctx, b, c, ns.Name, n, licenseeSpec(nil))
		waitAll(ctx, b, c, watcher, ns.Name, n)
		watcher.Stop()
		issuance := time.Since(start)
		// Let the last reconciles and Events finish before reading memory.
		first.waitIdle(b, n)
		rss, heap := first.rss(b), first.gauge(b, "go_memstats_heap_inuse_bytes")
		fmt.Printf("issuance: %d Licensees in %s (%d workers), %d write requests; manager CPU %s, RSS %s (peak %s), Go heap in use %s\n",
			n, issuance.Round(time.Millisecond), workers, first.writes(b), first.cpu(b), mib(rss), mib(first.status(b, "VmHWM")), mib(heap))
		settled := first.settle(b, "issuance")
		first.saveHeap(b, "heap-issued.pb.gz")
		before := versions(ctx, b, c, ns.Name)
		first.stop(b)

		second := startManager(b, bin, kubeconfig, dir, workers)
		resync := second.waitIdle(b, n)
		writes := second.writes(b)
		rssAfter, peakAfter, heapAfter := second.rss(b), second.status(b, "VmHWM"), second.gauge(b, "go_memstats_heap_inuse_bytes")
		changed := changedVersions(before, versions(ctx, b, c, ns.Name))
		fmt.Printf("restart: every Licensee reconciled %s after the process started; writes: %d requests, %d objects changed; manager CPU %s, RSS %s (peak %s), Go heap in use %s\n",
			resync.Round(time.Millisecond), writes, changed, second.cpu(b), mib(rssAfter), mib(peakAfter), mib(heapAfter))
		settledAfter := second.settle(b, "restart")
		second.saveHeap(b, "heap-restarted.pb.gz")
		second.stop(b)
		fmt.Printf("targets: RSS <= 150 MiB, re-sync <= 30s with zero writes\n")
		b.ReportMetric(rss/(1<<20), "rss-MiB")
		b.ReportMetric(rssAfter/(1<<20), "rss-restart-MiB")
		b.ReportMetric(settled/(1<<20), "rss-settled-MiB")
		b.ReportMetric(settledAfter/(1<<20), "rss-restart-settled-MiB")
		b.ReportMetric(resync.Seconds(), "resync-s")
		b.ReportMetric(float64(writes), "resync-writes")
		b.ReportMetric(float64(changed), "resync-changed")
	}
}

func mib(bytes float64) string { return fmt.Sprintf("%.0f MiB", bytes/(1<<20)) }

// settle waits BENCH_SETTLE (default 150s: past the Go runtime's forced
// collection every 2 minutes, which an idle process otherwise waits for),
// scraping the manager every BENCH_SCRAPE_EVERY (30s) meanwhile, and
// reports the RSS then, with its anonymous (heap, stacks) and file-backed
// (the binary's pages) parts: what a memory graph of the idle manager shows
// once the collector has returned the garbage of the import or the start.
func (p *managerProcess) settle(b *testing.B, phase string) float64 {
	b.Helper()
	wait, err := time.ParseDuration(envString("BENCH_SETTLE", "150s"))
	must(b, err)
	every, err := time.ParseDuration(envString("BENCH_SCRAPE_EVERY", "30s"))
	must(b, err)
	// Scraped meanwhile as Prometheus would (the chart's ServiceMonitor
	// interval), unless BENCH_SCRAPE_EVERY is 0.
	deadline := time.Now().Add(wait)
	for every > 0 && time.Until(deadline) > every {
		time.Sleep(every)
		p.scrape(b)
	}
	time.Sleep(time.Until(deadline))
	rss, anon, file := p.rss(b), p.status(b, "RssAnon"), p.status(b, "RssFile")
	runtime := p.runtimeMemory(b) // a scrape, as Prometheus makes every 30s
	fmt.Printf("%s, %s idle: manager RSS %s (anonymous %s, file %s), %s; RSS after that scrape %s\n", phase, wait, mib(rss),
		mib(anon), mib(file), runtime, mib(p.rss(b)))
	return rss
}

// cpu is the CPU time the manager has used since it started.
func (p *managerProcess) cpu(b *testing.B) time.Duration {
	d, ok := procCPU(strconv.Itoa(p.cmd.Process.Pid))
	if !ok {
		b.Fatalf("no CPU time in /proc/%d/stat", p.cmd.Process.Pid)
	}
	return d
}

// runtimeMemory says where the Go runtime's memory is, from the manager's
// Go collector: live and dead objects (heap alloc), the spans that hold them
// (heap in use: the difference is free slots in partly used spans), free
// spans not yet returned to the kernel, the next collection's goal, stacks
// and the runtime's own structures.
func (p *managerProcess) runtimeMemory(b *testing.B) string {
	f := p.scrape(b)
	g := func(name string) float64 { return sum(f, name) }
	return fmt.Sprintf("Go heap alloc %s, in use %s, free not released %s, next GC %s, stacks %s, runtime %s",
		mib(g("go_memstats_heap_alloc_bytes")), mib(g("go_memstats_heap_inuse_bytes")),
		mib(g("go_memstats_heap_idle_bytes")-g("go_memstats_heap_released_bytes")), mib(g("go_memstats_next_gc_bytes")),
		mib(g("go_memstats_stack_sys_bytes")),
		mib(g("go_memstats_mspan_sys_bytes")+g("go_memstats_mcache_sys_bytes")+g("go_memstats_gc_sys_bytes")+
			g("go_memstats_other_sys_bytes")+g("go_memstats_buck_hash_sys_bytes")))
}

// createUnrelatedSecrets creates m Secrets of 512 KiB that are not the
// operator's, in a namespace of their own.
func createUnrelatedSecrets(ctx context.Context, b *testing.B, c client.Client, m int) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-unrelated-"}}
	must(b, c.Create(ctx, ns))
	payload := bytes.Repeat([]byte("u"), 512<<10)
	createInParallel(ctx, b, c, m, func(i int) client.Object {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: fmt.Sprintf("unrelated-%05d", i), Labels: map[string]string{"app": "someone-else"}},
			Data:       map[string][]byte{"blob": payload},
		}
	})
}

// versions are the resourceVersions of the Licensees and Secrets in namespace.
func versions(ctx context.Context, b *testing.B, c client.Client, namespace string) map[string]string {
	out := map[string]string{}
	licensees := &licensingv1alpha1.LicenseeList{}
	must(b, c.List(ctx, licensees, client.InNamespace(namespace)))
	for _, l := range licensees.Items {
		out["licensee/"+l.Name] = l.ResourceVersion
	}
	secrets := &corev1.SecretList{}
	must(b, c.List(ctx, secrets, client.InNamespace(namespace)))
	for _, s := range secrets.Items {
		out["secret/"+s.Name] = s.ResourceVersion
	}
	return out
}

func changedVersions(before, after map[string]string) int {
	changed := 0
	for k, v := range after {
		if before[k] != v {
			changed++
		}
	}
	return changed + max(0, len(before)-len(after))
}

// managerProcess is a running cmd/manager.
type managerProcess struct {
	cmd     *exec.Cmd
	started time.Time
	metrics string
	pprof   string // base URL of /debug/pprof, or "" (BENCH_PPROF_DIR unset)
	exited  chan struct{}
}

func startManager(b *testing.B, bin, kubeconfig, dir string, workers int) *managerProcess {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(b, err)
	addr := l.Addr().String()
	must(b, l.Close())
	logFile, err := os.OpenFile(filepath.Join(dir, "manager.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	must(b, err)
	args := []string{
		"--metrics-bind-address=" + addr, "--metrics-secure=false", "--health-probe-bind-address=0", "--license-api-bind-address=0",
		"--licensee-concurrency=" + strconv.Itoa(workers),
		"--kube-api-qps=" + strconv.Itoa(int(clientQPS())), "--kube-api-burst=" + strconv.Itoa(clientBurst()),
	}
	pprofURL := ""
	if os.Getenv("BENCH_PPROF_DIR") != "" {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		must(b, err)
		pprofAddr := pl.Addr().String()
		must(b, pl.Close())
		args = append(args, "--pprof-bind-address="+pprofAddr)
		pprofURL = "http://" + pprofAddr + "/debug/pprof"
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	if limit := os.Getenv("BENCH_MANAGER_GOMEMLIMIT"); limit != "" {
		// The manager's soft memory limit only (as the chart sets it from the
		// container's limit), not this process's.
		cmd.Env = append(cmd.Env, "GOMEMLIMIT="+limit)
	}
	if gogc := os.Getenv("BENCH_MANAGER_GOGC"); gogc != "" {
		// The manager's GOGC only, as a GOGC in its Deployment would be.
		cmd.Env = append(cmd.Env, "GOGC="+gogc)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p := &managerProcess{cmd: cmd, metrics: "http://" + addr + "/metrics", pprof: pprofURL, exited: make(chan struct{})}
	p.started = time.Now()
	must(b, cmd.Start())
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(p.exited) }()
	return p
}

// saveHeap writes the manager's heap profile (after a GC) to
// $BENCH_PPROF_DIR/name, when profiling was asked for.
func (p *managerProcess) saveHeap(b *testing.B, name string) {
	if p.pprof == "" {
		return
	}
	resp, err := http.Get(p.pprof + "/heap?gc=1")
	must(b, err)
	defer resp.Body.Close()
	f, err := os.Create(filepath.Join(os.Getenv("BENCH_PPROF_DIR"), name))
	must(b, err)
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	must(b, err)
	fmt.Printf("after a forced collection: manager RSS %s, %s\n", mib(p.rss(b)), p.runtimeMemory(b))
}

func (p *managerProcess) stop(b *testing.B) {
	must(b, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
		b.Fatal("the manager did not stop within a minute of SIGTERM")
	}
}

// scrape reads the manager's metrics; nil while it is not serving them yet.
func (p *managerProcess) scrape(b *testing.B) map[string]*dto.MetricFamily {
	select {
	case <-p.exited:
		b.Fatalf("the manager exited: %v (see its log in the benchmark's temporary directory)", p.cmd.ProcessState)
	default:
	}
	resp, err := http.Get(p.metrics)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		b.Fatalf("parse the manager's metrics: %v", err)
	}
	return families
}

// sum adds the values of family's series whose labels include all of want
// (label=value); a value of "*" matches any.
func sum(families map[string]*dto.MetricFamily, family string, want ...string) float64 {
	f := families[family]
	if f == nil {
		return 0
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		match := true
		for _, w := range want {
			k, v, _ := strings.Cut(w, "=")
			if labels[k] != v {
				match = false
			}
		}
		if match {
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return total
}

func (p *managerProcess) gauge(b *testing.B, name string) float64 {
	return sum(p.scrape(b), name)
}

// waitIdle waits until the Licensee controller has reconciled at least n
// Licensees, its queue is empty and no worker is busy, and returns how long
// after the process started that was.
func (p *managerProcess) waitIdle(b *testing.B, n int) time.Duration {
	deadline := time.Now().Add(20 * time.Minute)
	for {
		if f := p.scrape(b); f != nil &&
			sum(f, "controller_runtime_reconcile_total", "controller=licensee", "result=success")+
				sum(f, "controller_runtime_reconcile_total", "controller=licensee", "result=requeue_after") >= float64(n) &&
			sum(f, "workqueue_depth", "name=licensee") == 0 &&
			sum(f, "controller_runtime_active_workers", "controller=licensee") == 0 {
			return time.Since(p.started)
		}
		if time.Now().After(deadline) {
			b.Fatal("the manager did not reconcile every Licensee within 20 minutes")
		}
		// Each scrape makes the manager describe every Licensee (about 12 MB
		// of garbage at 10,000): polling at 10 Hz was a third of what the
		// manager allocated during a restart and inflated its RSS. Once a
		// second keeps the re-sync time to the second, far inside its target.
		time.Sleep(time.Second)
	}
}

// writes counts the manager's write requests to the API server so far.
func (p *managerProcess) writes(b *testing.B) int {
	f := p.scrape(b)
	total := 0.0
	for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		total += sum(f, "rest_client_requests_total", "method="+method)
	}
	return int(total)
}

// status is a size field of /proc/<pid>/status (VmRSS, VmHWM) in bytes.
func (p *managerProcess) status(b *testing.B, field string) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	must(b, err)
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), field+":"); ok {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			must(b, err)
			return float64(kb) * 1024
		}
	}
	b.Fatalf("no %s in /proc/%d/status", field, p.cmd.Process.Pid)
	return 0
}

func (p *managerProcess) rss(b *testing.B) float64 { return p.status(b, "VmRSS") }
