// Package config tests the installation: the kustomize configuration under
// config/ and the Helm chart, rendered with the kustomize and helm the Makefile
// installs and checked object by object, then applied to a real API server
// (install_test.go, envtest); plus the Dockerfile and the krew manifest.
package config

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

const (
	namespace  = "kubelicense-system"
	namePrefix = "kubelicense-"
	apiGroup   = "licensing.kubelicense.io"
)

// clusterScoped are the kinds config/default renders that have no namespace.
var clusterScoped = []string{"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"}

// makeTool returns bin/<name>, installing it once with `make <name>` (the
// version the Makefile pins) when it is missing.
func makeTool(name string) func(t *testing.T) string {
	var (
		once sync.Once
		err  error
	)
	root := testenv.RepoRoot()
	path := filepath.Join(root, "bin", name)
	return func(t *testing.T) string {
		t.Helper()
		once.Do(func() {
			if _, statErr := os.Stat(path); statErr == nil {
				return
			}
			if out, runErr := exec.Command("make", "-C", root, name).CombinedOutput(); runErr != nil {
				err = errors.New("make " + name + ": " + runErr.Error() + "\n" + string(out))
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return path
	}
}

// kustomize returns bin/kustomize (see makeTool).
var kustomize = makeTool("kustomize")

// render runs `kustomize build` on dir (relative to the repository root, or
// absolute) and decodes every object it prints.
func render(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	cmd := exec.Command(kustomize(t), "build", dir)
	cmd.Dir = testenv.RepoRoot()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kustomize build %s: %v\n%s", dir, err, stderr.String())
	}
	objs := decodeAll(t, out)
	if len(objs) == 0 {
		t.Fatalf("kustomize build %s rendered nothing", dir)
	}
	return objs
}

func decodeAll(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var m map[string]any
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("decode YAML: %v", err)
		}
		if len(m) > 0 {
			objs = append(objs, &unstructured.Unstructured{Object: m})
		}
	}
}

func ofKind(objs []*unstructured.Unstructured, kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

// typed converts u into a typed object, failing on fields the type does not
// have, so a misspelt field (readOnlyRootFileSystem) cannot pass unnoticed.
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	obj := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, obj, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return obj
}

func typedAll[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) []*T {
	t.Helper()
	var out []*T
	for _, u := range ofKind(objs, kind) {
		out = append(out, typed[T](t, u))
	}
	return out
}

func readFile(t *testing.T, rel string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), rel))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDefaultHasAllCRDs(t *testing.T) {
	objs := render(t, "config/default")
	bases, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	crds := ofKind(objs, "CustomResourceDefinition")
	if len(crds) != len(bases) {
		t.Errorf("rendered %d CRDs, config/crd/bases has %d: is config/crd/kustomization.yaml complete?", len(crds), len(bases))
	}
	want := map[string]string{"Product": "products", "LicenseTemplate": "licensetemplates", "Licensee": "licensees", "Activation": "activations", "SeatLease": "seatleases", "LicenseEvent": "licenseevents", "LicenseWebhook": "licensewebhooks"}
	for _, crd := range crds {
		kind, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "kind")
		plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
		group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
		scope, _, _ := unstructured.NestedString(crd.Object, "spec", "scope")
		if group != apiGroup || scope != "Namespaced" {
			t.Errorf("CRD %s: group %q scope %q, want %q Namespaced", crd.GetName(), group, scope, apiGroup)
		}
		if want[kind] != plural {
			t.Errorf("CRD %s: unexpected kind %q / plural %q", crd.GetName(), kind, plural)
			continue
		}
		// The API server requires <plural>.<group>; a name prefix would break it.
		if crd.GetName() != plural+"."+apiGroup {
			t.Errorf("CRD name %q, want %q", crd.GetName(), plural+"."+apiGroup)
		}
		delete(want, kind)
	}
	for kind := range want {
		t.Errorf("no CRD for %s", kind)
	}
}

func TestDefaultNamespaceAndNames(t *testing.T) {
	objs := render(t, "config/default")
	nss := ofKind(objs, "Namespace")
	if len(nss) != 1 || nss[0].GetName() != namespace {
		t.Fatalf("want exactly one Namespace %q, got %v", namespace, names(nss))
	}
	if got := nss[0].GetLabels()["pod-security.kubernetes.io/enforce"]; got != "restricted" {
		t.Errorf("Namespace %s enforces Pod Security %q, want restricted", namespace, got)
	}
	for _, o := range objs {
		if slices.Contains(clusterScoped, o.GetKind()) {
			if o.GetNamespace() != "" {
				t.Errorf("%s %s is cluster-scoped but has namespace %q", o.GetKind(), o.GetName(), o.GetNamespace())
			}
		} else if o.GetNamespace() != namespace {
			t.Errorf("%s %s is in namespace %q, want %q", o.GetKind(), o.GetName(), o.GetNamespace(), namespace)
		}
		if o.GetKind() != "CustomResourceDefinition" && !strings.HasPrefix(o.GetName(), namePrefix) {
			t.Errorf("%s %s has no %q prefix", o.GetKind(), o.GetName(), namePrefix)
		}
	}
	// Optional parts stay out of the default installation.
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "NetworkPolicy"} {
		if len(ofKind(objs, kind)) > 0 {
			t.Errorf("config/default renders a %s; it must stay optional", kind)
		}
	}
}

