package licenseapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
	"github.com/kubelicense/kubelicense/internal/usage"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// evaluation is a Licensee's licenses as they stand now, from its spec and
// status (never from the caller's token): the operator's own entitlement code
// computes the windows, and the same result as license claims lets pkg/license
// decide states and entitlements, the rules every verifier uses. Its result
// and claims are shared between requests: never change them.
type evaluation struct {
	licensee *licensingv1alpha1.Licensee
	result   entitlement.Result
	claims   license.Claims
	usage    map[string]usage.Counts // by license name
}

// evaluate reads the templates of l from the cache and evaluates l at now.
// The evaluation depends on its inputs and on the second of now only (the
// entitlement code works in whole seconds), so it is computed once per second
// for a Licensee whose objects did not change, and shared read-only; the
// counts are taken fresh for every request.
func (s *Server) evaluate(ctx context.Context, c *caller, now time.Time) (*evaluation, error) {
	l := c.licensee
	templates := make([]*licensingv1alpha1.LicenseTemplate, len(l.Spec.Licenses))
	key := evaluationKey{
		licensee: l.UID, licenseeVersion: l.ResourceVersion, productVersion: c.productObj.ResourceVersion,
		second: now.Unix(),
	}
	versions := make([]string, len(l.Spec.Licenses))
	for i, spec := range l.Spec.Licenses {
		t, err := s.cached.templates.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: spec.TemplateRef.Name})
		switch {
		case apierrors.IsNotFound(err):
			versions[i] = "-"
		case err != nil:
			return nil, fmt.Errorf("get LicenseTemplate %s: %w", spec.TemplateRef.Name, err)
		default:
			templates[i] = t
			versions[i] = t.ResourceVersion
		}
	}
	key.templateVersions = strings.Join(versions, ",") // one license: no copy
	id := client.ObjectKeyFromObject(l)
	e, ok := s.evaluations.get(id, key)
	if !ok {
		e = s.evaluateAt(c, templates, now)
		s.evaluations.put(id, key, e)
	}
	counts, err := s.store.counts(ctx, l, now)
	if err != nil {
		return nil, err
	}
	return &evaluation{licensee: l, result: e.result, claims: e.claims, usage: counts}, nil
}

// evaluateAt evaluates c's Licensee at now with its templates (nil: missing).
func (s *Server) evaluateAt(c *caller, templates []*licensingv1alpha1.LicenseTemplate, now time.Time) *evaluation {
	l := c.licensee
	known := map[string]time.Time{}
	for _, st := range l.Status.Licenses {
		if st.StartsAt != nil {
			known[st.Name] = st.StartsAt.Time
		}
	}
	inputs := make([]entitlement.LicenseInput, 0, len(l.Spec.Licenses))
	for i, spec := range l.Spec.Licenses {
		in := entitlement.LicenseInput{Spec: spec}
		if start, ok := known[spec.Name]; ok {
			in.KnownStart = &start
		}
		if t := templates[i]; t == nil {
			in.Problem = fmt.Sprintf("LicenseTemplate %s does not exist", spec.TemplateRef.Name)
		} else {
			in.Template = &t.Spec
			in.Problem = entitlement.LicenseProblem(spec, t, c.productObj)
		}
		inputs = append(inputs, in)
	}
	r := entitlement.Evaluate(entitlement.Input{
		Now: now, LicenseeSuspended: l.Spec.Suspended, Licenses: inputs, Trials: l.Status.Trials,
	})
	e := &evaluation{licensee: l, result: r}
	e.claims = entitlement.BuildClaims(entitlement.ClaimsMeta{
		Namespace: l.Namespace, Product: c.product, ProductDisplayName: c.productObj.Spec.DisplayName,
		Licensee: l.Name, LicenseeUID: string(l.UID), LicenseeDisplayName: l.Spec.DisplayName, ExternalID: l.Spec.ExternalID,
	}, r, now, "")
	return e
}

// evaluationKey is everything an evaluation depends on: the Licensee (spec and
// status), its Product (features, display name), its templates, and the second.
type evaluationKey struct {
	licensee                        types.UID
	licenseeVersion, productVersion string
	templateVersions                string // in spec order; "-" for a missing one
	second                          int64
}

// evaluations keeps the latest evaluation of each Licensee.
type evaluations struct {
	latest *memo[client.ObjectKey, keyedEvaluation]
}

type keyedEvaluation struct {
	key evaluationKey
	e   *evaluation
}

// maxEvaluations bounds the memo; past it, it starts again empty.
const maxEvaluations = 8192

func (m evaluations) get(id client.ObjectKey, key evaluationKey) (*evaluation, bool) {
	hit, ok := m.latest.get(id)
	return hit.e, ok && hit.key == key
}

func (m evaluations) put(id client.ObjectKey, key evaluationKey, e *evaluation) {
	m.latest.put(id, keyedEvaluation{key: key, e: e})
}

// grant is the license named name, if it can be issued.
func (e *evaluation) grant(name string) (license.Grant, bool) {
	i := slices.IndexFunc(e.claims.Licenses, func(g license.Grant) bool { return g.Name == name })
	if i < 0 {
		return license.Grant{}, false
	}
	return e.claims.Licenses[i], true
}

