package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/keypolicy"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

const (
	externalKeyDataKeys         = "tls.key, key.pem"
	defaultSigningAlgorithm     = licensingv1alpha1.SigningAlgorithmEd25519
	keyUnavailableIssuingPaused = "issuing for this Product is paused"
)

func wantedAlgorithm(p *licensingv1alpha1.Product) licensingv1alpha1.SigningAlgorithm {
	if p.Spec.Signing.Algorithm == "" {
		return defaultSigningAlgorithm
	}
	return p.Spec.Signing.Algorithm
}

// stallKey records that no key is usable until a person acts.
func (s *productScope) stallKey(reason, format string, args ...any) {
	s.key = nil
	s.keyProblem = newProblem(reason, format, args...)
}

// reconcileSigningKey finds the key that signs new tokens: the operator's own
// (created once, rotated on request, on schedule or on an algorithm change) or
// the one in spec.signing.secretRef. A key that existed and is gone or corrupt is
// never silently replaced: the Product stalls until the key is restored or a
// rotation is requested.
func (r *ProductReconciler) reconcileSigningKey(ctx context.Context, s *productScope) error {
	if s.product.Spec.Signing.SecretRef != nil {
		return r.loadExternalKey(ctx, s)
	}
	return r.reconcileManagedKey(ctx, s)
}

func (r *ProductReconciler) reconcileManagedKey(ctx context.Context, s *productScope) error {
	p := s.product
	name := licensingv1alpha1.SigningKeySecretName(p.Name)
	annotation := p.Annotations[licensingv1alpha1.AnnotationRotateKey]
	rotateRequested := annotation != "" && annotation != p.Status.LastHandledRotateKey
	if rotateRequested {
		// A cache that has the rotated key Secret but not yet the status that
		// acknowledged the request would rotate a second time.
		live := &licensingv1alpha1.Product{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(p), live); err != nil {
			return fmt.Errorf("confirm the rotation request of Product %s: %w", p.Name, err)
		}
		if live.Status.LastHandledRotateKey == annotation {
			return errNotYetCached
		}
	}

	secret := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, secret)
	switch {
	case apierrors.IsNotFound(err):
		if p.Status.SigningKeyID != "" && !rotateRequested {
			r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, eventSigningKeyMissing, "Reconcile",
				"signing key Secret %s holding key %s is gone", name, p.Status.SigningKeyID)
			if err := r.Outbox.Publish(ctx, webhook.KeyMissing(p, p.Status.SigningKeyID, s.now)); err != nil {
				return err
			}
			s.stallKey(licensingv1alpha1.ReasonSigningKeyMissing, "the Secret %s holding signing key %s is gone; %s. Restore the Secret from a backup, or request a new key with annotation %s=<new value> (tokens signed by the lost key keep verifying until they lapse)",
				name, p.Status.SigningKeyID, keyUnavailableIssuingPaused, licensingv1alpha1.AnnotationRotateKey)
			return nil
		}
		return r.createManagedKey(ctx, s, annotation)
	case err != nil:
		return fmt.Errorf("get signing key Secret %s: %w", name, err)
	}

	if secret.Type != licensingv1alpha1.SecretTypeSigningKey || secret.Labels[licensingv1alpha1.LabelProduct] != p.Name {
		s.stallKey(licensingv1alpha1.ReasonSecretConflict, "the Secret %s exists but was not created for Product %s (type %q); rename or delete it, or use spec.signing.secretRef to bring your own key", name, p.Name, secret.Type)
		return nil
	}
	if err := r.adoptSecret(ctx, p, secret); err != nil {
		return err
	}
	current, err := keys.DecodeKeySecretData(secret.Data)
	if err != nil {
		if rotateRequested {
			return r.replaceManagedKey(ctx, s, secret, nil, keypolicy.ReasonRotateRequested, annotation)
		}
		r.Recorder.Eventf(p, nil, corev1.EventTypeWarning, eventSigningKeyCorrupt, "Reconcile", "signing key Secret %s is corrupt", name)
		s.stallKey(licensingv1alpha1.ReasonSigningKeyCorrupt, "the Secret %s does not hold a usable signing key (%v); %s. Restore the Secret from a backup, or request a new key with annotation %s=<new value>",
			name, err, keyUnavailableIssuingPaused, licensingv1alpha1.AnnotationRotateKey)
		return nil
	}

	rotation := keypolicy.RotationInput{
		Now: s.now, RotateAnnotation: annotation, LastHandledRotate: p.Status.LastHandledRotateKey,
		Wanted: wantedAlgorithm(p), Current: licensingv1alpha1.SigningAlgorithm(current.Algorithm),
		CurrentCreatedAt: current.CreatedAt, RotateEvery: rotateEvery(p),
	}
	if reason, _, rotate := keypolicy.ShouldRotate(rotation); rotate {
		return r.replaceManagedKey(ctx, s, secret, current, reason, annotation)
	}
	s.key = current
	r.adoptKey(s, current, nil)
	scheduleRotation(s)
	return nil
}

