package controllers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/issuance"
)

// Distribution copies a Licensee's license Secret and its Product's JWKS
// ConfigMap into the application namespaces that spec.distribution names or
// selects and that opted in (label licensing.kubelicense.io/accept-from=<the
// Licensee's namespace>). Copies cannot be owned across namespaces, so they are
// found by their source labels and removed by the controller, on deletion
// through the distribution finalizer. See docs/design.md.

// Writing copies into any namespace needs cluster-wide write and delete on
// Secrets and ConfigMaps; the opt-in label is checked here, since RBAC cannot
// make a write depend on a label of the namespace. Namespaces are read as
// metadata only. The finalizer that removes the copies is patched onto the
// Licensee itself, hence patch on licensees.
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=licensees,verbs=patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;list;watch;create;update;patch;delete

// indexDistributionNamespaces indexes Licensees by the namespaces
// spec.distribution names, so a namespace event finds them cluster-wide.
const indexDistributionNamespaces = "spec.distribution.namespaces"

// maxListedProblems bounds how many namespaces a condition message names.
const maxListedProblems = 8

// copyAnnotations are the license Secret's annotations a copy carries. The
// licensee annotation is left out: a Licensee of the same name in the target
// namespace must see the copy as a Secret it does not manage, not as its own.
var copyAnnotations = []string{
	licensingv1alpha1.AnnotationProduct, licensingv1alpha1.AnnotationSerial, licensingv1alpha1.AnnotationKeyID,
	licensingv1alpha1.AnnotationIssuedAt, licensingv1alpha1.AnnotationExpiresAt, licensingv1alpha1.AnnotationDataHash,
}

// targetIssue is why a target namespace does not hold current copies; the
// order is severity: the condition reports the gravest.
type targetIssue int

const (
	issueNone targetIssue = iota
	// Waiting: the Licensee is woken when it resolves.
	issueSourceNotReady
	issueNamespaceNotFound
	// Blocked: a person must act.
	issueLicensingNamespace
	issueNotOptedIn
	issueConfigMapConflict
	issueSecretConflict
)

var issueReasons = map[targetIssue]string{
	issueSourceNotReady:     licensingv1alpha1.ReasonSourceNotReady,
	issueNamespaceNotFound:  licensingv1alpha1.ReasonNamespaceNotFound,
	issueLicensingNamespace: licensingv1alpha1.ReasonLicensingNamespace,
	issueNotOptedIn:         licensingv1alpha1.ReasonNamespaceNotOptedIn,
	issueConfigMapConflict:  licensingv1alpha1.ReasonConfigMapConflict,
	issueSecretConflict:     licensingv1alpha1.ReasonSecretConflict,
}

func (i targetIssue) blocked() bool { return i >= issueLicensingNamespace }

// namespaceInfo is what distribution reads of a Namespace: its metadata.
type namespaceInfo struct {
	name     string
	labels   map[string]string
	deleting bool
}

func namespaceInfoOf(m *metav1.PartialObjectMetadata) *namespaceInfo {
	return &namespaceInfo{name: m.Name, labels: m.Labels, deleting: m.DeletionTimestamp != nil}
}

// distributionTarget is one namespace that spec.distribution names or selects.
type distributionTarget struct {
	namespace string
	// deliver: the namespace opted in; copies go there.
	deliver bool
	// secret and configMap name the copies there after this run.
	secret, configMap string
	issue             targetIssue
	message           string
}

// distributionResult is what reconcileDistribution found.
type distributionResult struct {
	targets []distributionTarget
	// selectorProblem: spec.distribution.namespaceSelector does not parse.
	selectorProblem *problem
	// complete: the phase ran to its end. Otherwise err says why (reported on
	// Distributed, not Ready: the license itself is issued), or retry that the
	// cache lagged a write and the Licensee is looked at again shortly.
	complete bool
	err      error
	retry    bool
}

// settled: nothing about copies is left to retry (also without distribution).
func (res *distributionResult) settled() bool { return res == nil || res.err == nil && !res.retry }

// distributionSources are the objects copied: nil when not there to copy.
type distributionSources struct {
	secret *corev1.Secret
	jwks   *corev1.ConfigMap
}

