package webhook_test

import (
	"encoding/json"
	"io"
	"log"
	"net/http"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
)

// receiverHandler is the receiver of docs/observability.md ("Webhooks"): it verifies the
// Standard Webhooks signature, then reads the CloudEvent.
func receiverHandler(secret string) http.Handler {
	wh, err := standardwebhooks.NewWebhook(secret) // "whsec_..." from the signing Secret
	if err != nil {
		log.Fatal(err)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil || wh.Verify(body, r.Header) != nil { // signature and timestamp (5 min)
			http.Error(w, "bad signature", http.StatusBadRequest)
			return
		}
		var event cloudevents.Event
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "not a CloudEvent", http.StatusBadRequest)
			return
		}
		// event.ID() is stable across redeliveries: skip an id already handled.
		var data map[string]any
		_ = event.DataAs(&data)
		log.Printf("%s %s: licensee %v, license %v", event.Type(), event.ID(), data["licensee"], data["license"])
		w.WriteHeader(http.StatusNoContent) // answer fast; 2xx = delivered
	})
}

// A receiver of kubelicense webhooks.
func Example_receiver() {
	log.Fatal(http.ListenAndServeTLS(":8443", "tls.crt", "tls.key", receiverHandler("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")))
}
