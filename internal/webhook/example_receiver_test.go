package webhook_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// The documented receiver accepts what the operator sends and refuses a
// tampered body, a wrong secret and a stale timestamp.
func TestExampleReceiver(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	key, err := webhook.ParseSigningSecret([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	l := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: "globex", UID: "u"}}
	e := webhook.LicenseIssued(l, "s-1", time.Now())
	body, err := webhook.Body(e.Object())
	if err != nil {
		t.Fatal(err)
	}
	post := func(h http.Handler, body []byte, at time.Time) int {
		headers, err := webhook.SignatureHeaders(key, e.EventID(), at, body)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(body))
		req.Header = headers
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	h := receiverHandler(secret)
	if code := post(h, body, time.Now()); code != http.StatusNoContent {
		t.Errorf("a signed event: %d, want 204", code)
	}
	signed, _ := webhook.SignatureHeaders(key, e.EventID(), time.Now(), body)
	tampered := httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(append(bytes.Clone(body[:len(body)-1]), ' ', '}')))
	tampered.Header = signed
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, tampered)
	if rec.Code != http.StatusBadRequest {
		t.Errorf("a tampered body: %d, want 400", rec.Code)
	}
	if code := post(receiverHandler("whsec_"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), body, time.Now()); code != http.StatusBadRequest {
		t.Errorf("another secret: %d, want 400", code)
	}
	if code := post(h, body, time.Now().Add(-time.Hour)); code != http.StatusBadRequest {
		t.Errorf("an hour-old timestamp: %d, want 400", code)
	}
}
