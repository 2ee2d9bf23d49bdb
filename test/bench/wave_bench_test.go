package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
)

// BenchmarkExpiryWave issues N licenses whose endsAt is the same whole second
// (onExpiry: Revoke) and times, from that second, until every Licensee's status
// shows the license Expired and its Secret revoked (Ready=True/Revoked comes
// after the Secret write). The yardstick is the best baseline's time to write
// N objects (1, 2, 4, 8 workers, as in BenchmarkIssuanceVsBaseline).
//
// Time precision: a Licensee seen Expired before endsAt, or whose Licensed
// condition turned at an earlier second, is early; one done later than
// endsAt + 1.25 x the baseline's time is late. Both must be zero.
//
//	BENCH_LICENSEES=1000 BENCH_WAVE_WORKERS=4 BENCH_WAVE_MARGIN=60s
func BenchmarkExpiryWave(b *testing.B) {
	e, stop := startBenchEnv(b)
	defer stop()
	n := licenseeCount()
	workers := envInt("BENCH_WAVE_WORKERS", controllers.DefaultLicenseeConcurrency)
	for b.Loop() {
		var baseline time.Duration
		for _, w := range workerCounts(b) {
			r := e.run(b, n, "baseline", w, e.baseline, nil)
			if baseline == 0 || r.elapsed < baseline {
				baseline = r.elapsed
			}
		}
		// Issuance must be over before the wave: kubelicense is given three
		// times what the baseline needed, plus a margin for the Product's key.
		endsAt := time.Now().Add(envDuration("BENCH_WAVE_MARGIN", 3*baseline+20*time.Second)).Truncate(time.Second).Add(time.Second)
		ends := metav1.NewTime(endsAt)
		spec := func(int) licensingv1alpha1.LicenseSpec {
			return licensingv1alpha1.LicenseSpec{Name: "main", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "annual"}, EndsAt: &ends}
		}
		revoke := func(t *licensingv1alpha1.LicenseTemplateSpec) { t.OnExpiry = licensingv1alpha1.ExpiryActionRevoke }
		issued, stopManager := e.start(b, n, "wave", workers, ours, spec, revoke)
		if left := time.Until(endsAt); left < time.Second {
			b.Fatalf("issuing %d Licensees ended %s before the wave at %s: raise BENCH_WAVE_MARGIN", n, left, endsAt.Format(time.RFC3339))
		}
		w := watchWave(context.Background(), b, e.c, issued.namespace, n, endsAt)
		stopManager()

		done := w.doneAfter()
		wave := done[len(done)-1]
		bound := time.Duration(1.25 * float64(baseline))
		late := len(done) - sortedIndex(done, bound)
		fmt.Printf("expiry wave of %d Licensees (%d workers), endsAt %s: all Expired and revoked after %s; baseline (best of %v) writes %d objects in %s; ratio %.2f (target <= 1.25)\n",
			n, workers, endsAt.Format(time.RFC3339), wave.Round(time.Millisecond), workerCounts(b), n, baseline.Round(time.Millisecond), wave.Seconds()/baseline.Seconds())
		fmt.Printf("  done after endsAt: p50 %s, p90 %s, p99 %s, max %s; early %d %v; later than endsAt + %s: %d\n",
			pct(done, 50), pct(done, 90), pct(done, 99), wave.Round(time.Millisecond), len(w.early), w.early, bound.Round(time.Millisecond), late)
		b.ReportMetric(wave.Seconds(), "wave-s")
		b.ReportMetric(baseline.Seconds(), "baseline-s")
		b.ReportMetric(wave.Seconds()/baseline.Seconds(), "wave-ratio")
		b.ReportMetric(float64(len(w.early)), "early")
		b.ReportMetric(float64(late), "late")
		if len(w.early) > 0 {
			b.Errorf("%d Licensees read Expired before their endsAt %s: %v", len(w.early), endsAt.Format(time.RFC3339), w.early)
		}
	}
}

// wave is what the watch saw of an expiry wave.
type wave struct {
	endsAt time.Time
	// done: when each Licensee was first seen Expired with its Secret revoked.
	done map[string]time.Time
	// early: Licensees seen Expired before endsAt, or whose Licensed condition
	// turned at a second before it.
	early []string
}

func (w *wave) doneAfter() []time.Duration {
	var ds []time.Duration
	for _, t := range w.done {
		ds = append(ds, t.Sub(w.endsAt))
	}
	slices.Sort(ds)
	return ds
}

// watchWave watches the Licensees of namespace from now until all n are done.
func watchWave(ctx context.Context, b *testing.B, c client.WithWatch, namespace string, n int, endsAt time.Time) *wave {
	watcher, err := c.Watch(ctx, &licensingv1alpha1.LicenseeList{}, client.InNamespace(namespace))
	must(b, err)
	defer watcher.Stop()
	w := &wave{endsAt: endsAt, done: map[string]time.Time{}}
	seenEarly := map[string]bool{}
	timeout := time.After(time.Until(endsAt) + 20*time.Minute)
	for len(w.done) < n {
		select {
		case ev, ok := <-watcher.ResultChan():
			if !ok {
				b.Fatalf("%s: watch closed with %d of %d Licensees done", namespace, len(w.done), n)
			}
			now := time.Now()
			l, isLicensee := ev.Object.(*licensingv1alpha1.Licensee)
			if !isLicensee || !expired(l) {
				continue
			}
			licensed := meta.FindStatusCondition(l.Status.Conditions, licensingv1alpha1.ConditionLicensed)
			if (now.Before(endsAt) || (licensed != nil && licensed.LastTransitionTime.Time.Before(endsAt))) && !seenEarly[l.Name] {
				seenEarly[l.Name] = true
				w.early = append(w.early, l.Name)
			}
			ready := meta.FindStatusCondition(l.Status.Conditions, licensingv1alpha1.ConditionReady)
			if _, seen := w.done[l.Name]; !seen && ready != nil && ready.Reason == licensingv1alpha1.ReasonRevoked {
				w.done[l.Name] = now
			}
		case <-timeout:
			b.Fatalf("%s: timed out with %d of %d Licensees done", namespace, len(w.done), n)
		}
	}
	// Status says revoked only after the Secret was written; check the Secrets too.
	secrets := &corev1.SecretList{}
	must(b, c.List(ctx, secrets, client.InNamespace(namespace), client.HasLabels{licensingv1alpha1.LabelLicensee}))
	for _, s := range secrets.Items {
		if s.Annotations[licensingv1alpha1.AnnotationExpiresAt] != "revoked" {
			b.Fatalf("Secret %s is not revoked after the wave (expires-at %q)", s.Name, s.Annotations[licensingv1alpha1.AnnotationExpiresAt])
		}
	}
	return w
}

func expired(l *licensingv1alpha1.Licensee) bool {
	return len(l.Status.Licenses) == 1 && l.Status.Licenses[0].State == licensingv1alpha1.LicenseStateExpired
}

// sortedIndex is the number of durations in sorted ds that are at most d.
func sortedIndex(ds []time.Duration, d time.Duration) int {
	i, _ := slices.BinarySearch(ds, d+1)
	return i
}

func pct(ds []time.Duration, p int) time.Duration {
	return ds[(len(ds)-1)*p/100].Round(time.Millisecond)
}