// adoptSecret gives a key Secret restored without its owner reference back to the
// Product, so it is garbage-collected with it.
func (r *ProductReconciler) adoptSecret(ctx context.Context, p *licensingv1alpha1.Product, secret *corev1.Secret) error {
	if metav1.IsControlledBy(secret, p) {
		return nil
	}
	if err := controllerutil.SetControllerReference(p, secret, r.Scheme); err != nil {
		return fmt.Errorf("adopt signing key Secret %s: %w", secret.Name, err)
	}
	if err := r.Update(ctx, secret); err != nil {
		return fmt.Errorf("adopt signing key Secret %s: %w", secret.Name, err)
	}
	return nil
}

func rotateEvery(p *licensingv1alpha1.Product) (d time.Duration) {
	if p.Spec.Signing.RotateEvery == nil {
		return 0
	}
	d, _ = p.Spec.Signing.RotateEvery.Parse()
	return d
}

// generateKey makes a key of the wanted algorithm and the Secret data holding it.
func (r *ProductReconciler) generateKey(s *productScope) (*keys.SigningKey, map[string][]byte, error) {
	key, err := keys.Generate(keys.Algorithm(wantedAlgorithm(s.product)), s.now, r.Rand)
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s signing key for Product %s: %w", wantedAlgorithm(s.product), s.product.Name, err)
	}
	data, err := keys.EncodeKeySecretData(key)
	if err != nil {
		return nil, nil, err
	}
	return key, data, nil
}

// createManagedKey makes the Product's first key (or a new one after loss, on request).
func (r *ProductReconciler) createManagedKey(ctx context.Context, s *productScope, annotation string) error {
	p := s.product
	key, data, err := r.generateKey(s)
	if err != nil {
		return err
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: licensingv1alpha1.SigningKeySecretName(p.Name), Namespace: p.Namespace,
			Labels: map[string]string{licensingv1alpha1.LabelManaged: "true", licensingv1alpha1.LabelProduct: p.Name},
		},
		Type: licensingv1alpha1.SecretTypeSigningKey,
		Data: data,
	}
	if err := controllerutil.SetControllerReference(p, secret, r.Scheme); err != nil {
		return fmt.Errorf("own signing key Secret: %w", err)
	}
	if err := r.Create(ctx, secret); err != nil {
		if apierrors.IsAlreadyExists(err) {
			if foreign, err := checkForeign(ctx, r.APIReader, secret, licensingv1alpha1.LabelProduct, p.Name); !foreign {
				return err
			}
			s.stallKey(licensingv1alpha1.ReasonSecretConflict, "a Secret %s that the operator does not manage already exists; rename or delete it, or use spec.signing.secretRef to bring your own key", secret.Name)
			return nil
		}
		return fmt.Errorf("create signing key Secret %s: %w", secret.Name, err)
	}
	previous := p.Status.SigningKeyID
	s.key = key
	r.adoptKey(s, key, nil)
	p.Status.LastHandledRotateKey = annotation
	if previous == "" {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventKeyGenerated, "GenerateKey", "generated %s signing key %s", key.Algorithm, key.ID)
	} else {
		r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventKeyRotated, "RotateKey", "signing key %s was lost; generated %s signing key %s on request", previous, key.Algorithm, key.ID)
	}
	scheduleRotation(s)
	if previous != "" {
		return r.Outbox.Publish(ctx, webhook.KeyRotated(p, key.ID, previous, "lost key replaced on request", s.now))
	}
	return nil
}

