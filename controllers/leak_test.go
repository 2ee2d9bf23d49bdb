package controllers_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/common/expfmt"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
)

// privateKeyForms lists every way a private key could show up in text: its PEM
// body lines, and its raw scalar in base64, base64url and hex.
func privateKeyForms(data map[string][]byte) []string {
	var forms []string
	for name, value := range data {
		if !strings.HasSuffix(name, ".pem") && name != corev1.TLSPrivateKeyKey {
			continue
		}
		block, _ := pem.Decode(value)
		if block == nil {
			continue
		}
		body := base64.StdEncoding.EncodeToString(block.Bytes)
		for len(body) > 40 {
			forms = append(forms, body[:40])
			body = body[40:]
		}
		signer, _, err := keys.ParsePrivateKeyPEM(value)
		if err != nil {
			continue
		}
		var raw []byte
		switch k := signer.(type) {
		case ed25519.PrivateKey:
			raw = k.Seed()
		case *ecdsa.PrivateKey:
			raw, _ = k.Bytes()
		}
		forms = append(forms, base64.StdEncoding.EncodeToString(raw)[:20], base64.RawURLEncoding.EncodeToString(raw)[:20], hex.EncodeToString(raw)[:24])
	}
	return forms
}

// observableText is everything the operator exposes besides the key Secrets:
// status of every object, events, the manager's logs and its metrics.
func observableText() string {
	var out bytes.Buffer
	for _, list := range []client.ObjectList{&licensingv1alpha1.ProductList{}, &licensingv1alpha1.LicenseTemplateList{}, &licensingv1alpha1.LicenseeList{}, &corev1.EventList{}} {
		Expect(k8sClient.List(ctx, list)).To(Succeed())
		raw, err := json.Marshal(list)
		Expect(err).NotTo(HaveOccurred())
		out.Write(raw)
	}
	out.WriteString(logs.String())
	families, err := metrics.Registry.Gather()
	Expect(err).NotTo(HaveOccurred())
	for _, f := range families {
		_, _ = expfmt.MetricFamilyToText(&out, f)
	}
	return out.String()
}

var _ = Describe("Private keys", func() {
	It("never appear in status, events, logs or metrics", func() {
		ns := newNamespace()
		var forms []string
		collect := func(name string) {
			forms = append(forms, privateKeyForms(get(secret(ns, name)).Data)...)
		}

		ed := readyProduct(ns, "ed")
		collect("ed-signing-key")
		ec := readyProduct(ns, "ec", func(p *licensingv1alpha1.Product) {
			p.Spec.Signing.Algorithm = licensingv1alpha1.SigningAlgorithmECDSAP256
		})
		collect("ec-signing-key")
		Expect(k8sClient.Create(ctx, template(ns, "forever", "ed"))).To(Succeed())
		l := licensee(ns, "globex", "ed", licenseFrom("main", "forever"))
		Expect(k8sClient.Create(ctx, l)).To(Succeed())
		Eventually(licenseeCondition(l, "Ready")).Should(Equal("True/Issued"))

		By("rotating, corrupting and losing keys, which writes events, conditions and logs")
		ed = get(ed)
		ed.Annotations = map[string]string{licensingv1alpha1.AnnotationRotateKey: "1"}
		update(ed)
		Eventually(func() int { return len(get(ed).Status.VerificationKeys) }).Should(Equal(2))
		collect("ed-signing-key")
		s := get(secret(ns, "ec-signing-key"))
		for k, v := range s.Data {
			if strings.HasSuffix(k, ".pem") {
				s.Data[k] = v[:len(v)/2] // truncated PEM: the error path sees key bytes
			}
		}
		update(s)
		Eventually(productCondition(ec, "KeyAvailable")).Should(Equal("False/SigningKeyCorrupt"))

		text := observableText()
		Expect(forms).NotTo(BeEmpty())
		Expect(text).To(ContainSubstring(get(ed).Status.SigningKeyID), "the check reads the right text")
		for _, form := range forms {
			Expect(text).NotTo(ContainSubstring(form))
		}
	})
})
