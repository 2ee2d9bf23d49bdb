package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
	"github.com/kubelicense/kubelicense/internal/issuance"
)

// Distribution's decisions are pure: which namespaces are targets and why not,
// and the conditions they make; these tests need no cluster.

func distributingLicensee(d *licensingv1alpha1.DistributionSpec) *licensingv1alpha1.Licensee {
	return &licensingv1alpha1.Licensee{
		ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: "globex", Generation: 2},
		Spec: licensingv1alpha1.LicenseeSpec{
			ProductRef:   licensingv1alpha1.LocalObjectReference{Name: "acme-db"},
			Distribution: d,
		},
	}
}

func ns(name string, labels ...string) *namespaceInfo {
	n := &namespaceInfo{name: name, labels: map[string]string{}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.labels[labels[i]] = labels[i+1]
	}
	return n
}

const acceptFrom = licensingv1alpha1.LabelAcceptFrom

// targetsOf renders targets as "namespace=deliver" or "namespace=<reason>".
func targetsOf(targets []distributionTarget) string {
	var out []string
	for _, t := range targets {
		if t.deliver {
			out = append(out, t.namespace+"=deliver")
		} else {
			out = append(out, t.namespace+"="+issueReasons[t.issue])
		}
	}
	return strings.Join(out, " ")
}

func TestPlanTargets(t *testing.T) {
	deleting := ns("leaving", acceptFrom, "licensing")
	deleting.deleting = true
	existing := []*namespaceInfo{
		ns("shop", acceptFrom, "licensing", "team", "payments"),
		ns("web"),
		ns("other", acceptFrom, "elsewhere", "team", "payments"),
		deleting,
		ns("licensing", acceptFrom, "licensing", "team", "payments"),
		ns("billing", acceptFrom, "licensing", "team", "payments"),
		ns("search", acceptFrom, "licensing", "team", "search"),
	}
	named := map[string]*namespaceInfo{}
	var accepting []*namespaceInfo
	for _, n := range existing {
		named[n.name] = n
		if n.labels[acceptFrom] == "licensing" {
			accepting = append(accepting, n)
		}
	}
	payments := &metav1.LabelSelector{MatchLabels: map[string]string{"team": "payments"}}
	tests := []struct {
		name         string
		spec         licensingv1alpha1.DistributionSpec
		want         string
		wantSelector string
	}{
		{name: "each named namespace is reported",
			spec: licensingv1alpha1.DistributionSpec{Namespaces: []licensingv1alpha1.NamespaceName{"web", "shop", "other", "ghost", "leaving", "licensing"}},
			want: "ghost=NamespaceNotFound leaving=NamespaceNotFound licensing=LicensingNamespace other=NamespaceNotOptedIn shop=deliver web=NamespaceNotOptedIn"},
		{name: "the selector picks among the namespaces that opted in",
			spec: licensingv1alpha1.DistributionSpec{NamespaceSelector: payments},
			want: "billing=deliver licensing=LicensingNamespace shop=deliver"},
		{name: "an empty selector picks every namespace that opted in",
			spec: licensingv1alpha1.DistributionSpec{NamespaceSelector: &metav1.LabelSelector{}},
			want: "billing=deliver leaving=NamespaceNotFound licensing=LicensingNamespace search=deliver shop=deliver"},
		{name: "named and selected together, once each",
			spec: licensingv1alpha1.DistributionSpec{Namespaces: []licensingv1alpha1.NamespaceName{"shop", "web"}, NamespaceSelector: payments},
			want: "billing=deliver licensing=LicensingNamespace shop=deliver web=NamespaceNotOptedIn"},
		{name: "a selector that does not parse picks nothing and says why",
			spec:         licensingv1alpha1.DistributionSpec{Namespaces: []licensingv1alpha1.NamespaceName{"shop"}, NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"team": "a b"}}},
			want:         "shop=deliver",
			wantSelector: licensingv1alpha1.ReasonInvalidNamespaceSelector},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := distributingLicensee(&tt.spec)
			targets, selectorProblem := planTargets(l, named, accepting)
			if got := targetsOf(targets); got != tt.want {
				t.Errorf("targets = %s, want %s", got, tt.want)
			}
			gotSelector := ""
			if selectorProblem != nil {
				gotSelector = selectorProblem.reason
			}
			if gotSelector != tt.wantSelector {
				t.Errorf("selector problem %q, want %q", gotSelector, tt.wantSelector)
			}
			// distributesTo is the same rule, asked of one namespace.
			for _, target := range targets {
				if got := distributesTo(l, named[target.namespace]); got != target.deliver {
					t.Errorf("distributesTo(%s) = %t, planTargets says deliver: %t", target.namespace, got, target.deliver)
				}
			}
		})
	}
}

