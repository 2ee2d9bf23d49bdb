package licensemetrics

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// The shared-label gauges must write what prometheus.MustNewConstMetric writes.
func TestSharedGaugeWritesWhatAConstMetricWrites(t *testing.T) {
	values := []string{"licensing", "acme-db", "globex", "main"}
	lic := newLabels(licenseLabels, values...)
	for i, s := range States {
		var got, want dto.Metric
		if err := (&sharedGauge{desc: stateDesc, labels: lic.with(statePairs[i]), value: 1}).Write(&got); err != nil {
			t.Fatal(err)
		}
		if err := prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, 1, append(slices.Clone(values), string(s))...).Write(&want); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Errorf("state %s: wrote %v, a const metric writes %v", s, &got, &want)
		}
	}
	var got, want dto.Metric
	_ = (&sharedGauge{desc: expirationDesc, labels: lic, value: 1.7e9}).Write(&got)
	_ = prometheus.MustNewConstMetric(expirationDesc, prometheus.GaugeValue, 1.7e9, values...).Write(&want)
	if got.String() != want.String() {
		t.Errorf("wrote %v, a const metric writes %v", &got, &want)
	}
	if len(lic) != 4 || lic[0].GetName() != "license" || lic[3].GetName() != "product" {
		t.Errorf("pairs not sorted by name: %v", lic)
	}
}

// A pedantic registry checks every series against its Desc.
func TestSharedGaugesPassAPedanticRegistry(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectorFunc(func(ch chan<- prometheus.Metric) {
		lic := newLabels(licenseLabels, "licensing", "acme-db", "globex", "main")
		for i := range States {
			gauge(ch, stateDesc, 0, lic.with(statePairs[i]))
		}
		gauge(ch, autoRenewDesc, 1, lic)
		gauge(ch, readyDesc, 1, newLabels(licenseeLabels, "licensing", "acme-db", "globex"))
	}, stateDesc, autoRenewDesc, readyDesc))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, mf := range mfs {
		series += len(mf.Metric)
	}
	if series != len(States)+2 {
		t.Errorf("gathered %d series, want %d", series, len(States)+2)
	}
}

type testCollector struct {
	collect func(chan<- prometheus.Metric)
	descs   []*prometheus.Desc
}

func collectorFunc(collect func(chan<- prometheus.Metric), descs ...*prometheus.Desc) prometheus.Collector {
	return &testCollector{collect, descs}
}

func (c *testCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}
func (c *testCollector) Collect(ch chan<- prometheus.Metric) { c.collect(ch) }
