package licensemetrics_test

import (
	"slices"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

var _ = Describe("license metrics on the manager's metrics endpoint", func() {
	var ns string

	BeforeEach(func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "metrics-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		ns = n.Name
	})

	labels := func(licensee, license string) map[string]string {
		m := map[string]string{"namespace": ns, "product": "acme-db", "licensee": licensee}
		if license != "" {
			m["license"] = license
		}
		return m
	}
	// states polls the state series of one license: state -> value.
	states := func(licensee, license string) func() (map[string]float64, error) {
		return func() (map[string]float64, error) {
			s, err := scrapeNow()
			if err != nil {
				return nil, err
			}
			out := map[string]float64{}
			for key, v := range s.series("kubelicense_license_state", labels(licensee, license)) {
				out[stateOf(key)] = v
			}
			return out, nil
		}
	}

	It("reports a subscription's window and state, follows it into grace, and drops it when the Licensee goes", func() {
		p := readyProduct(ns, "acme-db", func(p *licensingv1alpha1.Product) { p.Spec.Signing.RotateEvery = dur("8760h") })
		readyTemplate(ns, "annual", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.GracePeriod = licensingv1alpha1.LicenseTypeSubscription, dur("720h"), dur("168h")
		})
		l := create(licensee(ns, "globex", licenseFrom("main", "annual")))
		Eventually(condition(l, licensingv1alpha1.ConditionLicensed)).Should(Equal("True/Valid"))
		st := l.Status.Licenses[0]
		m := labels("globex", "main")

		By("the window, the state series and the licensee gauges")
		Eventually(value("kubelicense_license_expiration_timestamp_seconds", m)).Should(Equal(float64(st.ValidUntil.Unix())))
		Eventually(value("kubelicense_license_grace_expiration_timestamp_seconds", m)).Should(Equal(float64(st.GraceUntil.Unix())))
		Eventually(states("globex", "main")).Should(Equal(map[string]float64{
			"Pending": 0, "Valid": 1, "InGracePeriod": 0, "Expired": 0, "Suspended": 0, "Invalid": 0,
		}))
		Eventually(value("kubelicense_license_auto_renew", m)).Should(Equal(0.0))
		Eventually(value("kubelicense_licensee_licensed", labels("globex", ""))).Should(Equal(1.0))
		Eventually(value("kubelicense_licensee_ready", labels("globex", ""))).Should(Equal(1.0))
		Eventually(count("kubelicense_license_seats", m)).Should(Equal(0), "no seats: no seat series")

		By("the Product's key")
		p = get(p)
		created := p.Status.VerificationKeys[0].CreatedAt.Unix()
		pm := map[string]string{"namespace": ns, "product": "acme-db"}
		Eventually(value("kubelicense_product_signing_key_available", pm)).Should(Equal(1.0))
		Eventually(value("kubelicense_product_signing_key_created_timestamp_seconds", pm)).Should(Equal(float64(created)))
		Eventually(value("kubelicense_product_signing_key_next_rotation_timestamp_seconds", pm)).Should(Equal(float64(created + 8760*3600)))

		By("issuance counted once, each token write with its duration")
		Eventually(value("kubelicense_licensee_issuance_total", map[string]string{"namespace": ns, "result": "issued"})).Should(Equal(1.0))
		Eventually(func() (float64, error) {
			n, err := value("kubelicense_licensee_issuance_duration_seconds", map[string]string{"namespace": ns})()
			return n - issuances(ns), err
		}).Should(Equal(0.0))
		renewed := issuances(ns, "renewed")

		By("time passing into grace: the state series move, and the renewal is counted")
		clk.Advance(st.ValidUntil.Sub(clk.Now()) - 2*time.Second)
		poke(l)
		Eventually(condition(l, licensingv1alpha1.ConditionLicensed), "10s").Should(Equal("True/InGracePeriod"))
		Eventually(states("globex", "main")).Should(Equal(map[string]float64{
			"Pending": 0, "Valid": 0, "InGracePeriod": 1, "Expired": 0, "Suspended": 0, "Invalid": 0,
		}))
		Eventually(value("kubelicense_license_expiration_timestamp_seconds", m)).Should(Equal(float64(st.ValidUntil.Unix())), "the period that ended")
		Eventually(value("kubelicense_licensee_issuance_total", map[string]string{"namespace": ns, "result": "renewed"})).Should(Equal(renewed + 1))

		By("the Licensee deleted: its series are gone")
		Expect(k8sClient.Delete(ctx, l)).To(Succeed())
		for _, name := range []string{
			"kubelicense_license_expiration_timestamp_seconds", "kubelicense_license_grace_expiration_timestamp_seconds",
			"kubelicense_license_state", "kubelicense_license_auto_renew", "kubelicense_licensee_licensed", "kubelicense_licensee_ready",
		} {
			Eventually(count(name, labels("globex", ""))).Should(Equal(0), name)
		}
	})

	It("has no expiration for a perpetual license, and counts seats in use", func() {
		readyProduct(ns, "acme-db")
		readyTemplate(ns, "perpetual")
		readyTemplate(ns, "floating", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Seats = licensingv1alpha1.LicenseTypeFloating, ptr(int32(5))
		})
		l := create(licensee(ns, "initech", licenseFrom("forever", "perpetual"), licenseFrom("pool", "floating")))
		Eventually(condition(l, licensingv1alpha1.ConditionReady)).Should(Equal("True/Issued"))

		Eventually(states("initech", "forever")).Should(HaveKeyWithValue("Valid", 1.0))
		Eventually(count("kubelicense_license_expiration_timestamp_seconds", labels("initech", ""))).Should(Equal(0))
		Eventually(count("kubelicense_license_grace_expiration_timestamp_seconds", labels("initech", ""))).Should(Equal(0))
		Eventually(value("kubelicense_license_seats", labels("initech", "pool"))).Should(Equal(5.0))
		Eventually(value("kubelicense_license_seats_in_use", labels("initech", "pool"))).Should(Equal(0.0))
		Eventually(count("kubelicense_license_seats", labels("initech", "forever"))).Should(Equal(0))
	})

	It("marks auto-renewing subscriptions, unless a hard end comes first", func() {
		readyProduct(ns, "acme-db")
		readyTemplate(ns, "monthly", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.AutoRenew = licensingv1alpha1.LicenseTypeSubscription, dur("720h"), ptr(true)
		})
		ending := licenseFrom("ending", "monthly")
		ending.EndsAt = &metav1.Time{Time: clk.Now().Add(240 * time.Hour).Truncate(time.Second)}
		later := licenseFrom("later", "monthly")
		later.EndsAt = &metav1.Time{Time: clk.Now().Add(24 * 365 * time.Hour).Truncate(time.Second)}
		l := create(licensee(ns, "umbrella", licenseFrom("renewing", "monthly"), ending, later))
		Eventually(condition(l, licensingv1alpha1.ConditionLicensed)).Should(Equal("True/Valid"))

		Eventually(value("kubelicense_license_auto_renew", labels("umbrella", "renewing"))).Should(Equal(1.0))
		Eventually(value("kubelicense_license_auto_renew", labels("umbrella", "later"))).Should(Equal(1.0))
		Eventually(value("kubelicense_license_auto_renew", labels("umbrella", "ending"))).Should(Equal(0.0), "endsAt ends this period")
		Eventually(value("kubelicense_license_expiration_timestamp_seconds", labels("umbrella", "ending"))).Should(Equal(float64(ending.EndsAt.Unix())))
	})

	It("reports a Product whose key went missing, and a Licensee that is not Ready", func() {
		p := readyProduct(ns, "acme-db")
		readyTemplate(ns, "perpetual")
		l := create(licensee(ns, "hooli", licenseFrom("main", "perpetual")))
		Eventually(condition(l, licensingv1alpha1.ConditionReady)).Should(Equal("True/Issued"))
		pm := map[string]string{"namespace": ns, "product": "acme-db"}
		Eventually(value("kubelicense_product_signing_key_available", pm)).Should(Equal(1.0))

		Expect(k8sClient.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme-db-signing-key"}})).To(Succeed())
		Eventually(condition(p, licensingv1alpha1.ConditionKeyAvailable)).Should(Equal("False/SigningKeyMissing"))
		Eventually(value("kubelicense_product_signing_key_available", pm)).Should(Equal(0.0))

		poke(l)
		Eventually(condition(l, licensingv1alpha1.ConditionReady)).Should(HavePrefix("False/"))
		Eventually(value("kubelicense_licensee_ready", labels("hooli", ""))).Should(Equal(0.0))
		Eventually(value("kubelicense_licensee_licensed", labels("hooli", ""))).Should(Equal(1.0), "still entitled: the token in the Secret is untouched")
	})
})

