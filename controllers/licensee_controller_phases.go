package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
	"github.com/kubelicense/kubelicense/internal/issuance"
	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/token"
)

// reconcileReferences reads what the Licensee refers to: its Product, the template
// of each license, and the license Secret. A license whose template is missing,
// belongs to another Product or does not fit the Product becomes Invalid; the
// others are still issued.
func (r *LicenseeReconciler) reconcileReferences(ctx context.Context, s *licenseeScope) error {
	l := s.licensee
	product := &licensingv1alpha1.Product{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.Spec.ProductRef.Name}, product); err != nil {
		if apierrors.IsNotFound(err) {
			s.stalled = newProblem(licensingv1alpha1.ReasonProductNotFound, "Product %s does not exist in namespace %s; create it or fix spec.productRef", l.Spec.ProductRef.Name, l.Namespace)
			return nil
		}
		return fmt.Errorf("get Product %s: %w", l.Spec.ProductRef.Name, err)
	}

	secret := &corev1.Secret{}
	switch err := r.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.LicenseSecretName()}, secret); {
	case apierrors.IsNotFound(err):
		secret = nil
	case err != nil:
		return fmt.Errorf("get license Secret %s: %w", l.LicenseSecretName(), err)
	case secret.Annotations[licensingv1alpha1.AnnotationLicensee] != l.Name || secret.Type != licensingv1alpha1.SecretTypeLicense:
		s.stalled = newProblem(licensingv1alpha1.ReasonSecretConflict, "Secret %s is managed for Licensee %q, not this one; give this Licensee another spec.secret.name", secret.Name, secret.Annotations[licensingv1alpha1.AnnotationLicensee])
		return nil
	}
	s.secret = secret
	if secret != nil {
		d := secretDigest(secret)
		s.digest = &d
	}
	knownStarts := startsFromDigest(s.digest)
	for _, st := range l.Status.Licenses {
		if st.StartsAt != nil {
			knownStarts[st.Name] = st.StartsAt.Time
		}
	}

	for _, spec := range l.Spec.Licenses {
		in := entitlement.LicenseInput{Spec: spec}
		if start, ok := knownStarts[spec.Name]; ok {
			in.KnownStart = &start
		}
		template := &licensingv1alpha1.LicenseTemplate{}
		err := r.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: spec.TemplateRef.Name}, template)
		switch {
		case apierrors.IsNotFound(err):
			in.Problem = fmt.Sprintf("LicenseTemplate %s does not exist; create it or fix spec.licenses[%s].templateRef", spec.TemplateRef.Name, spec.Name)
		case err != nil:
			return fmt.Errorf("get LicenseTemplate %s: %w", spec.TemplateRef.Name, err)
		default:
			in.Template = &template.Spec
			in.Problem = entitlement.LicenseProblem(spec, template, product)
		}
		if in.Problem != "" {
			s.problems = append(s.problems, fmt.Sprintf("license %s: %s", spec.Name, in.Problem))
		}
		s.inputs = append(s.inputs, in)
	}
	s.product = product
	return nil
}

// reconcileEntitlements evaluates every license at now (pure code).
func (r *LicenseeReconciler) reconcileEntitlements(s *licenseeScope) {
	s.result = entitlement.Evaluate(entitlement.Input{
		Now:               s.now,
		LicenseeSuspended: s.licensee.Spec.Suspended,
		Licenses:          s.inputs,
		Trials:            s.licensee.Status.Trials,
	})
}

