package webhook

import (
	"errors"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func TestRetryDelay(t *testing.T) {
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
		320 * time.Second, 640 * time.Second, 1280 * time.Second, 2560 * time.Second, time.Hour, time.Hour}
	for i, w := range want {
		if got := RetryDelay(0, int32(i+1)); got != w {
			t.Errorf("after failure %d: %s, want %s", i+1, got, w)
		}
	}
	if got := RetryDelay(time.Second, 1000); got != time.Hour {
		t.Errorf("after 1000 failures: %s, want the 1h cap", got)
	}
}

func TestOutcome(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := licensingv1alpha1.WebhookDelivery{Webhook: "crm"}
	// within says the next attempt is delay after from, lengthened by at most a fifth.
	within := func(d licensingv1alpha1.WebhookDelivery, from time.Time, delay time.Duration) bool {
		return d.NextAttemptAt != nil && !d.NextAttemptAt.Time.Before(from.Add(delay)) && !d.NextAttemptAt.Time.After(from.Add(delay+delay/5))
	}

	d = Outcome(d, "evt-1", 3, 0, at, 500, nil)
	if d.Attempts != 1 || d.DeliveredAt != nil || d.GaveUpAt != nil || d.LastStatus != 500 || !within(d, at, 5*time.Second) {
		t.Fatalf("after a 500: %+v", d)
	}
	d = Outcome(d, "evt-1", 3, 0, at.Add(5*time.Second), 0, errors.New("connection refused"))
	if d.Attempts != 2 || d.LastStatus != 0 || d.LastError == "" || !within(d, at.Add(5*time.Second), 10*time.Second) {
		t.Fatalf("after no answer: %+v", d)
	}
	done := Outcome(d, "evt-1", 3, 0, at.Add(15*time.Second), 204, nil)
	if done.Attempts != 3 || done.DeliveredAt == nil || done.NextAttemptAt != nil || done.LastError != "" || !done.Done() {
		t.Fatalf("after a 204: %+v", done)
	}
	gaveUp := Outcome(d, "evt-1", 3, 0, at.Add(15*time.Second), 302, nil)
	if gaveUp.GaveUpAt == nil || gaveUp.NextAttemptAt != nil || gaveUp.DeliveredAt != nil || !gaveUp.Done() {
		t.Fatalf("a redirect at the last attempt: %+v", gaveUp)
	}
}

func TestJitterSpreadsEventsThatFailedTogether(t *testing.T) {
	const delay = time.Minute
	seen := map[time.Duration]bool{}
	for i := range 100 {
		id := fmt.Sprintf("evt-%d", i)
		j := Jitter(id, "crm", 3, delay)
		if j < delay || j > delay+delay/5 {
			t.Fatalf("Jitter(%s) = %s, want within [%s, %s]", id, j, delay, delay+delay/5)
		}
		if again := Jitter(id, "crm", 3, delay); again != j {
			t.Fatalf("Jitter(%s) = %s then %s: every replica must compute the same wait", id, j, again)
		}
		seen[j.Truncate(time.Second)] = true
	}
	// 100 events over a 12s spread: most seconds of it get one.
	if len(seen) < 8 {
		t.Errorf("100 events retry in %d distinct seconds, want them spread over the 12s", len(seen))
	}
	if Jitter("evt-1", "crm", 1, 0) != 0 {
		t.Error("no delay gets no jitter")
	}
}

func TestURLProblem(t *testing.T) {
	for _, tc := range []struct {
		url       string
		allowHTTP bool
		want      string
	}{
		{"https://crm.example.com/hooks", false, ""},
		{"https://127.0.0.1:8443/x?token=abc", false, ""},
		{"http://crm.example.com/hooks", false, licensingv1alpha1.ReasonInsecureURL},
		{"http://crm.example.com/hooks", true, ""},
		{"HTTP://crm.example.com/hooks", false, licensingv1alpha1.ReasonInsecureURL},
		{"ftp://crm.example.com/hooks", true, licensingv1alpha1.ReasonInvalidURL},
		{"https:///path-only", false, licensingv1alpha1.ReasonInvalidURL},
		{"/relative", false, licensingv1alpha1.ReasonInvalidURL},
		{"https://user:pass@crm.example.com/", false, licensingv1alpha1.ReasonInvalidURL},
		{"https://crm.example.com/%zz", false, licensingv1alpha1.ReasonInvalidURL},
		{"", false, licensingv1alpha1.ReasonInvalidURL},
		{" https://crm.example.com", false, licensingv1alpha1.ReasonInvalidURL},
	} {
		if got, msg := URLProblem(tc.url, tc.allowHTTP); got != tc.want || (got != "" && msg == "") {
			t.Errorf("URLProblem(%q, %v) = %q %q, want %q", tc.url, tc.allowHTTP, got, msg, tc.want)
		}
	}
}

func TestWants(t *testing.T) {
	created := metav1.NewTime(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	l := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "globex", UID: "u", Labels: map[string]string{"tier": "gold"}}}
	l.Spec.ProductRef.Name = "acme-db"
	ie := LicenseIssued(l, "s", created.Time)
	issued := ie.Object()
	issued.CreationTimestamp = created
	ke := KeyRotated(&licensingv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "acme-db", UID: "p"}}, "k2", "k1", "", created.Time)
	key := ke.Object()
	key.CreationTimestamp = created
	hook := func(mutate func(*licensingv1alpha1.LicenseWebhookSpec)) *licensingv1alpha1.LicenseWebhook {
		w := &licensingv1alpha1.LicenseWebhook{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created}}
		if mutate != nil {
			mutate(&w.Spec)
		}
		return w
	}
	selector := func(s *licensingv1alpha1.WebhookSelector) func(*licensingv1alpha1.LicenseWebhookSpec) {
		return func(spec *licensingv1alpha1.LicenseWebhookSpec) { spec.Selector = s }
	}
	later := hook(nil)
	later.CreationTimestamp = metav1.NewTime(created.Add(time.Second))
	for _, tc := range []struct {
		name       string
		w          *licensingv1alpha1.LicenseWebhook
		issued, ky bool
	}{
		{"everything", hook(nil), true, true},
		{"created after the event", later, false, false},
		{"issued only", hook(func(s *licensingv1alpha1.LicenseWebhookSpec) {
			s.Events = []licensingv1alpha1.EventType{licensingv1alpha1.EventLicenseIssued}
		}), true, false},
		{"this product", hook(selector(&licensingv1alpha1.WebhookSelector{ProductRef: &licensingv1alpha1.LocalObjectReference{Name: "acme-db"}})), true, true},
		{"another product", hook(selector(&licensingv1alpha1.WebhookSelector{ProductRef: &licensingv1alpha1.LocalObjectReference{Name: "other"}})), false, false},
		{"gold licensees", hook(selector(&licensingv1alpha1.WebhookSelector{LicenseeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "gold"}}})), true, false},
		{"silver licensees", hook(selector(&licensingv1alpha1.WebhookSelector{LicenseeSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"tier": "silver"}}})), false, false},
		{"a selector that does not parse matches nothing", hook(selector(&licensingv1alpha1.WebhookSelector{LicenseeSelector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: "Near"}},
		}})), false, false},
	} {
		if got := Wants(tc.w, issued); got != tc.issued {
			t.Errorf("%s: wants issued %v, want %v", tc.name, got, tc.issued)
		}
		if got := Wants(tc.w, key); got != tc.ky {
			t.Errorf("%s: wants key.rotated %v, want %v", tc.name, got, tc.ky)
		}
	}
}