// issuances sums kubelicense_licensee_issuance_total of namespace ns (of the
// given results, or all).
func issuances(ns string, results ...string) float64 {
	s, err := scrapeNow()
	ExpectWithOffset(1, err).NotTo(HaveOccurred())
	sum := 0.0
	for key, v := range s.series("kubelicense_licensee_issuance_total", map[string]string{"namespace": ns}) {
		if len(results) == 0 || slices.Contains(results, stateOf(key)) {
			sum += v
		}
	}
	return sum
}

// stateOf is the value of the last label of a series key: labels come sorted
// by name, so that is state.
func stateOf(key string) string {
	for i := len(key) - 1; i >= 0; i-- {
		if key[i] == '=' {
			return key[i+1:]
		}
	}
	return key
}

func readyProduct(ns, name string, mutate ...func(*licensingv1alpha1.Product)) *licensingv1alpha1.Product {
	p := &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       licensingv1alpha1.ProductSpec{Features: []licensingv1alpha1.FeatureDefinition{{Name: "replication"}}},
	}
	for _, m := range mutate {
		m(p)
	}
	create(p)
	Eventually(condition(p, licensingv1alpha1.ConditionReady)).Should(Equal("True/Reconciled"))
	return p
}

// readyTemplate creates a template and waits for it to be Ready, so a Licensee
// created next does not first see its license Invalid (and re-sign later).
func readyTemplate(ns, name string, mutate ...func(*licensingv1alpha1.LicenseTemplateSpec)) {
	t := create(template(ns, name, mutate...))
	EventuallyWithOffset(1, func() bool {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(t), t)
		return meta.IsStatusConditionTrue(t.Status.Conditions, licensingv1alpha1.ConditionReady)
	}).Should(BeTrue())
}