// replaceManagedKey rotates: a new key replaces the private key in the Secret (the
// retired private key is deleted: nothing signs with it again); its public key stays
// published until the tokens it signed have lapsed.
func (r *ProductReconciler) replaceManagedKey(ctx context.Context, s *productScope, secret *corev1.Secret, retiring *keys.SigningKey, reason, annotation string) error {
	p := s.product
	key, data, err := r.generateKey(s)
	if err != nil {
		return err
	}
	secret.Data = data
	if err := r.Update(ctx, secret); err != nil {
		return fmt.Errorf("write rotated signing key to Secret %s: %w", secret.Name, err)
	}
	var retired *keys.PublicKey
	if retiring != nil {
		pub := keys.PublicKeyOf(retiring)
		retired = &pub
	}
	previous := p.Status.SigningKeyID
	s.key = key
	r.adoptKey(s, key, retired)
	p.Status.LastHandledRotateKey = annotation
	r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventKeyRotated, "RotateKey", "rotated signing key (%s): %s replaces %s", reason, key.ID, previous)
	scheduleRotation(s)
	return r.Outbox.Publish(ctx, webhook.KeyRotated(p, key.ID, previous, reason, s.now))
}

// scheduleRotation asks for a reconcile when the current key falls due under
// spec.signing.rotateEvery.
func scheduleRotation(s *productScope) {
	if every := rotateEvery(s.product); every > 0 {
		due := keypolicy.RotationDueAt(s.key.CreatedAt, every)
		s.next = keypolicy.NextCheck(s.now, s.next, &due)
	}
}

// adoptKey makes key the signing key in status; the key that signed before (if any)
// is retired. retiredPublic is the retiring key's public part when it is in memory.
func (r *ProductReconciler) adoptKey(s *productScope, key *keys.SigningKey, retiredPublic *keys.PublicKey) {
	st := &s.product.Status
	if retiredPublic != nil {
		s.published = append(s.published, *retiredPublic)
	}
	if st.SigningKeyID == key.ID {
		return
	}
	now := metav1.NewTime(s.now)
	for i := range st.VerificationKeys {
		if st.VerificationKeys[i].RetiredAt == nil {
			st.VerificationKeys[i].RetiredAt = &now
		}
	}
	if !slices.ContainsFunc(st.VerificationKeys, func(v licensingv1alpha1.VerificationKey) bool { return v.KeyID == key.ID }) {
		st.VerificationKeys = append([]licensingv1alpha1.VerificationKey{{
			KeyID: key.ID, Algorithm: licensingv1alpha1.SigningAlgorithm(key.Algorithm), CreatedAt: metav1.NewTime(key.CreatedAt),
		}}, st.VerificationKeys...)
	}
	st.SigningKeyID = key.ID
}

// loadExternalKey validates the bring-your-own key in spec.signing.secretRef; the
// operator never writes to that Secret. It is read directly, not from the cache,
// which holds only Secrets the operator manages.
func (r *ProductReconciler) loadExternalKey(ctx context.Context, s *productScope) error {
	p := s.product
	ref := p.Spec.Signing.SecretRef.Name
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: ref}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			s.stallKey(licensingv1alpha1.ReasonSecretNotFound, "spec.signing.secretRef names Secret %s, which does not exist in namespace %s; create it with a PEM private key under one of: %s", ref, p.Namespace, externalKeyDataKeys)
			return nil
		}
		return fmt.Errorf("get signing key Secret %s (spec.signing.secretRef): %w", ref, err)
	}
	signer, alg, err := keys.ParsePrivateKeyPEM(externalKeyPEM(secret))
	switch {
	case errors.Is(err, keys.ErrUnsupportedKeyType):
		s.stallKey(licensingv1alpha1.ReasonUnsupportedKeyType, "Secret %s (spec.signing.secretRef): %v", ref, err)
		return nil
	case err != nil:
		s.stallKey(licensingv1alpha1.ReasonSigningKeyCorrupt, "Secret %s (spec.signing.secretRef) has no usable PEM private key under %s: %v", ref, externalKeyDataKeys, err)
		return nil
	}
	if want := wantedAlgorithm(p); string(alg) != string(want) {
		s.stallKey(licensingv1alpha1.ReasonKeyAlgorithmMismatch, "Secret %s holds a %s key but spec.signing.algorithm is %s; set the algorithm to %s or put a %s key in the Secret", ref, alg, want, alg, want)
		return nil
	}
	key, err := externalSigningKey(p, signer, alg, s.now)
	if err != nil {
		return fmt.Errorf("key id for Secret %s: %w", ref, err)
	}
	s.key = key
	r.adoptKey(s, key, nil)
	return nil
}

