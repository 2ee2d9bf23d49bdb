package agent

import (
	"math"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// metrics are the agent's Prometheus metrics, in a registry of its own so tests
// and several agents in one process do not collide.
type metrics struct {
	registry  *prometheus.Registry
	reloads   prometheus.Counter
	failures  *prometheus.CounterVec
	clockSkew prometheus.Counter
	// apiCalls counts the calls of the license API (online mode only).
	apiCalls *prometheus.CounterVec
	handler  http.Handler
}

// apiCall counts one call of the license API and the code it ended with.
func (m *metrics) apiCall(call, code string) {
	m.apiCalls.WithLabelValues(call, code).Inc()
}

func newMetrics(a *Agent) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "license_agent_reloads_total",
			Help: "Times the license or the trust anchor was read with new content and verified, the first load included.",
		}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "license_agent_verification_failures_total",
			Help: "Verifications that did not accept the token, by validation code.",
		}, []string{"code"}),
		clockSkew: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "license_agent_clock_skew_detected_total",
			Help: "Times the system clock was seen moving backwards (behind a time already seen, or behind the token's issue time, by more than the leeway).",
		}),
	}
	// Export the codes verification can produce at zero, so rate() and alerts
	// work before the first failure.
	for _, c := range []license.Code{license.CodeMalformed, license.CodeUnknownKey, license.CodeSignatureInvalid, license.CodeExpired, license.CodeNotYetValid, license.CodeRevoked} {
		m.failures.WithLabelValues(string(c))
	}
	// Gauges are computed at scrape time, like every request: a license lapses
	// without any reload.
	valid := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "license_agent_license_valid",
		Help: "1 while the license entitles (VALID or IN_GRACE_PERIOD) in the agent's answers, online or from the token, else 0.",
	}, func() float64 {
		if a.decide(a.now()).verdict.valid {
			return 1
		}
		return 0
	})
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "license_agent_license_expiry_timestamp_seconds",
		Help: "When the last license stops entitling, grace included (Unix seconds); +Inf if a license never ends, 0 without a verified token.",
	}, func() float64 {
		s := a.snap.Load()
		if s.claims == nil {
			return 0
		}
		if end := s.claims.ExpiresAt(); !end.IsZero() {
			return float64(end.Unix())
		}
		return math.Inf(1)
	})
	tokenExpiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "license_agent_token_expiry_timestamp_seconds",
		Help: "The token's exp claim (Unix seconds): the operator must refresh the Secret before then; +Inf without exp, 0 without a verified token.",
	}, func() float64 {
		s := a.snap.Load()
		switch {
		case s.claims == nil:
			return 0
		case s.claims.Expiry == 0:
			return math.Inf(1)
		}
		return float64(s.claims.Expiry)
	})
	m.registry.MustRegister(m.reloads, m.failures, m.clockSkew, valid, expiry, tokenExpiry,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if a.online != nil {
		m.registerOnline(a)
	}
	m.handler = promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
	return m
}

// registerOnline adds the metrics of the online mode.
func (m *metrics) registerOnline(a *Agent) {
	m.apiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "license_agent_license_api_calls_total",
		Help: "Calls of the license API, by call (validate, activate, acquire_seat, heartbeat, release_seat) and the code they ended with (the verdict's or the API's code, UNTRUSTED_ANSWER, UNREACHABLE).",
	}, []string{"call", "code"})
	online := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "license_agent_online",
		Help: "1 while the agent answers from the license API's live verdict, 0 while it answers from the token or fails closed.",
	}, func() float64 {
		if kind, _, _ := a.link(a.now()); kind == linkOnline {
			return 1
		}
		return 0
	})
	offline := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "license_agent_offline_seconds",
		Help: "Seconds since the last verdict of the license API (since the start if there was none) while the agent is offline; 0 while it is online. Past --offline-grace the agent fails closed.",
	}, func() float64 {
		t := a.now()
		kind, _, info := a.link(t)
		if kind == linkOnline {
			return 0
		}
		return t.Sub(*info.OfflineSince).Seconds()
	})
	grace := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "license_agent_offline_grace_seconds",
		Help: "--offline-grace: how long the agent answers from the token while offline before it fails closed.",
	})
	grace.Set(a.cfg.OfflineGrace.Seconds())
	m.registry.MustRegister(m.apiCalls, online, offline, grace)
	if a.cfg.Seat != "" {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "license_agent_seat_held",
			Help: "1 while the agent holds the --seat floating seat, else 0.",
		}, func() float64 { return boolGauge(a.seatStatus().Held) }))
	}
	if a.cfg.Activate != "" {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "license_agent_fingerprint_activated",
			Help: "1 once the --activate fingerprint is active, else 0.",
		}, func() float64 { return boolGauge(a.online.activated.Load()) }))
	}
}

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
