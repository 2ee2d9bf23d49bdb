package config

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

const (
	alertsFile       = "config/prometheus/alerts.yaml"
	observabilityDoc = "docs/observability.md"
	runbookBase      = "https://github.com/kubelicense/kubelicense/blob/main/" + observabilityDoc + "#"
)

// promtool returns bin/promtool (see makeTool).
var promtool = makeTool("promtool")

// runPromtool runs promtool in dir and fails the test with its output on error.
func runPromtool(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(promtool(t), args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// alertRules is config/prometheus/alerts.yaml, the PrometheusRule object.
func alertRules(t *testing.T) *unstructured.Unstructured {
	t.Helper()
	objs := decodeAll(t, readFile(t, alertsFile))
	if len(objs) != 1 || objs[0].GetKind() != "PrometheusRule" || objs[0].GetAPIVersion() != "monitoring.coreos.com/v1" {
		t.Fatalf("%s must hold one monitoring.coreos.com/v1 PrometheusRule, got %v", alertsFile, names(objs))
	}
	return objs[0]
}

// writeRuleFile writes the PrometheusRule's spec (a Prometheus rule file: groups)
// to dir/rules.yaml.
func writeRuleFile(t *testing.T, dir string, rule *unstructured.Unstructured) {
	t.Helper()
	spec, ok := rule.Object["spec"].(map[string]any)
	if !ok {
		t.Fatalf("%s has no spec", alertsFile)
	}
	data, err := yaml.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "rules.yaml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPrometheusRules: promtool checks the rules and runs their unit tests
// (testdata/prometheus/alerts_test.yaml), which model each alert firing and
// not firing, auto-renewing subscriptions and two replicas included.
func TestPrometheusRules(t *testing.T) {
	dir := t.TempDir()
	writeRuleFile(t, dir, alertRules(t))
	runPromtool(t, dir, "check", "rules", "rules.yaml")

	tests := readFile(t, "test/config/testdata/prometheus/alerts_test.yaml")
	if err := os.WriteFile(filepath.Join(dir, "alerts_test.yaml"), tests, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "test", "rules", "alerts_test.yaml")

	// Every alert has a unit test that expects it to fire.
	firing := map[string]bool{}
	var suite struct {
		Tests []struct {
			AlertRuleTest []struct {
				AlertName string           `json:"alertname"`
				ExpAlerts []map[string]any `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal(tests, &suite); err != nil {
		t.Fatal(err)
	}
	for _, tc := range suite.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.AlertName] = true
			}
		}
	}
	for _, r := range alertList(t) {
		if !firing[r.Alert] {
			t.Errorf("alert %s has no promtool test in which it fires", r.Alert)
		}
	}
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alertList(t *testing.T) []alertRule {
	t.Helper()
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []alertRule `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(readFile(t, alertsFile), &rule); err != nil {
		t.Fatal(err)
	}
	var out []alertRule
	for _, g := range rule.Spec.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// TestAlertsHaveRunbooks: each alert has a severity, a summary, a description
// and a runbook_url whose anchor is a heading of docs/observability.md.
func TestAlertsHaveRunbooks(t *testing.T) {
	anchors := markdownAnchors(string(readFile(t, observabilityDoc)))
	want := []string{
		"KubelicenseLicenseExpiringIn30Days", "KubelicenseLicenseExpiringIn7Days", "KubelicenseLicenseInGracePeriod",
		"KubelicenseLicenseExpired", "KubelicenseSeatsExhausted", "KubelicenseLicenseeNotReady",
		"KubelicenseProductSigningKeyUnavailable", "KubelicenseLicenseAPIErrors",
	}
	seen := map[string]bool{}
	for _, r := range alertList(t) {
		seen[r.Alert] = true
		switch r.Labels["severity"] {
		case "critical", "warning", "info":
		default:
			t.Errorf("alert %s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("alert %s has no %s annotation", r.Alert, a)
			}
		}
		url := r.Annotations["runbook_url"]
		anchor, ok := strings.CutPrefix(url, runbookBase)
		if !ok || !anchors[anchor] {
			t.Errorf("alert %s: runbook_url %q must be %s<anchor of a heading in %s>", r.Alert, url, runbookBase, observabilityDoc)
		}
		if anchor != strings.ToLower(r.Alert) {
			t.Errorf("alert %s: runbook anchor %q, want the alert's own section #%s", r.Alert, anchor, strings.ToLower(r.Alert))
		}
	}
	for _, w := range want {
		if !seen[w] {
			t.Errorf("%s has no alert %s", alertsFile, w)
		}
	}
}

// markdownAnchors are the anchors GitHub gives the headings of a Markdown page.
func markdownAnchors(doc string) map[string]bool {
	out := map[string]bool{}
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		a := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")
		out[a] = true
	}
	return out
}

// TestPrometheusRuleOptional: the rule comes with config/prometheus, named and
// namespaced like the rest, and its scrape keeps the metrics' namespace label.
func TestPrometheusRuleOptional(t *testing.T) {
	objs := renderDefaultWith(t, "prometheus")
	rules := ofKind(objs, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule with config/prometheus, got %v", names(rules))
	}
	if r := rules[0]; r.GetNamespace() != namespace || !strings.HasPrefix(r.GetName(), namePrefix) {
		t.Errorf("PrometheusRule %s/%s misses the default namespace or prefix", r.GetNamespace(), r.GetName())
	}
	mon := ofKind(objs, "ServiceMonitor")[0]
	eps, _, _ := unstructured.NestedSlice(mon.Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["honorLabels"] != true {
		t.Errorf("the ServiceMonitor endpoint must set honorLabels: true, or the licensing namespace label becomes exported_namespace: %v", eps)
	}
}

// TestChartPrometheusRule: prometheusRule.enabled renders the same rules as
// config/prometheus, from the copy `make manifests` keeps in the chart.
func TestChartPrometheusRule(t *testing.T) {
	copied := filepath.Join(testenv.RepoRoot(), chartDir, "files", "prometheus", "alerts.yaml")
	if got, err := os.ReadFile(copied); err != nil || string(got) != string(readFile(t, alertsFile)) {
		t.Fatalf("%s differs from %s (err %v): run `make manifests`", copied, alertsFile, err)
	}
	objs := helmTemplate(t, "--set", "prometheusRule.enabled=true", "--set", "prometheusRule.labels.release=prometheus")
	rules := ofKind(objs, "PrometheusRule")
	if len(rules) != 1 {
		t.Fatalf("want one PrometheusRule, got %v", names(rules))
	}
	r := rules[0]
	if r.GetNamespace() != namespace || r.GetLabels()["release"] != "prometheus" {
		t.Errorf("PrometheusRule %s/%s with labels %v: want the release namespace and prometheusRule.labels", r.GetNamespace(), r.GetName(), r.GetLabels())
	}
	if !equality.Semantic.DeepEqual(r.Object["spec"], alertRules(t).Object["spec"]) {
		t.Error("the chart's PrometheusRule spec differs from config/prometheus/alerts.yaml")
	}
	if len(ofKind(helmTemplate(t), "PrometheusRule")) > 0 {
		t.Error("the chart renders a PrometheusRule by default; it must stay optional")
	}
	mons := ofKind(helmTemplate(t, "--set", "serviceMonitor.enabled=true"), "ServiceMonitor")
	eps, _, _ := unstructured.NestedSlice(mons[0].Object, "spec", "endpoints")
	if len(eps) != 1 || eps[0].(map[string]any)["honorLabels"] != true {
		t.Errorf("the chart's ServiceMonitor endpoint must set honorLabels: true: %v", eps)
	}
	msg := helmTemplateFails(t, "--set", "prometheusRule.enabled=true", "--set", "metrics.enabled=false")
	if !strings.Contains(msg, "prometheusRule.enabled needs metrics.enabled") {
		t.Errorf("prometheusRule without metrics: %s", msg)
	}
}