func template(ns, name string, mutate ...func(*licensingv1alpha1.LicenseTemplateSpec)) *licensingv1alpha1.LicenseTemplate {
	t := &licensingv1alpha1.LicenseTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: licensingv1alpha1.LicenseTemplateSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
			Type:       licensingv1alpha1.LicenseTypePerpetual,
			Features:   []licensingv1alpha1.FeatureName{"replication"},
		},
	}
	for _, m := range mutate {
		m(&t.Spec)
	}
	return t
}

func licensee(ns, name string, licenses ...licensingv1alpha1.LicenseSpec) *licensingv1alpha1.Licensee {
	return &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: licensingv1alpha1.LicenseeSpec{
			ProductRef: licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
			Licenses:   licenses,
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

func ptr[T any](v T) *T { return &v }

func create[T client.Object](obj T) T {
	ExpectWithOffset(1, k8sClient.Create(ctx, obj)).To(Succeed())
	return obj
}

func get[T client.Object](obj T) T {
	ExpectWithOffset(1, k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	return obj
}

// condition polls obj (a Product or Licensee, read into obj) for "Status/Reason" of type t.
func condition(obj client.Object, t string) func() string {
	return func() string {
		_ = k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		var conds []metav1.Condition
		switch o := obj.(type) {
		case *licensingv1alpha1.Product:
			conds = o.Status.Conditions
		case *licensingv1alpha1.Licensee:
			conds = o.Status.Conditions
		}
		c := meta.FindStatusCondition(conds, t)
		if c == nil {
			return ""
		}
		return string(c.Status) + "/" + c.Reason
	}
}

// poke changes an unrelated annotation so the controller reconciles now.
func poke(obj client.Object) {
	ExpectWithOffset(1, testenv.Poke(ctx, k8sClient, obj)).To(Succeed())
}
