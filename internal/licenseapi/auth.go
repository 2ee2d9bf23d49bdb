package licenseapi

import (
	"context"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	jose "github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/cacheread"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// caller is an authenticated request: a license token that verified against
// its Product's JWKS, and the Licensee it names as it is now.
type caller struct {
	ctx        context.Context
	namespace  string
	product    string
	productObj *licensingv1alpha1.Product
	claims     *license.Claims
	// tokenCode is EXPIRED or NOT_YET_VALID when the token is outside its own
	// nbf/exp: it still gets a verdict, but cannot take seats or activations.
	tokenCode license.Code
	// licensee is nil, and revoked says why, when the token's Licensee is gone,
	// was re-created, or now belongs to another Product.
	licensee *licensingv1alpha1.Licensee
	revoked  string
}

// authenticate verifies the bearer token of r through pkg/license (the one
// verifier) against the JWKS the Product publishes, and finds its Licensee.
// Its errors are 401 problems carrying the verification code.
func (s *Server) authenticate(ctx context.Context, r *http.Request) (*caller, error) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	raw = strings.TrimSpace(raw)
	if !ok || raw == "" {
		return nil, unauthorized(license.CodeMalformed, `no "Authorization: Bearer <license token>" header; send the content of license.jwt from the license Secret`)
	}
	if len(raw) > maxTokenBytes {
		return nil, unauthorized(license.CodeMalformed, fmt.Sprintf("the bearer token is over %d bytes; send the content of license.jwt", maxTokenBytes))
	}
	hit, cached := s.verified.get(raw)
	namespace, product := hit.namespace, hit.product
	if !cached {
		var err error
		if namespace, product, err = issuerOf(raw); err != nil {
			return nil, err
		}
	}
	p, err := s.cached.products.Get(ctx, client.ObjectKey{Namespace: namespace, Name: product})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, unauthorized(license.CodeUnknownKey, fmt.Sprintf("the token's issuer names Product %s/%s, which does not exist here", clip(namespace), clip(product)))
		}
		return nil, err
	}
	keySet, err := s.jwks.get(ctx, s.cached.configMaps, namespace, product)
	if err != nil {
		return nil, err
	}
	c := &caller{ctx: ctx, namespace: namespace, product: product, productObj: p}
	if cached && hit.keys == keySet {
		// The same bytes verified against this same key set: only the token's
		// own lifetime can have changed since.
		c.claims = hit.claims
		if code := c.claims.LifetimeState(s.now(), license.DefaultLeeway); code != license.CodeValid {
			c.tokenCode = code
		}
	} else if err := s.verify(raw, keySet, c); err != nil {
		return nil, err
	}
	if err := s.findLicensee(ctx, c); err != nil {
		return nil, err
	}
	return c, nil
}

// verify checks raw with pkg/license and remembers a token that verified.
func (s *Server) verify(raw string, keySet *license.KeySet, c *caller) error {
	var err error
	c.claims, err = license.Verify(raw, keySet, s.now(),
		license.WithIssuer(license.IssuerPrefix+c.namespace+"/"+c.product), license.WithAudience(c.product))
	switch code := license.CodeOf(err); {
	case err == nil:
	case c.claims != nil && (code == license.CodeExpired || code == license.CodeNotYetValid):
		c.tokenCode = code // signature verified: the caller learns its live state
	case code != "":
		return unauthorized(code, errorMessage(err))
	default:
		return err
	}
	if len(raw) <= maxVerifiedBytes {
		s.verified.put(raw, verifiedToken{namespace: c.namespace, product: c.product, keys: keySet, claims: c.claims})
	}
	return nil
}

// verifiedToken is a token that verified, remembered by its exact bytes, so a
// caller presenting the same token again (an application validating every
// minute, a seat heartbeat) costs no signature check while the key set it was
// checked against is unchanged.
type verifiedToken struct {
	namespace, product string
	keys               *license.KeySet
	claims             *license.Claims
}

// Bounds of the verified-token memo: past maxVerified entries it starts again
// empty; tokens longer than maxVerifiedBytes are not kept.
const (
	maxVerified      = 8192
	maxVerifiedBytes = 8 << 10
)

// present is nil while the caller's Licensee exists, else the REVOKED problem
// of the calls that need it (validate answers a revoked verdict instead).
func (c *caller) present() error {
	if c.licensee == nil {
		return newProblem(http.StatusForbidden, license.CodeRevoked, "%s; the license is revoked", c.revoked)
	}
	return nil
}

