// Package licensemetrics exports license, licensee and Product gauges, read
// from the manager's cache at scrape time: nothing is written per scrape, and a
// deleted object's series disappear with it. It also holds the issuance
// counters the Licensee controller increments. Labels are bounded: namespace,
// product, licensee, license, and fixed value sets (state, result); no
// serials, no free text. docs/observability.md lists every metric.
package licensemetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
	"github.com/kubelicense/kubelicense/internal/keypolicy"
)

var (
	licenseLabels  = []string{"namespace", "product", "licensee", "license"}
	licenseeLabels = []string{"namespace", "product", "licensee"}
	productLabels  = []string{"namespace", "product"}
)

// States are the values of the state label of kubelicense_license_state, in
// the order of the API's LicenseState constants.
var States = []licensingv1alpha1.LicenseState{
	licensingv1alpha1.LicenseStatePending,
	licensingv1alpha1.LicenseStateValid,
	licensingv1alpha1.LicenseStateInGracePeriod,
	licensingv1alpha1.LicenseStateExpired,
	licensingv1alpha1.LicenseStateSuspended,
	licensingv1alpha1.LicenseStateInvalid,
}

var (
	expirationDesc = prometheus.NewDesc("kubelicense_license_expiration_timestamp_seconds",
		"End of the license's current period (status validUntil), in Unix seconds; absent for licenses that never end.", licenseLabels, nil)
	graceExpirationDesc = prometheus.NewDesc("kubelicense_license_grace_expiration_timestamp_seconds",
		"End of the license's grace period (status graceUntil), in Unix seconds; absent without grace.", licenseLabels, nil)
	stateDesc = prometheus.NewDesc("kubelicense_license_state",
		"The license's state: 1 for the current one, 0 for the others.", append(licenseLabels[:4:4], "state"), nil)
	autoRenewDesc = prometheus.NewDesc("kubelicense_license_auto_renew",
		"1 when an auto-renewing subscription starts a new period at its expiration (no endsAt at or before it), else 0.", licenseLabels, nil)
	seatsDesc = prometheus.NewDesc("kubelicense_license_seats",
		"Concurrent seat leases the license allows (licenses with seats only).", licenseLabels, nil)
	seatsInUseDesc = prometheus.NewDesc("kubelicense_license_seats_in_use",
		"Seat leases held now (licenses with seats only).", licenseLabels, nil)
	maxActivationsDesc = prometheus.NewDesc("kubelicense_license_max_activations",
		"Distinct fingerprints that may activate the license (licenses with maxActivations only).", licenseLabels, nil)
	activationsDesc = prometheus.NewDesc("kubelicense_license_activations",
		"Fingerprints activated now (licenses with maxActivations only).", licenseLabels, nil)

	licensedDesc = prometheus.NewDesc("kubelicense_licensee_licensed",
		"1 when at least one license entitles the licensee now (condition Licensed), else 0.", licenseeLabels, nil)
	readyDesc = prometheus.NewDesc("kubelicense_licensee_ready",
		"1 when the licensee's Secret holds what its licenses call for (condition Ready), else 0.", licenseeLabels, nil)

	keyAvailableDesc = prometheus.NewDesc("kubelicense_product_signing_key_available",
		"1 when the Product has a usable signing key (condition KeyAvailable), else 0: without one, nothing is issued.", productLabels, nil)
	keyCreatedDesc = prometheus.NewDesc("kubelicense_product_signing_key_created_timestamp_seconds",
		"When the Product's current signing key was created (adopted, for a bring-your-own key), in Unix seconds.", productLabels, nil)
	keyNextRotationDesc = prometheus.NewDesc("kubelicense_product_signing_key_next_rotation_timestamp_seconds",
		"When spec.signing.rotateEvery rotates the current key, in Unix seconds; absent when it rotates only on request.", productLabels, nil)
)

// scrapeTimeout bounds the cache reads of one scrape.
const scrapeTimeout = 5 * time.Second

// Collector reads Licensees, their templates and Products from reader,
// normally the manager's cache, and serves the issuance counters.
type Collector struct {
	reader client.Reader
}

// New returns a collector over reader.
func New(reader client.Reader) *Collector { return &Collector{reader: reader} }

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		expirationDesc, graceExpirationDesc, stateDesc, autoRenewDesc,
		seatsDesc, seatsInUseDesc, maxActivationsDesc, activationsDesc,
		licensedDesc, readyDesc,
		keyAvailableDesc, keyCreatedDesc, keyNextRotationDesc,
	} {
		ch <- d
	}
	issuanceTotal.Describe(ch)
	issuanceDuration.Describe(ch)
	eventsDroppedTotal.Describe(ch)
}

