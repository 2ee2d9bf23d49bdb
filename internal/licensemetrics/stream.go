package licensemetrics

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/rest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// A registry gathers every series of a scrape before it writes the first
// byte: at 10,000 Licensees about 120,000 dto.Metric, their label pairs and
// the registry's checks, some 30 MB held for the scrape (docs/performance.md,
// issue 15). Handler writes the registry's metrics (the counters, the
// runtime's, controller-runtime's) as the registry does, then the gauges of
// this package family by family, in chunks of chunkSize series for the text
// format: one set of dto.Metric, label pairs pointing at the cached objects'
// strings, reused for every chunk. It writes what a registry with the
// Collector would (the stream test compares them): the same families, series
// and values, in the format and compression the scraper asked for; only the
// order of a family's series (which no scraper relies on) is the cache's.

// level is what one series of a gauge describes, and so its labels.
type level int

const (
	productLevel  level = iota // namespace, product
	licenseeLevel              // namespace, product, licensee
	licenseLevel               // namespace, product, licensee, license
	stateLevel                 // the license's labels and state: one series per state
)

var levelLabels = [...][]string{
	productLevel:  {"namespace", "product"},
	licenseeLevel: {"namespace", "product", "licensee"},
	licenseLevel:  {"namespace", "product", "licensee", "license"},
	stateLevel:    {"namespace", "product", "licensee", "license", "state"},
}

// gaugeFamily is one gauge of this package: its Desc, the name and help the
// handler writes (a Desc does not give them back), its labels sorted by name
// (as dto label pairs must be) with where each is among the Desc's, and its
// value for one object (ok false: no series for it).
type gaugeFamily struct {
	desc        *prometheus.Desc
	name, help  string
	level       level
	sortedNames []string
	order       []int // sortedNames[i] is the Desc's label order[i]
	product     func(*licensingv1alpha1.Product) (float64, bool)
	licensee    func(*licensingv1alpha1.Licensee) (float64, bool)
	license     func(licenseRow) (float64, bool)
}

var gaugeFamilies []*gaugeFamily

// productGauge, licenseeGauge, licenseGauge and stateGauge declare a gauge
// of their level, with its value for one object.
func productGauge(name, help string, value func(*licensingv1alpha1.Product) (float64, bool)) *prometheus.Desc {
	return declare(&gaugeFamily{level: productLevel, product: value}, name, help)
}

func licenseeGauge(name, help string, value func(*licensingv1alpha1.Licensee) (float64, bool)) *prometheus.Desc {
	return declare(&gaugeFamily{level: licenseeLevel, licensee: value}, name, help)
}

func licenseGauge(name, help string, value func(licenseRow) (float64, bool)) *prometheus.Desc {
	return declare(&gaugeFamily{level: licenseLevel, license: value}, name, help)
}

// stateGauge is kubelicense_license_state: one series per state of each
// license, 1 for its state (snapshot.each).
func stateGauge(name, help string) *prometheus.Desc {
	return declare(&gaugeFamily{level: stateLevel}, name, help)
}

// declare completes f (its Desc, and its labels sorted by name) and adds it
// to gaugeFamilies.
func declare(f *gaugeFamily, name, help string) *prometheus.Desc {
	names := levelLabels[f.level]
	f.desc, f.name, f.help = prometheus.NewDesc(name, help, names, nil), name, help
	f.order = make([]int, len(names))
	for i := range f.order {
		f.order[i] = i
	}
	slices.SortFunc(f.order, func(a, b int) int { return strings.Compare(names[a], names[b]) })
	for _, i := range f.order {
		f.sortedNames = append(f.sortedNames, names[i])
	}
	gaugeFamilies = append(gaugeFamilies, f)
	return f.desc
}

// chunkSize is how many series of a family the text format writes at a time.
const chunkSize = 512

// maxLabels is the most labels a gauge has (stateLevel).
const maxLabels = 5

var gaugeType = dto.MetricType_GAUGE

// familyWriter writes gauge families through reused dto.Metric.
type familyWriter struct {
	out    io.Writer
	enc    expfmt.Encoder
	scheme model.EscapingScheme
	text   bool // text format: in chunks; else each family whole
	f      *gaugeFamily
	n      int
	header bool // this family's HELP and TYPE written
	err    error

	metrics  []dto.Metric
	gauges   []dto.Gauge
	values   []float64
	ptrs     []*dto.Metric
	pairs    []dto.LabelPair
	pairPtrs []*dto.LabelPair
	strs     []string
	scratch  bytes.Buffer
}

func newFamilyWriter(out io.Writer, format expfmt.Format, capacity int) *familyWriter {
	return &familyWriter{
		out: out, enc: expfmt.NewEncoder(out, format), scheme: format.ToEscapingScheme(),
		text:    format.FormatType() == expfmt.TypeTextPlain,
		metrics: make([]dto.Metric, capacity), gauges: make([]dto.Gauge, capacity),
		values: make([]float64, capacity), ptrs: make([]*dto.Metric, capacity),
		pairs: make([]dto.LabelPair, capacity*maxLabels), pairPtrs: make([]*dto.LabelPair, capacity*maxLabels),
		strs: make([]string, capacity*maxLabels),
	}
}

// family writes every series of f in snap.
func (w *familyWriter) family(f *gaugeFamily, snap *snapshot) error {
	w.f, w.n, w.header = f, 0, false
	snap.each(f, w.add)
	w.flush()
	return w.err
}

