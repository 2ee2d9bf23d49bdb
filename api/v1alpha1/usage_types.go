package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Activations and seat leases are written by the license API, never by hand:
// they are the API's state, kept in the API server so every replica gives the
// same answer and a restart loses nothing. Each takes one numbered slot of its
// license (slot < maxActivations or seats): the object name is
// <licensee>.<license>.<slot>, so two callers racing for the same slot meet as a
// create conflict on one name, and counting stays exact across replicas.

// LabelLicense names the license (spec.licenses[].name) an Activation or
// SeatLease belongs to; LabelLicensee names its Licensee.
const LabelLicense = "licensing.kubelicense.io/license"

// SlotName is the name of slot n of license in licensee.
func SlotName(licensee, license string, slot int32) string {
	return fmt.Sprintf("%s.%s.%d", licensee, license, slot)
}

// ActivationSpec records one machine fingerprint activated for a license.
type ActivationSpec struct {
	// LicenseeRef names the Licensee in the same namespace.
	LicenseeRef LocalObjectReference `json:"licenseeRef"`
	// License is the name of the license in the Licensee's spec.licenses.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	License string `json:"license"`
	// Slot is the activation's slot, from 0 to maxActivations-1.
	// +kubebuilder:validation:Minimum=0
	Slot int32 `json:"slot"`
	// Fingerprint identifies the machine.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Fingerprint string `json:"fingerprint"`
	// DisplayName is a human-readable name of the machine.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`
	// Metadata given by the caller.
	// +optional
	// +kubebuilder:validation:MaxProperties=16
	Metadata map[string]string `json:"metadata,omitempty"`
	// ActivatedAt is when the fingerprint was activated.
	ActivatedAt metav1.Time `json:"activatedAt"`
}

// Activation is one machine fingerprint activated for a license, written by the
// license API (POST /v1/activations) and removed by it (DELETE), or with kubectl
// delete to free the slot. Deleting the Licensee deletes its activations.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=lact,categories=licensing-usage
// +kubebuilder:printcolumn:name="Licensee",type=string,JSONPath=`.spec.licenseeRef.name`
// +kubebuilder:printcolumn:name="License",type=string,JSONPath=`.spec.license`
// +kubebuilder:printcolumn:name="Fingerprint",type=string,JSONPath=`.spec.fingerprint`
// +kubebuilder:printcolumn:name="Machine",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Activated",type=date,JSONPath=`.spec.activatedAt`
type Activation struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ActivationSpec `json:"spec"`
}

// ActivationList is a list of Activations.
// +kubebuilder:object:root=true
type ActivationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Activation `json:"items"`
}

// SeatLeaseSpec is one floating seat held by one holder until renewedAt + ttlSeconds.
type SeatLeaseSpec struct {
	// LicenseeRef names the Licensee in the same namespace.
	LicenseeRef LocalObjectReference `json:"licenseeRef"`
	// License is the name of the license in the Licensee's spec.licenses.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	License string `json:"license"`
	// Slot is the seat's slot, from 0 to seats-1.
	// +kubebuilder:validation:Minimum=0
	Slot int32 `json:"slot"`
	// Holder identifies who holds the seat (a pod, a user, a process).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	Holder string `json:"holder"`
	// LeaseID identifies this holding: it changes when another holder takes the
	// slot, so the old holder's heartbeat is refused (SEAT_EXPIRED).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=64
	LeaseID string `json:"leaseID"`
	// TTLSeconds is how long the lease lasts after its last heartbeat.
	// +kubebuilder:validation:Minimum=1
	TTLSeconds int32 `json:"ttlSeconds"`
	// AcquiredAt is when the holder took the seat.
	AcquiredAt metav1.MicroTime `json:"acquiredAt"`
	// RenewedAt is the last heartbeat. The lease has lapsed, and the slot is
	// free for the next holder, from renewedAt + ttlSeconds on.
	RenewedAt metav1.MicroTime `json:"renewedAt"`
}

// SeatLease is a floating seat held by one holder, written by the license API
// (POST /v1/seats, renewed by PUT, released by DELETE). A lapsed lease is free for
// the next holder at once; the Licensee controller deletes lapsed leases later.
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=lseat,categories=licensing-usage
// +kubebuilder:printcolumn:name="Licensee",type=string,JSONPath=`.spec.licenseeRef.name`
// +kubebuilder:printcolumn:name="License",type=string,JSONPath=`.spec.license`
// +kubebuilder:printcolumn:name="Holder",type=string,JSONPath=`.spec.holder`
// +kubebuilder:printcolumn:name="Renewed",type=date,JSONPath=`.spec.renewedAt`
// +kubebuilder:printcolumn:name="TTL",type=integer,JSONPath=`.spec.ttlSeconds`
type SeatLease struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec SeatLeaseSpec `json:"spec"`
}

// SeatLeaseList is a list of SeatLeases.
// +kubebuilder:object:root=true
type SeatLeaseList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []SeatLease `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Activation{}, &ActivationList{}, &SeatLease{}, &SeatLeaseList{})
}
