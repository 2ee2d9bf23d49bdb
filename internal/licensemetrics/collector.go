// Package licensemetrics exports per-license gauges, read from the manager's
// cache at scrape time: nothing is written per scrape, and a deleted Licensee's
// series disappear with it. Labels are bounded: namespace, product, licensee,
// license (no serials, no free text).
package licensemetrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

var labels = []string{"namespace", "product", "licensee", "license"}

var (
	seatsDesc = prometheus.NewDesc("kubelicense_license_seats",
		"Concurrent seat leases the license allows (licenses with seats only).", labels, nil)
	seatsInUseDesc = prometheus.NewDesc("kubelicense_license_seats_in_use",
		"Seat leases held now (licenses with seats only).", labels, nil)
	maxActivationsDesc = prometheus.NewDesc("kubelicense_license_max_activations",
		"Distinct fingerprints that may activate the license (licenses with maxActivations only).", labels, nil)
	activationsDesc = prometheus.NewDesc("kubelicense_license_activations",
		"Fingerprints activated now (licenses with maxActivations only).", labels, nil)
)

// scrapeTimeout bounds the cache read of one scrape.
const scrapeTimeout = 5 * time.Second

// Collector reads Licensee status (the counts the Licensee controller keeps)
// from reader, normally the manager's cache.
type Collector struct {
	reader client.Reader
}

// New returns a collector over reader.
func New(reader client.Reader) *Collector { return &Collector{reader: reader} }

// Describe sends the descriptors of every metric.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{seatsDesc, seatsInUseDesc, maxActivationsDesc, activationsDesc} {
		ch <- d
	}
}

// Collect lists the Licensees and sends their gauges. A failed read sends
// nothing (the scrape shows the series missing, not stale values).
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	list := &licensingv1alpha1.LicenseeList{}
	if err := c.reader.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	for i := range list.Items {
		l := &list.Items[i]
		for _, st := range l.Status.Licenses {
			values := []string{l.Namespace, l.Spec.ProductRef.Name, l.Name, st.Name}
			if st.Seats > 0 {
				ch <- prometheus.MustNewConstMetric(seatsDesc, prometheus.GaugeValue, float64(st.Seats), values...)
				ch <- prometheus.MustNewConstMetric(seatsInUseDesc, prometheus.GaugeValue, float64(st.SeatsInUse), values...)
			}
			if st.MaxActivations > 0 {
				ch <- prometheus.MustNewConstMetric(maxActivationsDesc, prometheus.GaugeValue, float64(st.MaxActivations), values...)
				ch <- prometheus.MustNewConstMetric(activationsDesc, prometheus.GaugeValue, float64(st.Activations), values...)
			}
		}
	}
}