// entitling checks that license name exists and entitles at now, for the calls
// that take a seat or an activation; the problem says why not.
func (e *evaluation) entitling(name string, now time.Time) (license.Grant, *problem) {
	g, ok := e.grant(name)
	if !ok {
		if slices.ContainsFunc(e.licensee.Spec.Licenses, func(l licensingv1alpha1.LicenseSpec) bool { return l.Name == name }) {
			return g, newProblem(http.StatusForbidden, license.CodeMalformed, "license %s of Licensee %s cannot be evaluated (see the Licensee's Ready condition)", name, e.licensee.Name)
		}
		return g, newProblem(http.StatusNotFound, license.CodeNotFound, "Licensee %s has no license %q", e.licensee.Name, clip(name))
	}
	if state := e.claims.GrantState(g, now); !state.Entitling() {
		return g, newProblem(http.StatusForbidden, state, "license %s is %s now; only a license that entitles can take seats or activations", name, state)
	}
	return g, nil
}

// verdict is the answer of /v1/validate for req at now.
func (e *evaluation) verdict(req *license.ValidateRequest, activated func(license string) bool, now time.Time) *license.Verdict {
	c := e.claims
	v := &license.Verdict{
		Licensee: c.Licensee,
		Product:  c.Product,
		Licenses: []license.LicenseStatus{},
		Nonce:    req.Nonce,
		Time:     now,
	}
	for _, l := range e.result.Licenses {
		if req.License != "" && l.Name != req.License {
			continue
		}
		v.Licenses = append(v.Licenses, e.licenseStatus(l, now))
	}
	// The grants that count for this request: the one asked for, and with a
	// fingerprint, node-locked licenses only where it is activated.
	var grants []license.Grant
	mismatch := false
	for _, g := range c.Licenses {
		if req.License != "" && g.Name != req.License {
			continue
		}
		if req.Fingerprint != "" && g.MaxActivations > 0 && !activated(g.Name) {
			if c.GrantState(g, now).Entitling() {
				mismatch = true
			}
			continue
		}
		grants = append(grants, g)
	}
	c.Licenses = grants
	v.Features, v.Quotas = c.FeaturesAt(now), c.QuotasAt(now)
	if v.Features == nil {
		v.Features = []string{}
	}
	state := c.State(now)
	switch {
	case len(grants) == 0 && mismatch:
		v.Code, v.Message = license.CodeFingerprintMismatch, fmt.Sprintf("fingerprint %q is not activated for a license that entitles; activate it (POST /v1/activations)", clip(req.Fingerprint))
	case len(grants) == 0 && req.License != "":
		v.Code, v.Message = license.CodeExpired, fmt.Sprintf("license %s cannot be evaluated (see the Licensee's Ready condition)", req.License)
	case len(grants) == 0:
		v.Code, v.Message = license.CodeRevoked, "the licensee holds no usable license now: "+e.result.LicensedMessage
	case !state.Entitling():
		v.Code, v.Message = state, e.result.LicensedMessage
	case req.Feature != "" && !slices.Contains(v.Features, req.Feature):
		v.Code, v.Message = license.CodeFeatureNotEntitled, fmt.Sprintf("feature %q is not granted by a license that entitles now", clip(req.Feature))
	default:
		v.Valid, v.Code, v.Message = true, state, e.result.LicensedMessage
	}
	return v
}

// licenseStatus is one license of the verdict.
func (e *evaluation) licenseStatus(l entitlement.License, now time.Time) license.LicenseStatus {
	u := e.usage[l.Name]
	st := license.LicenseStatus{
		Name: l.Name, Template: l.Template, Type: string(l.Type), Message: l.Message,
		StartsAt: utcPtr(l.StartsAt), ValidUntil: utcPtr(l.ValidUntil), GraceUntil: utcPtr(l.GraceUntil),
		Features: l.Features, Quotas: l.Quotas,
		Seats: l.Seats, SeatsInUse: u.SeatsInUse, MaxActivations: l.MaxActivations, Activations: u.Activations,
	}
	if g, ok := e.grant(l.Name); ok {
		st.State = e.claims.GrantState(g, now)
	} else {
		st.State = license.CodeMalformed // not issuable: its template is missing or wrong
	}
	if st.Features == nil {
		st.Features = []string{}
	}
	if st.Quotas == nil {
		st.Quotas = map[string]int64{}
	}
	return st
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// revokedVerdict answers /v1/validate for a token whose Licensee is gone.
func revokedVerdict(c *caller, req *license.ValidateRequest, now time.Time) *license.Verdict {
	return &license.Verdict{
		Code: license.CodeRevoked, Message: c.revoked + "; the license is revoked",
		Licensee: license.LicenseeInfo{Name: c.claims.Licensee.Name}, Product: c.claims.Product,
		Licenses: []license.LicenseStatus{}, Features: []string{}, Quotas: map[string]int64{},
		Nonce: req.Nonce, Time: now,
	}
}