func TestPlanTargetsSaysWhatToDo(t *testing.T) {
	l := distributingLicensee(&licensingv1alpha1.DistributionSpec{Namespaces: []licensingv1alpha1.NamespaceName{"web", "other", "ghost"}})
	targets, _ := planTargets(l, map[string]*namespaceInfo{"web": ns("web"), "other": ns("other", acceptFrom, "elsewhere")}, nil)
	want := map[string][]string{
		"ghost": {"does not exist", acceptFrom + "=licensing"},
		"other": {`accepts copies only from "elsewhere"`, acceptFrom + "=licensing"},
		"web":   {"has not opted in", acceptFrom + "=licensing"},
	}
	for _, target := range targets {
		for _, part := range want[target.namespace] {
			if !strings.Contains(target.message, part) {
				t.Errorf("message for %s = %q, want it to say %q", target.namespace, target.message, part)
			}
		}
	}
}

func TestDistributesToNeverWhileDeleted(t *testing.T) {
	l := distributingLicensee(&licensingv1alpha1.DistributionSpec{Namespaces: []licensingv1alpha1.NamespaceName{"shop"}})
	shop := ns("shop", acceptFrom, "licensing")
	if !distributesTo(l, shop) {
		t.Fatal("an opted-in named namespace is a target")
	}
	l.DeletionTimestamp = &metav1.Time{Time: time.Now()}
	if distributesTo(l, shop) {
		t.Error("a Licensee being deleted distributes nowhere")
	}
	if distributesTo(distributingLicensee(nil), shop) {
		t.Error("a Licensee without distribution distributes nowhere")
	}
}