// planTargets lists the namespaces spec.distribution names (each reported,
// whatever its state) and those its selector picks among the ones that opted
// in, and says for each whether copies go there or why not. named holds the
// named namespaces that exist; accepting, the namespaces that accept from the
// Licensee's namespace.
func planTargets(l *licensingv1alpha1.Licensee, named map[string]*namespaceInfo, accepting []*namespaceInfo) ([]distributionTarget, *problem) {
	d := l.Spec.Distribution
	byName := map[string]distributionTarget{}
	for _, n := range d.Namespaces {
		byName[string(n)] = classifyTarget(l.Namespace, string(n), named[string(n)])
	}
	var selectorProblem *problem
	if d.NamespaceSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(d.NamespaceSelector)
		if err != nil {
			selectorProblem = newProblem(licensingv1alpha1.ReasonInvalidNamespaceSelector, "spec.distribution.namespaceSelector is not a valid label selector: %v", err)
		} else {
			for _, ns := range accepting {
				if _, listed := byName[ns.name]; !listed && sel.Matches(labels.Set(ns.labels)) {
					byName[ns.name] = classifyTarget(l.Namespace, ns.name, ns)
				}
			}
		}
	}
	targets := slices.Collect(maps.Values(byName))
	slices.SortFunc(targets, func(a, b distributionTarget) int { return cmp.Compare(a.namespace, b.namespace) })
	return targets, selectorProblem
}

// classifyTarget decides whether namespace name (nil ns: it does not exist)
// receives copies from the licensing namespace source.
func classifyTarget(source, name string, ns *namespaceInfo) distributionTarget {
	t := distributionTarget{namespace: name}
	optIn := licensingv1alpha1.LabelAcceptFrom + "=" + source
	switch {
	case name == source:
		t.issue = issueLicensingNamespace
		t.message = fmt.Sprintf("namespace %s is the Licensee's own: it holds the originals and never receives copies; remove it from spec.distribution", name)
	case ns == nil:
		t.issue = issueNamespaceNotFound
		t.message = fmt.Sprintf("namespace %s does not exist; it receives copies once it is created with the label %s", name, optIn)
	case ns.deleting:
		t.issue = issueNamespaceNotFound
		t.message = fmt.Sprintf("namespace %s is being deleted", name)
	case ns.labels[licensingv1alpha1.LabelAcceptFrom] == "":
		t.issue = issueNotOptedIn
		t.message = fmt.Sprintf("namespace %s has not opted in: its owner labels it %s to receive copies", name, optIn)
	case ns.labels[licensingv1alpha1.LabelAcceptFrom] != source:
		t.issue = issueNotOptedIn
		t.message = fmt.Sprintf("namespace %s accepts copies only from %q; its owner labels it %s to receive these", name, ns.labels[licensingv1alpha1.LabelAcceptFrom], optIn)
	default:
		t.deliver = true
	}
	return t
}

// distributesTo tells whether l wants copies in ns now: the rule planTargets
// applies, for one Licensee and one namespace.
func distributesTo(l *licensingv1alpha1.Licensee, ns *namespaceInfo) bool {
	d := l.Spec.Distribution
	if d == nil || l.DeletionTimestamp != nil || ns == nil || ns.deleting || ns.name == l.Namespace ||
		ns.labels[licensingv1alpha1.LabelAcceptFrom] != l.Namespace {
		return false
	}
	if slices.Contains(d.Namespaces, licensingv1alpha1.NamespaceName(ns.name)) {
		return true
	}
	if d.NamespaceSelector == nil {
		return false
	}
	sel, err := metav1.LabelSelectorAsSelector(d.NamespaceSelector)
	return err == nil && sel.Matches(labels.Set(ns.labels))
}

// reconcileDistribution makes every target namespace that opted in hold
// copies of the license Secret and the Product's JWKS, and removes the copies
// no longer wanted: from namespaces that left spec, stopped matching or opted
// out, of an older Secret name, or all of them when distribution is removed
// or the Licensee deleted. Copies are never written over an object that is
// not a copy from this source. A Licensee never distributed skips all of it.
//
// Its failures are kept in s.distribution, not returned: issuing, which ran
// before, still gets its status written (a renewal must be acknowledged).
func (r *LicenseeReconciler) reconcileDistribution(ctx context.Context, s *licenseeScope) {
	l := s.licensee
	if l.Spec.Distribution == nil && !controllerutil.ContainsFinalizer(l, licensingv1alpha1.FinalizerDistribution) {
		return // copies are only written once the finalizer is on
	}
	res := &distributionResult{}
	s.distribution = res
	switch err := r.distribute(ctx, s, res); {
	case errors.Is(err, errNotYetCached):
		res.retry = true
	case err != nil:
		res.err = err
	default:
		res.complete = true
	}
}

