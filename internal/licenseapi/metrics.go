package licenseapi

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Metrics of the license API, in the manager's registry (served on its metrics
// endpoint). Labels are bounded: endpoint is a route pattern, code a contract code.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubelicense_license_api_requests_total",
		Help: "License API requests by endpoint and answer code.",
	}, []string{"endpoint", "code"})
	requestDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubelicense_license_api_request_duration_seconds",
		Help:    "License API request latency by endpoint.",
		Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
	}, []string{"endpoint"})
	rateLimitedTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubelicense_license_api_rate_limited_total",
		Help: "License API requests refused with 429, by the limit that refused them (address, failed-auth, licensee), or shed with 503 (in-flight).",
	}, []string{"limit"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, requestDuration, rateLimitedTotal)
}

// endpointMetrics are one endpoint's series, looked up once: the label lookup
// of the vectors on every request was a measurable part of a validation.
type endpointMetrics struct {
	duration prometheus.Observer
	byCode   sync.Map // code → prometheus.Counter
	endpoint string
}

var metricsByEndpoint sync.Map // endpoint → *endpointMetrics

// metricsOf is the series of endpoint (a route pattern: a bounded set).
func metricsOf(endpoint string) *endpointMetrics {
	if m, ok := metricsByEndpoint.Load(endpoint); ok {
		return m.(*endpointMetrics)
	}
	m, _ := metricsByEndpoint.LoadOrStore(endpoint, &endpointMetrics{
		endpoint: endpoint, duration: requestDuration.WithLabelValues(endpoint),
	})
	return m.(*endpointMetrics)
}

// requests is the counter of answers with code (a contract code: bounded).
func (m *endpointMetrics) requests(code string) prometheus.Counter {
	if c, ok := m.byCode.Load(code); ok {
		return c.(prometheus.Counter)
	}
	c, _ := m.byCode.LoadOrStore(code, requestsTotal.WithLabelValues(m.endpoint, code))
	return c.(prometheus.Counter)
}
