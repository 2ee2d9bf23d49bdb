// Package issuance decides, without a cluster, whether a Licensee's license Secret
// still holds the right token, and builds the Secret's content when it does not.
//
// Crash safety: the controller writes the Secret first and status second. The
// Secret's annotations carry the serial, issue time and a fingerprint of what was
// issued, so after a crash between the two writes the next run finds a Secret that
// already matches the desired claims and adopts it instead of signing again: one
// issuance never yields two tokens, and no write is spent on an issuance record.
package issuance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// AnnotationFingerprint records what the token in the Secret was issued for.
const AnnotationFingerprint = "licensing.kubelicense.io/fingerprint"

// Reasons a token is (re-)issued.
const (
	ReasonSecretMissing     = "SecretMissing"
	ReasonDataTampered      = "DataTampered"
	ReasonNoToken           = "NoToken"
	ReasonClaimsChanged     = "ClaimsChanged"
	ReasonSigningKeyChanged = "SigningKeyChanged"
	ReasonRefreshDue        = "RefreshDue"
	ReasonRenewRequested    = "RenewRequested"
)

// Desired is what the Secret should hold now, apart from the serial and times of
// the token, which a re-issue chooses.
type Desired struct {
	// Claims to sign (ID and times are ignored by the fingerprint).
	Claims license.Claims
	// States of the licenses, by name: a change (e.g. into grace) re-issues so the
	// token's iat-time entitlements and the Secret tell the truth.
	States map[string]v1alpha1.LicenseState
	// KeyID of the Product's current signing key.
	KeyID string
	// Revoke: nothing entitles and every lapsed license says onExpiry: Revoke.
	Revoke bool
	// RevokeReason goes into license.json when the token is removed.
	RevokeReason string
	// RefreshAt: the token must be re-signed once this is not after Now (nil: never).
	RefreshAt func(issuedAt time.Time) *time.Time
	Now       time.Time
	// RenewRequested: the renew annotation has a value not yet handled.
	RenewRequested bool
}

// Fingerprint is a stable hash of what is issued: the claims without serial and
// times, the license states, the key and whether the token is revoked.
func (d Desired) Fingerprint() string {
	c := d.Claims
	c.ID, c.IssuedAt, c.NotBefore, c.Expiry = "", 0, 0, 0
	names := make([]string, 0, len(d.States))
	for n := range d.States {
		names = append(names, n)
	}
	slices.Sort(names)
	states := make([]string, 0, len(names))
	for _, n := range names {
		states = append(states, n+"="+string(d.States[n]))
	}
	payload, _ := json.Marshal(struct {
		Claims  license.Claims `json:"c"`
		States  string         `json:"s"`
		KeyID   string         `json:"k"`
		Revoked bool           `json:"r"`
	}{c, strings.Join(states, ","), d.keyIDIfSigned(), d.Revoke})
	sum := sha256.Sum256(payload)
	return hex.EncodeToString(sum[:12])
}

// keyIDIfSigned: a revoked Secret holds no signature, so a key rotation must not rewrite it.
func (d Desired) keyIDIfSigned() string {
	if d.Revoke {
		return ""
	}
	return d.KeyID
}

// Existing is what the license Secret holds now.
type Existing struct {
	// Found is false when there is no Secret.
	Found bool
	// Data is the Secret's data; it may be nil when Digest is set.
	Data map[string][]byte
	// Digest, when set, stands for Data: what the controller's cache keeps of a
	// license Secret instead of its bytes.
	Digest      *Digest
	Annotations map[string]string
}

func (e Existing) digest() Digest {
	if e.Digest != nil {
		return *e.Digest
	}
	return DigestOf(e.Data)
}

// Exists reports whether there is a Secret.
func (e Existing) Exists() bool { return e.Found }

// IssuedAt is the issue time recorded on the Secret (zero if absent).
func (e Existing) IssuedAt() time.Time {
	t, _ := time.Parse(time.RFC3339, e.Annotations[v1alpha1.AnnotationIssuedAt])
	return t
}

// Serial is the serial recorded on the Secret.
func (e Existing) Serial() string { return e.Annotations[v1alpha1.AnnotationSerial] }

// reissueCheck is one reason the token must be signed again.
type reissueCheck func(d Desired, e Existing) (reason, message string, reissue bool)

// reissueChecks run in order; the first violated one names the reason.
var reissueChecks = []reissueCheck{
	func(_ Desired, e Existing) (string, string, bool) {
		return ReasonSecretMissing, "the license Secret does not exist", !e.Exists()
	},
	func(_ Desired, e Existing) (string, string, bool) {
		return ReasonDataTampered, "the license Secret's data does not match its hash annotation (edited by hand?)", e.Annotations[v1alpha1.AnnotationDataHash] != e.digest().Hash
	},
	func(d Desired, e Existing) (string, string, bool) {
		return ReasonClaimsChanged, "the licenses changed", e.Annotations[AnnotationFingerprint] != d.Fingerprint()
	},
	func(d Desired, e Existing) (string, string, bool) {
		return ReasonNoToken, "the license Secret holds no token", !d.Revoke && !e.digest().Token
	},
	func(d Desired, e Existing) (string, string, bool) {
		return ReasonSigningKeyChanged, "the Product's signing key changed", !d.Revoke && e.Annotations[v1alpha1.AnnotationKeyID] != d.KeyID
	},
	func(d Desired, e Existing) (string, string, bool) {
		if d.Revoke || d.RefreshAt == nil {
			return "", "", false
		}
		at := d.RefreshAt(e.IssuedAt())
		return ReasonRefreshDue, "the short-lived token is due for refresh", e.IssuedAt().IsZero() || (at != nil && !at.After(d.Now))
	},
	func(d Desired, _ Existing) (string, string, bool) {
		return ReasonRenewRequested, "renewal requested with annotation " + v1alpha1.AnnotationRenew, d.RenewRequested
	},
}

