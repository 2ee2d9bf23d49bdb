package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LicenseState is where one license stands now.
// +kubebuilder:validation:Enum=Pending;Valid;InGracePeriod;Expired;Suspended;Invalid
type LicenseState string

const (
	LicenseStatePending       LicenseState = "Pending"
	LicenseStateValid         LicenseState = "Valid"
	LicenseStateInGracePeriod LicenseState = "InGracePeriod"
	LicenseStateExpired       LicenseState = "Expired"
	LicenseStateSuspended     LicenseState = "Suspended"
	// LicenseStateInvalid: the license cannot be evaluated (e.g. its template is missing).
	LicenseStateInvalid LicenseState = "Invalid"
)

// SecretDeletionPolicy says what happens to the license Secret when the Licensee is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type SecretDeletionPolicy string

const (
	SecretDeletionPolicyDelete SecretDeletionPolicy = "Delete"
	SecretDeletionPolicyOrphan SecretDeletionPolicy = "Orphan"
)

// LicenseeSpec declares who holds licenses of a Product, and which.
type LicenseeSpec struct {
	// ProductRef names the Product in the same namespace.
	ProductRef LocalObjectReference `json:"productRef"`

	// DisplayName is the licensee's human-readable name, copied into tokens.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// ExternalID links to the CRM or billing record.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	ExternalID string `json:"externalID,omitempty"`

	// Suspended suspends every license below; tokens say so at once.
	// +optional
	Suspended bool `json:"suspended,omitempty"`

	// Licenses held, each from a LicenseTemplate of the same Product.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Licenses []LicenseSpec `json:"licenses,omitempty"`

	// Secret configures the Secret the license token is written to.
	// +optional
	Secret LicenseSecretSpec `json:"secret,omitempty"`

	// Distribution copies the license Secret and the Product's JWKS ConfigMap
	// into application namespaces that opt in.
	// +optional
	Distribution *DistributionSpec `json:"distribution,omitempty"`
}

// Names of distribution: the opt-in label of a target Namespace, the labels
// naming the source of a copy, and the finalizer that removes copies.
const (
	// LabelAcceptFrom, on a Namespace, opts it in to copies from the licensing
	// namespace it names: without it no Licensee writes into the namespace.
	LabelAcceptFrom = "licensing.kubelicense.io/accept-from"
	// LabelSourceNamespace, LabelSourceLicensee and LabelSourceProduct name the
	// origin of a copy (the licensee only on license Secret copies).
	LabelSourceNamespace = "licensing.kubelicense.io/source-namespace"
	LabelSourceLicensee  = "licensing.kubelicense.io/source-licensee"
	LabelSourceProduct   = "licensing.kubelicense.io/source-product"
	// FinalizerDistribution holds a distributing Licensee until its copies are
	// removed: they live in other namespaces, so no owner reference can.
	FinalizerDistribution = "licensing.kubelicense.io/distribution"
)