func names(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetKind()+"/"+o.GetName())
	}
	return out
}

// managerDeployment returns the single Deployment and its "manager" container.
func managerDeployment(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	deps := typedAll[appsv1.Deployment](t, objs, "Deployment")
	if len(deps) != 1 {
		t.Fatalf("want one Deployment, got %d", len(deps))
	}
	d := deps[0]
	if d.Name != namePrefix+"controller-manager" {
		t.Errorf("Deployment name %q", d.Name)
	}
	for i := range d.Spec.Template.Spec.Containers {
		if c := &d.Spec.Template.Spec.Containers[i]; c.Name == "manager" {
			return d, c
		}
	}
	t.Fatalf("Deployment %s has no container named manager", d.Name)
	return nil, nil
}

// flagValue returns the value of --name=value in args.
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func TestManagerDeployment(t *testing.T) {
	objs := render(t, "config/default")
	d, c := managerDeployment(t, objs)
	pod := d.Spec.Template.Spec

	if psc := pod.SecurityContext; psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot must be true")
	} else if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext.seccompProfile must be RuntimeDefault")
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("manager container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem must be true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation must be false")
	case sc.Privileged != nil && *sc.Privileged:
		t.Error("the manager must not be privileged")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities must drop ALL and add none, got %+v", sc.Capabilities)
	}

	probeAddr, ok := flagValue(c.Args, "health-probe-bind-address")
	if !ok {
		t.Fatalf("args %v lack --health-probe-bind-address", c.Args)
	}
	probePort := intstr.Parse(strings.TrimPrefix(probeAddr, ":"))
	for name, p := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe must be an HTTP GET", name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port != probePort {
			t.Errorf("%s probe is %s on %s, want %s on %s (--health-probe-bind-address)",
				name, p.probe.HTTPGet.Path, p.probe.HTTPGet.Port.String(), p.path, probePort.String())
		}
	}

	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		limit, hasLimit := c.Resources.Limits[res]
		if !hasReq || !hasLimit {
			t.Errorf("%s needs a request and a limit", res)
		} else if req.Cmp(limit) > 0 {
			t.Errorf("%s request %s exceeds limit %s", res, req.String(), limit.String())
		}
	}

	if !slices.Contains(c.Args, "--leader-elect") {
		t.Error("args lack --leader-elect: two replicas would both reconcile")
	}
	if v, _ := flagValue(c.Args, "metrics-bind-address"); v != ":8443" {
		t.Errorf("--metrics-bind-address=%q, want :8443", v)
	}
	// Every flag the Deployment passes must exist in the manager, or it exits at start.
	mainGo := string(readFile(t, "cmd/manager/main.go"))
	for _, a := range c.Args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.Contains(mainGo, `"`+name+`"`) {
			t.Errorf("arg %s: cmd/manager/main.go defines no flag %q", a, name)
		}
	}

	if sel := d.Spec.Selector; sel == nil || !isSubset(sel.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	sas := ofKind(objs, "ServiceAccount")
	if !slices.ContainsFunc(sas, func(u *unstructured.Unstructured) bool { return u.GetName() == pod.ServiceAccountName }) {
		t.Errorf("serviceAccountName %q is not rendered (have %v)", pod.ServiceAccountName, names(sas))
	}

	// The image must be the one config/manager/kustomization.yaml names, so that
	// `make build-installer` (kustomize edit set image controller=$(IMG)) replaces it.
	var k struct {
		Images []struct{ Name, NewName, NewTag string }
	}
	if err := yaml.Unmarshal(readFile(t, "config/manager/kustomization.yaml"), &k); err != nil {
		t.Fatal(err)
	}
	if len(k.Images) != 1 || k.Images[0].Name != "controller" {
		t.Fatalf("config/manager/kustomization.yaml must have one images entry named controller, got %+v", k.Images)
	}
	if want := k.Images[0].NewName + ":" + k.Images[0].NewTag; c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	if !strings.Contains(string(readFile(t, "config/manager/manager.yaml")), "image: controller:latest") {
		t.Error("config/manager/manager.yaml must use the placeholder image controller:latest")
	}
}

