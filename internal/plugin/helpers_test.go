package plugin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/token"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// testNow is the fixed clock of every test.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const day = 24 * time.Hour

// Fixtures panic on error: their inputs are fixed, so an error is a bug in the
// test, and both go test and Ginkgo report a panic as a failure.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// testKey is a deterministic Ed25519 signing key: the same seed gives the same
// key and key ID, so rendered output is stable.
func testKey(seed byte) *keys.SigningKey {
	rand := bytes.NewReader(bytes.Repeat([]byte{seed}, 64))
	return must(keys.Generate(keys.Ed25519, time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC), rand))
}

func jwksOf(ks ...*keys.SigningKey) []byte {
	pubs := make([]keys.PublicKey, 0, len(ks))
	for _, k := range ks {
		pubs = append(pubs, keys.PublicKeyOf(k))
	}
	return must(keys.MarshalJWKS(pubs))
}

func sign(c *license.Claims, k *keys.SigningKey) string {
	return must(token.Sign(c, k))
}

// sampleClaims are the claims the operator would issue for licensee in
// namespace/product at now: "main" valid for another 364 days (plus 7 of
// grace), "trial" expired 30 days ago.
func sampleClaims(namespace, product, licensee string, now time.Time) *license.Claims {
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	return &license.Claims{
		Issuer:   license.IssuerPrefix + namespace + "/" + product,
		Subject:  licensee,
		Audience: []string{product},
		ID:       "0123456789abcdef0123456789abcdef",
		IssuedAt: at(-time.Hour),
		Licensee: license.LicenseeInfo{Name: licensee, DisplayName: "Globex Corp.", ExternalID: "crm-00042"},
		Product:  license.ProductInfo{Name: product, DisplayName: "Acme DB"},
		Licenses: []license.Grant{
			{
				Name: "main", Template: "enterprise-annual", Type: "Subscription",
				StartsAt: at(-day), ValidUntil: at(364 * day), GraceUntil: at(371 * day),
				Features: []string{"backup", "replication"}, Quotas: map[string]int64{"nodes": 20},
			},
			{
				Name: "trial", Template: "trial-30d", Type: "Trial",
				StartsAt: at(-60 * day), ValidUntil: at(-30 * day), GraceUntil: at(-30 * day),
				Features: []string{"analytics"},
			},
		},
		Features: []string{"backup", "replication"},
		Quotas:   map[string]int64{"nodes": 20},
	}
}

// runResult is what one in-process run of the plugin printed and returned.
type runResult struct {
	code           int
	stdout, stderr string
}

// runPlugin runs the plugin in-process with the fixed clock.
func runPlugin(ctx context.Context, stdin string, args ...string) runResult {
	var out, errOut bytes.Buffer
	code := Run(ctx, args, Options{
		Streams:      genericiooptions.IOStreams{In: bytes.NewBufferString(stdin), Out: &out, ErrOut: &errOut},
		Now:          func() time.Time { return testNow },
		PollInterval: 20 * time.Millisecond,
	})
	return runResult{code: code, stdout: out.String(), stderr: errOut.String()}
}

func condition(conditionType string, status metav1.ConditionStatus, reason, message string) metav1.Condition {
	return metav1.Condition{
		Type: conditionType, Status: status, Reason: reason, Message: message,
		LastTransitionTime: metav1.NewTime(testNow.Add(-time.Hour)),
	}
}

func metaTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// licenseeObject is a Licensee of product with spec.licenses named after the
// status entries.
func licenseeObject(namespace, name, product string, licenses ...string) *licensingv1alpha1.Licensee {
	l := &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec:       licensingv1alpha1.LicenseeSpec{ProductRef: licensingv1alpha1.LocalObjectReference{Name: product}},
	}
	for _, lic := range licenses {
		l.Spec.Licenses = append(l.Spec.Licenses, licensingv1alpha1.LicenseSpec{
			Name: lic, TemplateRef: licensingv1alpha1.LocalObjectReference{Name: lic + "-template"},
		})
	}
	return l
}

// validStatus is what the controller writes for a licensee whose "main" license
// runs another 364 days and whose "trial" expired.
func validStatus(serial string) licensingv1alpha1.LicenseeStatus {
	return licensingv1alpha1.LicenseeStatus{
		Conditions: []metav1.Condition{
			condition(licensingv1alpha1.ConditionReady, metav1.ConditionTrue, "Reconciled", "license issued"),
			condition(licensingv1alpha1.ConditionLicensed, metav1.ConditionTrue, "Valid", "license main is valid"),
		},
		Serial:      serial,
		KeyID:       "k-20261123-5030d178e665",
		IssuedAt:    metaTime(testNow.Add(-time.Hour)),
		ExpiresAt:   metaTime(testNow.Add(364 * day)),
		NextCheckAt: metaTime(testNow.Add(364 * day)),
		Licenses: []licensingv1alpha1.LicenseStatus{
			{Name: "main", State: licensingv1alpha1.LicenseStateValid, Template: "enterprise-annual", Type: licensingv1alpha1.LicenseTypeSubscription,
				ValidUntil: metaTime(testNow.Add(364 * day)), GraceUntil: metaTime(testNow.Add(371 * day)),
				Features: []string{"backup", "replication"}, Quotas: map[string]int64{"nodes": 20}},
			{Name: "trial", State: licensingv1alpha1.LicenseStateExpired, Template: "trial-30d", Type: licensingv1alpha1.LicenseTypeTrial,
				ValidUntil: metaTime(testNow.Add(-30 * day)), GraceUntil: metaTime(testNow.Add(-30 * day))},
		},
	}
}

// expiredStatus is a licensee whose only license ended three days ago and whose
// Secret another writer owns.
func expiredStatus() licensingv1alpha1.LicenseeStatus {
	return licensingv1alpha1.LicenseeStatus{
		Conditions: []metav1.Condition{
			condition(licensingv1alpha1.ConditionReady, metav1.ConditionFalse, "SecretConflict", "secret initech-license is owned by another writer"),
			condition(licensingv1alpha1.ConditionLicensed, metav1.ConditionFalse, "Expired", "license main expired"),
		},
		Licenses: []licensingv1alpha1.LicenseStatus{
			{Name: "main", State: licensingv1alpha1.LicenseStateExpired, ValidUntil: metaTime(testNow.Add(-3 * day))},
		},
	}
}

// withPayload keeps token's header and signature but swaps in claims: the
// forgery a licensee would try to extend its own license.
func withPayload(token string, c *license.Claims) string {
	parts := strings.Split(token, ".")
	parts[1] = base64.RawURLEncoding.EncodeToString(must(json.Marshal(c)))
	return strings.Join(parts, ".")
}
