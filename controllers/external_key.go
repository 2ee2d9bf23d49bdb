package controllers

import (
	"crypto"
	"time"

	corev1 "k8s.io/api/core/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
)

// externalKeyPEM is the PEM private key of a bring-your-own key Secret, under one
// of externalKeyDataKeys.
func externalKeyPEM(secret *corev1.Secret) []byte {
	if pemData := secret.Data[corev1.TLSPrivateKeyKey]; len(pemData) > 0 {
		return pemData
	}
	return secret.Data["key.pem"]
}

// externalSigningKey is the bring-your-own key signer as Product p signs with
// it. Its id is dated when p adopted it: the creation time p records for its
// current key when that is this key, else now (a key p has not adopted is new).
// The Product controller adopts with it and the Licensee controller checks with
// it, so the two always agree on the id of one key.
func externalSigningKey(p *licensingv1alpha1.Product, signer crypto.Signer, alg keys.Algorithm, now time.Time) (*keys.SigningKey, error) {
	createdAt := now
	for _, v := range p.Status.VerificationKeys {
		if v.RetiredAt == nil && sameKeyThumbprint(v.KeyID, signer.Public(), v.CreatedAt.Time) {
			createdAt = v.CreatedAt.Time
		}
	}
	return keys.NewSigningKey(signer, alg, createdAt)
}

// sameKeyThumbprint reports whether id is the id the key would get at createdAt.
func sameKeyThumbprint(id string, pub any, createdAt time.Time) bool {
	want, err := keys.KeyID(pub, createdAt)
	return err == nil && want == id
}
