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
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/cacheread"
	"github.com/kubelicense/kubelicense/internal/entitlement"
	"github.com/kubelicense/kubelicense/internal/keypolicy"
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
	expirationDesc = licenseGauge("kubelicense_license_expiration_timestamp_seconds",
		"End of the license's current period (status validUntil), in Unix seconds; absent for licenses that never end.",
		func(r licenseRow) (float64, bool) { return timeValue(r.st.ValidUntil) })
	graceExpirationDesc = licenseGauge("kubelicense_license_grace_expiration_timestamp_seconds",
		"End of the license's grace period (status graceUntil), in Unix seconds; absent without grace.",
		func(r licenseRow) (float64, bool) { return timeValue(r.st.GraceUntil) })
	stateDesc = stateGauge("kubelicense_license_state",
		"The license's state: 1 for the current one, 0 for the others.")
	autoRenewDesc = licenseGauge("kubelicense_license_auto_renew",
		"1 when an auto-renewing subscription starts a new period at its expiration (no endsAt at or before it), else 0.",
		func(r licenseRow) (float64, bool) { return boolValue(r.renews), true })
	seatsDesc = licenseGauge("kubelicense_license_seats",
		"Concurrent seat leases the license allows (licenses with seats only).",
		func(r licenseRow) (float64, bool) { return float64(r.st.Seats), r.st.Seats > 0 })
	seatsInUseDesc = licenseGauge("kubelicense_license_seats_in_use",
		"Seat leases held now (licenses with seats only).",
		func(r licenseRow) (float64, bool) { return float64(r.st.SeatsInUse), r.st.Seats > 0 })
	maxActivationsDesc = licenseGauge("kubelicense_license_max_activations",
		"Distinct fingerprints that may activate the license (licenses with maxActivations only).",
		func(r licenseRow) (float64, bool) { return float64(r.st.MaxActivations), r.st.MaxActivations > 0 })
	activationsDesc = licenseGauge("kubelicense_license_activations",
		"Fingerprints activated now (licenses with maxActivations only).",
		func(r licenseRow) (float64, bool) { return float64(r.st.Activations), r.st.MaxActivations > 0 })

	licensedDesc = licenseeGauge("kubelicense_licensee_licensed",
		"1 when at least one license entitles the licensee now (condition Licensed), else 0.",
		func(l *licensingv1alpha1.Licensee) (float64, bool) {
			return boolValue(conditionTrue(l.Status.Conditions, licensingv1alpha1.ConditionLicensed)), true
		})
	readyDesc = licenseeGauge("kubelicense_licensee_ready",
		"1 when the licensee's Secret holds what its licenses call for (condition Ready), else 0.",
		func(l *licensingv1alpha1.Licensee) (float64, bool) {
			return boolValue(conditionTrue(l.Status.Conditions, licensingv1alpha1.ConditionReady)), true
		})

	keyAvailableDesc = productGauge("kubelicense_product_signing_key_available",
		"1 when the Product has a usable signing key (condition KeyAvailable), else 0: without one, nothing is issued.",
		func(p *licensingv1alpha1.Product) (float64, bool) {
			return boolValue(conditionTrue(p.Status.Conditions, licensingv1alpha1.ConditionKeyAvailable)), true
		})
	keyCreatedDesc = productGauge("kubelicense_product_signing_key_created_timestamp_seconds",
		"When the Product's current signing key was created (adopted, for a bring-your-own key), in Unix seconds.",
		func(p *licensingv1alpha1.Product) (float64, bool) {
			created := currentKeyCreated(p)
			if created == nil {
				return 0, false
			}
			return float64(created.Unix()), true
		})
	keyNextRotationDesc = productGauge("kubelicense_product_signing_key_next_rotation_timestamp_seconds",
		"When spec.signing.rotateEvery rotates the current key, in Unix seconds; absent when it rotates only on request.",
		func(p *licensingv1alpha1.Product) (float64, bool) {
			created := currentKeyCreated(p)
			if created == nil {
				return 0, false
			}
			next := nextRotation(p, *created)
			if next == nil {
				return 0, false
			}
			return float64(next.Unix()), true
		})
)

// scrapeTimeout bounds the cache reads of one scrape.
const scrapeTimeout = 5 * time.Second

// Collector reads Licensees, their templates and Products from reader,
// normally the manager's cache, and serves the issuance counters.
type Collector struct {
	reader client.Reader
	chunk  int // series per chunk of the text format; 0: chunkSize
}

// New returns a collector over reader.
func New(reader client.Reader) *Collector { return &Collector{reader: reader} }

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range gaugeFamilies {
		ch <- f.desc
	}
	issuanceTotal.Describe(ch)
	issuanceDuration.Describe(ch)
	eventsDroppedTotal.Describe(ch)
}