func isSubset(sub, set map[string]string) bool {
	if len(sub) == 0 {
		return false
	}
	for k, v := range sub {
		if set[k] != v {
			return false
		}
	}
	return true
}

// TestServices: the metrics and license API Services select the manager pods
// and target the ports the manager serves on.
func TestServices(t *testing.T) {
	objs := render(t, "config/default")
	d, c := managerDeployment(t, objs)
	svcs := typedAll[corev1.Service](t, objs, "Service")
	want := map[string]string{
		namePrefix + "controller-manager-metrics-service": "metrics-bind-address",
		namePrefix + "license-api":                        "license-api-bind-address",
	}
	if len(svcs) != len(want) {
		t.Fatalf("want %d Services, got %d", len(want), len(svcs))
	}
	for _, svc := range svcs {
		flag, ok := want[svc.Name]
		if !ok {
			t.Errorf("unexpected Service %s", svc.Name)
			continue
		}
		if !isSubset(svc.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selector %v does not select the manager pods %v", svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
		}
		if len(svc.Spec.Ports) != 1 {
			t.Fatalf("Service %s: want one port, got %v", svc.Name, svc.Spec.Ports)
		}
		sp := svc.Spec.Ports[0]
		addr, _ := flagValue(c.Args, flag)
		if sp.Name != "https" || ":"+strconv.Itoa(int(sp.Port)) != addr {
			t.Errorf("Service %s port %s/%d, want https on the port of --%s=%s", svc.Name, sp.Name, sp.Port, flag, addr)
		}
		target := sp.TargetPort
		if target.Type == intstr.String {
			i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == target.StrVal })
			if i < 0 {
				t.Fatalf("Service %s targetPort %q names no container port", svc.Name, target.StrVal)
			}
			target = intstr.FromInt32(c.Ports[i].ContainerPort)
		}
		if ":"+target.String() != addr {
			t.Errorf("Service %s targets port %s, the manager serves --%s=%q", svc.Name, target.String(), flag, addr)
		}
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
	}) {
		t.Error("the manager needs POD_NAMESPACE from the Downward API: the license API keeps its CA in its own namespace")
	}
}

// rules returns the rules of every Role and ClusterRole, by kind/name.
func rules(t *testing.T, objs []*unstructured.Unstructured) map[string][]rbacv1.PolicyRule {
	t.Helper()
	out := map[string][]rbacv1.PolicyRule{}
	for _, r := range typedAll[rbacv1.ClusterRole](t, objs, "ClusterRole") {
		out["ClusterRole/"+r.Name] = r.Rules
	}
	for _, r := range typedAll[rbacv1.Role](t, objs, "Role") {
		out["Role/"+r.Name] = r.Rules
	}
	return out
}

func TestRBACLeastPrivilege(t *testing.T) {
	objs := render(t, "config/default")
	var generated rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(readFile(t, "config/rbac/role.yaml"), &generated); err != nil {
		t.Fatalf("config/rbac/role.yaml: %v", err)
	}
	managerRole := "ClusterRole/" + namePrefix + generated.Name
	all := rules(t, objs)
	if got, ok := all[managerRole]; !ok {
		t.Fatalf("%s is not rendered", managerRole)
	} else if !equality.Semantic.DeepEqual(got, generated.Rules) {
		t.Errorf("%s differs from config/rbac/role.yaml (make manifests):\n got %+v\nwant %+v", managerRole, got, generated.Rules)
	}

	for role, rs := range all {
		for _, r := range rs {
			for field, values := range map[string][]string{
				"apiGroups": r.APIGroups, "resources": r.Resources, "verbs": r.Verbs,
				"resourceNames": r.ResourceNames, "nonResourceURLs": r.NonResourceURLs,
			} {
				for _, v := range values {
					if strings.Contains(v, "*") {
						t.Errorf("%s: wildcard %q in %s", role, v, field)
					}
				}
			}
			for _, v := range []string{"escalate", "bind", "impersonate"} {
				if slices.Contains(r.Verbs, v) {
					t.Errorf("%s: verb %q lets its holder gain permissions", role, v)
				}
			}
			// Signing keys and license tokens are Secrets: only the generated role,
			// checked equal to role.yaml above, may reach them.
			if role != managerRole && slices.Contains(r.APIGroups, "") && slices.Contains(r.Resources, "secrets") {
				t.Errorf("%s grants %v on secrets; only %s may", role, r.Verbs, managerRole)
			}
		}
	}

	for _, plural := range []string{"products", "licensetemplates", "licensees"} {
		kind := strings.TrimSuffix(plural, "s")
		for _, role := range []string{"editor", "viewer"} {
			name := "ClusterRole/" + namePrefix + kind + "-" + role + "-role"
			rs, ok := all[name]
			if !ok {
				t.Errorf("%s is not rendered", name)
				continue
			}
			for _, r := range rs {
				if !slices.Equal(r.APIGroups, []string{apiGroup}) {
					t.Errorf("%s: rule for %q outside %s", name, r.APIGroups, apiGroup)
				}
				if role == "viewer" {
					for _, v := range r.Verbs {
						if !slices.Contains([]string{"get", "list", "watch"}, v) {
							t.Errorf("%s: viewer may %s", name, v)
						}
					}
				}
			}
		}
	}
}

