package controllers_test

import (
	"fmt"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
)

// licenseeWorkers is the Licensee controller's number of workers, as
// controller-runtime reports it.
func licenseeWorkers() float64 {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return -1
	}
	for _, f := range families {
		if f.GetName() != "controller_runtime_max_concurrent_reconciles" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "licensee" {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

var _ = Describe("Licensee controller with several workers", func() {
	It("reconciles DefaultLicenseeConcurrency Licensees at once by default", func() {
		Expect(controllers.DefaultLicenseeConcurrency).To(BeNumerically(">", 1))
		// Set when the controller starts its workers.
		Eventually(licenseeWorkers).Should(BeEquivalentTo(controllers.DefaultLicenseeConcurrency))
	})

	It("issues exactly one token to each of many Licensees created at once, and keeps it", func() {
		ns := newNamespace()
		readyProduct(ns, "acme-db")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "acme-db"))).To(Succeed())
		const n = 40
		all := make([]*licensingv1alpha1.Licensee, n)
		for i := range all {
			all[i] = licensee(ns, fmt.Sprintf("customer-%02d", i), "acme-db", licenseFrom("main", "forever"))
		}
		// In parallel, so the workers pick them up side by side.
		parallel := func(f func(l *licensingv1alpha1.Licensee)) {
			var wg sync.WaitGroup
			for _, l := range all {
				wg.Add(1)
				go func() { defer GinkgoRecover(); defer wg.Done(); f(l) }()
			}
			wg.Wait()
		}
		parallel(func(l *licensingv1alpha1.Licensee) { Expect(k8sClient.Create(ctx, l)).To(Succeed()) })
		for _, l := range all {
			Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		}
		serials := map[string]string{}
		for _, l := range all {
			settled(reconciles("licensee", l))
			l = get(l)
			s := get(secret(ns, l.LicenseSecretName()))
			Expect(s.Annotations[licensingv1alpha1.AnnotationSerial]).To(Equal(l.Status.Serial))
			serials[l.Name] = l.Status.Serial
		}
		// Wake every one of them again at once: nothing is re-signed.
		parallel(func(l *licensingv1alpha1.Licensee) { poke(l.DeepCopy()) })
		for _, l := range all {
			settled(reconciles("licensee", l))
			Expect(get(l).Status.Serial).To(Equal(serials[l.Name]))
			Expect(get(secret(ns, l.LicenseSecretName())).Annotations[licensingv1alpha1.AnnotationSerial]).To(Equal(serials[l.Name]))
		}
		Eventually(issuedEvents(ns)).Should(HaveLen(n))
		for name, count := range issuedEvents(ns)() {
			Expect(count).To(Equal(1), "Issued Events of Licensee %s", name)
		}
	})
})

// issuedEvents counts the token Events (Issued, Renewed) per Licensee in ns.
func issuedEvents(ns string) func() map[string]int {
	return func() map[string]int {
		events := &corev1.EventList{}
		Expect(k8sClient.List(ctx, events, client.InNamespace(ns))).To(Succeed())
		counts := map[string]int{}
		for _, e := range events.Items {
			if e.InvolvedObject.Kind == "Licensee" && (e.Reason == "Issued" || e.Reason == "Renewed") &&
				strings.HasPrefix(e.InvolvedObject.Name, "customer-") {
				counts[e.InvolvedObject.Name] += max(1, int(e.Count))
			}
		}
		return counts
	}
}
