package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

const (
	chartDir = "charts/kubelicense"
	// allOptional switches on every optional part of the chart.
	allOptional = chartDir + "/ci/all-optional-values.yaml"
	// licenseAPIService is the name the manager's generated certificate carries
	// (internal/servingcert.ServiceName).
	licenseAPIService = "kubelicense-license-api"
)

// helmBin returns bin/helm (see makeTool).
var helmBin = makeTool("helm")

// runHelm runs helm in the repository root with its cache, config and data in a
// temporary directory, so the tests neither read nor write the user's.
func runHelm(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	home := t.TempDir()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(),
		"HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"),
		"HELM_DATA_HOME="+filepath.Join(home, "data"),
	)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err = cmd.Run()
	return out.String(), errOut.String(), err
}

// helmTemplate renders the chart as release "kubelicense" in kubelicense-system
// with the given extra helm arguments (-f, --set).
func helmTemplate(t *testing.T, args ...string) []*unstructured.Unstructured {
	t.Helper()
	return helmTemplateRelease(t, "kubelicense", namespace, args...)
}

func helmTemplateRelease(t *testing.T, release, ns string, args ...string) []*unstructured.Unstructured {
	t.Helper()
	out, stderr, err := runHelm(t, append([]string{"template", release, chartDir, "--namespace", ns}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v\n%s", args, err, stderr)
	}
	objs := decodeAll(t, []byte(out))
	if len(objs) == 0 {
		t.Fatalf("helm template %v rendered nothing", args)
	}
	return objs
}

// helmTemplateFails renders with args and returns helm's error message.
func helmTemplateFails(t *testing.T, args ...string) string {
	t.Helper()
	_, stderr, err := runHelm(t, append([]string{"template", "kubelicense", chartDir, "--namespace", namespace}, args...)...)
	if err == nil {
		t.Fatalf("helm template %v succeeded; it must refuse these values", args)
	}
	return stderr
}

func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{nil, {"-f", allOptional}} {
		if out, stderr, err := runHelm(t, append([]string{"lint", "--strict", chartDir}, args...)...); err != nil {
			t.Errorf("helm lint --strict %v: %v\n%s%s", args, err, out, stderr)
		}
	}
}

var (
	managerFlagsOnce sync.Once
	managerFlagSet   map[string]bool
	managerFlagsErr  error
)

// managerFlags are the flags the manager binary defines, from its -h output
// (its own flags and the zap logging flags it binds).
func managerFlags(t *testing.T) map[string]bool {
	t.Helper()
	managerFlagsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "kubelicense-manager-")
		if err != nil {
			managerFlagsErr = err
			return
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "manager")
		build := exec.Command("go", "build", "-o", bin, "./cmd/manager")
		build.Dir = testenv.RepoRoot()
		if out, err := build.CombinedOutput(); err != nil {
			managerFlagsErr = errors.New("go build ./cmd/manager: " + err.Error() + "\n" + string(out))
			return
		}
		out, err := exec.Command(bin, "-h").CombinedOutput()
		if err != nil {
			managerFlagsErr = errors.New("manager -h: " + err.Error() + "\n" + string(out))
			return
		}
		managerFlagSet = map[string]bool{}
		for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
			managerFlagSet[m[1]] = true
		}
	})
	if managerFlagsErr != nil {
		t.Fatal(managerFlagsErr)
	}
	return managerFlagSet
}

// durationFlag returns the duration of --name=value in args.
func durationFlag(t *testing.T, args []string, name string) time.Duration {
	t.Helper()
	v, ok := flagValue(args, name)
	if !ok {
		t.Fatalf("args %v lack --%s", args, name)
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		t.Fatalf("--%s=%s: %v", name, v, err)
	}
	return d
}

