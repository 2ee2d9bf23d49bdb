package licensemetrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Result is the result label of kubelicense_licensee_issuance_total.
type Result string

const (
	// ResultIssued: a licensee's first token was signed into its Secret.
	ResultIssued Result = "issued"
	// ResultRenewed: a token was re-signed, replacing the one in the Secret.
	ResultRenewed Result = "renewed"
	// ResultRevoked: the token was removed from the Secret (onExpiry: Revoke).
	ResultRevoked Result = "revoked"
)

// The counters are in the Collector's Describe and Collect, for a registry of
// its own; the manager registers them (Counters) in the registry behind
// Handler. The Licensee controller writes them.
var (
	issuanceTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubelicense_licensee_issuance_total",
		Help: "Writes of a license Secret's token by the Licensee controller, by result (issued, renewed, revoked).",
	}, []string{"namespace", "product", "result"})
	issuanceDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubelicense_licensee_issuance_duration_seconds",
		Help:    "Time from the start of a Licensee reconcile to its token written into the Secret (signing included).",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"namespace", "product"})
	eventsDroppedTotal = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kubelicense_events_dropped_total",
		Help: "Kubernetes Events not recorded because 1000 were already waiting to be sent (a bulk import or an expiry wave).",
	})
)

// Counters are the counters and histogram of this package, for the registry
// behind Handler.
func Counters() []prometheus.Collector {
	return []prometheus.Collector{issuanceTotal, issuanceDuration, eventsDroppedTotal}
}

// RecordEventDropped counts an Event the controllers' bounded queue had no room for.
func RecordEventDropped() { eventsDroppedTotal.Inc() }

// RecordIssuance counts one write of a token (or of its revocation) into a
// licensee's Secret, which took took from the start of its reconcile.
func RecordIssuance(namespace, product string, result Result, took time.Duration) {
	issuanceTotal.WithLabelValues(namespace, product, string(result)).Inc()
	issuanceDuration.WithLabelValues(namespace, product).Observe(took.Seconds())
}
