package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/issuance"
)

// The manager's cache keeps no data of license Secrets (and their distributed
// copies): at 10,000 Licensees their tokens, claims and key sets were a third
// of the manager's live memory (docs/performance.md). It keeps an
// issuance.Digest instead, under digestKey, which tells the controller all it
// reads on a reconcile that writes nothing: whether the data still matches its
// hash annotation, whether it holds a token, which key set it carries and when
// the licenses started. The bytes are read live, one Secret at a time, only
// when a Secret is rewritten without being re-signed (a key set dropped a
// retired key; labels or owners to restore), or a copy must be written.
//
// digestKey cannot be the key of real Secret data (the API server allows only
// alphanumerics, '-', '_' and '.'), so a cached Secret written back by mistake
// is refused by the API server instead of losing the license.
const digestKey = "\x00kubelicense-digest"

// slimLicenseSecrets is the manager cache's transform for Secrets: as for
// every object (slimObject), and a license Secret's data is replaced by its
// digest.
func slimLicenseSecrets(in any) (any, error) {
	s, ok := in.(*corev1.Secret)
	if !ok {
		return slimObject(in)
	}
	if _, err := slimObject(s); err != nil {
		return nil, err
	}
	s.Type = corev1.SecretType(intern(string(s.Type)))
	if s.Type != licensingv1alpha1.SecretTypeLicense || s.Data == nil || !hasData(s) {
		return in, nil // not a license Secret, or digested already
	}
	digest, err := json.Marshal(issuance.DigestOf(s.Data))
	if err != nil {
		return nil, fmt.Errorf("digest of license Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	s.Data = map[string][]byte{digestKey: digest}
	return s, nil
}

// hasData tells whether s holds its data, not only the cache's digest of it.
func hasData(s *corev1.Secret) bool {
	_, slim := s.Data[digestKey]
	return !slim
}

// secretDigest is the digest of s's data, from the cache's copy or the bytes.
func secretDigest(s *corev1.Secret) issuance.Digest {
	if b, slim := s.Data[digestKey]; slim {
		var d issuance.Digest
		if json.Unmarshal(b, &d) == nil {
			return d
		}
		return issuance.Digest{Hash: "unreadable cache digest"} // never matches an annotation: re-read and re-sign
	}
	return issuance.DigestOf(s.Data)
}

// secretDataOf is s's data: as it is, or read live when the cache kept only
// its digest. The live Secret must hold the data the digest stands for; if it
// changed since the cache saw it, the error sends the reconcile round again
// once the cache has the new version.
func secretDataOf(ctx context.Context, reader client.Reader, s *corev1.Secret) (map[string][]byte, error) {
	if hasData(s) {
		return s.Data, nil
	}
	live := &corev1.Secret{}
	if err := reader.Get(ctx, client.ObjectKeyFromObject(s), live); err != nil {
		return nil, fmt.Errorf("read the data of Secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	if live.UID != s.UID || issuance.DataHash(live.Data) != dataHashOf(s) {
		return nil, fmt.Errorf("%w: Secret %s/%s changed since the cache saw it", errNotYetCached, s.Namespace, s.Name)
	}
	return live.Data, nil
}

// dataHashOf is the hash of s's data (issuance.DataHash), from the cache's
// digest or the bytes, without reading the claims.
func dataHashOf(s *corev1.Secret) string {
	if hasData(s) {
		return issuance.DataHash(s.Data)
	}
	return secretDigest(s).Hash
}

// sameSecretData tells whether a and b hold the same data, either of them
// possibly only as the cache's digest.
func sameSecretData(a, b *corev1.Secret) bool { return dataHashOf(a) == dataHashOf(b) }

// startsFromDigest recovers when each license started from the token already
// issued (the Secret's digest; nil: no Secret), so a crash before status was
// written does not move a start.
func startsFromDigest(d *issuance.Digest) map[string]time.Time {
	out := map[string]time.Time{}
	if d == nil {
		return out
	}
	for name, at := range d.Starts {
		out[name] = time.Unix(at, 0).UTC()
	}
	return out
}