// checkChartManager checks what every rendering of the chart's Deployment must
// hold, whatever the values.
func checkChartManager(t *testing.T, objs []*unstructured.Unstructured) (*appsv1.Deployment, *corev1.Container) {
	t.Helper()
	d, c := managerDeployment(t, objs)
	pod := d.Spec.Template.Spec

	flags := managerFlags(t)
	for _, a := range c.Args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !flags[name] {
			t.Errorf("arg %s: the manager has no flag %q (manager -h); it would exit at start", a, name)
		}
	}
	if !slices.Equal(c.Command, []string{"/manager"}) || !slices.Contains(binaries, "manager") {
		t.Errorf("command %v, want [/manager], a binary the Dockerfile ships", c.Command)
	}
	if v, ok := flagValue(c.Args, "leader-elect"); *d.Spec.Replicas > 1 && (!ok || v != "true") {
		t.Errorf("%d replicas without --leader-elect=true (args %v): all of them would reconcile", *d.Spec.Replicas, c.Args)
	}
	shutdown := durationFlag(t, c.Args, "graceful-shutdown-timeout")
	if grace := pod.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %s must exceed --graceful-shutdown-timeout=%s, or the kubelet kills requests in flight", ptrString(grace), shutdown)
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
	}) {
		t.Error("the manager needs POD_NAMESPACE from the Downward API: the license API keeps its CA in its own namespace")
	}
	// runAsNonRoot, seccomp and capabilities are judged by the API server's Pod
	// Security admission (TestServerSideApply); these are beyond "restricted".
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("the manager container must have readOnlyRootFilesystem: true")
	}
	probeAddr, _ := flagValue(c.Args, "health-probe-bind-address")
	for name, p := range map[string]struct {
		probe *corev1.Probe
		path  string
	}{"liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s probe must GET %s", name, p.path)
			continue
		}
		if port := containerPort(t, c, p.probe.HTTPGet.Port); ":"+strconv.Itoa(int(port)) != probeAddr {
			t.Errorf("%s probe on port %d, the manager serves probes on --health-probe-bind-address=%s", name, port, probeAddr)
		}
	}
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		limit, hasLimit := c.Resources.Limits[res]
		if !hasReq || !hasLimit || req.Cmp(limit) > 0 {
			t.Errorf("%s needs a request no larger than its limit, got %v / %v", res, c.Resources.Requests, c.Resources.Limits)
		}
	}
	if sel := d.Spec.Selector; sel == nil || !isSubset(sel.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("Deployment selector %v does not match its pod labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
	if !slices.ContainsFunc(ofKind(objs, "ServiceAccount"), func(u *unstructured.Unstructured) bool { return u.GetName() == pod.ServiceAccountName }) {
		t.Errorf("serviceAccountName %q is not rendered", pod.ServiceAccountName)
	}
	return d, c
}

func ptrString[T any](p *T) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// containerPort resolves a probe's or Service's port (a number or a port name) in c.
func containerPort(t *testing.T, c *corev1.Container, port intstr.IntOrString) int32 {
	t.Helper()
	if port.Type == intstr.Int {
		return port.IntVal
	}
	i := slices.IndexFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == port.StrVal })
	if i < 0 {
		t.Fatalf("port %q names no port of container %s", port.StrVal, c.Name)
	}
	return c.Ports[i].ContainerPort
}

// checkChartServices checks that each rendered Service selects the manager pods
// and reaches the port the manager serves it on; it returns them by name.
func checkChartServices(t *testing.T, objs []*unstructured.Unstructured, d *appsv1.Deployment, c *corev1.Container) map[string]*corev1.Service {
	t.Helper()
	flagOf := map[string]string{"kubelicense-metrics": "metrics-bind-address", licenseAPIService: "license-api-bind-address"}
	out := map[string]*corev1.Service{}
	for _, svc := range typedAll[corev1.Service](t, objs, "Service") {
		out[svc.Name] = svc
		flag, ok := flagOf[svc.Name]
		if !ok {
			t.Errorf("unexpected Service %s", svc.Name)
			continue
		}
		if !isSubset(svc.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selector %v does not select the manager pods %v", svc.Name, svc.Spec.Selector, d.Spec.Template.Labels)
		}
		addr, _ := flagValue(c.Args, flag)
		if len(svc.Spec.Ports) != 1 || ":"+strconv.Itoa(int(containerPort(t, c, svc.Spec.Ports[0].TargetPort))) != addr {
			t.Errorf("Service %s ports %v do not reach --%s=%s", svc.Name, svc.Spec.Ports, flag, addr)
		}
	}
	return out
}

