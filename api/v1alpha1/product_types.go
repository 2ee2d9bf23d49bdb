package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SigningAlgorithm is the algorithm of a Product's signing key.
// +kubebuilder:validation:Enum=Ed25519;ECDSA-P256
type SigningAlgorithm string

const (
	SigningAlgorithmEd25519   SigningAlgorithm = "Ed25519"
	SigningAlgorithmECDSAP256 SigningAlgorithm = "ECDSA-P256"
)

// ProductSpec declares a product and the catalogue of entitlements its licenses may grant.
type ProductSpec struct {
	// DisplayName is the product's human-readable name, copied into tokens.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	DisplayName string `json:"displayName,omitempty"`

	// Vendor is who sells the product.
	// +optional
	// +kubebuilder:validation:MaxLength=256
	Vendor string `json:"vendor,omitempty"`

	// Features is the catalogue of features a LicenseTemplate may grant.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Features []FeatureDefinition `json:"features,omitempty"`

	// Quotas is the catalogue of countable limits a LicenseTemplate may set.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	Quotas []QuotaDefinition `json:"quotas,omitempty"`

	// Signing configures the key that signs this product's license tokens.
	// +optional
	Signing SigningSpec `json:"signing,omitempty"`
}

// FeatureDefinition declares one feature of the product.
type FeatureDefinition struct {
	// Name of the feature, as it appears in tokens.
	Name FeatureName `json:"name"`
	// Description tells people what the feature unlocks.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`
}

// QuotaDefinition declares one countable limit of the product.
type QuotaDefinition struct {
	// Name of the quota, as it appears in tokens.
	Name FeatureName `json:"name"`
	// Description tells people what is counted.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`
}

// SigningSpec configures the signing key.
// +kubebuilder:validation:XValidation:rule="!(has(self.rotateEvery) && has(self.secretRef))",message="rotateEvery cannot be used with secretRef: the operator never writes a key it does not own; rotate it where it is stored"
type SigningSpec struct {
	// Algorithm of the signing key: Ed25519 (the default) or ECDSA-P256.
	// With secretRef it must match the key in that Secret.
	// +optional
	Algorithm SigningAlgorithm `json:"algorithm,omitempty"`

	// RotateEvery rotates the operator-generated key when it is this old.
	// Absent: rotate only on request (annotation licensing.kubelicense.io/rotate-key).
	// +optional
	RotateEvery *Duration `json:"rotateEvery,omitempty"`

	// SecretRef names an existing Secret (in the same namespace) holding a PEM
	// private key under "tls.key" or "key.pem", e.g. synced from Vault. The
	// operator validates it and never writes to it.
	// +optional
	SecretRef *LocalObjectReference `json:"secretRef,omitempty"`
}

// VerificationKey is the public description of a key that signed tokens.
type VerificationKey struct {
	// KeyID is the JWS "kid" of the key.
	KeyID string `json:"keyID"`
	// Algorithm of the key.
	Algorithm SigningAlgorithm `json:"algorithm"`
	// CreatedAt is when the key was generated (or first seen, for a key in secretRef).
	CreatedAt metav1.Time `json:"createdAt"`
	// RetiredAt is when the key stopped signing; null for the current key.
	// +optional
	RetiredAt *metav1.Time `json:"retiredAt,omitempty"`
	// RemoveAt is when a retired key leaves the JWKS, after every token it signed
	// has lapsed; null means it is kept.
	// +optional
	RemoveAt *metav1.Time `json:"removeAt,omitempty"`
}

// ProductStatus is the observed state of a Product. It holds public data only.
type ProductStatus struct {
	// ObservedGeneration is the generation last reconciled completely; -1 until then,
	// so that kstatus reads a fresh object as InProgress.
	// +optional
	// +kubebuilder:default=-1
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready and KeyAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// SigningKeyID is the kid of the key that signs new tokens.
	// +optional
	SigningKeyID string `json:"signingKeyID,omitempty"`

	// VerificationKeys lists the keys published in the JWKS, newest first.
	// +optional
	// +listType=map
	// +listMapKey=keyID
	VerificationKeys []VerificationKey `json:"verificationKeys,omitempty"`

	// PublicKeysConfigMap names the ConfigMap holding the JWKS (key jwks.json).
	// +optional
	PublicKeysConfigMap string `json:"publicKeysConfigMap,omitempty"`

	// LastHandledRotateKey is the last value of the rotate-key annotation acted on.
	// +optional
	LastHandledRotateKey string `json:"lastHandledRotateKey,omitempty"`
}

// Product is a licensable product: its entitlement catalogue and its signing key.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=prod,categories=licensing
// +kubebuilder:printcolumn:name="Display Name",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Signing Key",type=string,JSONPath=`.status.signingKeyID`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 47 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="Product names must be DNS labels of at most 47 characters: they name the <product>-signing-key Secret and <product>-license-keys ConfigMap and appear in labels"
type Product struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ProductSpec `json:"spec,omitempty"`
	// +kubebuilder:default={}
	Status ProductStatus `json:"status,omitempty"`
}

// ProductList is a list of Products.
// +kubebuilder:object:root=true
type ProductList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Product `json:"items"`
}

func init() {
	SchemeBuilder.Register(&Product{}, &ProductList{})
}
