package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
)

// printLicenseMetrics scrapes the manager's metrics endpoint, as Prometheus
// would, and prints the license, licensee and Product series of the demo's namespace.
// State series at 0 and histogram buckets are left out to keep it short;
// the lines are sorted (the manager writes a family's series in its cache's
// order).
func printLicenseMetrics(ctx context.Context, url string) error {
	step("License metrics of namespace " + namespace + " (GET " + url + "; docs/observability.md)")
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("scrape the manager's metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("scrape the manager's metrics: %s", resp.Status)
	}
	var printed []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !(strings.HasPrefix(line, "kubelicense_license_") || strings.HasPrefix(line, "kubelicense_licensee_") || strings.HasPrefix(line, "kubelicense_product_")) ||
			strings.HasPrefix(line, "kubelicense_license_api_") || strings.Contains(line, "_bucket{") ||
			!strings.Contains(line, `namespace="`+namespace+`"`) ||
			(strings.HasPrefix(line, "kubelicense_license_state{") && strings.HasSuffix(line, " 0")) {
			continue
		}
		printed = append(printed, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read the manager's metrics: %w", err)
	}
	if len(printed) == 0 {
		return fmt.Errorf("the manager's metrics (%s) have no license series for namespace %s", url, namespace)
	}
	slices.Sort(printed)
	fmt.Println(strings.Join(printed, "\n"))
	return nil
}
