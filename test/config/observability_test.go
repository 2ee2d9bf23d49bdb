package config

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kubelicense/kubelicense/internal/licensemetrics"
)

// docSection is the text of the section of doc under the heading line
// heading, up to the next heading of the same or a higher level.
func docSection(t *testing.T, doc, heading string) string {
	t.Helper()
	level := heading[:strings.IndexFunc(heading, func(r rune) bool { return r != '#' })]
	var out []string
	in := false
	for _, line := range strings.Split(doc, "\n") {
		if in && strings.HasPrefix(line, "#") && strings.HasPrefix(line, level) && !strings.HasPrefix(line, level+"#") {
			break
		}
		if line == heading {
			in = true
			continue
		}
		if in {
			out = append(out, line)
		}
	}
	if !in {
		t.Fatalf("%s has no heading %q", observabilityDoc, heading)
	}
	return strings.Join(out, "\n")
}

var metricRow = regexp.MustCompile("(?m)^\\| `(kubelicense_[a-z0-9_]+)` \\| (\\w+) \\| ([^|]*) \\|")

// TestObservabilityMetricsTable: the metrics table of docs/observability.md
// lists every metric the manager serves and no other, and for the collector's
// metrics (the contract's names and labels) the labels the manager gives them.
func TestObservabilityMetricsTable(t *testing.T) {
	table := docSection(t, string(readFile(t, observabilityDoc)), "## Metrics")
	documented := map[string][]string{}
	for _, m := range metricRow.FindAllStringSubmatch(table, -1) {
		if _, dup := documented[m[1]]; dup {
			t.Errorf("%s lists %s twice", observabilityDoc, m[1])
		}
		var labels []string
		for _, l := range strings.Split(m[3], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		documented[m[1]] = labels
	}
	served := servedMetrics(t)
	for name := range served {
		if _, ok := documented[name]; !ok {
			t.Errorf("the manager serves %s, which the metrics table of %s does not list", name, observabilityDoc)
		}
	}
	for name := range documented {
		if !served[name] {
			t.Errorf("%s lists %s, which the manager does not serve", observabilityDoc, name)
		}
	}

	ch := make(chan *prometheus.Desc, 64)
	go func() { licensemetrics.New(nil).Describe(ch); close(ch) }()
	variable := regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	for d := range ch {
		name := fqName.FindStringSubmatch(d.String())[1]
		var labels []string
		if m := variable.FindStringSubmatch(d.String()); m != nil && m[1] != "" {
			labels = strings.Split(m[1], ",")
		}
		if doc, ok := documented[name]; ok && !slices.Equal(doc, labels) {
			t.Errorf("%s documents %s with labels %v; the manager gives it %v", observabilityDoc, name, doc, labels)
		}
	}
}

// TestObservabilityReceiverExample: the Go receiver in docs/observability.md
// is receiverHandler of internal/webhook/example_test.go, which
// TestExampleReceiver runs against what the operator sends.
func TestObservabilityReceiverExample(t *testing.T) {
	section := docSection(t, string(readFile(t, observabilityDoc)), "### Receiving and verifying (Go)")
	block := regexp.MustCompile("(?s)```go\n(.*?)\n```").FindStringSubmatch(section)
	if block == nil {
		t.Fatalf("the section has no Go example")
	}
	src := string(readFile(t, "internal/webhook/example_test.go"))
	fn := regexp.MustCompile(`(?ms)^func receiverHandler\(.*?^}$`).FindString(src)
	if fn == "" {
		t.Fatal("internal/webhook/example_test.go has no func receiverHandler")
	}
	if block[1] != fn {
		t.Errorf("the receiver in %s differs from receiverHandler in internal/webhook/example_test.go; copy the function:\n%s", observabilityDoc, fn)
	}
}
