package controllers_test

import (
	"bytes"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

var _ = Describe("The manager's caches", func() {
	It("hold no data of Secrets that are not the operator's, and no managed fields", func() {
		ns := newNamespace()
		l := issuedPerpetual(ns)
		// A foreign Secret as kubectl apply leaves it: its data, and a copy of
		// it in the last-applied annotation (annotations are capped at 256 KiB).
		big := secret(ns, "customer-bundle")
		big.Data = map[string][]byte{"bundle": bytes.Repeat([]byte("x"), 512<<10)}
		big.Annotations = map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(bytes.Repeat([]byte("y"), 192<<10))}
		Expect(k8sClient.Create(ctx, big)).To(Succeed())

		// Both caches see every change in order: once the metadata cache has the
		// foreign Secret, the manager's cache has had its chance at it too.
		meta := &metav1.PartialObjectMetadata{}
		meta.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
		Eventually(func() error { return secretMetadataCache.Get(ctx, client.ObjectKeyFromObject(big), meta) }).Should(Succeed())
		Expect(meta.Annotations).To(BeEmpty(), "the metadata cache must not keep kubectl's copy of the data")
		Expect(meta.ManagedFields).To(BeEmpty())
		Expect(apierrors.IsNotFound(managerCache.Get(ctx, client.ObjectKeyFromObject(big), &corev1.Secret{}))).To(BeTrue(),
			"the manager's cache must not hold a foreign Secret")

		// The operator's own license Secret is cached without its data (a digest
		// of it in its place) and without managed fields.
		own := &corev1.Secret{}
		Eventually(func() error {
			return managerCache.Get(ctx, client.ObjectKey{Namespace: ns, Name: l.LicenseSecretName()}, own)
		}).Should(Succeed())
		live := get(secret(ns, l.LicenseSecretName()))
		Expect(own.Data).To(HaveLen(1))
		for k, v := range own.Data {
			Expect(k).NotTo(BeElementOf(licensingv1alpha1.LicenseTokenKey, licensingv1alpha1.LicenseJSONKey, licensingv1alpha1.JWKSKey))
			Expect(len(v)).To(BeNumerically("<", 200), "a digest, not the data")
			Expect(string(v)).NotTo(ContainSubstring(string(live.Data[licensingv1alpha1.LicenseTokenKey])))
		}
		Expect(own.ManagedFields).To(BeEmpty())
		Expect(apierrors.IsNotFound(secretMetadataCache.Get(ctx, client.ObjectKeyFromObject(own), meta))).To(BeTrue(),
			"the metadata cache must leave the Secrets the manager's cache holds to it")
		// Written back by mistake, the cache's copy is refused, not stored without the license.
		err := k8sClient.Update(ctx, own.DeepCopy())
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(get(live).Data).To(HaveKey(licensingv1alpha1.LicenseTokenKey))
		cached := &licensingv1alpha1.Licensee{}
		Expect(managerCache.Get(ctx, client.ObjectKeyFromObject(l), cached)).To(Succeed())
		Expect(get(l).ManagedFields).NotTo(BeEmpty(), "the API server keeps them")
		Expect(cached.ManagedFields).To(BeEmpty())
	})
})