func (r *LicenseeReconciler) distribute(ctx context.Context, s *licenseeScope, res *distributionResult) error {
	l := s.licensee
	wanted := l.Spec.Distribution != nil && l.DeletionTimestamp == nil
	if wanted {
		named, accepting, err := r.readNamespaces(ctx, l)
		if err != nil {
			return err
		}
		res.targets, res.selectorProblem = planTargets(l, named, accepting)
		if err := r.setDistributionFinalizer(ctx, l, true); err != nil {
			return err
		}
		src, err := r.distributionSources(ctx, s)
		if err != nil {
			return err
		}
		for i := range res.targets {
			if res.targets[i].deliver {
				if err := r.deliverCopies(ctx, l, src, &res.targets[i]); err != nil {
					return err
				}
			}
		}
	}
	if err := r.removeUnwantedCopies(ctx, l, res.targets); err != nil {
		return err
	}
	if !wanted && l.DeletionTimestamp == nil {
		return r.setDistributionFinalizer(ctx, l, false)
	}
	return nil
}

// finalizeDistribution removes every copy of a Licensee being deleted, then
// lets it go. Copies in a namespace that is gone are gone with it.
func (r *LicenseeReconciler) finalizeDistribution(ctx context.Context, l *licensingv1alpha1.Licensee) error {
	if err := r.removeUnwantedCopies(ctx, l, nil); err != nil {
		return err
	}
	return r.setDistributionFinalizer(ctx, l, false)
}

// setDistributionFinalizer adds or removes the finalizer with a patch of its
// own at l's resourceVersion, leaving l as read: the status patch that follows
// diffs against l. A conflict means the cache lags; the Licensee is looked at
// again shortly.
func (r *LicenseeReconciler) setDistributionFinalizer(ctx context.Context, l *licensingv1alpha1.Licensee, want bool) error {
	if controllerutil.ContainsFinalizer(l, licensingv1alpha1.FinalizerDistribution) == want {
		return nil
	}
	patched := &licensingv1alpha1.Licensee{ObjectMeta: *l.ObjectMeta.DeepCopy()}
	base := patched.DeepCopy()
	if want {
		controllerutil.AddFinalizer(patched, licensingv1alpha1.FinalizerDistribution)
	} else {
		controllerutil.RemoveFinalizer(patched, licensingv1alpha1.FinalizerDistribution)
	}
	err := r.Patch(ctx, patched, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{}))
	switch {
	case apierrors.IsConflict(err):
		return errNotYetCached
	case apierrors.IsNotFound(err) && !want:
		return nil
	case err != nil:
		return fmt.Errorf("set finalizer %s on Licensee %s: %w", licensingv1alpha1.FinalizerDistribution, l.Name, err)
	}
	return nil
}

// readNamespaces reads, as metadata from the cache, the namespaces l names and
// those that accept copies from l's namespace (the selector picks among them).
func (r *LicenseeReconciler) readNamespaces(ctx context.Context, l *licensingv1alpha1.Licensee) (map[string]*namespaceInfo, []*namespaceInfo, error) {
	named := map[string]*namespaceInfo{}
	for _, n := range l.Spec.Distribution.Namespaces {
		ns, err := r.namespace(ctx, string(n))
		if err != nil {
			return nil, nil, err
		}
		if ns != nil {
			named[string(n)] = ns
		}
	}
	var accepting []*namespaceInfo
	if l.Spec.Distribution.NamespaceSelector != nil {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("NamespaceList"))
		if err := r.List(ctx, list, client.MatchingLabels{licensingv1alpha1.LabelAcceptFrom: l.Namespace}); err != nil {
			return nil, nil, fmt.Errorf("list namespaces that accept copies from %s: %w", l.Namespace, err)
		}
		for i := range list.Items {
			accepting = append(accepting, namespaceInfoOf(&list.Items[i]))
		}
	}
	return named, accepting, nil
}

// namespace reads one Namespace's metadata from the cache; nil when it does not exist.
func (r *LicenseeReconciler) namespace(ctx context.Context, name string) (*namespaceInfo, error) {
	m := namespaceMetadata()
	if err := r.Get(ctx, client.ObjectKey{Name: name}, m); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get namespace %s: %w", name, err)
	}
	return namespaceInfoOf(m), nil
}

func namespaceMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return m
}

