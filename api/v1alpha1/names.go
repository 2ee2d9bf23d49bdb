package v1alpha1

// Names of the objects the controllers create, shared by the controllers and
// the clients that read those objects (kubectl-license).

// SigningKeySecretName is the Secret holding the managed signing key of product.
func SigningKeySecretName(product string) string { return product + "-signing-key" }

// PublicKeysConfigMapName is the ConfigMap publishing the JWKS of product.
func PublicKeysConfigMapName(product string) string { return product + "-license-keys" }

// LicenseSecretName is the Secret the licensee's token is written to:
// spec.secret.name, or "<licensee>-license".
func (l *Licensee) LicenseSecretName() string {
	if l.Spec.Secret.Name != "" {
		return l.Spec.Secret.Name
	}
	return l.Name + "-license"
}
