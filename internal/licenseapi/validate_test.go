package licenseapi_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/util/json"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

var _ = Describe("POST /v1/validate", func() {
	It("answers the live verdict, signed over the exact body and bound to the nonce", func() {
		i := issue(nil)
		n := nonce()
		a := call(apiA, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: n})
		Expect(a.status).To(Equal(http.StatusOK), string(a.body))
		verifyAnswer(i, a)
		var v license.Verdict
		a.decode(&v)
		Expect(v.Valid).To(BeTrue())
		Expect(v.Code).To(Equal(license.CodeValid))
		Expect(v.Nonce).To(Equal(n))
		Expect(v.Time).To(BeTemporally("~", clk.Now(), 5*time.Second))
		Expect(v.Licensee.Name).To(Equal("globex"))
		Expect(v.Product.Name).To(Equal("acme-db"))
		Expect(v.Features).To(Equal([]string{"replication"}))
		Expect(v.Quotas).To(Equal(map[string]int64{"nodes": 3}))
		Expect(v.Licenses).To(HaveLen(1))
		Expect(v.Licenses[0].State).To(Equal(license.CodeValid))
		Expect(a.header.Get("RateLimit-Limit")).NotTo(BeEmpty())

		By("the other replica gives the same verdict")
		b := call(apiB, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: n})
		Expect(b.status).To(Equal(http.StatusOK))
		var vb license.Verdict
		b.decode(&vb)
		Expect(vb.Code).To(Equal(v.Code))
		Expect(vb.Features).To(Equal(v.Features))

		By("a body changed by one byte no longer matches the signature")
		tampered := a
		tampered.body = []byte(strings.Replace(string(a.body), `"valid":true`, `"valid":false`, 1))
		var set jose.JSONWebKeySet
		Expect(json.Unmarshal(i.jwks, &set)).To(Succeed())
		jws, err := jose.ParseDetached(a.header.Get(license.HeaderSignature), tampered.body, []jose.SignatureAlgorithm{jose.EdDSA})
		Expect(err).NotTo(HaveOccurred())
		_, err = jws.Verify(set.Keys[0].Key)
		Expect(err).To(HaveOccurred())
	})

	It("answers FEATURE_NOT_ENTITLED for a feature the licensee lacks, and the nonce from the header", func() {
		i := issue(nil)
		a := call(apiA, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: "n-1", Feature: "backup"})
		Expect(a.status).To(Equal(http.StatusOK))
		var v license.Verdict
		a.decode(&v)
		Expect(v.Valid).To(BeFalse())
		Expect(v.Code).To(Equal(license.CodeFeatureNotEntitled))

		a = call(apiA, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: "n-1", Feature: "replication"})
		a.decode(&v)
		Expect(v.Valid).To(BeTrue())
	})

	It("applies a suspension within a second, while the old token still verifies offline", func() {
		i := issue(nil)
		i.patch(func(l *licensingv1alpha1.Licensee) { l.Spec.Suspended = true })
		suspendedAt := time.Now()
		Eventually(func() license.Code {
			var v license.Verdict
			call(apiB, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()}).decode(&v)
			return v.Code
		}).WithTimeout(time.Second).WithPolling(20 * time.Millisecond).Should(Equal(license.CodeSuspended))
		GinkgoWriter.Printf("suspension seen by the API after %s\n", time.Since(suspendedAt))

		claims, err := license.Verify(i.token, i.keySet(), clk.Now())
		Expect(err).NotTo(HaveOccurred())
		Expect(claims.State(clk.Now())).To(Equal(license.CodeValid), "the old token itself still says VALID offline")
	})

	It("answers REVOKED for a token of a Licensee deleted and created again", func() {
		i := issue(nil)
		Expect(k8sClient.Delete(ctx, i.get())).To(Succeed())
		Eventually(func() license.Code {
			var v license.Verdict
			call(apiA, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()}).decode(&v)
			return v.Code
		}).Should(Equal(license.CodeRevoked))

		clk.Advance(2 * time.Second) // the new Licensee is created in a later second
		addLicensee(i.ns, "globex")
		var v license.Verdict
		a := call(apiA, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()})
		a.decode(&v)
		Expect(v.Code).To(Equal(license.CodeRevoked), string(a.body))
		Expect(v.Valid).To(BeFalse())
		verifyAnswer(i, a)
	})

	It("refuses a forged token and a token of another Product", func() {
		i := issue(nil)
		other := issue(nil) // another namespace, another Product key

		By("a token whose payload was changed")
		parts, otherParts := strings.Split(i.token, "."), strings.Split(other.token, ".")
		forged := parts[0] + "." + otherParts[1] + "." + parts[2]
		a := call(apiA, "POST", "/v1/validate", forged, license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusUnauthorized), string(a.body))
		Expect(a.problem().Code).To(Or(Equal(license.CodeSignatureInvalid), Equal(license.CodeUnknownKey)))
		Expect(a.header.Get(license.HeaderSignature)).To(BeEmpty(), "an unauthenticated answer is not signed")

		By("a token signed by a key of our own making, with the Product's kid")
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		Expect(err).NotTo(HaveOccurred())
		claims, err := license.Verify(i.token, i.keySet(), clk.Now())
		Expect(err).NotTo(HaveOccurred())
		var set jose.JSONWebKeySet
		Expect(json.Unmarshal(i.jwks, &set)).To(Succeed())
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: set.Keys[0].KeyID}},
			(&jose.SignerOptions{}).WithType(license.TokenType))
		Expect(err).NotTo(HaveOccurred())
		payload, err := json.Marshal(claims)
		Expect(err).NotTo(HaveOccurred())
		jws, err := signer.Sign(payload)
		Expect(err).NotTo(HaveOccurred())
		own, err := jws.CompactSerialize()
		Expect(err).NotTo(HaveOccurred())
		a = call(apiA, "POST", "/v1/validate", own, license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusUnauthorized))
		Expect(a.problem().Code).To(Equal(license.CodeSignatureInvalid))

		By("another Product's genuine token, relabelled as ours")
		claimsB, err := license.Verify(other.token, other.keySet(), clk.Now())
		Expect(err).NotTo(HaveOccurred())
		claimsB.Issuer = license.IssuerPrefix + i.ns + "/acme-db"
		var setB jose.JSONWebKeySet
		Expect(json.Unmarshal(other.jwks, &setB)).To(Succeed())
		payload, err = json.Marshal(claimsB)
		Expect(err).NotTo(HaveOccurred())
		// Signed by an unknown key under B's kid: A's JWKS does not have it.
		signerB, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: jose.JSONWebKey{Key: priv, KeyID: setB.Keys[0].KeyID}},
			(&jose.SignerOptions{}).WithType(license.TokenType))
		Expect(err).NotTo(HaveOccurred())
		jws, err = signerB.Sign(payload)
		Expect(err).NotTo(HaveOccurred())
		relabelled, err := jws.CompactSerialize()
		Expect(err).NotTo(HaveOccurred())
		a = call(apiA, "POST", "/v1/validate", relabelled, license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusUnauthorized))
		Expect(a.problem().Code).To(Equal(license.CodeUnknownKey))

		By("no token at all")
		a = call(apiA, "POST", "/v1/validate", "", license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusUnauthorized))
		Expect(a.problem().Code).To(Equal(license.CodeMalformed))
	})

	It("gives an expired token its verdict, but no seat", func() {
		i := issue(func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type = licensingv1alpha1.LicenseTypeSubscription
			t.Duration = dur("1h")
			t.AutoRenew = ptrTo(true)
			t.TokenTTL = dur("10m")
			t.Seats = ptrTo(int32(2))
		})
		clk.Advance(30 * time.Minute) // past the token's own exp (10m + leeway), the licensee renewed meanwhile
		var v license.Verdict
		a := call(apiA, "POST", "/v1/validate", i.token, license.ValidateRequest{Nonce: nonce()})
		Expect(a.status).To(Equal(http.StatusOK), string(a.body))
		a.decode(&v)
		Expect(v.Code).To(Equal(license.CodeValid), "the licensee itself is entitled: the verdict is live")

		a = call(apiA, "POST", "/v1/seats", i.token, license.SeatRequest{License: "main", Holder: "pod-1"})
		Expect(a.status).To(Equal(http.StatusForbidden), string(a.body))
		Expect(a.problem().Code).To(Equal(license.CodeExpired))
		verifyAnswer(i, a)
	})
})

func dur(s string) *licensingv1alpha1.Duration {
	d := licensingv1alpha1.Duration(s)
	return &d
}

func ptrTo[T any](v T) *T { return &v }