// distributionSources are the license Secret as this run left it (or, when
// the run did not reach it, as the cache has it and only if it is this
// Licensee's) and the Product's JWKS ConfigMap.
func (r *LicenseeReconciler) distributionSources(ctx context.Context, s *licenseeScope) (distributionSources, error) {
	l := s.licensee
	src := distributionSources{secret: s.secret}
	if src.secret == nil {
		sec := &corev1.Secret{}
		err := r.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: l.LicenseSecretName()}, sec)
		switch {
		case err == nil && sec.Type == licensingv1alpha1.SecretTypeLicense && sec.Annotations[licensingv1alpha1.AnnotationLicensee] == l.Name:
			src.secret = sec
		case err != nil && !apierrors.IsNotFound(err):
			return src, fmt.Errorf("get license Secret %s: %w", l.LicenseSecretName(), err)
		}
	}
	product := l.Spec.ProductRef.Name
	cm := &corev1.ConfigMap{}
	err := r.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: licensingv1alpha1.PublicKeysConfigMapName(product)}, cm)
	switch {
	case err == nil && cm.Labels[licensingv1alpha1.LabelProduct] == product && cm.Labels[licensingv1alpha1.LabelSourceNamespace] == "":
		src.jwks = cm
	case err != nil && !apierrors.IsNotFound(err):
		return src, fmt.Errorf("get public keys of Product %s: %w", product, err)
	}
	return src, nil
}

// secretCopyLabels name the source of l's license Secret copies; the first
// two decide whether a Secret is one (see isCopyFor).
func secretCopyLabels(l *licensingv1alpha1.Licensee) map[string]string {
	return map[string]string{
		licensingv1alpha1.LabelManaged:         "true",
		licensingv1alpha1.LabelSourceNamespace: l.Namespace,
		licensingv1alpha1.LabelSourceLicensee:  l.Name,
		licensingv1alpha1.LabelSourceProduct:   l.Spec.ProductRef.Name,
	}
}

// configMapCopyLabels name the source of a JWKS copy: the licensing namespace
// and the Product, shared by every Licensee of that Product there.
func configMapCopyLabels(source, product string) map[string]string {
	return map[string]string{
		licensingv1alpha1.LabelManaged:         "true",
		licensingv1alpha1.LabelSourceNamespace: source,
		licensingv1alpha1.LabelSourceProduct:   product,
	}
}

// isSecretCopyOf tells whether obj is a copy of l's license Secret.
func isSecretCopyOf(l *licensingv1alpha1.Licensee) func(client.Object) bool {
	return func(obj client.Object) bool {
		lb := obj.GetLabels()
		return isCopy(obj) && lb[licensingv1alpha1.LabelSourceNamespace] == l.Namespace && lb[licensingv1alpha1.LabelSourceLicensee] == l.Name
	}
}

// isJWKSCopyFrom tells whether obj is a JWKS copy from namespace source
// (of the Product its name is for).
func isJWKSCopyFrom(source string) func(client.Object) bool {
	return func(obj client.Object) bool {
		lb := obj.GetLabels()
		return isCopy(obj) && lb[licensingv1alpha1.LabelSourceNamespace] == source &&
			licensingv1alpha1.PublicKeysConfigMapName(lb[licensingv1alpha1.LabelSourceProduct]) == obj.GetName()
	}
}

// isCopy: managed, and owned by no controller. An object something else
// controls (a Product's JWKS, which that Product's controller takes over when
// the namespace is a licensing namespace too) is never a copy, whatever its
// labels say, so the two never fight over it.
func isCopy(obj client.Object) bool {
	return obj.GetLabels()[licensingv1alpha1.LabelManaged] == "true" && metav1.GetControllerOf(obj) == nil
}