func TestDistributionConditions(t *testing.T) {
	current := distributionTarget{namespace: "shop", deliver: true, secret: "globex-license", configMap: "acme-db-license-keys"}
	notFound := distributionTarget{namespace: "ghost", issue: issueNamespaceNotFound, message: "namespace ghost does not exist"}
	conflict := distributionTarget{namespace: "web", deliver: true, configMap: "acme-db-license-keys", issue: issueSecretConflict, message: "a Secret globex-license is in the way"}
	notOptedIn := distributionTarget{namespace: "app", issue: issueNotOptedIn, message: "namespace app has not opted in"}
	done := func(targets ...distributionTarget) *distributionResult {
		return &distributionResult{targets: targets, complete: true}
	}
	before := []metav1.Condition{
		{Type: licensingv1alpha1.ConditionDistributed, Status: metav1.ConditionFalse, Reason: licensingv1alpha1.ReasonNamespaceNotFound},
	}
	keyWait := newProblem(licensingv1alpha1.ReasonProductKeyUnavailable, "Product acme-db has no key")
	missing := newProblem(licensingv1alpha1.ReasonProductNotFound, "create Product acme-db")
	tests := []struct {
		name       string
		spec       *licensingv1alpha1.DistributionSpec
		scope      licenseeScope
		err        error
		want       string
		wantStatus string // namespace=current|reason, or "kept" when status.distribution must not change
		// wantUnobserved: observedGeneration must not move (also for a failed run)
		wantUnobserved bool
	}{
		{name: "every copy current", scope: licenseeScope{distribution: done(current)},
			want: "Distributed=True/Distributed Licensed=True/Valid Ready=True/Issued", wantStatus: "shop=current"},
		{name: "no target at all", scope: licenseeScope{distribution: done()},
			want: "Distributed=True/Distributed Licensed=True/Valid Ready=True/Issued"},
		{name: "a namespace to wait for is progress", scope: licenseeScope{distribution: done(current, notFound)},
			want:       "Distributed=False/NamespaceNotFound Licensed=True/Valid Ready=True/Issued Reconciling=True/NamespaceNotFound",
			wantStatus: "ghost=NamespaceNotFound shop=current"},
		{name: "the gravest problem is reported, and a person must act", scope: licenseeScope{distribution: done(notOptedIn, current, notFound, conflict)},
			want:       "Distributed=False/SecretConflict Licensed=True/Valid Ready=True/Issued Stalled=True/SecretConflict",
			wantStatus: "app=NamespaceNotOptedIn ghost=NamespaceNotFound shop=current web=SecretConflict"},
		{name: "a selector that does not parse", scope: licenseeScope{distribution: &distributionResult{complete: true,
			selectorProblem: newProblem(licensingv1alpha1.ReasonInvalidNamespaceSelector, "bad")}},
			want: "Distributed=False/InvalidNamespaceSelector Licensed=True/Valid Ready=True/Issued Stalled=True/InvalidNamespaceSelector"},
		{name: "waiting for the key and a blocked copy", scope: licenseeScope{waiting: keyWait, distribution: done(notOptedIn)},
			want:       "Distributed=False/NamespaceNotOptedIn Licensed=True/Valid Ready=False/ProductKeyUnavailable Reconciling=True/ProductKeyUnavailable Stalled=True/NamespaceNotOptedIn",
			wantStatus: "app=NamespaceNotOptedIn"},
		{name: "issuing stalled comes first, and hides waiting copies", scope: licenseeScope{stalled: missing, distribution: done(notFound, notOptedIn)},
			want:       "Distributed=False/NamespaceNotOptedIn Ready=False/ProductNotFound Stalled=True/ProductNotFound",
			wantStatus: "app=NamespaceNotOptedIn ghost=NamespaceNotFound"},
		{name: "a failed run says nothing new about copies", scope: licenseeScope{distribution: &distributionResult{targets: []distributionTarget{current}}}, err: errRun,
			want: "Distributed=False/NamespaceNotFound Licensed=True/Valid Ready=False/ReconcileError", wantStatus: "kept"},
		{name: "a failed run before the copies", scope: licenseeScope{}, err: errRun,
			want: "Distributed=False/NamespaceNotFound Licensed=True/Valid Ready=False/ReconcileError", wantStatus: "kept"},
		{name: "copies that fail are reported on Distributed, not Ready", scope: licenseeScope{distribution: &distributionResult{err: errRun}},
			want: "Distributed=False/ReconcileError Licensed=True/Valid Ready=True/Issued", wantStatus: "kept", wantUnobserved: true},
		{name: "a cache that lags a copy's write is looked at again", scope: licenseeScope{distribution: &distributionResult{retry: true}},
			want: "Distributed=False/NamespaceNotFound Licensed=True/Valid Ready=True/Issued", wantStatus: "kept", wantUnobserved: true},
		{name: "distribution removed and its copies gone", spec: &licensingv1alpha1.DistributionSpec{}, scope: licenseeScope{distribution: done()},
			want: "Licensed=True/Valid Ready=True/Issued"},
		{name: "never distributed", scope: licenseeScope{}, want: "Licensed=True/Valid Ready=True/Issued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := &licensingv1alpha1.DistributionSpec{Namespaces: []licensingv1alpha1.NamespaceName{"shop"}}
			if tt.spec != nil {
				spec = nil // removed
			}
			l := distributingLicensee(spec)
			l.Status.Serial, l.Status.KeyID = "s-1", "k-1"
			l.Status.Conditions = slices.Clone(before)
			kept := []licensingv1alpha1.DistributionStatus{{Namespace: "ghost", Reason: licensingv1alpha1.ReasonNamespaceNotFound}}
			l.Status.Distribution = slices.Clone(kept)
			s := tt.scope
			s.licensee = l
			if s.stalled == nil {
				s.product = &licensingv1alpha1.Product{}
				s.result = entitlement.Result{Licensed: true, LicensedReason: licensingv1alpha1.ReasonValid}
			}
			(&LicenseeReconciler{}).summarizeLicenseeStatus(&s, tt.err)

			if got := conditionsOf(l.Status.Conditions); got != tt.want {
				t.Errorf("conditions = %s\nwant         %s", got, tt.want)
			}
			if observed := l.Status.ObservedGeneration == l.Generation; observed != (tt.err == nil && !tt.wantUnobserved) {
				t.Errorf("observedGeneration moved: %t, want %t", observed, tt.err == nil && !tt.wantUnobserved)
			}
			var status []string
			for _, d := range l.Status.Distribution {
				if d.Current {
					status = append(status, d.Namespace+"=current")
				} else {
					status = append(status, d.Namespace+"="+d.Reason)
				}
			}
			slices.Sort(status) // planTargets sorts; these targets are given in any order
			if tt.wantStatus == "kept" {
				if !slices.Equal(l.Status.Distribution, kept) {
					t.Errorf("status.distribution = %v, want it kept as %v", l.Status.Distribution, kept)
				}
			} else if got := strings.Join(status, " "); got != tt.wantStatus {
				t.Errorf("status.distribution = %s, want %s", got, tt.wantStatus)
			}
		})
	}
}

