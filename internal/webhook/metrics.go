package webhook

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Results of an attempt, the result label of DeliveriesTotal.
const (
	ResultSuccess = "success"
	ResultFailure = "failure"  // a retry follows
	ResultGivenUp = "given_up" // the last allowed attempt failed
)

var (
	// DeliveriesTotal counts delivery attempts by outcome.
	DeliveriesTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kubelicense_webhook_deliveries_total",
		Help: "Webhook delivery attempts, by namespace, webhook and result (success, failure: retried, given_up: the last allowed attempt failed).",
	}, []string{"namespace", "webhook", "result"})
	// Pending is the events a webhook has yet to receive.
	Pending = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kubelicense_webhook_pending",
		Help: "Events not yet delivered to a webhook nor given up, by namespace and webhook.",
	}, []string{"namespace", "webhook"})
)

func init() {
	metrics.Registry.MustRegister(DeliveriesTotal, Pending)
}
