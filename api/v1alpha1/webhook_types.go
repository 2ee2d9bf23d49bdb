package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Webhooks: every business transition (a token issued, a license entering
// grace, an activation, a key rotation...) is written once as a LicenseEvent,
// the outbox, by the component that sees it. The delivery controller posts each
// LicenseEvent as a signed CloudEvent to every matching LicenseWebhook of its
// namespace and records each delivery in the LicenseEvent's status, so a
// restart of the manager loses nothing and the event id never changes.

// EventType is the CloudEvents type of a LicenseEvent.
// +kubebuilder:validation:Enum=io.kubelicense.license.issued;io.kubelicense.license.renewed;io.kubelicense.license.expiring-soon;io.kubelicense.license.entered-grace;io.kubelicense.license.expired;io.kubelicense.license.suspended;io.kubelicense.license.resumed;io.kubelicense.license.revoked;io.kubelicense.activation.created;io.kubelicense.activation.removed;io.kubelicense.seats.exhausted;io.kubelicense.key.rotated;io.kubelicense.key.missing
type EventType string

// The event types.
const (
	EventLicenseIssued       EventType = "io.kubelicense.license.issued"
	EventLicenseRenewed      EventType = "io.kubelicense.license.renewed"
	EventLicenseExpiringSoon EventType = "io.kubelicense.license.expiring-soon"
	EventLicenseEnteredGrace EventType = "io.kubelicense.license.entered-grace"
	EventLicenseExpired      EventType = "io.kubelicense.license.expired"
	EventLicenseSuspended    EventType = "io.kubelicense.license.suspended"
	EventLicenseResumed      EventType = "io.kubelicense.license.resumed"
	EventLicenseRevoked      EventType = "io.kubelicense.license.revoked"
	EventActivationCreated   EventType = "io.kubelicense.activation.created"
	EventActivationRemoved   EventType = "io.kubelicense.activation.removed"
	EventSeatsExhausted      EventType = "io.kubelicense.seats.exhausted"
	EventKeyRotated          EventType = "io.kubelicense.key.rotated"
	EventKeyMissing          EventType = "io.kubelicense.key.missing"
)

// EventTypes lists every event type, in the order of the docs.
var EventTypes = []EventType{
	EventLicenseIssued, EventLicenseRenewed, EventLicenseExpiringSoon, EventLicenseEnteredGrace,
	EventLicenseExpired, EventLicenseSuspended, EventLicenseResumed, EventLicenseRevoked,
	EventActivationCreated, EventActivationRemoved, EventSeatsExhausted, EventKeyRotated, EventKeyMissing,
}

// LabelEventType carries a LicenseEvent's type without the io.kubelicense. prefix
// (label values cannot hold every character a type may), for kubectl -l.
const LabelEventType = "licensing.kubelicense.io/event-type"

// LicenseEventData is what the event says: the CloudEvent's data, as JSON. It
// names things and times; it never holds a token, a key or a secret.
type LicenseEventData struct {
	Namespace string `json:"namespace"`
	Product   string `json:"product,omitempty"`
	Licensee  string `json:"licensee,omitempty"`
	// ExternalID is the Licensee's link to the CRM.
	ExternalID string `json:"externalID,omitempty"`
	// License is the name of the license in the Licensee's spec.licenses.
	License string `json:"license,omitempty"`
	// State is the license's state after the transition; PreviousState before it.
	State         LicenseState `json:"state,omitempty"`
	PreviousState LicenseState `json:"previousState,omitempty"`
	// Serial of the token issued (issued, renewed); PreviousSerial the one it replaced.
	Serial         string `json:"serial,omitempty"`
	PreviousSerial string `json:"previousSerial,omitempty"`
	// Reason says why, in a few words (why a token was re-signed, revoked...).
	Reason     string       `json:"reason,omitempty"`
	ValidUntil *metav1.Time `json:"validUntil,omitempty"`
	GraceUntil *metav1.Time `json:"graceUntil,omitempty"`
	// Fingerprint and MachineName of an activation.
	Fingerprint string `json:"fingerprint,omitempty"`
	MachineName string `json:"machineName,omitempty"`
	// Seats and SeatsInUse of a license whose seats are exhausted.
	Seats      *int32 `json:"seats,omitempty"`
	SeatsInUse *int32 `json:"seatsInUse,omitempty"`
	// KeyID of the signing key (key events); PreviousKeyID the one it replaced.
	KeyID         string `json:"keyID,omitempty"`
	PreviousKeyID string `json:"previousKeyID,omitempty"`
	// Threshold of an expiring-soon notice (for instance 168h).
	Threshold string `json:"threshold,omitempty"`
}

// LicenseEventSpec is one business event, as it will be delivered.
type LicenseEventSpec struct {
	// Type is the CloudEvents type.
	Type EventType `json:"type"`
	// Source is the CloudEvents source: the API path of the Licensee or Product.
	// +kubebuilder:validation:MaxLength=512
	Source string `json:"source"`
	// Subject is the CloudEvents subject: the license, fingerprint or key concerned.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Subject string `json:"subject,omitempty"`
	// ID is the CloudEvents id and the webhook-id: the object's name, derived
	// from what happened, so a retried transition finds the event already there.
	// +kubebuilder:validation:MaxLength=253
	ID string `json:"id"`
	// Time is when the transition happened.
	Time metav1.Time `json:"time"`
	// LicenseeLabels are the Licensee's labels when it happened, for webhook selectors.
	// +optional
	LicenseeLabels map[string]string `json:"licenseeLabels,omitempty"`
	// Data is the CloudEvent's data.
	Data LicenseEventData `json:"data"`
}

// WebhookDelivery is the delivery state of one event to one webhook.
type WebhookDelivery struct {
	// Webhook is the name of the LicenseWebhook.
	Webhook string `json:"webhook"`
	// Attempts made so far.
	Attempts int32 `json:"attempts"`
	// LastAttemptAt is when the last attempt was made.
	// +optional
	LastAttemptAt *metav1.Time `json:"lastAttemptAt,omitempty"`
	// NextAttemptAt is when the next attempt is due (absent once delivered or given up).
	// +optional
	NextAttemptAt *metav1.Time `json:"nextAttemptAt,omitempty"`
	// DeliveredAt is when a receiver answered 2xx.
	// +optional
	DeliveredAt *metav1.Time `json:"deliveredAt,omitempty"`
	// GaveUpAt is when the last allowed attempt failed.
	// +optional
	GaveUpAt *metav1.Time `json:"gaveUpAt,omitempty"`
	// LastStatus is the HTTP status of the last attempt (0: no answer).
	// +optional
	LastStatus int32 `json:"lastStatus,omitempty"`
	// LastError says why the last attempt failed.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	LastError string `json:"lastError,omitempty"`
}

// Done is true once the event was delivered to the webhook or given up.
func (d *WebhookDelivery) Done() bool { return d.DeliveredAt != nil || d.GaveUpAt != nil }

// LicenseEventStatus records the deliveries.
type LicenseEventStatus struct {
	// Deliveries, one per webhook the event is for.
	// +optional
	// +listType=map
	// +listMapKey=webhook
	Deliveries []WebhookDelivery `json:"deliveries,omitempty"`
}

// LicenseEvent is one business event (a license issued, expired, an activation,
// a key rotation...) waiting for or done with delivery to the namespace's
// LicenseWebhooks. The controllers and the license API write them; the
// delivery controller delivers them and deletes them after a retention period.
// Deleting the Licensee or Product deletes its events.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=levt,categories=licensing-usage
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Licensee",type=string,JSONPath=`.spec.data.licensee`
// +kubebuilder:printcolumn:name="Subject",type=string,JSONPath=`.spec.subject`
// +kubebuilder:printcolumn:name="Time",type=date,JSONPath=`.spec.time`
type LicenseEvent struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LicenseEventSpec   `json:"spec"`
	Status LicenseEventStatus `json:"status,omitempty"`
}

