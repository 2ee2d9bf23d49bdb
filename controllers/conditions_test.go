package controllers

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
)

// The set*Condition functions are pure: each test gives a scope as the phases
// leave it and reads the conditions, without a cluster.

// conditionsOf renders conditions as sorted "Type=Status/Reason" strings.
func conditionsOf(conds []metav1.Condition) string {
	var out []string
	for _, c := range conds {
		out = append(out, c.Type+"="+string(c.Status)+"/"+c.Reason)
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func conditionMessage(conds []metav1.Condition, t string) string {
	for _, c := range conds {
		if c.Type == t {
			return c.Message
		}
	}
	return ""
}

var errRun = errors.New(`secrets "x" is forbidden`)

func TestProductConditions(t *testing.T) {
	// A Product that was fine before this run.
	healthy := []metav1.Condition{
		{Type: licensingv1alpha1.ConditionKeyAvailable, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonKeyReady},
		{Type: licensingv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonReconciled},
	}
	// A Product whose key was lost before this run.
	lost := []metav1.Condition{
		{Type: licensingv1alpha1.ConditionKeyAvailable, Status: metav1.ConditionFalse, Reason: licensingv1alpha1.ReasonSigningKeyMissing},
		{Type: licensingv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: licensingv1alpha1.ReasonSigningKeyMissing},
		{Type: licensingv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonSigningKeyMissing},
	}
	keyProblem := newProblem(licensingv1alpha1.ReasonSecretNotFound, "create Secret vault-key")
	publishProblem := newProblem(licensingv1alpha1.ReasonConfigMapConflict, "rename ConfigMap acme-db-license-keys")
	tests := []struct {
		name            string
		before          []metav1.Condition
		key, publish    *problem
		err             error
		want            string
		wantObserved    bool
		wantReadyMessag string
	}{
		{name: "a clean run heals a lost key", before: lost,
			want: "KeyAvailable=True/KeyReady Ready=True/Reconciled", wantObserved: true,
			wantReadyMessag: "signing key k-1 is available; public keys published in ConfigMap acme-db-license-keys"},
		{name: "a key problem", before: healthy, key: keyProblem,
			want: "KeyAvailable=False/SecretNotFound Ready=False/SecretNotFound Stalled=True/SecretNotFound", wantObserved: true,
			wantReadyMessag: "create Secret vault-key"},
		{name: "a publishing problem leaves KeyAvailable as it was", before: healthy, publish: publishProblem,
			want: "KeyAvailable=True/KeyReady Ready=False/ConfigMapConflict Stalled=True/ConfigMapConflict", wantObserved: true},
		{name: "a publishing problem on the first run reports no key yet", publish: publishProblem,
			want: "Ready=False/ConfigMapConflict Stalled=True/ConfigMapConflict", wantObserved: true},
		{name: "a failed run reports its error and decides nothing else", before: lost, err: errRun,
			want: "KeyAvailable=False/SigningKeyMissing Ready=False/ReconcileError Stalled=True/SigningKeyMissing", wantObserved: false,
			wantReadyMessag: errRun.Error()},
		{name: "a failed run of a healthy Product", before: healthy, err: errRun,
			want: "KeyAvailable=True/KeyReady Ready=False/ReconcileError", wantObserved: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &licensingv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{Name: "acme-db", Generation: 2}}
			p.Status.ObservedGeneration = 1
			p.Status.SigningKeyID, p.Status.PublicKeysConfigMap = "k-1", "acme-db-license-keys"
			p.Status.Conditions = slices.Clone(tt.before)
			s := &productScope{product: p, keyProblem: tt.key, publishProblem: tt.publish}
			(&ProductReconciler{}).summarizeProductStatus(s, tt.err)

			if got := conditionsOf(p.Status.Conditions); got != tt.want {
				t.Errorf("conditions = %s, want %s", got, tt.want)
			}
			if observed := p.Status.ObservedGeneration == p.Generation; observed != tt.wantObserved {
				t.Errorf("observedGeneration moved: %t, want %t", observed, tt.wantObserved)
			}
			if tt.wantReadyMessag != "" {
				if got := conditionMessage(p.Status.Conditions, licensingv1alpha1.ConditionReady); got != tt.wantReadyMessag {
					t.Errorf("Ready message = %q, want %q", got, tt.wantReadyMessag)
				}
			}
		})
	}
}