// reconcileKeyHistory decides which public keys stay published: the current key
// and each retired key until every token it may have signed has lapsed (the longest
// token lifetime the Product's templates allow; forever when a license never ends).
func (r *ProductReconciler) reconcileKeyHistory(ctx context.Context, s *productScope) error {
	p := s.product
	templates := &licensingv1alpha1.LicenseTemplateList{}
	if err := r.List(ctx, templates, client.InNamespace(p.Namespace), client.MatchingFields{indexProductRef: p.Name}); err != nil {
		return fmt.Errorf("list LicenseTemplates of Product %s: %w", p.Name, err)
	}
	specs := make([]licensingv1alpha1.LicenseTemplateSpec, 0, len(templates.Items))
	for _, t := range templates.Items {
		specs = append(specs, t.Spec)
	}
	lifetime, forever := keypolicy.MaxTokenLifetime(specs)

	kept := p.Status.VerificationKeys[:0:0]
	for _, v := range p.Status.VerificationKeys {
		if v.RetiredAt == nil {
			kept = append(kept, v)
			continue
		}
		removeAt, ok := keypolicy.RemoveAt(v.RetiredAt.Time, lifetime, forever)
		if !ok {
			v.RemoveAt = nil
			kept = append(kept, v)
			continue
		}
		if !s.now.Before(removeAt) {
			r.Recorder.Eventf(p, nil, corev1.EventTypeNormal, eventRetiredKeyRemoved, "RemoveKey", "retired key %s left the JWKS: every token it signed has lapsed", v.KeyID)
			continue
		}
		at := metav1.NewTime(removeAt)
		v.RemoveAt = &at
		kept = append(kept, v)
		s.next = keypolicy.NextCheck(s.now, s.next, &removeAt)
	}
	p.Status.VerificationKeys = kept
	return nil
}

// reconcileJWKS publishes the kept public keys, newest first, in the ConfigMap
// <product>-license-keys (key jwks.json). Retired public keys are read back from
// the ConfigMap, since their private keys are gone.
func (r *ProductReconciler) reconcileJWKS(ctx context.Context, s *productScope) error {
	p := s.product
	name := licensingv1alpha1.PublicKeysConfigMapName(p.Name)
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: name}, cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get ConfigMap %s: %w", name, err)
	}
	exists := err == nil

	known := map[string]keys.PublicKey{}
	if exists {
		if old, perr := keys.ParseJWKS([]byte(cm.Data[licensingv1alpha1.JWKSKey])); perr == nil {
			for _, k := range old {
				known[k.ID] = k
			}
		} else {
			log.FromContext(ctx).Info("existing JWKS does not parse; republishing from the current key", "configMap", name, "error", perr.Error())
		}
	}
	for _, k := range s.published {
		known[k.ID] = k
	}
	known[s.key.ID] = keys.PublicKeyOf(s.key)

	var publish []keys.PublicKey
	var kept []licensingv1alpha1.VerificationKey
	for _, v := range p.Status.VerificationKeys {
		if k, ok := known[v.KeyID]; ok {
			publish = append(publish, k)
			kept = append(kept, v)
		} else {
			log.FromContext(ctx).Info("public part of a retired key is no longer available; dropping it from the JWKS", "keyID", v.KeyID)
		}
	}
	p.Status.VerificationKeys = kept
	jwks, err := keys.MarshalJWKS(publish)
	if err != nil {
		return fmt.Errorf("build JWKS for Product %s: %w", p.Name, err)
	}

	if !exists {
		cm = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: p.Namespace}}
	}
	changed := cm.Data[licensingv1alpha1.JWKSKey] != string(jwks) ||
		cm.Labels[licensingv1alpha1.LabelManaged] != "true" || cm.Labels[licensingv1alpha1.LabelProduct] != p.Name
	if exists && !changed {
		p.Status.PublicKeysConfigMap = name
		return nil
	}
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels[licensingv1alpha1.LabelManaged] = "true"
	cm.Labels[licensingv1alpha1.LabelProduct] = p.Name
	cm.Data = map[string]string{licensingv1alpha1.JWKSKey: string(jwks)}
	if err := controllerutil.SetControllerReference(p, cm, r.Scheme); err != nil {
		return fmt.Errorf("own ConfigMap %s: %w", name, err)
	}
	if exists {
		err = r.Update(ctx, cm)
	} else {
		err = r.Create(ctx, cm)
	}
	if apierrors.IsAlreadyExists(err) {
		if foreign, err := checkForeign(ctx, r.APIReader, cm, licensingv1alpha1.LabelProduct, p.Name); !foreign {
			return err
		}
		s.publishProblem = newProblem(licensingv1alpha1.ReasonConfigMapConflict, "a ConfigMap %s that the operator does not manage already exists; rename or delete it so the public keys can be published", name)
		return nil
	}
	if err != nil {
		return fmt.Errorf("write JWKS ConfigMap %s: %w", name, err)
	}
	p.Status.PublicKeysConfigMap = name
	return nil
}
