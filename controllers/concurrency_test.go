package controllers_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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

var _ = Describe("Licensee controller reading from a cache that lags its own status write", func() {
	It("does not leave the status it wrote in place when the cached copy predates it", func() {
		ns := newNamespace()
		readyProduct(ns, "acme-db")
		t := template(ns, "forever", "acme-db")
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
		l := licensee(ns, "globex", "acme-db", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))
		settled(reconciles("licensee", l))
		// Only the reconciler under test writes from here on.
		stopManager()
		DeferCleanup(func() { stopManager = startManager() })
		reads := &laggingLicensee{Client: k8sClient}
		r := controllers.NewLicenseeReconcilerForTest(reads, &recordingRecorder{}, clk)
		req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(l)}
		features := func() []string { return get(l).Status.Licenses[0].Features }
		setFeatures := func(f ...licensingv1alpha1.FeatureName) {
			t = get(t)
			t.Spec.Features = f
			update(t)
		}

		before := get(l).DeepCopy() // what a lagging cache still shows below
		setFeatures("replication", "backup")
		_, err := r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(features()).To(ConsistOf("replication", "backup"))

		By("the template goes back, and the cache still shows the Licensee from before the status write")
		setFeatures("replication")
		reads.stale = before
		res, err := r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		// Computed from the old copy, the status equals that copy's and would
		// not be written: the reconcile must come back once the cache caught up.
		if res.RequeueAfter == 0 {
			Expect(features()).To(ConsistOf("replication"), "status kept the features of the write the cache had not seen")
		}
		reads.stale = nil
		_, err = r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(features()).To(ConsistOf("replication"))
	})
})

var _ = Describe("Product controller reading from a cache that lags its own status write", func() {
	It("does not rotate the key a second time, dropping the first new key from the JWKS", func() {
		ns := newNamespace()
		p := readyProduct(ns, "acme-db")
		stopManager()
		DeferCleanup(func() { stopManager = startManager() })
		reads := &laggingProduct{Client: k8sClient}
		r := &controllers.ProductReconciler{Client: reads, APIReader: k8sClient, Scheme: scheme.Scheme, Recorder: &recordingRecorder{}, Clock: clk}
		req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(p)}

		p = get(p)
		p.Annotations = map[string]string{licensingv1alpha1.AnnotationRotateKey: "now"}
		update(p)
		annotated := get(p).DeepCopy() // the rotation asked for, not yet handled
		_, err := r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		rotated := get(p).Status.SigningKeyID
		Expect(rotated).NotTo(Equal(annotated.Status.SigningKeyID))

		By("reconciling again from the copy the cache still shows")
		reads.stale = annotated
		_, err = r.Reconcile(ctx, req)
		Expect(err).NotTo(HaveOccurred())
		Expect(get(p).Status.SigningKeyID).To(Equal(rotated), "rotated again for a request already handled")
		Expect(keyIDs(jwksOf(ns, "acme-db"))).To(ContainElement(rotated), "tokens signed with the first new key no longer verify")
	})
})

// laggingProduct serves stale, when set, for that Product.
type laggingProduct struct {
	client.Client
	stale *licensingv1alpha1.Product
}

func (c *laggingProduct) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if p, ok := obj.(*licensingv1alpha1.Product); ok && c.stale != nil && key == client.ObjectKeyFromObject(c.stale) {
		c.stale.DeepCopyInto(p)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// List answers the Product controller's look-up of templates by Product, which
// the API server cannot do (it is a cache index), by filtering a plain list.
func (c *laggingProduct) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	templates, ok := list.(*licensingv1alpha1.LicenseTemplateList)
	if !ok {
		return c.Client.List(ctx, list, opts...)
	}
	o := (&client.ListOptions{}).ApplyOptions(opts)
	product, _ := o.FieldSelector.RequiresExactMatch("spec.productRef.name")
	all := &licensingv1alpha1.LicenseTemplateList{}
	if err := c.Client.List(ctx, all, client.InNamespace(o.Namespace)); err != nil {
		return err
	}
	for _, t := range all.Items {
		if t.Spec.ProductRef.Name == product {
			templates.Items = append(templates.Items, t)
		}
	}
	return nil
}

// laggingLicensee serves stale, when set, for that Licensee, as a cache that
// has not caught up yet would.
type laggingLicensee struct {
	client.Client
	stale *licensingv1alpha1.Licensee
}

func (c *laggingLicensee) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if l, ok := obj.(*licensingv1alpha1.Licensee); ok && c.stale != nil && key == client.ObjectKeyFromObject(c.stale) {
		c.stale.DeepCopyInto(l)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

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