// deliverCopies writes both copies into target t and records the outcome in t.
// A missing source leaves the copy of it as it is: an application keeps the
// last license it had while the operator cannot issue.
func (r *LicenseeReconciler) deliverCopies(ctx context.Context, l *licensingv1alpha1.Licensee, src distributionSources, t *distributionTarget) error {
	secretName := l.LicenseSecretName()
	cmName := licensingv1alpha1.PublicKeysConfigMapName(l.Spec.ProductRef.Name)
	var secretConflict, cmConflict bool
	if src.secret != nil {
		placed, err := r.writeSecretCopy(ctx, l, secretCopy(l, t.namespace, src.secret), src.secret)
		if err != nil {
			return err
		}
		secretConflict = !placed
	}
	if src.jwks != nil {
		placed, err := r.writeConfigMapCopy(ctx, l, configMapCopy(l, t.namespace, src.jwks))
		if err != nil {
			return err
		}
		cmConflict = !placed
	}
	// Where a source is missing, status names the copy still there, if any.
	if src.secret != nil && !secretConflict || src.secret == nil && r.has(ctx, &corev1.Secret{}, t.namespace, secretName, isSecretCopyOf(l)) {
		t.secret = secretName
	}
	if src.jwks != nil && !cmConflict || src.jwks == nil && r.has(ctx, &corev1.ConfigMap{}, t.namespace, cmName, isJWKSCopyFrom(l.Namespace)) {
		t.configMap = cmName
	}

	notMine := "that is not a copy from this Licensee already exists in namespace %s; it is never overwritten: delete or rename it, or take the namespace out of spec.distribution"
	switch {
	case secretConflict && cmConflict:
		t.issue = issueSecretConflict
		t.message = fmt.Sprintf("a Secret %s and a ConfigMap %s "+notMine, secretName, cmName, t.namespace)
	case secretConflict:
		t.issue = issueSecretConflict
		t.message = fmt.Sprintf("a Secret %s "+notMine, secretName, t.namespace)
	case cmConflict:
		t.issue = issueConfigMapConflict
		t.message = fmt.Sprintf("a ConfigMap %s "+notMine, cmName, t.namespace)
	case src.secret == nil:
		t.issue = issueSourceNotReady
		t.message = fmt.Sprintf("namespace %s: the license Secret %s is not issued yet (see condition Ready)", t.namespace, secretName)
	case src.jwks == nil:
		t.issue = issueSourceNotReady
		t.message = fmt.Sprintf("namespace %s: the Product's public keys (ConfigMap %s) are not published yet", t.namespace, cmName)
	}
	return nil
}

// has tells whether the cache holds a copy at namespace/name that isOurs accepts.
func (r *LicenseeReconciler) has(ctx context.Context, obj client.Object, namespace, name string, isOurs func(client.Object) bool) bool {
	return r.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, obj) == nil && isOurs(obj)
}

// secretCopy is the copy of src that namespace should hold.
func secretCopy(l *licensingv1alpha1.Licensee, namespace string, src *corev1.Secret) *corev1.Secret {
	c := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: src.Name, Labels: map[string]string{}, Annotations: pick(src.Annotations, copyAnnotations)},
		Type:       src.Type,
		Data:       maps.Clone(src.Data),
	}
	if t := l.Spec.Secret.Template; t != nil {
		maps.Copy(c.Labels, t.Labels)
		maps.Copy(c.Annotations, t.Annotations)
	}
	maps.Copy(c.Labels, secretCopyLabels(l))
	return c
}

// configMapCopy is the copy of the JWKS src that namespace should hold; its
// data-hash annotation lets the watch tell a hand edit from the operator's write.
func configMapCopy(l *licensingv1alpha1.Licensee, namespace string, src *corev1.ConfigMap) *corev1.ConfigMap {
	data := map[string]string{licensingv1alpha1.JWKSKey: src.Data[licensingv1alpha1.JWKSKey]}
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: src.Name,
			Labels:      configMapCopyLabels(l.Namespace, l.Spec.ProductRef.Name),
			Annotations: map[string]string{licensingv1alpha1.AnnotationDataHash: configMapDataHash(data)},
		},
		Data: data,
	}
}

func configMapDataHash(data map[string]string) string {
	b := make(map[string][]byte, len(data))
	for k, v := range data {
		b[k] = []byte(v)
	}
	return issuance.DataHash(b)
}

// mergeCopyMetadata lays want's labels and annotations over have's, keeping
// other tools' metadata and dropping the copy annotations the source no
// longer has.
func mergeCopyMetadata(have, want *metav1.ObjectMeta) {
	lb := maps.Clone(have.Labels)
	if lb == nil {
		lb = map[string]string{}
	}
	maps.Copy(lb, want.Labels)
	an := maps.Clone(have.Annotations)
	if an == nil {
		an = map[string]string{}
	}
	for _, k := range copyAnnotations {
		delete(an, k)
	}
	maps.Copy(an, want.Annotations)
	have.Labels, have.Annotations = lb, an
}