// Delivery is the delivery state of the event to webhook, nil when none yet.
func (e *LicenseEvent) Delivery(webhook string) *WebhookDelivery {
	for i := range e.Status.Deliveries {
		if e.Status.Deliveries[i].Webhook == webhook {
			return &e.Status.Deliveries[i]
		}
	}
	return nil
}

// LicenseEventList is a list of LicenseEvents.
// +kubebuilder:object:root=true
type LicenseEventList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LicenseEvent `json:"items"`
}

// SecretKeySelector names a key of a Secret in the same namespace.
type SecretKeySelector struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Key string `json:"key"`
}

// WebhookSelector narrows the events a webhook receives; every field given must match.
type WebhookSelector struct {
	// ProductRef: only events of this Product and of its Licensees.
	// +optional
	ProductRef *LocalObjectReference `json:"productRef,omitempty"`
	// LicenseeSelector: only events of Licensees with matching labels (key
	// events of a Product are about no Licensee and do not match).
	// +optional
	LicenseeSelector *metav1.LabelSelector `json:"licenseeSelector,omitempty"`
}

// LicenseWebhookSpec says where to deliver which events, and how to sign them.
// +kubebuilder:validation:XValidation:rule="has(self.url) != has(self.urlSecretRef)",message="set exactly one of url and urlSecretRef"
type LicenseWebhookSpec struct {
	// URL receives the events (HTTPS; plain HTTP only when the manager runs
	// with --webhook-allow-http, for tests).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:XValidation:rule="isURL(self) && (self.startsWith('https://') || self.startsWith('http://'))",message="must be an absolute https:// URL"
	URL string `json:"url,omitempty"`
	// URLSecretRef names a Secret key holding the URL, for URLs that carry a
	// credential (a token in the path or query).
	// +optional
	URLSecretRef *SecretKeySelector `json:"urlSecretRef,omitempty"`
	// SigningSecretRef names the Secret key holding the Standard Webhooks
	// signing secret: "whsec_" followed by 24 to 64 random bytes in base64.
	SigningSecretRef SecretKeySelector `json:"signingSecretRef"`
	// CABundle is the PEM certificates the receiver's certificate must chain
	// to; absent: the system's roots.
	// +optional
	CABundle []byte `json:"caBundle,omitempty"`
	// Events are the types to deliver; empty: every type.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	Events []EventType `json:"events,omitempty"`
	// Selector narrows the events to a Product or to Licensees by label.
	// +optional
	Selector *WebhookSelector `json:"selector,omitempty"`
	// MaxAttempts bounds the attempts per event (with exponential backoff
	// between them, 5s doubling up to 1h: 12 attempts span about 3 hours).
	// +optional
	// +kubebuilder:default=12
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=50
	MaxAttempts int32 `json:"maxAttempts,omitempty"`
	// TimeoutSeconds bounds each attempt.
	// +optional
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=60
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
}

