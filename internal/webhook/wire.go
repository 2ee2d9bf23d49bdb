package webhook

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// ContentType is the body's media type: a CloudEvent in structured JSON mode.
const ContentType = "application/cloudevents+json"

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Body is the CloudEvent of e in structured JSON mode: specversion 1.0, id,
// source, type, subject, time, datacontenttype application/json, data.
func Body(e *licensingv1alpha1.LicenseEvent) ([]byte, error) {
	ce := cloudevents.New()
	ce.SetID(e.Spec.ID)
	ce.SetSource(e.Spec.Source)
	ce.SetType(string(e.Spec.Type))
	if e.Spec.Subject != "" {
		ce.SetSubject(e.Spec.Subject)
	}
	ce.SetTime(e.Spec.Time.Time)
	if err := ce.SetData(cloudevents.ApplicationJSON, e.Spec.Data); err != nil {
		return nil, fmt.Errorf("encode data of event %s: %w", e.Name, err)
	}
	if err := ce.Validate(); err != nil {
		return nil, fmt.Errorf("event %s is not a valid CloudEvent: %w", e.Name, err)
	}
	body, err := json.Marshal(ce)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.Name, err)
	}
	return body, nil
}

// secretPrefix starts a Standard Webhooks signing secret.
const secretPrefix = "whsec_"

// ParseSigningSecret decodes a Standard Webhooks secret, "whsec_" followed by
// the standard base64 of 24 to 64 random bytes (surrounding whitespace, as a
// file or `kubectl create secret --from-file` leaves it, is ignored).
func ParseSigningSecret(raw []byte) ([]byte, error) {
	s := strings.TrimSpace(string(raw))
	if !strings.HasPrefix(s, secretPrefix) {
		return nil, errors.New(`the signing secret must start with "whsec_" followed by base64 (make one with: echo "whsec_$(head -c 32 /dev/urandom | base64)")`)
	}
	encoded := strings.TrimPrefix(s, secretPrefix)
	// Go's decoder skips CR and LF, even in Strict mode: one secret, one spelling.
	key, err := base64.StdEncoding.Strict().DecodeString(encoded)
	if err != nil || strings.ContainsAny(encoded, "\r\n") {
		return nil, errors.New(`the signing secret after "whsec_" is not standard base64 (make one with: echo "whsec_$(head -c 32 /dev/urandom | base64)")`)
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("the signing secret holds %d bytes; it must hold 24 to 64 random bytes (32 is usual)", len(key))
	}
	return key, nil
}

// SignatureHeaders are the Standard Webhooks headers of one attempt to send
// body with id at instant at: webhook-signature is v1,<base64 HMAC-SHA256 of
// "id.timestamp.body"> with the decoded secret.
func SignatureHeaders(key []byte, id string, at time.Time, body []byte) (http.Header, error) {
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	sig, err := wh.Sign(id, at, body)
	if err != nil {
		return nil, fmt.Errorf("sign event %s: %w", id, err)
	}
	h := http.Header{}
	h.Set("Content-Type", ContentType)
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(at.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h, nil
}