// writeSecretCopy makes want's namespace hold it; false when a Secret of that
// name is there that is not a copy of l's (nothing is written then). want is
// a copy of src, whose data may be known only by the cache's digest until a
// write needs the bytes: they are read once, into src, for every target.
func (r *LicenseeReconciler) writeSecretCopy(ctx context.Context, l *licensingv1alpha1.Licensee, want, src *corev1.Secret) (bool, error) {
	withData := func() error {
		if hasData(want) {
			return nil
		}
		data, err := secretDataOf(ctx, r.APIReader, src)
		if err != nil {
			return err
		}
		src.Data = data
		want.Data = maps.Clone(data)
		return nil
	}
	have := &corev1.Secret{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), have)
	switch {
	case apierrors.IsNotFound(err):
		if err := withData(); err != nil {
			return false, err
		}
		return r.createCopy(ctx, want, isSecretCopyOf(l))
	case err != nil:
		return false, fmt.Errorf("get Secret %s/%s: %w", want.Namespace, want.Name, err)
	case !isSecretCopyOf(l)(have):
		return false, nil
	case have.Type != want.Type:
		// The type of a Secret cannot change: replace the copy.
		if err := withData(); err != nil {
			return false, err
		}
		if err := r.Delete(ctx, have, client.Preconditions{UID: &have.UID}); err != nil && !apierrors.IsNotFound(err) {
			return false, fmt.Errorf("replace Secret %s/%s of type %s: %w", have.Namespace, have.Name, have.Type, err)
		}
		return r.createCopy(ctx, want, isSecretCopyOf(l))
	}
	updated := have.DeepCopy()
	mergeCopyMetadata(&updated.ObjectMeta, &want.ObjectMeta)
	updated.Data = want.Data
	if equalSecret(have, updated) {
		return true, nil
	}
	if err := withData(); err != nil {
		return false, err
	}
	updated.Data = want.Data
	if err := r.Update(ctx, updated); err != nil {
		return false, fmt.Errorf("update Secret %s/%s: %w", updated.Namespace, updated.Name, err)
	}
	return true, nil
}

// writeConfigMapCopy is writeSecretCopy for the JWKS. Every Licensee of the
// Product in the licensing namespace writes the same content, so they share it.
func (r *LicenseeReconciler) writeConfigMapCopy(ctx context.Context, l *licensingv1alpha1.Licensee, want *corev1.ConfigMap) (bool, error) {
	isOurs := isJWKSCopyFrom(l.Namespace)
	have := &corev1.ConfigMap{}
	err := r.Get(ctx, client.ObjectKeyFromObject(want), have)
	switch {
	case apierrors.IsNotFound(err):
		return r.createCopy(ctx, want, isOurs)
	case err != nil:
		return false, fmt.Errorf("get ConfigMap %s/%s: %w", want.Namespace, want.Name, err)
	case !isOurs(have):
		return false, nil
	}
	updated := have.DeepCopy()
	mergeCopyMetadata(&updated.ObjectMeta, &want.ObjectMeta)
	updated.Data = want.Data
	if maps.Equal(have.Labels, updated.Labels) && maps.Equal(have.Annotations, updated.Annotations) && maps.Equal(have.Data, updated.Data) {
		return true, nil
	}
	if err := r.Update(ctx, updated); err != nil {
		return false, fmt.Errorf("update ConfigMap %s/%s: %w", updated.Namespace, updated.Name, err)
	}
	return true, nil
}

// createCopy creates obj, which the cache did not show. When the name is
// taken, a live read tells a foreign object (false: a conflict) from a copy
// the cache does not hold yet (errNotYetCached).
func (r *LicenseeReconciler) createCopy(ctx context.Context, obj client.Object, isOurs func(client.Object) bool) (bool, error) {
	err := r.Create(ctx, obj)
	switch {
	case err == nil:
		return true, nil
	case apierrors.IsNotFound(err), apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return false, errNotYetCached // the namespace went, or started going, since the cache looked
	case !apierrors.IsAlreadyExists(err):
		return false, fmt.Errorf("create %s %s/%s: %w", kindOf(obj), obj.GetNamespace(), obj.GetName(), err)
	}
	live := obj.DeepCopyObject().(client.Object)
	switch err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(obj), live); {
	case apierrors.IsNotFound(err):
		return false, errNotYetCached
	case apierrors.IsForbidden(err):
		return false, fmt.Errorf("read %s %s/%s to tell whether the operator created it (the manager's role must allow get on it): %w", kindOf(obj), obj.GetNamespace(), obj.GetName(), err)
	case err != nil:
		return false, fmt.Errorf("read %s %s/%s to tell whether the operator created it: %w", kindOf(obj), obj.GetNamespace(), obj.GetName(), err)
	case isOurs(live):
		return false, errNotYetCached
	}
	return false, nil
}