// reconcileSecret makes the license Secret hold the token the licenses call for:
// it adopts the Secret as it is when it already matches, and otherwise signs a
// new token and writes the Secret before status (see internal/issuance).
func (r *LicenseeReconciler) reconcileSecret(ctx context.Context, s *licenseeScope) error {
	l, p := s.licensee, s.product
	if s.stalled != nil {
		return nil
	}
	key, err := r.keys.current(ctx, p, s.now)
	if err != nil {
		if errors.Is(err, errKeyUnavailable) {
			s.waiting = newProblem(licensingv1alpha1.ReasonProductKeyUnavailable, "%v; existing license Secrets are left as they are", err)
			return nil
		}
		return err
	}
	jwks, err := r.productJWKS(ctx, p)
	if err != nil {
		return err
	}

	meta := entitlement.ClaimsMeta{
		Namespace: l.Namespace, Product: p.Name, ProductDisplayName: p.Spec.DisplayName,
		Licensee: l.Name, LicenseeUID: string(l.UID), LicenseeDisplayName: l.Spec.DisplayName, ExternalID: l.Spec.ExternalID,
	}
	desired := issuance.Desired{
		Claims:         entitlement.BuildClaims(meta, s.result, s.now, ""),
		States:         map[string]licensingv1alpha1.LicenseState{},
		KeyID:          key.ID,
		Revoke:         s.result.Revoke,
		RevokeReason:   s.result.LicensedMessage,
		RefreshAt:      s.result.RefreshAt,
		Now:            s.now,
		RenewRequested: renewRequested(l),
	}
	for _, lic := range s.result.Licenses {
		desired.States[lic.Name] = lic.State
	}
	var existing issuance.Existing
	if s.secret != nil {
		existing = issuance.Existing{Found: true, Digest: s.digest, Annotations: s.secret.Annotations}
	}

	reason, _, reissue := issuance.NeedsReissue(desired, existing)
	var content issuance.SecretContent
	if reissue {
		if content, err = r.issue(desired, s, key, jwks); err != nil {
			return err
		}
	} else {
		// Adopt: keep the token; refresh only what does not need a signature.
		// Data nil keeps the data as it is; only a new key set needs the bytes.
		content = issuance.SecretContent{Annotations: pick(s.secret.Annotations, operatorAnnotations)}
		if existing.Digest.JWKS != issuance.JWKSHash(jwks) {
			data, err := secretDataOf(ctx, r.APIReader, s.secret)
			if err != nil {
				return err
			}
			content.Data = maps.Clone(data)
			content.Data[licensingv1alpha1.JWKSKey] = jwks
			content.Annotations[licensingv1alpha1.AnnotationDataHash] = issuance.DataHash(content.Data)
		}
	}
	if s.written, err = r.writeSecret(ctx, s, content); err != nil || !s.written {
		return err // a conflict drops the signed token; status keeps what it had
	}
	if reissue {
		s.reissued = reason
	}
	s.serial = content.Annotations[licensingv1alpha1.AnnotationSerial]
	s.keyID = content.Annotations[licensingv1alpha1.AnnotationKeyID]
	if t, err := time.Parse(time.RFC3339, content.Annotations[licensingv1alpha1.AnnotationIssuedAt]); err == nil {
		s.issuedAt = t
	}
	return nil
}

// operatorAnnotations are the annotations the operator owns on a license Secret.
var operatorAnnotations = []string{
	licensingv1alpha1.AnnotationLicensee, licensingv1alpha1.AnnotationProduct, licensingv1alpha1.AnnotationSerial,
	licensingv1alpha1.AnnotationKeyID, licensingv1alpha1.AnnotationIssuedAt, licensingv1alpha1.AnnotationExpiresAt,
	licensingv1alpha1.AnnotationDataHash, issuance.AnnotationFingerprint,
}

func pick(m map[string]string, keys []string) map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

func renewRequested(l *licensingv1alpha1.Licensee) bool {
	v := l.Annotations[licensingv1alpha1.AnnotationRenew]
	return v != "" && v != l.Status.LastHandledRenewAt
}

// issue signs a new token (or writes a revocation notice) for desired.
func (r *LicenseeReconciler) issue(desired issuance.Desired, s *licenseeScope, key *keys.SigningKey, jwks []byte) (issuance.SecretContent, error) {
	if desired.Revoke {
		return issuance.RevokedContent(desired, jwks)
	}
	serial, err := token.NewSerial(r.Rand)
	if err != nil {
		return issuance.SecretContent{}, fmt.Errorf("new serial: %w", err)
	}
	claims := desired.Claims // built for this instant; only the serial is new
	claims.ID = serial
	signed, err := token.Sign(&claims, key)
	if err != nil {
		return issuance.SecretContent{}, fmt.Errorf("sign token for Licensee %s/%s: %w", s.licensee.Namespace, s.licensee.Name, err)
	}
	return issuance.TokenContent(desired, claims, signed, jwks)
}