func TestHelmDefaults(t *testing.T) {
	objs := helmTemplate(t)
	d, c := checkChartManager(t, objs)
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas %d, want 2 by default: the license API must stay up through a rollout", *d.Spec.Replicas)
	}
	for flag, want := range map[string]string{
		"leader-elect": "true", "metrics-bind-address": ":8443", "license-api-bind-address": ":9443", "health-probe-bind-address": ":8081",
	} {
		if v, _ := flagValue(c.Args, flag); v != want {
			t.Errorf("--%s=%q, want %q", flag, v, want)
		}
	}
	for _, flag := range []string{"license-api-cert-dir", "license-api-cert-hosts"} {
		if _, ok := flagValue(c.Args, flag); ok {
			t.Errorf("--%s is set by default; the manager then keeps its own CA", flag)
		}
	}

	aff := d.Spec.Template.Spec.Affinity
	if aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Fatalf("want one preferred pod anti-affinity term, got %+v", aff)
	}
	term := aff.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm
	if term.TopologyKey != "kubernetes.io/hostname" || term.LabelSelector == nil || !isSubset(term.LabelSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("anti-affinity %+v must spread the manager pods over hostnames", term)
	}

	pdbs := typedAll[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget")
	if len(pdbs) != 1 {
		t.Fatalf("want one PodDisruptionBudget with 2 replicas, got %d", len(pdbs))
	}
	if p := pdbs[0].Spec; p.MinAvailable == nil || p.MinAvailable.String() != "1" || p.Selector == nil || !isSubset(p.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget %+v must keep one manager pod", p)
	}

	svcs := checkChartServices(t, objs, d, c)
	if len(svcs) != 2 || svcs[licenseAPIService] == nil {
		t.Errorf("want the metrics Service and %s, got %v", licenseAPIService, names(ofKind(objs, "Service")))
	}
	for _, kind := range []string{"ServiceMonitor", "PrometheusRule", "Certificate", "NetworkPolicy"} {
		if len(ofKind(objs, kind)) > 0 {
			t.Errorf("the chart renders a %s by default; it must stay optional", kind)
		}
	}
	for _, o := range objs {
		if ns := o.GetNamespace(); slices.Contains(clusterScoped, o.GetKind()) != (ns == "") || (ns != "" && ns != namespace) {
			t.Errorf("%s %s in namespace %q, want the release namespace (or none if cluster-scoped)", o.GetKind(), o.GetName(), ns)
		}
	}

	// With one replica a PodDisruptionBudget of minAvailable 1 would block drains.
	if pdbs := ofKind(helmTemplate(t, "--set", "replicaCount=1"), "PodDisruptionBudget"); len(pdbs) != 0 {
		t.Error("replicaCount=1 renders a PodDisruptionBudget: no node could be drained")
	}
}