// Collect sends the counters, then the gauges of what the cache holds now. A
// failed read of a kind sends none of that kind's gauges (the scrape shows the
// series missing, not stale values).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	issuanceTotal.Collect(ch)
	issuanceDuration.Collect(ch)
	eventsDroppedTotal.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	c.collectProducts(ctx, ch)
	licensees := &licensingv1alpha1.LicenseeList{}
	if err := c.reader.List(ctx, licensees, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	templates := &licensingv1alpha1.LicenseTemplateList{}
	if err := c.reader.List(ctx, templates, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	byName := make(map[client.ObjectKey]*licensingv1alpha1.LicenseTemplateSpec, len(templates.Items))
	for i := range templates.Items {
		t := &templates.Items[i]
		byName[client.ObjectKeyFromObject(t)] = &t.Spec
	}
	for i := range licensees.Items {
		collectLicensee(ch, &licensees.Items[i], byName)
	}
}

func collectLicensee(ch chan<- prometheus.Metric, l *licensingv1alpha1.Licensee, templates map[client.ObjectKey]*licensingv1alpha1.LicenseTemplateSpec) {
	product := l.Spec.ProductRef.Name
	licensee := newLabels(licenseeLabels, l.Namespace, product, l.Name)
	gauge(ch, licensedDesc, boolValue(conditionTrue(l.Status.Conditions, licensingv1alpha1.ConditionLicensed)), licensee)
	gauge(ch, readyDesc, boolValue(conditionTrue(l.Status.Conditions, licensingv1alpha1.ConditionReady)), licensee)
	for _, st := range l.Status.Licenses {
		lic := newLabels(licenseLabels, l.Namespace, product, l.Name, st.Name)
		if st.ValidUntil != nil {
			gauge(ch, expirationDesc, unixSeconds(st.ValidUntil), lic)
		}
		if st.GraceUntil != nil {
			gauge(ch, graceExpirationDesc, unixSeconds(st.GraceUntil), lic)
		}
		for i, s := range States {
			gauge(ch, stateDesc, boolValue(st.State == s), lic.with(statePairs[i]))
		}
		spec := licenseSpec(l, st.Name)
		var template *licensingv1alpha1.LicenseTemplateSpec
		if spec != nil {
			template = templates[client.ObjectKey{Namespace: l.Namespace, Name: spec.TemplateRef.Name}]
		}
		gauge(ch, autoRenewDesc, boolValue(renewsAtExpiration(st, spec, template)), lic)
		if st.Seats > 0 {
			gauge(ch, seatsDesc, float64(st.Seats), lic)
			gauge(ch, seatsInUseDesc, float64(st.SeatsInUse), lic)
		}
		if st.MaxActivations > 0 {
			gauge(ch, maxActivationsDesc, float64(st.MaxActivations), lic)
			gauge(ch, activationsDesc, float64(st.Activations), lic)
		}
	}
}

// statePairs are the state label's pairs, in the order of States, shared by
// every license.
var statePairs = func() []*dto.LabelPair {
	name := "state"
	out := make([]*dto.LabelPair, len(States))
	for i, s := range States {
		value := string(s)
		out[i] = &dto.LabelPair{Name: &name, Value: &value}
	}
	return out
}()

func (c *Collector) collectProducts(ctx context.Context, ch chan<- prometheus.Metric) {
	products := &licensingv1alpha1.ProductList{}
	if err := c.reader.List(ctx, products, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range products.Items {
		p := &products.Items[i]
		lb := newLabels(productLabels, p.Namespace, p.Name)
		gauge(ch, keyAvailableDesc, boolValue(conditionTrue(p.Status.Conditions, licensingv1alpha1.ConditionKeyAvailable)), lb)
		created := currentKeyCreated(p)
		if created == nil {
			continue
		}
		gauge(ch, keyCreatedDesc, float64(created.Unix()), lb)
		if next := nextRotation(p, *created); next != nil {
			gauge(ch, keyNextRotationDesc, float64(next.Unix()), lb)
		}
	}
}

// renewsAtExpiration: the license is an auto-renewing subscription whose
// current period ends without a hard end (endsAt) at or before it, so a new
// period follows and its expiration needs no one's attention. The window rule
// is internal/entitlement's newWindow: a hard end within the period becomes
// validUntil.
func renewsAtExpiration(st licensingv1alpha1.LicenseStatus, spec *licensingv1alpha1.LicenseSpec, t *licensingv1alpha1.LicenseTemplateSpec) bool {
	if spec == nil || t == nil || st.ValidUntil == nil || !entitlement.AutoRenews(t) {
		return false
	}
	return spec.EndsAt == nil || spec.EndsAt.After(st.ValidUntil.Time)
}

// currentKeyCreated is the creation time of the key the Product signs with, from
// status.verificationKeys; nil before it has one.
func currentKeyCreated(p *licensingv1alpha1.Product) *time.Time {
	if p.Status.SigningKeyID == "" {
		return nil
	}
	for _, k := range p.Status.VerificationKeys {
		if k.KeyID == p.Status.SigningKeyID {
			return &k.CreatedAt.Time
		}
	}
	return nil
}

// nextRotation is when the Product controller rotates the current key on its
// own (the same rule, keypolicy.RotationDueAt); nil without rotateEvery.
func nextRotation(p *licensingv1alpha1.Product, created time.Time) *time.Time {
	if p.Spec.Signing.RotateEvery == nil || p.Spec.Signing.SecretRef != nil {
		return nil
	}
	every, err := p.Spec.Signing.RotateEvery.Parse()
	if err != nil || every <= 0 {
		return nil
	}
	due := keypolicy.RotationDueAt(created, every)
	return &due
}

func licenseSpec(l *licensingv1alpha1.Licensee, name string) *licensingv1alpha1.LicenseSpec {
	for i := range l.Spec.Licenses {
		if l.Spec.Licenses[i].Name == name {
			return &l.Spec.Licenses[i]
		}
	}
	return nil
}

func conditionTrue(conds []metav1.Condition, t string) bool {
	return meta.IsStatusConditionTrue(conds, t)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t *metav1.Time) float64 { return float64(t.Unix()) }
