package licensemetrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// At 10,000 licensees a scrape describes about 100,000 series, ten or so per
// license with the same namespace, product, licensee and license labels.
// prometheus.MustNewConstMetric builds every series' label pairs anew (most
// of a scrape's garbage, about 35 MB at that size: docs/performance.md);
// here each object's pairs are built once per scrape and its series share
// them, as the registry allows (it treats a metric's label pairs as
// immutable and copies them before it sorts).

// labels are one object's label pairs, sorted by name as the registry expects.
type labels []*dto.LabelPair

// newLabels pairs names with values (same length, as the Desc has them).
func newLabels(names []string, values ...string) labels {
	out := make(labels, len(names))
	for i := range names {
		out[i] = &dto.LabelPair{Name: &names[i], Value: &values[i]}
	}
	out.sort()
	return out
}

// with is l and one more pair, sorted.
func (l labels) with(pair *dto.LabelPair) labels {
	out := make(labels, 0, len(l)+1)
	out = append(out, l...)
	out = append(out, pair)
	out.sort()
	return out
}

// sort orders l by name: an insertion sort, for the handful of pairs a
// series has, without the allocation of sort.Slice.
func (l labels) sort() {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j].GetName() < l[j-1].GetName(); j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
}

// sharedGauge is a gauge whose label pairs other series share.
type sharedGauge struct {
	desc   *prometheus.Desc
	labels labels
	value  float64
}

func (g *sharedGauge) Desc() *prometheus.Desc { return g.desc }

func (g *sharedGauge) Write(out *dto.Metric) error {
	v := g.value
	out.Label = g.labels
	out.Gauge = &dto.Gauge{Value: &v}
	return nil
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, l labels) {
	ch <- &sharedGauge{desc: d, labels: l, value: v}
}