func TestHelmAllOptional(t *testing.T) {
	objs := helmTemplate(t, "-f", allOptional)
	d, c := checkChartManager(t, objs)
	pod := d.Spec.Template.Spec
	svcs := checkChartServices(t, objs, d, c)

	if aff := pod.Affinity; aff == nil || aff.PodAntiAffinity == nil || len(aff.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution) != 1 {
		t.Errorf("podAntiAffinity: hard must render one required term, got %+v", pod.Affinity)
	}
	if len(pod.TopologySpreadConstraints) != 1 || pod.TopologySpreadConstraints[0].LabelSelector == nil ||
		!isSubset(pod.TopologySpreadConstraints[0].LabelSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("the topology spread constraint must get the manager pods' labels, got %+v", pod.TopologySpreadConstraints)
	}
	if !strings.Contains(c.Image, "@sha256:") {
		t.Errorf("image %q ignores image.digest", c.Image)
	}
	if !slices.Contains(c.Args, "--kube-api-qps=100") {
		t.Errorf("args %v lack extraArgs", c.Args)
	}

	// cert-manager: the Certificate names the Service and the extra hosts, and
	// its Secret is what the manager reads from --license-api-cert-dir.
	certs := ofKind(objs, "Certificate")
	if len(certs) != 1 {
		t.Fatalf("want one Certificate, got %v", names(certs))
	}
	var cert struct {
		Spec struct {
			SecretName  string
			DNSNames    []string
			IPAddresses []string
			IssuerRef   struct{ Name, Kind, Group string }
		}
	}
	if data, err := json.Marshal(certs[0].Object); err != nil {
		t.Fatal(err)
	} else if err := json.Unmarshal(data, &cert); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		licenseAPIService, licenseAPIService + "." + namespace + ".svc", licenseAPIService + "." + namespace + ".svc.example.internal", "license.example.com",
	} {
		if !slices.Contains(cert.Spec.DNSNames, name) {
			t.Errorf("Certificate dnsNames %v lack %s", cert.Spec.DNSNames, name)
		}
	}
	if !slices.Equal(cert.Spec.IPAddresses, []string{"192.0.2.10"}) {
		t.Errorf("Certificate ipAddresses %v, want [192.0.2.10]", cert.Spec.IPAddresses)
	}
	if cert.Spec.IssuerRef.Name != "kubelicense-ca" || cert.Spec.IssuerRef.Kind != "ClusterIssuer" || cert.Spec.IssuerRef.Group != "cert-manager.io" {
		t.Errorf("Certificate issuerRef %+v", cert.Spec.IssuerRef)
	}
	certDir, ok := flagValue(c.Args, "license-api-cert-dir")
	if !ok {
		t.Fatal("with certManager.enabled the manager needs --license-api-cert-dir")
	}
	// The manager refuses --license-api-cert-hosts with a certificate directory.
	if _, ok := flagValue(c.Args, "license-api-cert-hosts"); ok {
		t.Error("--license-api-cert-hosts with --license-api-cert-dir: the manager refuses to start")
	}
	mount := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == certDir })
	if mount < 0 {
		t.Fatalf("nothing is mounted at --license-api-cert-dir=%s", certDir)
	}
	vol := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[mount].Name })
	if vol < 0 || pod.Volumes[vol].Secret == nil || pod.Volumes[vol].Secret.SecretName != cert.Spec.SecretName {
		t.Errorf("--license-api-cert-dir must mount the Certificate's Secret %s", cert.Spec.SecretName)
	}

	mons := ofKind(objs, "ServiceMonitor")
	if len(mons) != 1 {
		t.Fatalf("want one ServiceMonitor, got %v", names(mons))
	}
	metricsSvc := svcs["kubelicense-metrics"]
	selector, _, _ := unstructured.NestedStringMap(mons[0].Object, "spec", "selector", "matchLabels")
	if metricsSvc == nil || !isSubset(selector, metricsSvc.Labels) || isSubset(selector, svcs[licenseAPIService].Labels) {
		t.Errorf("the ServiceMonitor must select the metrics Service, and only it (selector %v)", selector)
	}
	endpoints, _, _ := unstructured.NestedSlice(mons[0].Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("want one ServiceMonitor endpoint, got %d", len(endpoints))
	}
	if ep := endpoints[0].(map[string]any); ep["port"] != "https" || ep["scheme"] != "https" || ep["path"] != "/metrics" || ep["bearerTokenFile"] == nil {
		t.Errorf("endpoint %v must scrape https /metrics with the scraper's token", ep)
	}
	if mons[0].GetLabels()["release"] != "prometheus" {
		t.Error("serviceMonitor.labels are not on the ServiceMonitor")
	}

	pols := typedAll[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy")
	if len(pols) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(pols))
	}
	if !isSubset(pols[0].Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Errorf("NetworkPolicy selects %v, not the manager pods", pols[0].Spec.PodSelector.MatchLabels)
	}
	open := map[string]bool{}
	for _, rule := range pols[0].Spec.Ingress {
		if len(rule.From) == 0 {
			t.Errorf("ingress rule %+v admits anyone; ci values restrict every port", rule)
		}
		for _, p := range rule.Ports {
			open[":"+p.Port.String()] = true
		}
	}
	for _, flag := range []string{"metrics-bind-address", "license-api-bind-address"} {
		if addr, _ := flagValue(c.Args, flag); !open[addr] {
			t.Errorf("NetworkPolicy does not admit --%s=%s", flag, addr)
		}
	}

	pdbs := typedAll[policyv1.PodDisruptionBudget](t, objs, "PodDisruptionBudget")
	if len(pdbs) != 1 || pdbs[0].Spec.MinAvailable.String() != "2" {
		t.Errorf("want a PodDisruptionBudget with minAvailable 2, got %v", names(ofKind(objs, "PodDisruptionBudget")))
	}
}