// removeUnwantedCopies deletes l's copies outside targets' deliverable
// namespaces: its license Secret copies, and the JWKS copies it made unless
// another Licensee of the licensing namespace still distributes them there.
// Candidates are what status recorded and what the cache finds by label, so a
// copy the cache does not show yet, or one made before a crash, is not missed.
func (r *LicenseeReconciler) removeUnwantedCopies(ctx context.Context, l *licensingv1alpha1.Licensee, targets []distributionTarget) error {
	deliver := map[string]bool{}
	for _, t := range targets {
		if t.deliver {
			deliver[t.namespace] = true
		}
	}
	secrets, configMaps := map[types.NamespacedName]bool{}, map[types.NamespacedName]bool{}
	for _, d := range l.Status.Distribution {
		if d.Secret != "" {
			secrets[types.NamespacedName{Namespace: d.Namespace, Name: d.Secret}] = true
		}
		if d.ConfigMap != "" {
			configMaps[types.NamespacedName{Namespace: d.Namespace, Name: d.ConfigMap}] = true
		}
	}
	secretList := &corev1.SecretList{}
	if err := r.List(ctx, secretList, client.MatchingLabels{
		licensingv1alpha1.LabelManaged: "true", licensingv1alpha1.LabelSourceNamespace: l.Namespace, licensingv1alpha1.LabelSourceLicensee: l.Name,
	}); err != nil {
		return fmt.Errorf("list copies of Secret %s: %w", l.LicenseSecretName(), err)
	}
	for _, s := range secretList.Items {
		secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = true
	}
	cmList := &corev1.ConfigMapList{}
	if err := r.List(ctx, cmList, client.MatchingLabels{
		licensingv1alpha1.LabelManaged: "true", licensingv1alpha1.LabelSourceNamespace: l.Namespace, licensingv1alpha1.LabelSourceProduct: l.Spec.ProductRef.Name,
	}); err != nil {
		return fmt.Errorf("list copies of ConfigMap %s: %w", licensingv1alpha1.PublicKeysConfigMapName(l.Spec.ProductRef.Name), err)
	}
	for _, c := range cmList.Items {
		configMaps[types.NamespacedName{Namespace: c.Namespace, Name: c.Name}] = true
	}

	for key := range secrets {
		if deliver[key.Namespace] && key.Name == l.LicenseSecretName() {
			continue
		}
		if err := r.deleteCopy(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}, isSecretCopyOf(l)); err != nil {
			return err
		}
	}
	var others *licensingv1alpha1.LicenseeList // read once, when a JWKS copy may be shared
	for key := range configMaps {
		if deliver[key.Namespace] && key.Name == licensingv1alpha1.PublicKeysConfigMapName(l.Spec.ProductRef.Name) {
			continue
		}
		if others == nil {
			others = &licensingv1alpha1.LicenseeList{}
			if err := r.List(ctx, others, client.InNamespace(l.Namespace)); err != nil {
				return fmt.Errorf("list Licensees of namespace %s: %w", l.Namespace, err)
			}
		}
		shared, err := r.jwksWantedByOthers(ctx, l, others.Items, key)
		if err != nil {
			return err
		}
		if shared {
			continue
		}
		if err := r.deleteCopy(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}, isJWKSCopyFrom(l.Namespace)); err != nil {
			return err
		}
	}
	return nil
}

// jwksWantedByOthers tells whether a Licensee other than l distributes the
// JWKS copy at key.
func (r *LicenseeReconciler) jwksWantedByOthers(ctx context.Context, l *licensingv1alpha1.Licensee, licensees []licensingv1alpha1.Licensee, key types.NamespacedName) (bool, error) {
	var ns *namespaceInfo
	for i := range licensees {
		other := &licensees[i]
		if other.UID == l.UID || other.Spec.Distribution == nil || licensingv1alpha1.PublicKeysConfigMapName(other.Spec.ProductRef.Name) != key.Name {
			continue
		}
		if ns == nil {
			var err error
			if ns, err = r.namespace(ctx, key.Namespace); err != nil || ns == nil {
				return false, err
			}
		}
		if distributesTo(other, ns) {
			return true, nil
		}
	}
	return false, nil
}

// deleteCopy deletes the object at obj's key if isOurs says it is a copy;
// read from the cache, or live when the cache does not show it (a copy just
// made). The UID precondition keeps a foreign object that replaced it meanwhile.
func (r *LicenseeReconciler) deleteCopy(ctx context.Context, obj client.Object, isOurs func(client.Object) bool) error {
	key := client.ObjectKeyFromObject(obj)
	err := r.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		err = r.APIReader.Get(ctx, key, obj)
	}
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("read %s %s/%s to remove the copy: %w", kindOf(obj), key.Namespace, key.Name, err)
	case !isOurs(obj):
		return nil
	}
	uid := obj.GetUID()
	if err := r.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("remove copy %s %s/%s: %w", kindOf(obj), key.Namespace, key.Name, err)
	}
	return nil
}

