package licenseapi

import (
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