// DistributionSpec names the namespaces that receive copies. A namespace
// receives them only while it carries the label
// licensing.kubelicense.io/accept-from=<the Licensee's namespace>.
// +kubebuilder:validation:XValidation:rule="(has(self.namespaces) && size(self.namespaces) > 0) || has(self.namespaceSelector)",message="distribution needs namespaces, a namespaceSelector, or both"
type DistributionSpec struct {
	// Namespaces named one by one; each is reported in status, also while it
	// does not exist or has not opted in.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Namespaces []NamespaceName `json:"namespaces,omitempty"`

	// NamespaceSelector chooses among the namespaces that opted in to this
	// licensing namespace; {} chooses all of them.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, e.operator in ['In', 'NotIn', 'Exists', 'DoesNotExist'])",message="matchExpressions operators are In, NotIn, Exists and DoesNotExist"
	// +kubebuilder:validation:XValidation:rule="!has(self.matchExpressions) || self.matchExpressions.all(e, (e.operator == 'In' || e.operator == 'NotIn') == (has(e.values) && size(e.values) > 0))",message="In and NotIn need values; Exists and DoesNotExist take none"
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// NamespaceName names a namespace: a DNS label.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="namespace names must be DNS labels: lowercase letters, digits and '-'"
type NamespaceName string

// DistributionStatus says what one target namespace holds.
type DistributionStatus struct {
	// Namespace that spec.distribution names or selects.
	Namespace string `json:"namespace"`
	// Secret is the name of the license Secret's copy there, when there is one.
	// +optional
	Secret string `json:"secret,omitempty"`
	// ConfigMap is the name of the JWKS ConfigMap's copy there, when there is one.
	// +optional
	ConfigMap string `json:"configMap,omitempty"`
	// Current: both copies are there and equal their sources.
	Current bool `json:"current"`
	// Reason says why the copies are not current (a Distributed condition reason).
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message says what to do about it.
	// +optional
	Message string `json:"message,omitempty"`
}

// LicenseSpec is one license of a licensee.
// +kubebuilder:validation:XValidation:rule="!has(self.startsAt) || !has(self.endsAt) || timestamp(self.endsAt) > timestamp(self.startsAt)",message="endsAt must be after startsAt"
type LicenseSpec struct {
	// Name identifies the license within the licensee.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="license names must be DNS labels: lowercase letters, digits and '-'"
	Name string `json:"name"`

	// TemplateRef names the LicenseTemplate in the same namespace.
	TemplateRef LocalObjectReference `json:"templateRef"`

	// StartsAt is when the license starts; absent: when it is first issued.
	// +optional
	StartsAt *metav1.Time `json:"startsAt,omitempty"`

	// EndsAt is a hard end (contract end, cancellation), whatever the template says.
	// +optional
	EndsAt *metav1.Time `json:"endsAt,omitempty"`

	// Features adds to or removes from the template's features.
	// +optional
	Features *FeatureOverrides `json:"features,omitempty"`

	// Quotas overrides the template's quotas, name by name.
	// +optional
	Quotas QuotaMap `json:"quotas,omitempty"`

	// Suspended suspends this license only.
	// +optional
	Suspended bool `json:"suspended,omitempty"`
}

// FeatureOverrides adjusts a template's features for one licensee.
// +kubebuilder:validation:XValidation:rule="!has(self.add) || !has(self.remove) || !self.add.exists(f, f in self.remove)",message="a feature cannot be both added and removed"
type FeatureOverrides struct {
	// Add grants features beyond the template's; each must be declared in the Product.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Add []FeatureName `json:"add,omitempty"`
	// Remove withholds features of the template.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	Remove []FeatureName `json:"remove,omitempty"`
}

// LicenseSecretSpec configures the license Secret.
type LicenseSecretSpec struct {
	// Name of the Secret; default <licensee>-license.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="must be a DNS subdomain: lowercase letters, digits, '-' and '.'"
	Name string `json:"name,omitempty"`

	// Template adds labels and annotations to the Secret. Keys under
	// licensing.kubelicense.io/ are the operator's and cannot be set here.
	// +optional
	Template *SecretTemplate `json:"template,omitempty"`

	// DeletionPolicy: Delete (the default) removes the Secret with the Licensee
	// (owner reference); Orphan leaves it.
	// +optional
	DeletionPolicy SecretDeletionPolicy `json:"deletionPolicy,omitempty"`
}

// SecretTemplate holds metadata merged into the license Secret.
type SecretTemplate struct {
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('licensing.kubelicense.io/'))",message="label keys under licensing.kubelicense.io/ are reserved for the operator"
	Labels map[string]string `json:"labels,omitempty"`
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, !k.startsWith('licensing.kubelicense.io/'))",message="annotation keys under licensing.kubelicense.io/ are reserved for the operator"
	Annotations map[string]string `json:"annotations,omitempty"`
}

// LicenseStatus is where one license stands.
type LicenseStatus struct {
	// Name of the license in spec.licenses.
	Name string `json:"name"`
	// State: Pending, Valid, InGracePeriod, Expired, Suspended or Invalid.
	State LicenseState `json:"state"`
	// Message explains a state that is not Valid.
	// +optional
	Message string `json:"message,omitempty"`
	// Template the license was issued from.
	// +optional
	Template string `json:"template,omitempty"`
	// Type of the template.
	// +optional
	Type LicenseType `json:"type,omitempty"`
	// StartsAt is when the license started or starts.
	// +optional
	StartsAt *metav1.Time `json:"startsAt,omitempty"`
	// ValidUntil is the end of the current period; null means it never ends.
	// +optional
	ValidUntil *metav1.Time `json:"validUntil,omitempty"`
	// GraceUntil is the end of the grace period after validUntil.
	// +optional
	GraceUntil *metav1.Time `json:"graceUntil,omitempty"`
	// Features in effect, after overrides.
	// +optional
	Features []string `json:"features,omitempty"`
	// Quotas in effect, after overrides.
	// +optional
	Quotas map[string]int64 `json:"quotas,omitempty"`
	// Seats is the number of concurrent seat leases the license allows.
	// +optional
	Seats int32 `json:"seats,omitempty"`
	// SeatsInUse counts the seat leases held now (not lapsed).
	// +optional
	SeatsInUse int32 `json:"seatsInUse,omitempty"`
	// MaxActivations is the number of distinct fingerprints that may activate.
	// +optional
	MaxActivations int32 `json:"maxActivations,omitempty"`
	// Activations counts the fingerprints activated now.
	// +optional
	Activations int32 `json:"activations,omitempty"`
	// ExpiryNotice is the last ExpiringSoon notice of the license, kept so
	// that a restart or another reconcile does not repeat it.
	// +optional
	ExpiryNotice *ExpiryNotice `json:"expiryNotice,omitempty"`
}