// Collect sends the counters, then the gauges of what the cache holds now, as
// const metrics: for a registry of its own (tests, tools). The manager serves
// the gauges through Handler, which writes the same series.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	issuanceTotal.Collect(ch)
	issuanceDuration.Collect(ch)
	eventsDroppedTotal.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	snap := c.snapshot(ctx)
	for _, f := range gaugeFamilies {
		snap.each(f, func(values []string, v float64) {
			ch <- prometheus.MustNewConstMetric(f.desc, prometheus.GaugeValue, v, values...)
		})
	}
}

// snapshot is what one scrape reads from the cache: pointers into it, read
// only (client.UnsafeDisableDeepCopy).
type snapshot struct {
	products  []licensingv1alpha1.Product
	licensees []*licensingv1alpha1.Licensee
	licenses  []licenseRow
}

// licenseRow is one license of a Licensee's status.
type licenseRow struct {
	l      *licensingv1alpha1.Licensee
	st     *licensingv1alpha1.LicenseStatus
	renews bool // renewsAtExpiration
}

// snapshot reads the cache. A failed read of a kind leaves that kind out
// (the scrape shows the series missing, not stale values).
func (c *Collector) snapshot(ctx context.Context) *snapshot {
	snap := &snapshot{}
	products := &licensingv1alpha1.ProductList{}
	if err := c.reader.List(ctx, products, client.UnsafeDisableDeepCopy); err == nil {
		snap.products = products.Items
	}
	licensees, err := c.licensees(ctx)
	if err != nil {
		return snap
	}
	templates := &licensingv1alpha1.LicenseTemplateList{}
	if err := c.reader.List(ctx, templates, client.UnsafeDisableDeepCopy); err != nil {
		return snap
	}
	byName := make(map[client.ObjectKey]*licensingv1alpha1.LicenseTemplateSpec, len(templates.Items))
	for i := range templates.Items {
		t := &templates.Items[i]
		byName[client.ObjectKeyFromObject(t)] = &t.Spec
	}
	snap.licensees = licensees
	n := 0
	for _, l := range snap.licensees {
		n += len(l.Status.Licenses)
	}
	snap.licenses = make([]licenseRow, 0, n)
	for _, l := range snap.licensees {
		for j := range l.Status.Licenses {
			st := &l.Status.Licenses[j]
			spec := licenseSpec(l, st.Name)
			var template *licensingv1alpha1.LicenseTemplateSpec
			if spec != nil {
				template = byName[client.ObjectKey{Namespace: l.Namespace, Name: spec.TemplateRef.Name}]
			}
			snap.licenses = append(snap.licenses, licenseRow{l: l, st: st, renews: renewsAtExpiration(*st, spec, template)})
		}
	}
	return snap
}

// licensees are the cached Licensees. From an informer cache they are read
// from the informer's store: a list through the cache copies every object
// into the list's items (584 bytes each), 6 MB per scrape at 10,000.
func (c *Collector) licensees(ctx context.Context) ([]*licensingv1alpha1.Licensee, error) {
	if ic, ok := c.reader.(cache.Informers); ok {
		if inf, err := ic.GetInformer(ctx, &licensingv1alpha1.Licensee{}); err == nil {
			if store, ok := cacheread.Store(inf); ok {
				objs := store.List()
				out := make([]*licensingv1alpha1.Licensee, 0, len(objs))
				for _, o := range objs {
					if l, ok := o.(*licensingv1alpha1.Licensee); ok {
						out = append(out, l)
					}
				}
				return out, nil
			}
		}
	}
	list := &licensingv1alpha1.LicenseeList{}
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	out := make([]*licensingv1alpha1.Licensee, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}

// each calls emit for every series of f: its label values, in the order of
// f's label names, and its value. values is reused: emit copies what it keeps.
func (s *snapshot) each(f *gaugeFamily, emit func(values []string, v float64)) {
	var values [maxLabels]string
	switch f.level {
	case productLevel:
		for i := range s.products {
			p := &s.products[i]
			if v, ok := f.product(p); ok {
				values[0], values[1] = p.Namespace, p.Name
				emit(values[:2], v)
			}
		}
	case licenseeLevel:
		for _, l := range s.licensees {
			if v, ok := f.licensee(l); ok {
				values[0], values[1], values[2] = l.Namespace, l.Spec.ProductRef.Name, l.Name
				emit(values[:3], v)
			}
		}
	case licenseLevel, stateLevel:
		for _, r := range s.licenses {
			values[0], values[1], values[2], values[3] = r.l.Namespace, r.l.Spec.ProductRef.Name, r.l.Name, r.st.Name
			if f.level == stateLevel {
				for _, state := range States {
					values[4] = string(state)
					emit(values[:5], boolValue(r.st.State == state))
				}
				continue
			}
			if v, ok := f.license(r); ok {
				emit(values[:4], v)
			}
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

// timeValue is t in Unix seconds; no series without it.
func timeValue(t *metav1.Time) (float64, bool) {
	if t == nil {
		return 0, false
	}
	return float64(t.Unix()), true
}