// WebhookFailure is the last failed attempt.
type WebhookFailure struct {
	At metav1.Time `json:"at"`
	// Event is the id of the event that failed.
	Event string `json:"event"`
	// HTTPStatus of the answer; 0 when there was none (timeout, refused, TLS).
	// +optional
	HTTPStatus int32 `json:"httpStatus,omitempty"`
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
}

// LicenseWebhookStatus reports the webhook's configuration and deliveries.
type LicenseWebhookStatus struct {
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration"`
	// Conditions: Ready (URL and signing secret usable).
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// LastSuccessAt is when an event was last delivered.
	// +optional
	LastSuccessAt *metav1.Time `json:"lastSuccessAt,omitempty"`
	// LastFailure is the last failed attempt.
	// +optional
	LastFailure *WebhookFailure `json:"lastFailure,omitempty"`
	// Pending counts the events not yet delivered nor given up.
	// +optional
	Pending int32 `json:"pending"`
}

// LicenseWebhook delivers the namespace's LicenseEvents as signed CloudEvents
// (Standard Webhooks) to an HTTPS endpoint: the CRM, billing, customer mail.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lwh,categories=licensing
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Pending",type=integer,JSONPath=`.status.pending`
// +kubebuilder:printcolumn:name="Last Success",type=date,JSONPath=`.status.lastSuccessAt`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
type LicenseWebhook struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   LicenseWebhookSpec   `json:"spec"`
	Status LicenseWebhookStatus `json:"status,omitempty"`
}

// LicenseWebhookList is a list of LicenseWebhooks.
// +kubebuilder:object:root=true
type LicenseWebhookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LicenseWebhook `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LicenseEvent{}, &LicenseEventList{}, &LicenseWebhook{}, &LicenseWebhookList{})
}