// ExpiryNotice records an ExpiringSoon notice: which end it announced, at
// which threshold of the template's notifyBefore, and when.
type ExpiryNotice struct {
	// ExpiresAt is the end announced: validUntil, or endsAt for an
	// auto-renewing Subscription. A new end (a renewed or extended license)
	// is announced again.
	ExpiresAt metav1.Time `json:"expiresAt"`
	// Before is the notifyBefore threshold announced, as the template writes it.
	// +kubebuilder:validation:MaxLength=32
	Before string `json:"before"`
	// NoticedAt is when the notice was emitted.
	NoticedAt metav1.Time `json:"noticedAt"`
}

// TrialRecord remembers that a trial ran, so removing and re-adding it does not restart it.
type TrialRecord struct {
	// Template of the trial.
	Template string `json:"template"`
	// StartedAt is when the trial first started for this licensee.
	StartedAt metav1.Time `json:"startedAt"`
}

// LicenseeStatus is the observed state of a Licensee.
type LicenseeStatus struct {
	// ObservedGeneration is the generation last reconciled completely; -1 until then,
	// so that kstatus reads a fresh object as InProgress.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready and Licensed; Distributed with spec.distribution.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// SecretName is the Secret holding the token.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// Serial (jti) of the token now in the Secret.
	// +optional
	Serial string `json:"serial,omitempty"`
	// KeyID that signed the token now in the Secret.
	// +optional
	KeyID string `json:"keyID,omitempty"`
	// IssuedAt is when the token now in the Secret was signed.
	// +optional
	IssuedAt *metav1.Time `json:"issuedAt,omitempty"`
	// ExpiresAt is when the current entitlement ends unless renewed: the earliest
	// end of the licenses that entitle now. Null: never.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty"`
	// NextCheckAt is when the controller will next act on its own.
	// +optional
	NextCheckAt *metav1.Time `json:"nextCheckAt,omitempty"`

	// Licenses: one entry per license in spec.
	// +optional
	// +listType=map
	// +listMapKey=name
	Licenses []LicenseStatus `json:"licenses,omitempty"`

	// Trials that have started, kept after the license is removed.
	// +optional
	// +listType=map
	// +listMapKey=template
	Trials []TrialRecord `json:"trials,omitempty"`

	// LastHandledRenewAt is the last value of the renew annotation acted on.
	// +optional
	LastHandledRenewAt string `json:"lastHandledRenewAt,omitempty"`

	// Distribution: one entry per namespace that spec.distribution names, or
	// selects among those that opted in.
	// +optional
	// +listType=map
	// +listMapKey=namespace
	Distribution []DistributionStatus `json:"distribution,omitempty"`
}

// Licensee holds licenses of a Product; the operator writes its signed token to a Secret.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=lic,categories=licensing
// +kubebuilder:printcolumn:name="Product",type=string,JSONPath=`.spec.productRef.name`
// +kubebuilder:printcolumn:name="Licensed",type=string,JSONPath=`.status.conditions[?(@.type=="Licensed")].reason`
// +kubebuilder:printcolumn:name="Expires",type=string,JSONPath=`.status.expiresAt`
// +kubebuilder:printcolumn:name="Seats",type=string,JSONPath=`.status.licenses[*].seatsInUse`,description="Seat leases in use, per license"
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`,priority=1
// +kubebuilder:printcolumn:name="Serial",type=string,JSONPath=`.status.serial`,priority=1
// +kubebuilder:printcolumn:name="Distributed",type=string,JSONPath=`.status.conditions[?(@.type=="Distributed")].status`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 55 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="Licensee names must be DNS labels of at most 55 characters: they name the <licensee>-license Secret and appear in labels"
type Licensee struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec LicenseeSpec `json:"spec"`
	// +kubebuilder:default={}
	Status LicenseeStatus `json:"status,omitempty"`
}

// LicenseeList is a list of Licensees.
// +kubebuilder:object:root=true
type LicenseeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Licensee `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Licensee{}, &LicenseeList{})
}
