// Package webhook is the outbox and the wire format of kubelicense's webhooks.
//
// Each business transition becomes one LicenseEvent object (the outbox), named
// by an id derived from what happened, so a retried reconcile meets its own
// event as AlreadyExists and the id a receiver deduplicates by never changes.
// The delivery controller (controllers/licenseevent_controller.go) posts each
// event as a CloudEvent in structured JSON mode, signed the Standard Webhooks
// way, and records every attempt in the event's status.
//
// The functions here are pure (ids, matching, backoff, the body and its
// signature) except Outbox, which writes LicenseEvents, and Sender, which posts.
package webhook
