package v1alpha1

import (
	"fmt"
	"time"
)

// Names shared by the kinds, the controllers and the tools.
const (
	// LabelManaged marks every Secret and ConfigMap the operator writes, so the
	// manager's cache can be limited to them.
	LabelManaged = "licensing.kubelicense.io/managed"
	// LabelProduct and LabelLicensee name the owners of a managed object.
	LabelProduct  = "licensing.kubelicense.io/product"
	LabelLicensee = "licensing.kubelicense.io/licensee"

	// The license Secret: its type, data keys and annotations.
	SecretTypeLicense    = "licensing.kubelicense.io/license"
	SecretTypeSigningKey = "licensing.kubelicense.io/signing-key"
	LicenseTokenKey      = "license.jwt"
	LicenseJSONKey       = "license.json"
	JWKSKey              = "jwks.json"
	AnnotationLicensee   = "licensing.kubelicense.io/licensee"
	AnnotationProduct    = "licensing.kubelicense.io/product"
	AnnotationSerial     = "licensing.kubelicense.io/serial"
	AnnotationKeyID      = "licensing.kubelicense.io/key-id"
	AnnotationExpiresAt  = "licensing.kubelicense.io/expires-at"
	AnnotationDataHash   = "licensing.kubelicense.io/data-hash"
	AnnotationIssuedAt   = "licensing.kubelicense.io/issued-at"

	// AnnotationRotateKey requests a new signing key when its value changes.
	AnnotationRotateKey = "licensing.kubelicense.io/rotate-key"
	// AnnotationRenew requests re-issuance of a Licensee's token when its value changes.
	AnnotationRenew = "licensing.kubelicense.io/renew"
)

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// Name of the referenced object, in the same namespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="must be a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit"
	Name string `json:"name"`
}

// Duration is a Go duration string such as "720h" or "30m". It is kept as the
// user wrote it, so GitOps tools see no drift from re-formatting.
// +kubebuilder:validation:MaxLength=32
// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+([.][0-9]+)?(ns|us|ms|s|m|h))+$') && duration(self) > duration('0s')",message="must be a positive duration such as 720h, 90m or 30s"
type Duration string

// Parse returns the duration; the CRD has already rejected anything unparsable or
// not positive, so an error here means the object bypassed validation.
func (d Duration) Parse() (time.Duration, error) {
	v, err := time.ParseDuration(string(d))
	if err != nil {
		return 0, fmt.Errorf("parse duration %q: %w", string(d), err)
	}
	if v <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", string(d))
	}
	return v, nil
}

// FeatureName names a feature: a DNS label.
// +kubebuilder:validation:MinLength=1
// +kubebuilder:validation:MaxLength=63
// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="feature names must be DNS labels: lowercase letters, digits and '-'"
type FeatureName string

// QuotaMap maps quota names (DNS labels) to non-negative limits.
// +kubebuilder:validation:MaxProperties=64
// +kubebuilder:validation:XValidation:rule="self.all(k, k.size() <= 63 && k.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'))",message="quota names must be DNS labels: lowercase letters, digits and '-'"
// +kubebuilder:validation:XValidation:rule="self.all(k, self[k] >= 0)",message="quota limits must be zero or positive"
type QuotaMap map[string]int64
