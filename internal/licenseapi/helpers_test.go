package licenseapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// issued is a Licensee whose token the operator has written.
type issued struct {
	ns, product, licensee string
	token                 string
	jwks                  []byte
}

// issue creates a Product, a template (adjusted by mutate) and a Licensee
// holding license "main" of it, and waits for the license Secret.
func issue(mutate func(*licensingv1alpha1.LicenseTemplateSpec)) issued {
	ns := newNamespace()
	p := &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-db"},
		Spec: licensingv1alpha1.ProductSpec{
			DisplayName: "Acme DB",
			Features:    []licensingv1alpha1.FeatureDefinition{{Name: "replication"}, {Name: "backup"}},
			Quotas:      []licensingv1alpha1.QuotaDefinition{{Name: "nodes"}},
		},
	}
	Expect(k8sClient.Create(ctx, p)).To(Succeed())
	t := &licensingv1alpha1.LicenseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "standard"},
		Spec: licensingv1alpha1.LicenseTemplateSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
			Type:       licensingv1alpha1.LicenseTypePerpetual,
			Features:   []licensingv1alpha1.FeatureName{"replication"},
			Quotas:     licensingv1alpha1.QuotaMap{"nodes": 3},
		},
	}
	if mutate != nil {
		mutate(&t.Spec)
	}
	Expect(k8sClient.Create(ctx, t)).To(Succeed())
	return addLicensee(ns, "globex")
}

// addLicensee creates Licensee name holding license "main" of template
// "standard" in ns and waits for its token.
func addLicensee(ns, name string) issued {
	l := &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: licensingv1alpha1.LicenseeSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
			Licenses: []licensingv1alpha1.LicenseSpec{{
				Name: "main", TemplateRef: licensingv1alpha1.LocalObjectReference{Name: "standard"},
			}},
		},
	}
	Expect(k8sClient.Create(ctx, l)).To(Succeed())
	return waitToken(ns, name, "")
}

// waitToken waits for a token in the Licensee's Secret other than previous.
func waitToken(ns, name, previous string) issued {
	secret := &corev1.Secret{}
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-license"}, secret)).To(Succeed())
		g.Expect(secret.Data[licensingv1alpha1.LicenseTokenKey]).NotTo(BeEmpty())
		// The convenience copy of the JWKS may follow the token by a moment.
		g.Expect(secret.Data[licensingv1alpha1.JWKSKey]).NotTo(BeEmpty())
		g.Expect(string(secret.Data[licensingv1alpha1.LicenseTokenKey])).NotTo(Equal(previous))
	}).Should(Succeed())
	return issued{
		ns: ns, product: "acme-db", licensee: name,
		token: string(secret.Data[licensingv1alpha1.LicenseTokenKey]),
		jwks:  secret.Data[licensingv1alpha1.JWKSKey],
	}
}

func (i issued) keySet() *license.KeySet {
	ks, err := license.ParseJWKS(i.jwks)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	return ks
}

func (i issued) get() *licensingv1alpha1.Licensee {
	l := &licensingv1alpha1.Licensee{}
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKey{Namespace: i.ns, Name: i.licensee}, l)).To(Succeed())
	return l
}

func (i issued) patch(mutate func(*licensingv1alpha1.Licensee)) {
	l := i.get()
	base := l.DeepCopy()
	mutate(l)
	ExpectWithOffset(1, k8sClient.Patch(ctx, l, client.MergeFrom(base))).To(Succeed())
}

func nonce() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// verifyAnswer checks the License-Signature of a with go-jose directly, not
// through kubelicense code, against the Product's published JWKS: a detached
// JWS over the exact body, typ license-response+jwt.
func verifyAnswer(i issued, a answer) {
	sig := a.header.Get(license.HeaderSignature)
	ExpectWithOffset(1, sig).NotTo(BeEmpty(), "no License-Signature on %d %s", a.status, a.body)
	var set jose.JSONWebKeySet
	ExpectWithOffset(1, json.Unmarshal(i.jwks, &set)).To(Succeed())
	jws, err := jose.ParseDetached(sig, a.body, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	h := jws.Signatures[0].Protected
	ExpectWithOffset(1, h.ExtraHeaders[jose.HeaderType]).To(Equal(license.ResponseTokenType))
	keys := set.Key(h.KeyID)
	ExpectWithOffset(1, keys).To(HaveLen(1), "kid %s not in the JWKS", h.KeyID)
	_, err = jws.Verify(keys[0].Key)
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
}

func seatsTemplate(n int32) func(*licensingv1alpha1.LicenseTemplateSpec) {
	return func(t *licensingv1alpha1.LicenseTemplateSpec) { t.Seats = ptr.To(n) }
}

func activationsTemplate(n int32) func(*licensingv1alpha1.LicenseTemplateSpec) {
	return func(t *licensingv1alpha1.LicenseTemplateSpec) { t.MaxActivations = ptr.To(n) }
}

var _ = time.Second
