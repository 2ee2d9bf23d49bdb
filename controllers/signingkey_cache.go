package controllers

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/cacheread"
	"github.com/kubelicense/kubelicense/internal/keys"
)

// errKeyUnavailable: the Product has no usable signing key right now; issuing waits.
var errKeyUnavailable = errors.New("signing key unavailable")

// maxParsedKeys bounds the parsed keys kept in memory: one per Product whose
// Licensees are being issued, so a deleted Product's key ages out instead of
// staying for the life of the manager. A miss costs one parse.
const maxParsedKeys = 512

// signingKeys loads a Product's current signing key for the Licensee controller,
// parsing each Secret version once: a thousand Licensees of one Product share it.
type signingKeys struct {
	client    client.Client
	apiReader client.Reader
	metadata  client.Reader // Secret metadata: skips the live read of an unchanged bring-your-own key
	// managed reads the operator's own key Secrets from the manager's cache,
	// from its informer's store once wired (the license API reads the key
	// for every answer it signs).
	managed *cacheread.Objects[corev1.Secret, *corev1.Secret]

	parsed *lru.Cache // client.ObjectKey of the Secret -> parsedKey; locks itself
}

func newSigningKeys(c client.Client, apiReader, metadata client.Reader) *signingKeys {
	return &signingKeys{
		client: c, apiReader: apiReader, metadata: metadata, parsed: lru.New(maxParsedKeys),
		managed: cacheread.New[corev1.Secret](c, schema.GroupResource{Resource: "secrets"}),
	}
}

// parsedKey is what one version of a key Secret holds. The operator's own key
// Secret names its key's id; a bring-your-own key gets the id its Product gives
// it (externalSigningKey), which is derived on each use, never cached, so it
// follows the Product when the Product adopts the key after it was parsed.
type parsedKey struct {
	resourceVersion string
	managed         *keys.SigningKey // the operator's own key
	signer          crypto.Signer    // a bring-your-own key
	algorithm       keys.Algorithm
}

// current returns the key that must sign for p now, or an error wrapping
// errKeyUnavailable with a message a person can act on.
func (c *signingKeys) current(ctx context.Context, p *licensingv1alpha1.Product, now time.Time) (*keys.SigningKey, error) {
	if !conditionTrue(p.Status.Conditions, licensingv1alpha1.ConditionKeyAvailable) || p.Status.SigningKeyID == "" {
		return nil, fmt.Errorf("%w: Product %s reports no available signing key (see its KeyAvailable condition)", errKeyUnavailable, p.Name)
	}
	external := p.Spec.Signing.SecretRef != nil
	name := licensingv1alpha1.SigningKeySecretName(p.Name)
	if external {
		name = p.Spec.Signing.SecretRef.Name
	}
	id := client.ObjectKey{Namespace: p.Namespace, Name: name}
	parsed, ok := c.unchanged(ctx, id, external)
	if !ok {
		// Read only (parsed once per resourceVersion): no copy of the key
		// bytes per call, which the license API makes for every answer.
		var secret *corev1.Secret
		var err error
		if external {
			secret = &corev1.Secret{}
			err = c.apiReader.Get(ctx, id, secret, client.UnsafeDisableDeepCopy)
		} else {
			secret, err = c.managed.Get(ctx, id)
		}
		if err != nil {
			if apierrors.IsNotFound(err) {
				c.forget(id)
				return nil, fmt.Errorf("%w: Secret %s of Product %s is gone", errKeyUnavailable, name, p.Name)
			}
			return nil, fmt.Errorf("get signing key Secret %s: %w", name, err)
		}
		if parsed, err = c.parse(secret, external); err != nil {
			return nil, fmt.Errorf("%w: Secret %s of Product %s: %v", errKeyUnavailable, name, p.Name, err)
		}
	}
	key, err := parsed.signingKey(p, now)
	if err != nil {
		return nil, fmt.Errorf("%w: Secret %s of Product %s: %v", errKeyUnavailable, name, p.Name, err)
	}
	if key.ID != p.Status.SigningKeyID {
		return nil, fmt.Errorf("%w: Secret %s holds key %s but Product %s signs with %s; waiting for the Product to catch up", errKeyUnavailable, name, key.ID, p.Name, p.Status.SigningKeyID)
	}
	return key, nil
}

// signingKey is the key as Product p signs with it at now.
func (k parsedKey) signingKey(p *licensingv1alpha1.Product, now time.Time) (*keys.SigningKey, error) {
	if k.managed != nil {
		return k.managed, nil
	}
	return externalSigningKey(p, k.signer, k.algorithm, now)
}

// unchanged is the key parsed from the bring-your-own Secret id when the
// metadata cache shows that Secret at the version parsed, so a thousand
// Licensees do not each read it from the API server; false means read it.
func (c *signingKeys) unchanged(ctx context.Context, id client.ObjectKey, external bool) (parsedKey, bool) {
	if !external || c.metadata == nil {
		return parsedKey{}, false // the operator's own key Secret is read from the manager's cache anyway
	}
	meta := secretMetadata()
	if err := c.metadata.Get(ctx, id, meta); err != nil {
		return parsedKey{}, false // the live read decides, and reports its own error
	}
	return c.parsedAt(id, meta.ResourceVersion)
}

// parsedAt is the key parsed from Secret id at resourceVersion rv, if any.
func (c *signingKeys) parsedAt(id client.ObjectKey, rv string) (parsedKey, bool) {
	v, ok := c.parsed.Get(id)
	if !ok {
		return parsedKey{}, false
	}
	cached := v.(parsedKey)
	return cached, cached.resourceVersion == rv
}

func (c *signingKeys) forget(id client.ObjectKey) { c.parsed.Remove(id) }

// parse reads the key in secret, once per resourceVersion; a newer version
// replaces the entry of an older one.
func (c *signingKeys) parse(secret *corev1.Secret, external bool) (parsedKey, error) {
	id := client.ObjectKeyFromObject(secret)
	if cached, ok := c.parsedAt(id, secret.ResourceVersion); ok {
		return cached, nil
	}
	k := parsedKey{resourceVersion: secret.ResourceVersion}
	var err error
	if external {
		k.signer, k.algorithm, err = keys.ParsePrivateKeyPEM(externalKeyPEM(secret))
	} else {
		k.managed, err = keys.DecodeKeySecretData(secret.Data)
	}
	if err != nil {
		return parsedKey{}, err
	}
	c.parsed.Add(id, k)
	return k, nil
}

// len is how many parsed keys are held.
func (c *signingKeys) len() int { return c.parsed.Len() }