// TestHelmPartsOff: with metrics, the license API, leader election and the user
// roles off, nothing serves them, grants them or points at them.
func TestHelmPartsOff(t *testing.T) {
	objs := helmTemplate(t, "--set", "metrics.enabled=false", "--set", "licenseAPI.enabled=false",
		"--set", "replicaCount=1", "--set", "leaderElection.enabled=false", "--set", "rbac.userRoles=false")
	_, c := checkChartManager(t, objs)
	if v, _ := flagValue(c.Args, "leader-elect"); v != "false" {
		t.Errorf("--leader-elect=%q with leaderElection.enabled=false", v)
	}
	if roles := ofKind(objs, "Role"); len(roles) != 0 {
		t.Errorf("Roles %v without leader election", names(roles))
	}
	for _, flag := range []string{"metrics-bind-address", "license-api-bind-address"} {
		if v, _ := flagValue(c.Args, flag); v != "0" {
			t.Errorf("--%s=%q, want 0 (off)", flag, v)
		}
	}
	if svcs := ofKind(objs, "Service"); len(svcs) != 0 {
		t.Errorf("Services %v for endpoints that are off", names(svcs))
	}
	if len(c.Ports) != 1 || c.Ports[0].Name != "health" {
		t.Errorf("container ports %v, want only health", c.Ports)
	}
	if roles := names(ofKind(objs, "ClusterRole")); !slices.Equal(roles, []string{"ClusterRole/" + namePrefix + "manager-role"}) {
		t.Errorf("ClusterRoles %v; with metrics and the user roles off, only the manager's", roles)
	}
}

// TestHelmRefusesBadValues: a typo or a wrong type in values fails `helm
// install` with a message naming it (values.schema.json), and so do values the
// manager would refuse at start.
func TestHelmRefusesBadValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown top-level key", []string{"--set", "replicaCont=3"}, "replicaCont"},
		{"unknown nested key", []string{"--set", "image.tagg=v1"}, "tagg"},
		{"unknown key under an optional part", []string{"--set", "serviceMonitor.enable=true"}, "enable"},
		{"wrong type", []string{"--set", "replicaCount=two"}, "replicaCount"},
		{"not in the enum", []string{"--set", "podAntiAffinity=sometimes"}, "podAntiAffinity"},
		{"bad digest", []string{"--set", "image.digest=latest"}, "digest"},
		{"flag not starting with --", []string{"--set", "extraArgs[0]=kube-api-qps=5"}, "extraArgs"},
		{"cert-manager without issuer", []string{"--set", "certManager.enabled=true"}, "certManager.issuerRef.name is required"},
		{"replicas without leader election", []string{"--set", "leaderElection.enabled=false"}, "leaderElection.enabled must be true"},
		{"leader election timings", []string{"--set", "leaderElection.renewDeadlineSeconds=20"}, "retryPeriodSeconds < renewDeadlineSeconds < leaseDurationSeconds"},
		{"grace period within the shutdown timeout", []string{"--set", "terminationGracePeriodSeconds=30"}, "terminationGracePeriodSeconds (30) must be larger"},
		{"PDB that blocks drains", []string{"--set", "podDisruptionBudget.minAvailable=2"}, "must be smaller than replicaCount"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if msg := helmTemplateFails(t, tc.args...); !strings.Contains(msg, tc.want) {
				t.Errorf("helm template %v fails with\n%s\nwhich does not mention %q", tc.args, msg, tc.want)
			}
		})
	}
}

