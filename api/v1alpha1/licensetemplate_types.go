package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LicenseType is the licensing model of a template.
// +kubebuilder:validation:Enum=Perpetual;Subscription;Trial;Floating;NodeLocked
type LicenseType string

const (
	LicenseTypePerpetual    LicenseType = "Perpetual"
	LicenseTypeSubscription LicenseType = "Subscription"
	LicenseTypeTrial        LicenseType = "Trial"
	LicenseTypeFloating     LicenseType = "Floating"
	LicenseTypeNodeLocked   LicenseType = "NodeLocked"
)

// ExpiryAction says what happens to a license token when nothing entitles any more.
// +kubebuilder:validation:Enum=Retain;Revoke
type ExpiryAction string

const (
	// ExpiryActionRetain keeps the lapsed token in the Secret (the default).
	ExpiryActionRetain ExpiryAction = "Retain"
	// ExpiryActionRevoke removes the token; license.json says why.
	ExpiryActionRevoke ExpiryAction = "Revoke"
)

// LicenseTemplateSpec is a reusable license offer of a Product.
// +kubebuilder:validation:XValidation:rule="self.type != 'Floating' || has(self.seats)",message="seats is required when type is Floating: set the number of concurrent leases"
// +kubebuilder:validation:XValidation:rule="self.type != 'NodeLocked' || has(self.maxActivations)",message="maxActivations is required when type is NodeLocked: set how many distinct machines may activate"
// +kubebuilder:validation:XValidation:rule="!(self.type in ['Subscription', 'Trial']) || has(self.duration)",message="duration is required for Subscription and Trial: set the length of one period, e.g. 720h"
// +kubebuilder:validation:XValidation:rule="self.type != 'Perpetual' || !has(self.duration)",message="duration is not allowed for Perpetual licenses, which never end: remove it or use type Subscription"
// +kubebuilder:validation:XValidation:rule="!has(self.autoRenew) || self.type == 'Subscription'",message="autoRenew is only allowed for Subscription: remove it or change the type"
// +kubebuilder:validation:XValidation:rule="!has(self.gracePeriod) || has(self.duration)",message="gracePeriod needs a duration: a license without an end has no grace period"
type LicenseTemplateSpec struct {
	// ProductRef names the Product in the same namespace.
	ProductRef LocalObjectReference `json:"productRef"`

	// DisplayName is the offer's human-readable name.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// Type is the licensing model: Perpetual, Subscription, Trial, Floating or NodeLocked.
	Type LicenseType `json:"type"`

	// Duration is the length of one period. Required for Subscription and Trial,
	// optional for Floating and NodeLocked (absent: no end), forbidden for Perpetual.
	// +optional
	Duration *Duration `json:"duration,omitempty"`

	// AutoRenew (Subscription only) starts a new period when one ends, until the
	// license's endsAt. Absent means false.
	// +optional
	AutoRenew *bool `json:"autoRenew,omitempty"`

	// GracePeriod follows the end of a period: the licensee is still entitled,
	// in state InGracePeriod.
	// +optional
	GracePeriod *Duration `json:"gracePeriod,omitempty"`

	// OnExpiry says what happens to the token when nothing entitles any more:
	// Retain (the default) keeps the lapsed token, Revoke removes it.
	// +optional
	OnExpiry ExpiryAction `json:"onExpiry,omitempty"`

	// TokenTTL makes tokens short-lived: each is valid for at most this long and
	// is re-signed at two thirds of it. At least one minute.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="tokenTTL must be at least 1m so tokens are not re-signed in a loop"
	TokenTTL *Duration `json:"tokenTTL,omitempty"`

	// NotifyBefore lists how long before a license ends the Licensee
	// controller announces it with an ExpiringSoon Event, e.g. [720h, 168h, 24h]:
	// once per threshold and end, and only the shortest threshold already
	// passed when several passed at once. The end is the license's validUntil;
	// for an auto-renewing Subscription it is the license's endsAt, and one
	// without endsAt never notifies.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +kubebuilder:validation:XValidation:rule="!self.all(d, d.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$')) || self.all(a, self.exists_one(b, duration(b) == duration(a)))",message="notifyBefore thresholds must be distinct durations: remove the duplicate"
	NotifyBefore []Duration `json:"notifyBefore,omitempty"`

	// Features granted; each must be declared in the Product.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=256
	Features []FeatureName `json:"features,omitempty"`

	// Quotas granted; each must be declared in the Product.
	// +optional
	Quotas QuotaMap `json:"quotas,omitempty"`

	// Seats is the number of concurrent seat leases (floating licenses) the
	// license API grants. Any type may set it (a Subscription with 5 seats);
	// Floating requires it.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	Seats *int32 `json:"seats,omitempty"`

	// MaxActivations is the number of distinct machine fingerprints that may
	// activate through the license API (node-locking). Any type may set it;
	// NodeLocked requires it.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	MaxActivations *int32 `json:"maxActivations,omitempty"`
}

// LicenseTemplateStatus is the observed state of a LicenseTemplate.
type LicenseTemplateStatus struct {
	// ObservedGeneration is the generation last reconciled completely; -1 until then,
	// so that kstatus reads a fresh object as InProgress.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready tells whether the template fits its Product.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// LicenseTemplate is a reusable license offer: type, period, grace and entitlements.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ltpl,categories=licensing
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.spec.productRef.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.spec.duration`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type LicenseTemplate struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec LicenseTemplateSpec `json:"spec"`
	// +kubebuilder:default={}
	Status LicenseTemplateStatus `json:"status,omitempty"`
}

// LicenseTemplateList is a list of LicenseTemplates.
// +kubebuilder:object:root=true
type LicenseTemplateList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []LicenseTemplate `json:"items"`
}

func init() {
	SchemeBuilder.Register(&LicenseTemplate{}, &LicenseTemplateList{})
}