// NeedsReissue reports whether the Secret must get a new token (or a revocation
// notice), and why. False means the Secret is adopted as it is.
func NeedsReissue(d Desired, e Existing) (reason, message string, reissue bool) {
	for _, check := range reissueChecks {
		if reason, message, reissue := check(d, e); reissue {
			return reason, message, true
		}
	}
	return "", "", false
}

// DataHash is the hash annotation of the Secret data: it tells a hand edit.
func DataHash(data map[string][]byte) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%d\x00", k, len(data[k]))
		h.Write(data[k])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// Digest is what the controller needs to know of a license Secret's data
// without holding it: the data's hash (to tell a hand edit from the hash
// annotation, and two Secrets' data apart), whether it holds a token, the hash
// of its jwks.json, and when each license in license.json started. About 100
// bytes instead of the 2-3 KB of token, claims and keys.
type Digest struct {
	Hash  string `json:"h"`
	Token bool   `json:"t,omitempty"`
	JWKS  string `json:"j,omitempty"`
	// Starts are the licenses' start times (Unix seconds) from license.json,
	// when the Secret holds a token.
	Starts map[string]int64 `json:"s,omitempty"`
}

// DigestOf is the Digest of a license Secret's data.
func DigestOf(data map[string][]byte) Digest {
	d := Digest{Hash: DataHash(data), Token: len(data[v1alpha1.LicenseTokenKey]) > 0}
	if jwks, ok := data[v1alpha1.JWKSKey]; ok {
		d.JWKS = JWKSHash(jwks)
	}
	if !d.Token {
		return d
	}
	var claims license.Claims
	if json.Unmarshal(data[v1alpha1.LicenseJSONKey], &claims) != nil {
		return d
	}
	for _, g := range claims.Licenses {
		if g.StartsAt != 0 {
			if d.Starts == nil {
				d.Starts = map[string]int64{}
			}
			d.Starts[g.Name] = g.StartsAt
		}
	}
	return d
}

// JWKSHash is the Digest's hash of a jwks.json.
func JWKSHash(jwks []byte) string {
	return DataHash(map[string][]byte{v1alpha1.JWKSKey: jwks})
}

// Revocation is what license.json says when the token was removed.
type Revocation struct {
	Revoked   bool   `json:"revoked"`
	Reason    string `json:"reason"`
	Licensee  string `json:"licensee"`
	Product   string `json:"product"`
	RevokedAt string `json:"revokedAt"`
}

// SecretContent is the data and operator annotations of the license Secret.
type SecretContent struct {
	Data        map[string][]byte
	Annotations map[string]string
}

// TokenContent is the Secret for a signed token.
func TokenContent(d Desired, claims license.Claims, token string, jwks []byte) (SecretContent, error) {
	// Compact: every byte is stored, watched and sent for each Licensee; tools
	// (kubectl license inspect, jq) pretty-print it for people.
	decoded, err := json.Marshal(claims)
	if err != nil {
		return SecretContent{}, fmt.Errorf("encode license.json: %w", err)
	}
	data := map[string][]byte{
		v1alpha1.LicenseTokenKey: []byte(token),
		v1alpha1.LicenseJSONKey:  append(decoded, '\n'),
		v1alpha1.JWKSKey:         jwks,
	}
	expires := "never"
	if claims.Expiry != 0 {
		expires = time.Unix(claims.Expiry, 0).UTC().Format(time.RFC3339)
	}
	return SecretContent{Data: data, Annotations: map[string]string{
		v1alpha1.AnnotationLicensee:  claims.Subject,
		v1alpha1.AnnotationProduct:   claims.Product.Name,
		v1alpha1.AnnotationSerial:    claims.ID,
		v1alpha1.AnnotationKeyID:     d.KeyID,
		v1alpha1.AnnotationIssuedAt:  time.Unix(claims.IssuedAt, 0).UTC().Format(time.RFC3339),
		v1alpha1.AnnotationExpiresAt: expires,
		v1alpha1.AnnotationDataHash:  DataHash(data),
		AnnotationFingerprint:        d.Fingerprint(),
	}}, nil
}

// RevokedContent is the Secret once the token is removed: license.json says why.
func RevokedContent(d Desired, jwks []byte) (SecretContent, error) {
	notice, err := json.MarshalIndent(Revocation{
		Revoked: true, Reason: d.RevokeReason, Licensee: d.Claims.Subject, Product: d.Claims.Product.Name,
		RevokedAt: d.Now.UTC().Format(time.RFC3339),
	}, "", "  ")
	if err != nil {
		return SecretContent{}, fmt.Errorf("encode revocation notice: %w", err)
	}
	data := map[string][]byte{v1alpha1.LicenseJSONKey: append(notice, '\n'), v1alpha1.JWKSKey: jwks}
	return SecretContent{Data: data, Annotations: map[string]string{
		v1alpha1.AnnotationLicensee:  d.Claims.Subject,
		v1alpha1.AnnotationProduct:   d.Claims.Product.Name,
		v1alpha1.AnnotationSerial:    "",
		v1alpha1.AnnotationKeyID:     "",
		v1alpha1.AnnotationIssuedAt:  d.Now.UTC().Format(time.RFC3339),
		v1alpha1.AnnotationExpiresAt: "revoked",
		v1alpha1.AnnotationDataHash:  DataHash(data),
		AnnotationFingerprint:        d.Fingerprint(),
	}}, nil
}
