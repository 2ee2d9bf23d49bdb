package licensemetrics

import (
	"slices"
	"testing"
)

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                       false,
		"gzip":                   true,
		"GZIP":                   true,
		"identity":               false,
		"deflate, gzip;q=1.0, *": true,
		"gzip;q=0":               false,
		"gzip; q=0.5":            true,
		"gzipx":                  false,
		"br, zstd":               false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", header, got, want)
		}
	}
}

// Every gauge the collector gives out is declared with its name and help.
func TestEveryGaugeHasAFamily(t *testing.T) {
	seen := map[string]bool{}
	for i, f := range gaugeFamilies {
		if f.name == "" || f.help == "" || seen[f.name] || !slices.IsSorted(f.sortedNames) || len(f.sortedNames) > maxLabels {
			t.Errorf("family %d (%s): help %q, seen before %v, labels %v", i, f.name, f.help, seen[f.name], f.sortedNames)
		}
		seen[f.name] = true
	}
	if len(gaugeFamilies) != 13 {
		t.Errorf("%d gauge families, want the 13 of docs/observability.md", len(gaugeFamilies))
	}
}