func TestDistributedMessageIsBounded(t *testing.T) {
	res := &distributionResult{complete: true}
	for i := range 12 {
		name := fmt.Sprintf("app-%02d", i)
		res.targets = append(res.targets, distributionTarget{namespace: name, issue: issueNotOptedIn, message: "namespace " + name + " has not opted in"})
	}
	p := res.blockedProblem()
	if !strings.Contains(p.message, "app-07") || strings.Contains(p.message, "app-08") || !strings.Contains(p.message, "and 4 more namespaces") {
		t.Errorf("message names the first %d problems and counts the rest: %q", maxListedProblems, p.message)
	}
}

func TestCopyTampered(t *testing.T) {
	data := map[string][]byte{"license.jwt": []byte("a.b.c")}
	copyOf := func() *corev1.Secret {
		return &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Labels: map[string]string{
					licensingv1alpha1.LabelManaged: "true", licensingv1alpha1.LabelSourceNamespace: "licensing",
					licensingv1alpha1.LabelSourceLicensee: "globex", licensingv1alpha1.LabelSourceProduct: "acme-db",
				},
				Annotations: map[string]string{licensingv1alpha1.AnnotationDataHash: issuance.DataHash(data)},
			},
			Data: data,
		}
	}
	jwks := map[string]string{"jwks.json": `{"keys":[]}`}
	cmCopy := func() *corev1.ConfigMap {
		return &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{
				Labels:      configMapCopyLabels("licensing", "acme-db"),
				Annotations: map[string]string{licensingv1alpha1.AnnotationDataHash: configMapDataHash(jwks)},
			},
			Data: jwks,
		}
	}
	tests := []struct {
		name   string
		change func(s *corev1.Secret, c *corev1.ConfigMap)
		want   bool
	}{
		{"the operator's own consistent write", func(s *corev1.Secret, c *corev1.ConfigMap) {
			s.Data = map[string][]byte{"license.jwt": []byte("d.e.f")}
			s.Annotations[licensingv1alpha1.AnnotationDataHash] = issuance.DataHash(s.Data)
			c.Data = map[string]string{"jwks.json": `{"keys":[{}]}`}
			c.Annotations[licensingv1alpha1.AnnotationDataHash] = configMapDataHash(c.Data)
		}, false},
		{"another tool's annotation", func(s *corev1.Secret, c *corev1.ConfigMap) {
			s.Annotations["reloader"], c.Annotations["reloader"] = "x", "x"
		}, false},
		{"data edited by hand", func(s *corev1.Secret, c *corev1.ConfigMap) {
			s.Data = map[string][]byte{"license.jwt": []byte("forged")}
			c.Data = map[string]string{"jwks.json": "forged"}
		}, true},
		{"a source label removed", func(s *corev1.Secret, c *corev1.ConfigMap) {
			delete(s.Labels, licensingv1alpha1.LabelSourceProduct)
			delete(c.Labels, licensingv1alpha1.LabelSourceProduct)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := copyOf(), cmCopy()
			tt.change(s, c)
			if got := copyTampered.Update(event.UpdateEvent{ObjectOld: copyOf(), ObjectNew: s}); got != tt.want {
				t.Errorf("Secret copy: woken %t, want %t", got, tt.want)
			}
			if got := copyTampered.Update(event.UpdateEvent{ObjectOld: cmCopy(), ObjectNew: c}); got != tt.want {
				t.Errorf("ConfigMap copy: woken %t, want %t", got, tt.want)
			}
		})
	}
	source := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{licensingv1alpha1.LabelManaged: "true"}}, Data: data}
	if copyTampered.Update(event.UpdateEvent{ObjectOld: source, ObjectNew: source}) || copyTampered.Delete(event.DeleteEvent{Object: source}) {
		t.Error("an object that is not a copy never wakes the copy handler")
	}
	if !copyTampered.Delete(event.DeleteEvent{Object: copyOf()}) {
		t.Error("a deleted copy wakes the copy handler")
	}
}