func (w *familyWriter) add(values []string, v float64) {
	if w.err != nil {
		return
	}
	j, base := w.n, w.n*maxLabels
	k := len(w.f.sortedNames)
	for a, i := range w.f.order {
		w.strs[base+a] = values[i]
		lp := &w.pairs[base+a]
		lp.Name, lp.Value = &w.f.sortedNames[a], &w.strs[base+a]
		w.pairPtrs[base+a] = lp
	}
	w.values[j] = v
	w.gauges[j].Value = &w.values[j]
	m := &w.metrics[j]
	m.Label, m.Gauge = w.pairPtrs[base:base+k:base+k], &w.gauges[j]
	w.ptrs[j] = m
	w.n++
	if w.n == len(w.metrics) {
		w.flush()
	}
}

// flush writes the series added since the last flush. In the text format a
// family's later chunks go without its HELP and TYPE lines: one family.
func (w *familyWriter) flush() {
	if w.err != nil || w.n == 0 {
		return
	}
	mf := &dto.MetricFamily{Name: &w.f.name, Type: &gaugeType, Metric: w.ptrs[:w.n]}
	switch {
	case !w.text:
		mf.Help = &w.f.help
		w.err = w.enc.Encode(mf)
	case !w.header:
		mf.Help = &w.f.help
		_, w.err = expfmt.MetricFamilyToText(w.out, model.EscapeMetricFamily(mf, w.scheme))
	default:
		// Without Help, MetricFamilyToText's first line is the TYPE line.
		w.scratch.Reset()
		if _, w.err = expfmt.MetricFamilyToText(&w.scratch, model.EscapeMetricFamily(mf, w.scheme)); w.err == nil {
			b := w.scratch.Bytes()
			_, w.err = w.out.Write(b[bytes.IndexByte(b, '\n')+1:])
		}
	}
	w.header, w.n = true, 0
}

// Handler answers a scrape: g's metrics (gathered, as promhttp does), then
// the gauges of what the cache holds now, family by family. Give it a g
// without the Collector registered: register Counters() there instead.
func (c *Collector) Handler(g prometheus.Gatherer, log logr.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gathered, err := g.Gather()
		if err != nil {
			// As promhttp's HTTPErrorOnError, which controller-runtime uses.
			http.Error(w, "An error has occurred while serving metrics:\n\n"+err.Error(), http.StatusInternalServerError)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), scrapeTimeout)
		defer cancel()
		snap := c.snapshot(ctx)

		format := expfmt.Negotiate(r.Header)
		w.Header().Set("Content-Type", string(format))
		out := io.Writer(w)
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			w.Header().Set("Content-Encoding", "gzip")
			gz := gzipWriters.Get().(*gzip.Writer)
			gz.Reset(w)
			defer func() {
				_ = gz.Close()
				gzipWriters.Put(gz)
			}()
			out = gz
		}
		capacity := chunkSize
		if c.chunk > 0 {
			capacity = c.chunk
		}
		if format.FormatType() != expfmt.TypeTextPlain {
			// Other formats take each family whole.
			capacity = 1
			for _, f := range gaugeFamilies {
				n := 0
				snap.each(f, func([]string, float64) { n++ })
				capacity = max(capacity, n)
			}
		}
		fw := newFamilyWriter(out, format, capacity)
		for _, mf := range gathered {
			if err := fw.enc.Encode(mf); err != nil {
				log.Error(err, "write metrics", "family", mf.GetName())
				return
			}
		}
		for _, f := range gaugeFamilies {
			if err := fw.family(f, snap); err != nil {
				log.Error(err, "write metrics", "family", f.name)
				return
			}
		}
		if closer, ok := fw.enc.(expfmt.Closer); ok {
			_ = closer.Close()
		}
	})
}

var gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}

// acceptsGzip reads Accept-Encoding as promhttp does for gzip: offered, and
// not with q=0.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		for _, p := range strings.Split(params, ";") {
			if q, ok := strings.CutPrefix(strings.TrimSpace(p), "q="); ok {
				if v, err := strconv.ParseFloat(q, 64); err == nil && v == 0 {
					return false
				}
			}
		}
		return true
	}
	return false
}

// metricsPath is the metrics server's own endpoint.
const metricsPath = "/metrics"

// Install has the metrics server made from opts answer /metrics with the
// handler that handler returns (called when the server starts), behind the
// filter opts already has (authentication and authorization), if any. The
// server's listener, TLS and certificate reloading stay controller-runtime's:
// its Filter is the one hook around its /metrics handler.
func Install(opts *metricsserver.Options, handler func() http.Handler) {
	provider := opts.FilterProvider
	opts.FilterProvider = func(cfg *rest.Config, hc *http.Client) (metricsserver.Filter, error) {
		var filter metricsserver.Filter
		if provider != nil {
			f, err := provider(cfg, hc)
			if err != nil {
				return nil, err
			}
			filter = f
		}
		return func(log logr.Logger, next http.Handler) (http.Handler, error) {
			h := handler()
			serve := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == metricsPath {
					h.ServeHTTP(w, r)
					return
				}
				next.ServeHTTP(w, r)
			})
			if filter == nil {
				return serve, nil
			}
			return filter(log, serve)
		}, nil
	}
}
