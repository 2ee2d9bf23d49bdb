package controllers

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
)

func ed25519Key(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

func pemSecret(t *testing.T, name, rv string, priv ed25519.PrivateKey) *corev1.Secret {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: name, ResourceVersion: rv},
		Data:       map[string][]byte{corev1.TLSPrivateKeyKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})},
	}
}

// byoProduct is a Product whose bring-your-own key id signs, created at createdAt.
func byoProduct(id string, createdAt time.Time) *licensingv1alpha1.Product {
	p := &licensingv1alpha1.Product{
		ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: "byo", CreationTimestamp: metav1.NewTime(createdAt.Add(-time.Hour))},
		Spec:       licensingv1alpha1.ProductSpec{Signing: licensingv1alpha1.SigningSpec{SecretRef: &licensingv1alpha1.LocalObjectReference{Name: "vault-key"}}},
	}
	p.Status.SigningKeyID = id
	p.Status.VerificationKeys = []licensingv1alpha1.VerificationKey{{KeyID: id, Algorithm: licensingv1alpha1.SigningAlgorithmEd25519, CreatedAt: metav1.NewTime(createdAt)}}
	return p
}

// A Licensee that reads a replaced bring-your-own key before its Product has
// adopted it must not keep an id of its own making: once the Product adopts the
// key (dated the day it did), the Licensee signs with the Product's id, from the
// same Secret version, on any later day too.
func TestBringYourOwnKeyIDFollowsTheProduct(t *testing.T) {
	adoptedA := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	now := adoptedA.Add(48 * time.Hour)
	a, b := ed25519Key(t), ed25519Key(t)
	idA, err := keys.KeyID(a.Public(), adoptedA)
	if err != nil {
		t.Fatal(err)
	}
	replaced := pemSecret(t, "vault-key", "2", b)
	c := newSigningKeys(nil, nil, nil)
	licenseeSees := func(p *licensingv1alpha1.Product, at time.Time) string {
		t.Helper()
		parsed, err := c.parse(replaced, true)
		if err != nil {
			t.Fatal(err)
		}
		key, err := parsed.signingKey(p, at)
		if err != nil {
			t.Fatal(err)
		}
		return key.ID
	}

	before := byoProduct(idA, adoptedA)
	if id := licenseeSees(before, now); id == idA {
		t.Fatalf("key B got the id of key A")
	}

	// The Product adopts B now, as the Product controller does.
	adopted, err := externalSigningKey(before, b, keys.Ed25519, now)
	if err != nil {
		t.Fatal(err)
	}
	after := byoProduct(adopted.ID, now)
	after.Status.VerificationKeys = append(after.Status.VerificationKeys, licensingv1alpha1.VerificationKey{
		KeyID: idA, Algorithm: licensingv1alpha1.SigningAlgorithmEd25519, CreatedAt: metav1.NewTime(adoptedA), RetiredAt: &metav1.Time{Time: now},
	})
	for _, at := range []time.Time{now, now.Add(30 * time.Hour)} {
		if id := licenseeSees(after, at); id != adopted.ID {
			t.Errorf("at %s the Licensee derives key id %s for the Secret version the Product adopted as %s: Licensees would pause with ProductKeyUnavailable", at, id, adopted.ID)
		}
	}
	// And the Product, reconciling again a day later, keeps the id.
	again, err := externalSigningKey(after, b, keys.Ed25519, now.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != adopted.ID {
		t.Errorf("the Product re-derives %s for the key it adopted as %s", again.ID, adopted.ID)
	}
}

// The cache of parsed keys holds private keys of Products that may be long
// deleted: it must stay bounded however many Secrets pass through it.
func TestParsedSigningKeysAreBounded(t *testing.T) {
	c := newSigningKeys(nil, nil, nil)
	for i := range 3 * maxParsedKeys {
		if _, err := c.parse(pemSecret(t, fmt.Sprintf("key-%d", i), "1", ed25519Key(t)), true); err != nil {
			t.Fatal(err)
		}
	}
	if n := c.len(); n > maxParsedKeys {
		t.Errorf("the cache holds %d parsed keys after %d Secrets; want at most %d", n, 3*maxParsedKeys, maxParsedKeys)
	}
	// A newer version of one Secret replaces the entry of the older one.
	newest := pemSecret(t, "key-0", "2", ed25519Key(t))
	if _, err := c.parse(newest, true); err != nil {
		t.Fatal(err)
	}
	if _, ok := c.parsedAt(client.ObjectKeyFromObject(newest), "1"); ok {
		t.Errorf("the older version of Secret key-0 is still served")
	}
}