// maxTokenBytes bounds the bearer token; license tokens are a few KiB.
const maxTokenBytes = 64 << 10

// findLicensee reads the token's Licensee as it is now. A token of a Licensee
// that is gone, was re-created (issued before the present one existed), or
// moved to another Product is revoked: nothing it says is granted any more.
func (s *Server) findLicensee(ctx context.Context, c *caller) error {
	l, err := s.cached.licensees.Get(ctx, client.ObjectKey{Namespace: c.namespace, Name: c.claims.Subject})
	switch {
	case apierrors.IsNotFound(err):
		c.revoked = fmt.Sprintf("Licensee %s/%s no longer exists", c.namespace, clip(c.claims.Subject))
	case err != nil:
		return err
	case l.Spec.ProductRef.Name != c.product:
		c.revoked = fmt.Sprintf("Licensee %s/%s now holds licenses of Product %s, not %s", c.namespace, l.Name, l.Spec.ProductRef.Name, c.product)
	case c.claims.Licensee.UID != "" && c.claims.Licensee.UID != string(l.UID),
		c.claims.Licensee.UID == "" && c.claims.IssuedAt < l.CreationTimestamp.Unix():
		// Tokens name their Licensee's uid; older ones (without it) were
		// signed after their Licensee existed, so one signed before the
		// present Licensee was created belongs to a deleted namesake.
		c.revoked = fmt.Sprintf("the token was issued to an earlier Licensee %s/%s, deleted and created again since", c.namespace, l.Name)
	default:
		c.licensee = l
	}
	return nil
}

// issuerOf reads the namespace and Product from the token's iss before it is
// verified, only to choose the trust anchor: the verification that follows
// requires the same issuer.
func issuerOf(raw string) (namespace, product string, err error) {
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256})
	if err != nil {
		return "", "", unauthorized(license.CodeMalformed, "the bearer token is not a compact JWS; send the content of license.jwt unchanged")
	}
	var claims struct {
		Issuer string `json:"iss"`
	}
	if err := stdjson.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		return "", "", unauthorized(license.CodeMalformed, "the bearer token's payload is not license claims JSON")
	}
	rest, ok := strings.CutPrefix(claims.Issuer, license.IssuerPrefix)
	namespace, product, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || namespace == "" || product == "" || strings.Contains(product, "/") {
		return "", "", unauthorized(license.CodeMalformed, fmt.Sprintf("the token's issuer %q is not %s<namespace>/<product>; send a license token issued by kubelicense", clip(claims.Issuer), license.IssuerPrefix))
	}
	return namespace, product, nil
}

func unauthorized(code license.Code, message string) *problem {
	return &problem{status: http.StatusUnauthorized, code: code, message: message}
}

// errorMessage is the message of a verification error, without its cause chain
// (go-jose errors can be long and say nothing the code does not).
func errorMessage(err error) string {
	if e, ok := errors.AsType[*license.Error](err); ok {
		return e.Message
	}
	return err.Error()
}

// jwksCache parses each Product's JWKS ConfigMap once per resourceVersion.
type jwksCache struct {
	parsed *memo[client.ObjectKey, parsedJWKS]
}

type parsedJWKS struct {
	resourceVersion string
	keys            *license.KeySet
}

// maxCachedJWKS bounds the parsed key sets and prepared signers (Products are few).
const maxCachedJWKS = 4096

func (c *jwksCache) get(ctx context.Context, configMaps *cacheread.Objects[corev1.ConfigMap, *corev1.ConfigMap], namespace, product string) (*license.KeySet, error) {
	id := client.ObjectKey{Namespace: namespace, Name: licensingv1alpha1.PublicKeysConfigMapName(product)}
	cm, err := configMaps.Get(ctx, id)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, unauthorized(license.CodeUnknownKey, fmt.Sprintf("Product %s/%s publishes no keys yet (ConfigMap %s)", namespace, product, id.Name))
		}
		return nil, err
	}
	cached, ok := c.parsed.get(id)
	if ok && cached.resourceVersion == cm.ResourceVersion {
		return cached.keys, nil
	}
	ks, err := license.ParseJWKS([]byte(cm.Data[licensingv1alpha1.JWKSKey]))
	if err != nil {
		return nil, fmt.Errorf("JWKS of Product %s/%s: %w", namespace, product, err)
	}
	c.parsed.put(id, parsedJWKS{resourceVersion: cm.ResourceVersion, keys: ks})
	return ks, nil
}