// configRoles are the Roles and ClusterRoles of config/rbac, by file name.
func configRoles(t *testing.T) map[string]*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "rbac", "*role.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no config/rbac/*role.yaml: %v", err)
	}
	out := map[string]*unstructured.Unstructured{}
	for _, f := range files {
		objs := decodeAll(t, readFile(t, filepath.Join("config", "rbac", filepath.Base(f))))
		if len(objs) != 1 || (objs[0].GetKind() != "Role" && objs[0].GetKind() != "ClusterRole") {
			t.Fatalf("%s: want one Role or ClusterRole", f)
		}
		out[filepath.Base(f)] = objs[0]
	}
	return out
}

// TestHelmRBACMatchesConfig: the chart grants exactly what config/rbac grants
// (role.yaml is generated from the +kubebuilder:rbac markers), role by role.
func TestHelmRBACMatchesConfig(t *testing.T) {
	objs := helmTemplate(t)
	chart := rules(t, objs)
	want := map[string][]rbacv1.PolicyRule{}
	for file, u := range configRoles(t) {
		var rs []rbacv1.PolicyRule
		if u.GetKind() == "Role" {
			rs = typed[rbacv1.Role](t, u).Rules
		} else {
			rs = typed[rbacv1.ClusterRole](t, u).Rules
		}
		key := u.GetKind() + "/" + namePrefix + u.GetName()
		want[key] = rs
		got, ok := chart[key]
		if !ok {
			t.Errorf("the chart renders no %s for config/rbac/%s", key, file)
		} else if !equality.Semantic.DeepEqual(got, rs) {
			t.Errorf("%s differs from config/rbac/%s (run make manifests):\n got %+v\nwant %+v", key, file, got, rs)
		}
	}
	for key := range chart {
		if _, ok := want[key]; !ok {
			t.Errorf("the chart renders %s, which config/rbac does not have", key)
		}
	}

	// The manager's service account holds the manager, metrics and leader election roles, nothing else.
	sa := namespace + "/" + namePrefix + "controller-manager"
	var bound []string
	for _, b := range typedAll[rbacv1.ClusterRoleBinding](t, objs, "ClusterRoleBinding") {
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace+"/"+s.Name == sa {
				bound = append(bound, b.RoleRef.Kind+"/"+b.RoleRef.Name)
			}
		}
	}
	for _, b := range typedAll[rbacv1.RoleBinding](t, objs, "RoleBinding") {
		for _, s := range b.Subjects {
			if s.Kind == rbacv1.ServiceAccountKind && s.Namespace+"/"+s.Name == sa && b.Namespace == namespace {
				bound = append(bound, b.RoleRef.Kind+"/"+b.RoleRef.Name)
			}
		}
	}
	slices.Sort(bound)
	if wantBound := []string{
		"ClusterRole/" + namePrefix + "manager-role", "ClusterRole/" + namePrefix + "metrics-auth-role", "Role/" + namePrefix + "leader-election-role",
	}; !slices.Equal(bound, wantBound) {
		t.Errorf("the manager is bound to %v, want exactly %v", bound, wantBound)
	}
}

// TestHelmFilesAreCopies: files/crds and files/rbac are what `make manifests`
// copies from config/, byte for byte, and nothing else.
func TestHelmFilesAreCopies(t *testing.T) {
	root := testenv.RepoRoot()
	for src, dst := range map[string]string{
		"config/crd/bases/*.yaml": chartDir + "/files/crds",
		"config/rbac/*role.yaml":  chartDir + "/files/rbac",
	} {
		files, _ := filepath.Glob(filepath.Join(root, src))
		copies, _ := filepath.Glob(filepath.Join(root, dst, "*"))
		if len(copies) != len(files) {
			t.Errorf("%s has %d files, %s %d: run make manifests", dst, len(copies), src, len(files))
		}
		for _, f := range files {
			rel, _ := filepath.Rel(root, f)
			copyRel := filepath.Join(dst, filepath.Base(f))
			if got, err := os.ReadFile(filepath.Join(root, copyRel)); err != nil || !bytes.Equal(got, readFile(t, rel)) {
				t.Errorf("%s is not a copy of %s: run make manifests", copyRel, rel)
			}
		}
	}
}

