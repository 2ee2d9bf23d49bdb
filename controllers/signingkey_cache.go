package controllers

import (
	"context"
	"errors"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keys"
)

// errKeyUnavailable: the Product has no usable signing key right now; issuing waits.
var errKeyUnavailable = errors.New("signing key unavailable")

// signingKeys loads a Product's current signing key for the Licensee controller,
// parsing each Secret version once: a thousand Licensees of one Product share it.
type signingKeys struct {
	client    client.Client
	apiReader client.Reader
	metadata  client.Reader // Secret metadata: skips the live read of an unchanged bring-your-own key

	mu     sync.Mutex
	parsed map[client.ObjectKey]parsedKey
}

type parsedKey struct {
	resourceVersion string
	key             *keys.SigningKey
}

// current returns the key that must sign for p now, or an error wrapping
// errKeyUnavailable with a message a person can act on.
func (c *signingKeys) current(ctx context.Context, p *licensingv1alpha1.Product) (*keys.SigningKey, error) {
	if !conditionTrue(p.Status.Conditions, licensingv1alpha1.ConditionKeyAvailable) || p.Status.SigningKeyID == "" {
		return nil, fmt.Errorf("%w: Product %s reports no available signing key (see its KeyAvailable condition)", errKeyUnavailable, p.Name)
	}
	external := p.Spec.Signing.SecretRef != nil
	name := licensingv1alpha1.SigningKeySecretName(p.Name)
	reader := client.Reader(c.client)
	if external {
		name, reader = p.Spec.Signing.SecretRef.Name, c.apiReader
	}
	id := client.ObjectKey{Namespace: p.Namespace, Name: name}
	key := c.unchanged(ctx, id, external)
	if key == nil {
		secret := &corev1.Secret{}
		if err := reader.Get(ctx, id, secret); err != nil {
			if apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("%w: Secret %s of Product %s is gone", errKeyUnavailable, name, p.Name)
			}
			return nil, fmt.Errorf("get signing key Secret %s: %w", name, err)
		}
		var err error
		if key, err = c.parse(secret, p, external); err != nil {
			return nil, fmt.Errorf("%w: Secret %s of Product %s: %v", errKeyUnavailable, name, p.Name, err)
		}
	}
	if key.ID != p.Status.SigningKeyID {
		return nil, fmt.Errorf("%w: Secret %s holds key %s but Product %s signs with %s; waiting for the Product to catch up", errKeyUnavailable, name, key.ID, p.Name, p.Status.SigningKeyID)
	}
	return key, nil
}

// unchanged is the key parsed from the bring-your-own Secret id when the
// metadata cache shows that Secret at the version parsed, so a thousand
// Licensees do not each read it from the API server; nil means read it.
func (c *signingKeys) unchanged(ctx context.Context, id client.ObjectKey, external bool) *keys.SigningKey {
	if !external || c.metadata == nil {
		return nil // the operator's own key Secret is read from the manager's cache anyway
	}
	meta := secretMetadata()
	if err := c.metadata.Get(ctx, id, meta); err != nil {
		return nil
	}
	return c.parsedAt(id, meta.ResourceVersion)
}

// parsedAt is the key parsed from Secret id at resourceVersion rv, or nil.
func (c *signingKeys) parsedAt(id client.ObjectKey, rv string) *keys.SigningKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cached, ok := c.parsed[id]; ok && cached.resourceVersion == rv {
		return cached.key
	}
	return nil
}

func (c *signingKeys) parse(secret *corev1.Secret, p *licensingv1alpha1.Product, external bool) (*keys.SigningKey, error) {
	id := client.ObjectKeyFromObject(secret)
	if key := c.parsedAt(id, secret.ResourceVersion); key != nil {
		return key, nil
	}
	var key *keys.SigningKey
	if external {
		signer, alg, err := keys.ParsePrivateKeyPEM(externalKeyPEM(secret))
		if err != nil {
			return nil, err
		}
		createdAt := p.CreationTimestamp.Time
		for _, v := range p.Status.VerificationKeys {
			if v.KeyID == p.Status.SigningKeyID {
				createdAt = v.CreatedAt.Time
			}
		}
		if key, err = keys.NewSigningKey(signer, alg, createdAt); err != nil {
			return nil, err
		}
	} else {
		var err error
		if key, err = keys.DecodeKeySecretData(secret.Data); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if c.parsed == nil {
		c.parsed = map[client.ObjectKey]parsedKey{}
	}
	c.parsed[id] = parsedKey{resourceVersion: secret.ResourceVersion, key: key}
	c.mu.Unlock()
	return key, nil
}