func TestNamespaceChanged(t *testing.T) {
	base := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{acceptFrom: "licensing"}}}
	tests := []struct {
		name   string
		change func(m *metav1.PartialObjectMetadata)
		want   bool
	}{
		{"an annotation", func(m *metav1.PartialObjectMetadata) { m.Annotations = map[string]string{"a": "b"} }, false},
		{"opting out", func(m *metav1.PartialObjectMetadata) { m.Labels = nil }, true},
		{"another label", func(m *metav1.PartialObjectMetadata) { m.Labels["team"] = "payments" }, true},
		{"deletion starting", func(m *metav1.PartialObjectMetadata) { m.DeletionTimestamp = &metav1.Time{Time: time.Now()} }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			changed := base.DeepCopy()
			tt.change(changed)
			if got := namespaceChanged.Update(event.UpdateEvent{ObjectOld: base, ObjectNew: changed}); got != tt.want {
				t.Errorf("Licensees woken: %t, want %t", got, tt.want)
			}
		})
	}
}

func TestIsCopy(t *testing.T) {
	l := distributingLicensee(nil)
	mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "globex-license", Labels: secretCopyLabels(l)}}
	if !isSecretCopyOf(l)(mine) {
		t.Fatal("a Secret with this Licensee's source labels is its copy")
	}
	other := distributingLicensee(nil)
	other.Name = "hooli"
	if isSecretCopyOf(other)(mine) {
		t.Error("another Licensee's copy is not this one's")
	}
	controlled := mine.DeepCopy()
	controlled.OwnerReferences = []metav1.OwnerReference{{Name: "globex", UID: "u", Controller: ptr(true)}}
	if isSecretCopyOf(l)(controlled) {
		t.Error("an object a controller owns is never a copy, whatever its labels")
	}
	jwks := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "acme-db-license-keys", Labels: configMapCopyLabels("licensing", "acme-db")}}
	if !isJWKSCopyFrom("licensing")(jwks) || isJWKSCopyFrom("elsewhere")(jwks) {
		t.Error("a JWKS copy is one of the licensing namespace its label names")
	}
	renamed := jwks.DeepCopy()
	renamed.Name = "other-license-keys"
	if isJWKSCopyFrom("licensing")(renamed) {
		t.Error("a JWKS copy is named after the Product its label names")
	}
}
