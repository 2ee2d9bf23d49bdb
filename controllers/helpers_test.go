package controllers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

func product(ns, name string, mutate ...func(*licensingv1alpha1.Product)) *licensingv1alpha1.Product {
	p := &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: licensingv1alpha1.ProductSpec{
			DisplayName: "Acme DB",
			Features:    []licensingv1alpha1.FeatureDefinition{{Name: "replication"}, {Name: "backup"}, {Name: "analytics"}},
			Quotas:      []licensingv1alpha1.QuotaDefinition{{Name: "nodes"}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func template(ns, name, productName string, mutate ...func(*licensingv1alpha1.LicenseTemplateSpec)) *licensingv1alpha1.LicenseTemplate {
	t := &licensingv1alpha1.LicenseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: licensingv1alpha1.LicenseTemplateSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: productName},
			Type:       licensingv1alpha1.LicenseTypePerpetual,
			Features:   []licensingv1alpha1.FeatureName{"replication"},
		},
	}
	for _, m := range mutate {
		m(&t.Spec)
	}
	return t
}

func licensee(ns, name, productName string, licenses ...licensingv1alpha1.LicenseSpec) *licensingv1alpha1.Licensee {
	return &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: licensingv1alpha1.LicenseeSpec{
			ProductRef:  licensingv1alpha1.LocalObjectReference{Name: productName},
			DisplayName: "Globex Corp.",
			ExternalID:  "crm-00042",
			Licenses:    licenses,
		},
	}
}

func licenseFrom(name, templateName string) licensingv1alpha1.LicenseSpec {
	return licensingv1alpha1.LicenseSpec{Name: name, TemplateRef: licensingv1alpha1.LocalObjectReference{Name: templateName}}
}

func dur(s string) *licensingv1alpha1.Duration {
	d := licensingv1alpha1.Duration(s)
	return &d
}

func get[T client.Object](obj T) T {
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return obj
}

func fetch[T client.Object](obj T) func() T {
	return func() T {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		return obj
	}
}

func condition(conds []metav1.Condition, t string) metav1.Condition {
	if c := meta.FindStatusCondition(conds, t); c != nil {
		return *c
	}
	return metav1.Condition{}
}

// haveCondition matches an object's condition type, status and reason.
func productCondition(p *licensingv1alpha1.Product, t string) func() string {
	return func() string {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(p), p)
		c := condition(p.Status.Conditions, t)
		return string(c.Status) + "/" + c.Reason
	}
}

func licenseeCondition(l *licensingv1alpha1.Licensee, t string) func() string {
	return func() string {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(l), l)
		c := condition(l.Status.Conditions, t)
		return string(c.Status) + "/" + c.Reason
	}
}

func secret(ns, name string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func configMap(ns, name string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
}

func exists(obj client.Object) func() bool {
	return func() bool { return k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj) == nil }
}

func pemOf(key any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	Expect(err).NotTo(HaveOccurred())
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func rsaKeyPEM() []byte {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	Expect(err).NotTo(HaveOccurred())
	return pemOf(k)
}

func p256KeyPEM() []byte {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	Expect(err).NotTo(HaveOccurred())
	return pemOf(k)
}

// poke changes an unrelated annotation so the controller reconciles now.
func poke(obj client.Object) {
	Expect(testenv.Poke(ctx, k8sClient, obj)).To(Succeed())
}

// update writes obj as the test changed it; when the controller wrote the object
// meanwhile (status, on another endpoint, still bumps resourceVersion), it retries
// with the latest resourceVersion. The controllers never change these objects'
// spec or metadata, so nothing of theirs is lost.
func update(obj client.Object) {
	Expect(retry.RetryOnConflict(retry.DefaultRetry, func() error {
		err := k8sClient.Update(ctx, obj)
		if apierrors.IsConflict(err) {
			latest := obj.DeepCopyObject().(client.Object)
			Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), latest)).To(Succeed())
			obj.SetResourceVersion(latest.GetResourceVersion())
		}
		return err
	})).To(Succeed())
}
