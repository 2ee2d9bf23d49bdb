package config

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/kubelicense/kubelicense/internal/licensemetrics"
	"github.com/kubelicense/kubelicense/internal/testenv"
)

const dashboardFile = "config/grafana/kubelicense.json"

type dashboardPanel struct {
	ID         int              `json:"id"`
	Title      string           `json:"title"`
	Type       string           `json:"type"`
	Datasource *datasourceRef   `json:"datasource"`
	Targets    []panelTarget    `json:"targets"`
	Panels     []dashboardPanel `json:"panels"` // rows
}

type panelTarget struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	UID        string           `json:"uid"`
	Title      string           `json:"title"`
	Panels     []dashboardPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name       string         `json:"name"`
			Type       string         `json:"type"`
			Query      any            `json:"query"`
			Datasource *datasourceRef `json:"datasource"`
		} `json:"list"`
	} `json:"templating"`
}

// TestGrafanaDashboard: the dashboard is valid JSON with unique panel ids, its
// data source is a template variable, every query parses as PromQL (promtool
// checks them wrapped in recording rules) and names only metrics the manager
// serves.
func TestGrafanaDashboard(t *testing.T) {
	data := readFile(t, dashboardFile)
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("the dashboard needs a uid and a title (got %q, %q)", d.UID, d.Title)
	}

	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" {
		t.Fatalf("the dashboard needs a datasource template variable named datasource, got %v", vars)
	}
	templated := func(where string, ds *datasourceRef) {
		if ds == nil || ds.UID != "${datasource}" || ds.Type != "prometheus" {
			t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", where, ds)
		}
	}

	known := servedMetrics(t)
	var rules []map[string]string
	ids := map[int]string{}
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			if prev, dup := ids[p.ID]; dup || p.ID <= 0 {
				t.Errorf("panel %q: id %d is not a unique positive id (also %q)", p.Title, p.ID, prev)
			}
			ids[p.ID] = p.Title
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if len(p.Targets) == 0 {
				t.Errorf("panel %d %q has no query", p.ID, p.Title)
			}
			templated(fmt.Sprintf("panel %d", p.ID), p.Datasource)
			for _, tg := range p.Targets {
				where := fmt.Sprintf("panel %d %q query %s", p.ID, p.Title, tg.RefID)
				templated(where, tg.Datasource)
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s has no expr", where)
					continue
				}
				checkMetricNames(t, where, tg.Expr, known)
				rules = append(rules, map[string]string{
					"record": "dashboard:panel_" + strconv.Itoa(p.ID) + ":" + tg.RefID,
					"expr":   grafanaToPromQL(tg.Expr),
				})
			}
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		templated("variable "+v.Name, v.Datasource)
		q, _ := v.Query.(map[string]any)
		text, _ := q["query"].(string)
		checkMetricNames(t, "variable "+v.Name, text, known)
	}

	// Every query parses: promtool check rules on them as recording rules.
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "dashboard.yaml"), out, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, dir, "check", "rules", "dashboard.yaml")

	for _, want := range []string{"kubelicense_license_state", "kubelicense_license_expiration_timestamp_seconds", "kubelicense_license_seats_in_use", "kubelicense_license_api_requests_total"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("the dashboard shows no %s (licenses by state, upcoming expiries, seat use, license API)", want)
		}
	}
}

// TestAlertMetricsExist: the alerts name only metrics the manager serves.
func TestAlertMetricsExist(t *testing.T) {
	known := servedMetrics(t)
	for _, r := range alertList(t) {
		checkMetricNames(t, "alert "+r.Alert, r.Expr, known)
	}
}

// grafanaToPromQL replaces Grafana's variables by values of their kind.
func grafanaToPromQL(expr string) string {
	return strings.NewReplacer(
		"$__rate_interval", "5m", "${__rate_interval}", "5m",
		"${namespace}", ".*", "$namespace", ".*",
		"${product}", ".*", "$product", ".*",
	).Replace(expr)
}

var metricName = regexp.MustCompile(`\bkubelicense_[a-z0-9_]+`)

// checkMetricNames: every kubelicense_ metric in expr is served (a histogram's
// _bucket, _sum and _count series by their histogram).
func checkMetricNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, name := range metricName.FindAllString(expr, -1) {
		base := name
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if b, ok := strings.CutSuffix(name, suffix); ok && known[b] {
				base = b
			}
		}
		if !known[base] {
			t.Errorf("%s uses %s, which the manager does not serve (licensemetrics' Describe, internal/licenseapi/metrics.go)", where, name)
		}
	}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// servedMetrics are the names the collector describes plus those the license
// API and the webhook deliveries declare (read from the Name fields of their
// metrics.go: the license API's collectors are unexported).
func servedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	known := map[string]bool{}
	ch := make(chan *prometheus.Desc, 64)
	go func() { licensemetrics.New(nil).Describe(ch); close(ch) }()
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		known[m[1]] = true
	}
	for pkg, want := range map[string]string{
		"licenseapi": "kubelicense_license_api_requests_total",
		"webhook":    "kubelicense_webhook_deliveries_total",
	} {
		names := metricNamesDeclared(t, filepath.Join(testenv.RepoRoot(), "internal", pkg, "metrics.go"))
		if !slices.Contains(names, want) {
			t.Fatalf("found no %s in internal/%s/metrics.go (got %v)", want, pkg, names)
		}
		for _, n := range names {
			known[n] = true
		}
	}
	return known
}

// metricNamesDeclared are the string literals given as Name in the Go file at path.
func metricNamesDeclared(t *testing.T, path string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		kv, ok := n.(*ast.KeyValueExpr)
		if !ok {
			return true
		}
		if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "Name" {
			if lit, ok := kv.Value.(*ast.BasicLit); ok && lit.Kind == token.STRING {
				if s, err := strconv.Unquote(lit.Value); err == nil {
					names = append(names, s)
				}
			}
		}
		return true
	})
	return names
}