// TestHelmCRDs: the chart installs config/crd/bases unchanged but for its labels
// and, with crds.keep, the annotation that keeps them on uninstall.
func TestHelmCRDs(t *testing.T) {
	want := map[string]*unstructured.Unstructured{}
	for _, o := range render(t, "config/crd") {
		want[o.GetName()] = o
	}
	for _, keep := range []bool{true, false} {
		crds := ofKind(helmTemplate(t, "--set", "crds.keep="+strconv.FormatBool(keep)), "CustomResourceDefinition")
		if len(crds) != len(want) {
			t.Errorf("the chart renders %d CRDs, config/crd %d", len(crds), len(want))
		}
		for _, crd := range crds {
			annotations := crd.GetAnnotations()
			if (annotations["helm.sh/resource-policy"] == "keep") != keep {
				t.Errorf("crds.keep=%v: CRD %s has helm.sh/resource-policy %q", keep, crd.GetName(), annotations["helm.sh/resource-policy"])
			}
			delete(annotations, "helm.sh/resource-policy")
			crd.SetAnnotations(annotations)
			if crd.GetLabels()["app.kubernetes.io/managed-by"] != "Helm" {
				t.Errorf("CRD %s lacks the chart's labels", crd.GetName())
			}
			crd.SetLabels(nil)
			if w, ok := want[crd.GetName()]; !ok {
				t.Errorf("the chart renders CRD %s, which config/crd does not have", crd.GetName())
			} else if !equality.Semantic.DeepEqual(crd.Object, w.Object) {
				t.Errorf("CRD %s differs from config/crd/bases", crd.GetName())
			}
		}
	}
	if crds := ofKind(helmTemplate(t, "--set", "crds.enabled=false"), "CustomResourceDefinition"); len(crds) != 0 {
		t.Errorf("crds.enabled=false still renders %d CRDs", len(crds))
	}
}

// makeVar is the value the Makefile gives a variable (with no override from the environment).
func makeVar(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", testenv.RepoRoot(), "--eval", "print-var: ; @echo $("+name+")", "print-var")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, name+"=") || strings.HasPrefix(e, "MAKEFLAGS=") })
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make print %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// TestHelmVersionsAgree: Chart.yaml's version and appVersion, the image the chart
// renders and the Makefile's VERSION and IMG name the same release.
func TestHelmVersionsAgree(t *testing.T) {
	var chart struct {
		APIVersion, Name, Version, AppVersion string
	}
	if err := yaml.Unmarshal(readFile(t, chartDir+"/Chart.yaml"), &chart); err != nil {
		t.Fatal(err)
	}
	version, img := makeVar(t, "VERSION"), makeVar(t, "IMG")
	if chart.APIVersion != "v2" || chart.Name != "kubelicense" {
		t.Errorf("Chart.yaml: apiVersion %q name %q, want v2 kubelicense", chart.APIVersion, chart.Name)
	}
	if chart.Version != version || chart.AppVersion != "v"+version {
		t.Errorf("Chart.yaml version %q appVersion %q; the Makefile's VERSION is %q (want %s and v%s)", chart.Version, chart.AppVersion, version, version, version)
	}
	var values struct {
		Image struct{ Repository, Tag string }
	}
	if err := yaml.Unmarshal(readFile(t, chartDir+"/values.yaml"), &values); err != nil {
		t.Fatal(err)
	}
	if values.Image.Tag != "" && values.Image.Tag != chart.AppVersion {
		t.Errorf("values.yaml image.tag %q, Chart.yaml appVersion %q: leave the tag empty (it defaults to appVersion)", values.Image.Tag, chart.AppVersion)
	}
	_, c := managerDeployment(t, helmTemplate(t))
	if c.Image != img || c.Image != values.Image.Repository+":"+chart.AppVersion {
		t.Errorf("the chart runs image %q; the Makefile's IMG is %q and the chart's appVersion %q", c.Image, img, chart.AppVersion)
	}
}