func TestLicenseeConditions(t *testing.T) {
	issuedBefore := []metav1.Condition{
		{Type: licensingv1alpha1.ConditionLicensed, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonValid},
		{Type: licensingv1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonIssued},
	}
	waitingBefore := []metav1.Condition{
		{Type: licensingv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: licensingv1alpha1.ReasonProductKeyUnavailable},
		{Type: licensingv1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonProductKeyUnavailable},
		{Type: licensingv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonInvalidLicense},
	}
	valid := entitlement.Result{Licensed: true, LicensedReason: licensingv1alpha1.ReasonValid, LicensedMessage: "license main is valid"}
	expired := entitlement.Result{LicensedReason: licensingv1alpha1.ReasonExpired, LicensedMessage: "license main expired", Revoke: true}
	product := &licensingv1alpha1.Product{}
	conflict := newProblem(licensingv1alpha1.ReasonSecretConflict, "rename Secret globex-license")
	missing := newProblem(licensingv1alpha1.ReasonProductNotFound, "create Product acme-db")
	keyWait := newProblem(licensingv1alpha1.ReasonProductKeyUnavailable, "Product acme-db has no key")
	invalid := []string{"license ghost: LicenseTemplate missing does not exist"}
	tests := []struct {
		name             string
		before           []metav1.Condition
		scope            licenseeScope
		err              error
		want             string
		wantReadyMessage string
		wantNext         bool
	}{
		{name: "issued", before: waitingBefore, scope: licenseeScope{product: product, result: valid},
			want: "Licensed=True/Valid Ready=True/Issued", wantReadyMessage: "token s-1 signed by key k-1 is in Secret globex-license", wantNext: true},
		{name: "revoked", before: issuedBefore, scope: licenseeScope{product: product, result: expired},
			want: "Licensed=False/Expired Ready=True/Revoked", wantNext: true},
		{name: "Secret name taken", before: waitingBefore, scope: licenseeScope{product: product, result: valid, stalled: conflict},
			want: "Licensed=True/Valid Ready=False/SecretConflict Stalled=True/SecretConflict", wantReadyMessage: conflict.message},
		{name: "Product missing keeps Licensed", before: issuedBefore, scope: licenseeScope{stalled: missing},
			want: "Licensed=True/Valid Ready=False/ProductNotFound Stalled=True/ProductNotFound"},
		{name: "waiting for the Product's key", before: issuedBefore, scope: licenseeScope{product: product, result: valid, waiting: keyWait},
			want: "Licensed=True/Valid Ready=False/ProductKeyUnavailable Reconciling=True/ProductKeyUnavailable"},
		{name: "waiting for the key with an invalid license", before: issuedBefore, scope: licenseeScope{product: product, result: valid, waiting: keyWait, problems: invalid},
			want: "Licensed=True/Valid Ready=False/ProductKeyUnavailable Reconciling=True/ProductKeyUnavailable Stalled=True/InvalidLicense"},
		{name: "invalid licenses", before: waitingBefore, scope: licenseeScope{product: product, result: valid, problems: invalid},
			want: "Licensed=True/Valid Ready=False/InvalidLicense Stalled=True/InvalidLicense", wantReadyMessage: invalid[0], wantNext: true},
		{name: "a failed run", before: waitingBefore, scope: licenseeScope{product: product, result: valid}, err: errRun,
			want: "Licensed=True/Valid Ready=False/ReconcileError", wantReadyMessage: errRun.Error(), wantNext: true},
		{name: "a failed run with an invalid license", before: issuedBefore, scope: licenseeScope{product: product, result: valid, problems: invalid}, err: errRun,
			want: "Licensed=True/Valid Ready=False/ReconcileError Stalled=True/InvalidLicense", wantNext: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Name: "globex", Generation: 2}}
			l.Status.Serial, l.Status.KeyID = "s-1", "k-1"
			l.Status.Conditions = slices.Clone(tt.before)
			s := tt.scope
			s.licensee = l
			// A period that ends later: a run that is not held up schedules it.
			s.result.Now = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
			s.result.Licenses = []entitlement.License{{Name: "main", State: licensingv1alpha1.LicenseStateValid, StartsAt: ptr(s.result.Now), ValidUntil: ptr(s.result.Now.AddDate(0, 1, 0))}}
			next := (&LicenseeReconciler{}).summarizeLicenseeStatus(&s, tt.err)

			if got := conditionsOf(l.Status.Conditions); got != tt.want {
				t.Errorf("conditions = %s, want %s", got, tt.want)
			}
			if tt.wantReadyMessage != "" {
				if got := conditionMessage(l.Status.Conditions, licensingv1alpha1.ConditionReady); got != tt.wantReadyMessage {
					t.Errorf("Ready message = %q, want %q", got, tt.wantReadyMessage)
				}
			}
			if (next != nil) != tt.wantNext {
				t.Errorf("next check %v, want one: %t (none while issuing is held up)", next, tt.wantNext)
			}
			if observed := l.Status.ObservedGeneration == l.Generation; observed != (tt.err == nil) {
				t.Errorf("observedGeneration moved: %t, want %t", observed, tt.err == nil)
			}
		})
	}
}

func TestLicenseTemplateConditions(t *testing.T) {
	stalled := []metav1.Condition{
		{Type: licensingv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: licensingv1alpha1.ReasonUnknownFeature},
		{Type: licensingv1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: licensingv1alpha1.ReasonUnknownFeature},
	}
	catalogue := &licensingv1alpha1.ProductSpec{
		Features: []licensingv1alpha1.FeatureDefinition{{Name: "replication"}},
		Quotas:   []licensingv1alpha1.QuotaDefinition{{Name: "nodes"}},
	}
	tests := []struct {
		name string
		spec licensingv1alpha1.LicenseTemplateSpec
		want string
	}{
		{name: "fits", spec: licensingv1alpha1.LicenseTemplateSpec{Features: []licensingv1alpha1.FeatureName{"replication"}, Quotas: licensingv1alpha1.QuotaMap{"nodes": 3}},
			want: "Ready=True/Reconciled"},
		{name: "unknown feature", spec: licensingv1alpha1.LicenseTemplateSpec{Features: []licensingv1alpha1.FeatureName{"sharding"}},
			want: "Ready=False/UnknownFeature Stalled=True/UnknownFeature"},
		{name: "unknown quota", spec: licensingv1alpha1.LicenseTemplateSpec{Quotas: licensingv1alpha1.QuotaMap{"cores": 3}},
			want: "Ready=False/UnknownQuota Stalled=True/UnknownQuota"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl := &licensingv1alpha1.LicenseTemplate{Spec: tt.spec}
			tmpl.Status.Conditions = slices.Clone(stalled)
			prob := templateFitsProduct(&tmpl.Spec, catalogue)
			setTemplateReadyCondition(tmpl, prob)
			setTemplateStalledCondition(tmpl, prob)
			if got := conditionsOf(tmpl.Status.Conditions); got != tt.want {
				t.Errorf("conditions = %s, want %s", got, tt.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