// productJWKS is the Product's published JWKS, copied into the Secret for convenience.
func (r *LicenseeReconciler) productJWKS(ctx context.Context, p *licensingv1alpha1.Product) ([]byte, error) {
	cm := &corev1.ConfigMap{}
	if err := r.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: licensingv1alpha1.PublicKeysConfigMapName(p.Name)}, cm); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get public keys of Product %s: %w", p.Name, err)
	}
	return []byte(cm.Data[licensingv1alpha1.JWKSKey]), nil
}

// writeSecret creates or updates the license Secret with content, merging
// spec.secret.template metadata under the operator's own; it writes nothing when
// the Secret already says all of it. It reports whether the Secret now holds
// content: not when the name is taken by a Secret the operator does not manage.
// content.Data nil keeps the Secret's data (read live if the metadata changes:
// the cache keeps only its digest).
func (r *LicenseeReconciler) writeSecret(ctx context.Context, s *licenseeScope, content issuance.SecretContent) (bool, error) {
	l := s.licensee
	secret := s.secret
	create := secret == nil
	if create {
		secret = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: l.LicenseSecretName(), Namespace: l.Namespace}, Type: licensingv1alpha1.SecretTypeLicense}
	}
	before := secret.DeepCopy()

	labels := map[string]string{}
	annotations := map[string]string{}
	maps.Copy(labels, secret.Labels)
	maps.Copy(annotations, secret.Annotations)
	if t := l.Spec.Secret.Template; t != nil {
		maps.Copy(labels, t.Labels)
		maps.Copy(annotations, t.Annotations)
	}
	labels[licensingv1alpha1.LabelManaged] = "true"
	labels[licensingv1alpha1.LabelProduct] = l.Spec.ProductRef.Name
	labels[licensingv1alpha1.LabelLicensee] = l.Name
	for _, k := range operatorAnnotations {
		delete(annotations, k)
	}
	maps.Copy(annotations, content.Annotations)
	secret.Labels, secret.Annotations = labels, annotations
	if content.Data != nil {
		secret.Data = content.Data
	}

	if l.Spec.Secret.DeletionPolicy == licensingv1alpha1.SecretDeletionPolicyOrphan {
		_ = controllerutil.RemoveOwnerReference(l, secret, r.Scheme())
	} else if err := controllerutil.SetOwnerReference(l, secret, r.Scheme()); err != nil {
		return false, fmt.Errorf("own license Secret %s: %w", secret.Name, err)
	}

	if create {
		if err := r.Create(ctx, secret); err != nil {
			if apierrors.IsAlreadyExists(err) {
				if foreign, err := checkForeign(ctx, r.APIReader, secret, licensingv1alpha1.LabelLicensee, l.Name); !foreign {
					return false, err
				}
				s.stalled = newProblem(licensingv1alpha1.ReasonSecretConflict, "a Secret %s that the operator does not manage already exists; it is never overwritten: delete or rename it, or set spec.secret.name", secret.Name)
				return false, nil
			}
			return false, fmt.Errorf("create license Secret %s: %w", secret.Name, err)
		}
		s.secret = secret // what distribution copies: the cache may not hold it yet
		return true, nil
	}
	if equalSecret(before, secret) {
		return true, nil
	}
	data, err := secretDataOf(ctx, r.APIReader, secret)
	if err != nil {
		return false, err
	}
	secret.Data = data
	if err := r.Update(ctx, secret); err != nil {
		return false, fmt.Errorf("update license Secret %s: %w", secret.Name, err)
	}
	return true, nil
}

// equalSecret: same labels, annotations, owners and data (either of them
// possibly known only by the cache's digest).
func equalSecret(a, b *corev1.Secret) bool {
	return maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations) &&
		sameSecretData(a, b) && equality.Semantic.DeepEqual(a.OwnerReferences, b.OwnerReferences)
}
