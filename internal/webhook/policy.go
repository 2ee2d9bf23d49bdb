package webhook

import (
	"fmt"
	"hash/fnv"
	"net/url"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Defaults of the delivery policy.
const (
	DefaultMaxAttempts = 12
	DefaultTimeout     = 10 * time.Second
	// DefaultRetryBase is the wait after the first failure; it doubles after
	// each failure up to MaxRetryDelay.
	DefaultRetryBase = 5 * time.Second
	MaxRetryDelay    = time.Hour
	// DefaultRetention keeps a delivered event this long (for kubectl and a
	// receiver's questions) before it is deleted.
	DefaultRetention = 24 * time.Hour
	// MaxAge deletes an event whatever its deliveries (a webhook that never
	// became usable): longer than 50 attempts take.
	MaxAge = 72 * time.Hour
)

// RetryDelay is the wait after the n-th failed attempt (n >= 1): base·2^(n-1),
// capped at MaxRetryDelay.
func RetryDelay(base time.Duration, n int32) time.Duration {
	if base <= 0 {
		base = DefaultRetryBase
	}
	d := base
	for i := int32(1); i < n && d < MaxRetryDelay; i++ {
		d *= 2
	}
	return min(d, MaxRetryDelay)
}

// Jitter lengthens delay by up to a fifth, by an amount fixed by the event,
// the webhook and the attempt: the events that failed together when a
// receiver went down do not all come back in the same second, and the wait is
// the same whichever replica computes it (nothing random to persist).
func Jitter(eventID, webhook string, attempt int32, delay time.Duration) time.Duration {
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%s\x00%s\x00%d", eventID, webhook, attempt)
	return delay + time.Duration(h.Sum64()%uint64(delay/5+1))
}

// MaxAttempts of w, defaulted.
func MaxAttempts(w *licensingv1alpha1.LicenseWebhook) int32 {
	if w.Spec.MaxAttempts > 0 {
		return w.Spec.MaxAttempts
	}
	return DefaultMaxAttempts
}

// Timeout of one attempt to w, defaulted.
func Timeout(w *licensingv1alpha1.LicenseWebhook) time.Duration {
	if w.Spec.TimeoutSeconds > 0 {
		return time.Duration(w.Spec.TimeoutSeconds) * time.Second
	}
	return DefaultTimeout
}

// Wants says whether w is to receive e: w existed when e was recorded (a new
// webhook does not receive the past), and e passes its type filter and
// selector. A licensee selector that does not parse matches nothing (the CRD
// validates its shape; the error is reported by CheckSelector).
func Wants(w *licensingv1alpha1.LicenseWebhook, e *licensingv1alpha1.LicenseEvent) bool {
	if e.CreationTimestamp.Before(&w.CreationTimestamp) {
		return false
	}
	return Matches(w, e)
}

// Matches says whether e passes w's type filter and selector.
func Matches(w *licensingv1alpha1.LicenseWebhook, e *licensingv1alpha1.LicenseEvent) bool {
	if len(w.Spec.Events) > 0 && !slices.Contains(w.Spec.Events, e.Spec.Type) {
		return false
	}
	sel := w.Spec.Selector
	if sel == nil {
		return true
	}
	if sel.ProductRef != nil && sel.ProductRef.Name != e.Spec.Data.Product {
		return false
	}
	if sel.LicenseeSelector != nil {
		if e.Spec.Data.Licensee == "" {
			return false
		}
		s, err := metav1.LabelSelectorAsSelector(sel.LicenseeSelector)
		if err != nil || !s.Matches(labels.Set(e.Spec.LicenseeLabels)) {
			return false
		}
	}
	return true
}

// URLProblem says what is wrong with a webhook URL, with its reason, or "" when
// nothing is: it must be absolute, with a host, and https unless allowHTTP.
func URLProblem(raw string, allowHTTP bool) (reason, message string) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return licensingv1alpha1.ReasonInvalidURL, "the webhook URL must be an absolute https:// URL with a host"
	}
	if u.User != nil {
		return licensingv1alpha1.ReasonInvalidURL, "the webhook URL must not carry user:password@; put a credential in the path or query and the URL in spec.urlSecretRef"
	}
	if u.Scheme == "http" && !allowHTTP {
		return licensingv1alpha1.ReasonInsecureURL, "the webhook URL is plain http; use https (the manager allows http only with --webhook-allow-http, for tests)"
	}
	return "", ""
}

// Outcome is the next state of e's delivery to one webhook after an attempt
// at instant at that answered status (0: no answer) or failed with err.
func Outcome(d licensingv1alpha1.WebhookDelivery, eventID string, maxAttempts int32, base time.Duration, at time.Time, status int, err error) licensingv1alpha1.WebhookDelivery {
	t := metav1.NewTime(at.UTC().Truncate(time.Second))
	d.Attempts++
	d.LastAttemptAt = &t
	d.LastStatus = int32(status)
	d.NextAttemptAt = nil
	if err == nil && status >= 200 && status < 300 {
		d.DeliveredAt, d.LastError = &t, ""
		return d
	}
	switch {
	case err != nil:
		d.LastError = clip(err.Error())
	default:
		d.LastError = fmt.Sprintf("the receiver answered HTTP %d; only 2xx counts as delivered", status)
	}
	if d.Attempts >= maxAttempts {
		d.GaveUpAt = &t
		return d
	}
	// Not truncated: a base below a second (tests) must still wait.
	next := metav1.NewTime(at.Add(Jitter(eventID, d.Webhook, d.Attempts, RetryDelay(base, d.Attempts))))
	d.NextAttemptAt = &next
	return d
}

func clip(s string) string {
	const limit = 512
	if len(s) > limit {
		return s[:limit] + "…"
	}
	return s
}
