package webhook_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/controllers"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

// The suite runs the real manager (every controller, webhooks included)
// against a real kube-apiserver and etcd, and real HTTPS receivers in this
// process. Specs may stop the manager and start another one (a restart).

var (
	env       *envtest.Environment
	cfg       *rest.Config
	k8sClient client.Client
	ctx       context.Context
	cancel    context.CancelFunc
	running   *runningManager
	clk       = &testenv.ShiftedClock{}
)

func TestWebhookDelivery(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(50 * time.Millisecond)
	RunSpecs(t, "Webhook delivery suite")
}

var _ = BeforeSuite(func() {
	ctx, cancel = context.WithCancel(context.Background())
	ctrl.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	cfg, err = testenv.Start(env)
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(cfg, client.Options{Scheme: scheme.Scheme})
	Expect(err).NotTo(HaveOccurred())
	running = startManager(controllers.WebhookOptions{RetryBase: 20 * time.Millisecond, Retention: time.Hour})
})

var _ = AfterSuite(func() {
	if running != nil {
		running.stop()
	}
	cancel()
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

type runningManager struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startManager starts a manager as cmd/manager does, with webhook options w.
func startManager(w controllers.WebhookOptions) *runningManager {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme.Scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   controllers.CacheOptions(),
		// Several managers in one process (restarts) share controller names.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	Expect(err).NotTo(HaveOccurred())
	mctx, mcancel := context.WithCancel(ctx)
	Expect(controllers.SetupAll(mctx, mgr, controllers.Options{Clock: clk, Webhooks: w})).To(Succeed())
	m := &runningManager{cancel: mcancel, done: make(chan struct{})}
	go func() {
		defer GinkgoRecover()
		defer close(m.done)
		Expect(mgr.Start(mctx)).To(Succeed())
	}()
	return m
}

// stop stops the manager and waits until it has.
func (m *runningManager) stop() {
	m.cancel()
	Eventually(m.done).Should(BeClosed())
}

// restart replaces the running manager by a new one with options w.
func restart(w controllers.WebhookOptions) {
	running.stop()
	running = startManager(w)
}

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "webhooks-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// signingSecret creates a Secret holding a fresh Standard Webhooks secret and returns it.
func signingSecret(ns, name string) string {
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	value := "whsec_" + base64.StdEncoding.EncodeToString(key)
	Expect(k8sClient.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{"secret": []byte(value)},
	})).To(Succeed())
	return value
}

// licensing creates a Product with a perpetual template in ns, and more templates.
func licensing(ns, product string, more ...*licensingv1alpha1.LicenseTemplate) {
	Expect(k8sClient.Create(ctx, &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: product},
		Spec:       licensingv1alpha1.ProductSpec{DisplayName: "Acme DB", Features: []licensingv1alpha1.FeatureDefinition{{Name: "replication"}}},
	})).To(Succeed())
	Expect(k8sClient.Create(ctx, &licensingv1alpha1.LicenseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: product + "-perpetual"},
		Spec: licensingv1alpha1.LicenseTemplateSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: product},
			Type:       licensingv1alpha1.LicenseTypePerpetual,
			Features:   []licensingv1alpha1.FeatureName{"replication"},
		},
	})).To(Succeed())
	for _, t := range more {
		t.Namespace = ns
		t.Spec.ProductRef.Name = product
		Expect(k8sClient.Create(ctx, t)).To(Succeed())
	}
}

// poke changes an annotation of obj, so its controller reconciles it now.
func poke(obj client.Object) {
	Expect(testenv.Poke(ctx, k8sClient, obj)).To(Succeed())
}

// newLicensee creates a Licensee of product with one perpetual license "main".
func newLicensee(ns, name, product string, labels map[string]string) *licensingv1alpha1.Licensee {
	l := &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: licensingv1alpha1.LicenseeSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: product},
			ExternalID: "crm-" + name,
			Licenses: []licensingv1alpha1.LicenseSpec{{
				Name: "main", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: product + "-perpetual"},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, l)).To(Succeed())
	return l
}

// secretWith is Secret name holding value under "secret".
func secretWith(ns, name, value string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Data:       map[string][]byte{"secret": []byte(value)},
	}
}