func TestRBACBindings(t *testing.T) {
	objs := render(t, "config/default")
	all := rules(t, objs)
	sas := map[string]bool{}
	for _, sa := range ofKind(objs, "ServiceAccount") {
		sas[sa.GetNamespace()+"/"+sa.GetName()] = true
	}
	manager := namespace + "/" + namePrefix + "controller-manager"

	type binding struct {
		kind, name string
		ref        rbacv1.RoleRef
		subjects   []rbacv1.Subject
	}
	var bindings []binding
	for _, b := range typedAll[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding") {
		bindings = append(bindings, binding{"ClusterRoleBinding", b.Name, b.RoleRef, b.Subjects})
	}
	for _, b := range typedAll[rbacv1.RoleBinding](t, objs, "RoleBinding") {
		bindings = append(bindings, binding{"RoleBinding", b.Name, b.RoleRef, b.Subjects})
	}
	var managerRoles []string
	for _, b := range bindings {
		ref := b.ref.Kind + "/" + b.ref.Name
		if _, ok := all[ref]; !ok {
			t.Errorf("%s %s refers to %s, which is not rendered", b.kind, b.name, ref)
		}
		for _, s := range b.subjects {
			if s.Kind != rbacv1.ServiceAccountKind {
				t.Errorf("%s %s binds %s %s; the installation binds only its service account", b.kind, b.name, s.Kind, s.Name)
				continue
			}
			if !sas[s.Namespace+"/"+s.Name] {
				t.Errorf("%s %s binds ServiceAccount %s/%s, which is not rendered", b.kind, b.name, s.Namespace, s.Name)
			}
			if s.Namespace+"/"+s.Name == manager {
				managerRoles = append(managerRoles, ref)
			}
		}
	}
	slices.Sort(managerRoles)
	want := []string{
		"ClusterRole/" + namePrefix + "manager-role",
		"ClusterRole/" + namePrefix + "metrics-auth-role",
		"Role/" + namePrefix + "leader-election-role",
	}
	if !slices.Equal(managerRoles, want) {
		t.Errorf("the manager is bound to %v, want exactly %v", managerRoles, want)
	}

	// The secure metrics filter reviews every scrape's token and access.
	metrics := all["ClusterRole/"+namePrefix+"metrics-auth-role"]
	for _, need := range []struct{ group, resource string }{
		{"authentication.k8s.io", "tokenreviews"},
		{"authorization.k8s.io", "subjectaccessreviews"},
	} {
		if !grants(metrics, need.group, need.resource, "", "create") {
			t.Errorf("metrics-auth-role cannot create %s.%s", need.resource, need.group)
		}
	}
}

func TestLeaderElectionRole(t *testing.T) {
	objs := render(t, "config/default")
	m := regexp.MustCompile(`defaultLeaderElectionID\s*=\s*"([^"]+)"`).FindStringSubmatch(string(readFile(t, "cmd/manager/main.go")))
	if m == nil {
		t.Fatal("cmd/manager/main.go declares no defaultLeaderElectionID literal; update this test and leader_election_role.yaml together")
	}
	id := m[1]
	rs := rules(t, objs)["Role/"+namePrefix+"leader-election-role"]
	for _, verb := range []string{"get", "update"} {
		if !grants(rs, "coordination.k8s.io", "leases", id, verb) {
			t.Errorf("leader-election-role cannot %s Lease %q (LeaderElectionID)", verb, id)
		}
	}
	if !grants(rs, "coordination.k8s.io", "leases", "", "create") {
		t.Error("leader-election-role cannot create the Lease")
	}
	if !grants(rs, "", "events", "", "create") {
		t.Error("leader-election-role cannot record leader election events")
	}
	for _, r := range rs {
		for _, res := range r.Resources {
			if res != "leases" && res != "events" {
				t.Errorf("leader-election-role grants %s; it needs only leases and events", res)
			}
		}
	}
}

// grants reports whether rules allow verb on group/resource (named name, or any
// object when name is empty and the rule names none).
func grants(rs []rbacv1.PolicyRule, group, resource, name, verb string) bool {
	for _, r := range rs {
		if slices.Contains(r.APIGroups, group) && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}
