package entitlement

import (
	"fmt"
	"slices"
	"strings"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

// TemplateProblem says why template t does not fit the catalogue of Product p
// (reason UnknownFeature or UnknownQuota), or returns "" when it fits.
func TemplateProblem(t *v1alpha1.LicenseTemplateSpec, p *v1alpha1.ProductSpec) (reason, message string) {
	if unknown := unknownFeatures(t.Features, p); len(unknown) > 0 {
		return v1alpha1.ReasonUnknownFeature, fmt.Sprintf("spec.features names %s, not declared in Product spec.features; declare it there or remove it", quoteList(unknown))
	}
	if unknown := unknownQuotas(t.Quotas, p); len(unknown) > 0 {
		return v1alpha1.ReasonUnknownQuota, fmt.Sprintf("spec.quotas names %s, not declared in Product spec.quotas; declare it there or remove it", quoteList(unknown))
	}
	return "", ""
}

// LicenseProblem is why license spec cannot be issued from template t of
// product, or "". The Licensee controller and the license API both ask it, so
// a license the operator would not issue is never granted online either.
func LicenseProblem(spec v1alpha1.LicenseSpec, t *v1alpha1.LicenseTemplate, product *v1alpha1.Product) string {
	if t.Spec.ProductRef.Name != product.Name {
		return fmt.Sprintf("LicenseTemplate %s is for Product %s, not %s; use a template of %s", t.Name, t.Spec.ProductRef.Name, product.Name, product.Name)
	}
	p := &product.Spec
	if _, msg := TemplateProblem(&t.Spec, p); msg != "" {
		return "LicenseTemplate " + t.Name + ": " + msg
	}
	if spec.Features != nil {
		if unknown := unknownFeatures(spec.Features.Add, p); len(unknown) > 0 {
			return fmt.Sprintf("features.add names %s, not declared in the Product; declare it there or remove it", quoteList(unknown))
		}
	}
	if unknown := unknownQuotas(spec.Quotas, p); len(unknown) > 0 {
		return fmt.Sprintf("quotas names %s, not declared in the Product; declare it there or remove it", quoteList(unknown))
	}
	return ""
}

func unknownFeatures(names []v1alpha1.FeatureName, p *v1alpha1.ProductSpec) []string {
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(p.Features, func(f v1alpha1.FeatureDefinition) bool { return f.Name == n }) {
			unknown = append(unknown, string(n))
		}
	}
	return unknown
}

func unknownQuotas(quotas v1alpha1.QuotaMap, p *v1alpha1.ProductSpec) []string {
	var unknown []string
	for n := range quotas {
		if !slices.ContainsFunc(p.Quotas, func(q v1alpha1.QuotaDefinition) bool { return string(q.Name) == n }) {
			unknown = append(unknown, n)
		}
	}
	slices.Sort(unknown)
	return unknown
}

func quoteList(names []string) string {
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(quoted, ", ")
}