// distributionStatuses is status.distribution for the targets of this run.
func distributionStatuses(res *distributionResult) []licensingv1alpha1.DistributionStatus {
	var out []licensingv1alpha1.DistributionStatus
	for _, t := range res.targets {
		out = append(out, licensingv1alpha1.DistributionStatus{
			Namespace: t.namespace, Secret: t.secret, ConfigMap: t.configMap,
			Current: t.issue == issueNone, Reason: issueReasons[t.issue], Message: t.message,
		})
	}
	return out
}

// blockedProblem is what a person must fix, gravest first; nil when nothing.
func (res *distributionResult) blockedProblem() *problem {
	if res == nil || !res.complete {
		return nil
	}
	if res.selectorProblem != nil {
		return res.selectorProblem
	}
	return res.problemOf(targetIssue.blocked)
}

// waitingProblem is what the Licensee waits for (a namespace, a source); nil when nothing.
func (res *distributionResult) waitingProblem() *problem {
	if res == nil || !res.complete {
		return nil
	}
	return res.problemOf(func(i targetIssue) bool { return i != issueNone && !i.blocked() })
}

// problemOf sums up the targets whose issue matches: the gravest issue's
// reason, and their messages, gravest first.
func (res *distributionResult) problemOf(match func(targetIssue) bool) *problem {
	var hit []distributionTarget
	for _, t := range res.targets {
		if match(t.issue) {
			hit = append(hit, t)
		}
	}
	if len(hit) == 0 {
		return nil
	}
	slices.SortStableFunc(hit, func(a, b distributionTarget) int { return cmp.Compare(b.issue, a.issue) })
	var messages []string
	for i, t := range hit {
		if i == maxListedProblems {
			messages = append(messages, fmt.Sprintf("and %d more namespaces (see status.distribution)", len(hit)-i))
			break
		}
		messages = append(messages, t.message)
	}
	return newProblem(issueReasons[hit[0].issue], "%s", strings.Join(messages, "; "))
}

// setDistributedCondition reports the copies: True when every target holds
// current copies, else False with the gravest problem, or the error that
// stopped them. A run that did not reach or finish them leaves
// status.distribution as the last complete one said; without distribution
// both go.
func setDistributedCondition(s *licenseeScope, err error) {
	l := s.licensee
	st := &l.Status
	res := s.distribution
	switch {
	case res != nil && res.err != nil:
		setCondition(&st.Conditions, l.Generation, licensingv1alpha1.ConditionDistributed, false, licensingv1alpha1.ReasonReconcileError, res.err.Error())
		return
	case res == nil && err != nil, res != nil && !res.complete:
		return
	case res == nil || l.Spec.Distribution == nil || l.DeletionTimestamp != nil:
		st.Distribution = nil
		removeCondition(&st.Conditions, licensingv1alpha1.ConditionDistributed)
		return
	}
	st.Distribution = distributionStatuses(res)
	if p := res.blockedProblem(); p != nil {
		setProblemCondition(&st.Conditions, l.Generation, licensingv1alpha1.ConditionDistributed, false, p)
		return
	}
	if p := res.waitingProblem(); p != nil {
		setProblemCondition(&st.Conditions, l.Generation, licensingv1alpha1.ConditionDistributed, false, p)
		return
	}
	setCondition(&st.Conditions, l.Generation, licensingv1alpha1.ConditionDistributed, true, licensingv1alpha1.ReasonDistributed, distributedMessage(l, res))
}

func distributedMessage(l *licensingv1alpha1.Licensee, res *distributionResult) string {
	if len(res.targets) == 0 {
		return fmt.Sprintf("no namespace is named, or selected among those labelled %s=%s", licensingv1alpha1.LabelAcceptFrom, l.Namespace)
	}
	names := make([]string, 0, maxListedProblems)
	for i, t := range res.targets {
		if i == maxListedProblems {
			names = append(names, fmt.Sprintf("and %d more", len(res.targets)-i))
			break
		}
		names = append(names, t.namespace)
	}
	return fmt.Sprintf("copies of Secret %s and ConfigMap %s are current in %s", l.LicenseSecretName(),
		licensingv1alpha1.PublicKeysConfigMapName(l.Spec.ProductRef.Name), strings.Join(names, ", "))
}
