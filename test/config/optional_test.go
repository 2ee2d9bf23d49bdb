package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

// renderDefaultWith renders config/default with the commented-out optional
// resources (../prometheus, ../network-policy) switched on, from a copy of config/.
func renderDefaultWith(t *testing.T, optional ...string) []*unstructured.Unstructured {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join(testenv.RepoRoot(), "config"))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "default", "kustomization.yaml")
	k, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(k)
	for _, o := range optional {
		line := "#- ../" + o + "\n"
		if !strings.Contains(text, line) {
			t.Fatalf("config/default/kustomization.yaml has no line %q to switch on %s", strings.TrimSpace(line), o)
		}
		text = strings.Replace(text, line, "- ../"+o+"\n", 1)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return render(t, filepath.Join(dir, "default"))
}

func TestPrometheusServiceMonitor(t *testing.T) {
	objs := renderDefaultWith(t, "prometheus")
	mons := ofKind(objs, "ServiceMonitor")
	if len(mons) != 1 {
		t.Fatalf("want one ServiceMonitor, got %v", names(mons))
	}
	mon := mons[0]
	if mon.GetNamespace() != namespace || !strings.HasPrefix(mon.GetName(), namePrefix) {
		t.Errorf("ServiceMonitor %s/%s misses the default namespace or prefix", mon.GetNamespace(), mon.GetName())
	}
	svc := typedAll[corev1.Service](t, objs, "Service")[0]

	selector, _, _ := unstructured.NestedStringMap(mon.Object, "spec", "selector", "matchLabels")
	if !isSubset(selector, svc.Labels) {
		t.Errorf("ServiceMonitor selects %v; the metrics Service has labels %v", selector, svc.Labels)
	}
	endpoints, _, _ := unstructured.NestedSlice(mon.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("want one endpoint, got %d", len(endpoints))
	}
	ep := endpoints[0].(map[string]any)
	if ep["port"] != svc.Spec.Ports[0].Name || ep["scheme"] != "https" || ep["path"] != "/metrics" {
		t.Errorf("endpoint %v must scrape https://<%s>/metrics", ep, svc.Spec.Ports[0].Name)
	}
	// The manager answers only scrapers it can authenticate.
	if token, _ := ep["bearerTokenFile"].(string); token == "" {
		t.Error("endpoint sends no bearer token; the secure metrics endpoint would answer 401")
	}
}

// TestNetworkPolicyAllowsMetricsAndLicenseAPI: with the optional policies on,
// the metrics port and the license API port both stay reachable (a policy
// selecting the pods denies every port it does not admit).
func TestNetworkPolicyAllowsMetricsAndLicenseAPI(t *testing.T) {
	objs := renderDefaultWith(t, "prometheus", "network-policy")
	d, c := managerDeployment(t, objs)
	pols := typedAll[networkingv1.NetworkPolicy](t, objs, "NetworkPolicy")
	if len(pols) != 2 {
		t.Fatalf("want two NetworkPolicies (metrics, license API), got %d", len(pols))
	}
	var ports []string
	for _, p := range pols {
		if !isSubset(p.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("NetworkPolicy %s selects %v, not the manager pods %v", p.Name, p.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels)
		}
		for _, rule := range p.Spec.Ingress {
			for _, port := range rule.Ports {
				ports = append(ports, ":"+port.Port.String())
			}
		}
	}
	for _, flag := range []string{"metrics-bind-address", "license-api-bind-address"} {
		addr, _ := flagValue(c.Args, flag)
		if !slices.Contains(ports, addr) {
			t.Errorf("the NetworkPolicies open %v, not --%s=%s", ports, flag, addr)
		}
	}
}
