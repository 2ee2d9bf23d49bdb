package licensemetrics_test

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/licensemetrics"
)

// gauges are the kubelicense gauge families of a scrape: name -> series key
// ("k=v,..." in label order) -> value.
type gauges map[string]map[string]float64

func gaugesOf(families []*dto.MetricFamily) (gauges, error) {
	out := gauges{}
	for _, mf := range families {
		if !strings.HasPrefix(mf.GetName(), "kubelicense_") || mf.GetType() != dto.MetricType_GAUGE {
			continue
		}
		if out[mf.GetName()] != nil {
			return nil, fmt.Errorf("family %s written twice", mf.GetName())
		}
		series := map[string]float64{}
		for _, m := range mf.Metric {
			var pairs []string
			for _, lp := range m.Label {
				pairs = append(pairs, lp.GetName()+"="+lp.GetValue())
			}
			if !slices.IsSorted(pairs) {
				return nil, fmt.Errorf("%s: label pairs not sorted: %v", mf.GetName(), pairs)
			}
			key := strings.Join(pairs, ",")
			if _, dup := series[key]; dup {
				return nil, fmt.Errorf("%s{%s} written twice", mf.GetName(), key)
			}
			series[key] = m.GetGauge().GetValue()
		}
		out[mf.GetName()] = series
	}
	return out, nil
}

// gathered is what a pedantic registry with the collector alone gathers,
// the collector listing from the API server (the scrape handler reads the
// informers' stores).
func gathered() (gauges, error) {
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(licensemetrics.New(k8sClient)); err != nil {
		return nil, err
	}
	mfs, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	return gaugesOf(mfs)
}

const protoDelimited = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited"

// scrapeAs scrapes the metrics endpoint asking for accept (text when empty),
// with gzip or without, and checks the answer says what it is.
func scrapeAs(url, accept string, compressed bool) (gauges, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if compressed {
		req.Header.Set("Accept-Encoding", "gzip")
	} else {
		req.Header.Set("Accept-Encoding", "identity") // or net/http asks for gzip itself
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	body := io.Reader(resp.Body)
	if got := resp.Header.Get("Content-Encoding"); (got == "gzip") != compressed {
		return nil, fmt.Errorf("Content-Encoding %q, gzip asked: %v", got, compressed)
	}
	if compressed {
		gz, err := gzip.NewReader(resp.Body)
		if err != nil {
			return nil, err
		}
		body = gz
	}
	contentType := resp.Header.Get("Content-Type")
	var mfs []*dto.MetricFamily
	if accept == protoDelimited {
		if !strings.HasPrefix(contentType, "application/vnd.google.protobuf") {
			return nil, fmt.Errorf("Content-Type %q, want delimited protobuf", contentType)
		}
		dec := expfmt.NewDecoder(body, expfmt.NewFormat(expfmt.TypeProtoDelim))
		for {
			mf := &dto.MetricFamily{}
			if err := dec.Decode(mf); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, err
			}
			mfs = append(mfs, mf)
		}
	} else {
		if !strings.HasPrefix(contentType, "text/plain") {
			return nil, fmt.Errorf("Content-Type %q, want text", contentType)
		}
		// The text parser refuses a family written twice.
		parser := expfmt.NewTextParser(model.UTF8Validation)
		byName, err := parser.TextToMetricFamilies(body)
		if err != nil {
			return nil, err
		}
		mfs = slices.Collect(maps.Values(byName))
	}
	return gaugesOf(mfs)
}

var _ = Describe("the scrape handler", func() {
	It("writes, family by family, what a registry with the collector gathers, as text or protobuf, with gzip or without", func() {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "stream-"}}
		Expect(k8sClient.Create(ctx, n)).To(Succeed())
		ns := n.Name
		readyProduct(ns, "acme-db", func(p *licensingv1alpha1.Product) { p.Spec.Signing.RotateEvery = dur("8760h") })
		readyTemplate(ns, "annual", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.GracePeriod = licensingv1alpha1.LicenseTypeSubscription, dur("720h"), dur("168h")
		})
		readyTemplate(ns, "monthly", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Duration, t.AutoRenew = licensingv1alpha1.LicenseTypeSubscription, dur("720h"), ptr(true)
		})
		readyTemplate(ns, "floating", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.Seats = licensingv1alpha1.LicenseTypeFloating, ptr(int32(5))
		})
		readyTemplate(ns, "nodelocked", func(t *licensingv1alpha1.LicenseTemplateSpec) {
			t.Type, t.MaxActivations = licensingv1alpha1.LicenseTypeNodeLocked, ptr(int32(3))
		})
		for i := range 5 {
			l := create(licensee(ns, fmt.Sprintf("customer-%d", i),
				licenseFrom("annual", "annual"), licenseFrom("monthly", "monthly"),
				licenseFrom("pool", "floating"), licenseFrom("machines", "nodelocked")))
			Eventually(condition(l, licensingv1alpha1.ConditionReady)).Should(Equal("True/Issued"))
		}

		inf, err := cacheReader.(cache.Informers).GetInformer(ctx, &licensingv1alpha1.Licensee{})
		Expect(err).NotTo(HaveOccurred())
		_, hasStore := inf.(interface{ GetStore() toolscache.Store })
		Expect(hasStore).To(BeTrue(), "the handler reads the Licensee informer's store")

		// The same handler writing 7 series at a time: families of many chunks.
		small := httptest.NewServer(licensemetrics.NewWithChunkSize(cacheReader, 7).Handler(prometheus.NewRegistry(), GinkgoLogr))
		DeferCleanup(small.Close)

		for _, tc := range []struct {
			name, url  string
			accept     string
			compressed bool
		}{
			{"text", metricsURL, "", false},
			{"text, gzip", metricsURL, "", true},
			{"protobuf", metricsURL, protoDelimited, false},
			{"protobuf, gzip", metricsURL, protoDelimited, true},
			{"text in chunks of 7", small.URL + "/metrics", "", false},
			{"text in chunks of 7, gzip", small.URL + "/metrics", "", true},
		} {
			By(tc.name)
			// Read both until the cache holds still between them.
			Eventually(func(g Gomega) {
				want, err := gathered()
				g.Expect(err).NotTo(HaveOccurred())
				got, err := scrapeAs(tc.url, tc.accept, tc.compressed)
				g.Expect(err).NotTo(HaveOccurred())
				g.Expect(got).To(Equal(want))
				g.Expect(got["kubelicense_license_state"]).To(HaveKeyWithValue(
					"license=machines,licensee=customer-4,namespace="+ns+",product=acme-db,state=Valid", 1.0))
				for _, name := range []string{
					"kubelicense_license_expiration_timestamp_seconds", "kubelicense_license_grace_expiration_timestamp_seconds",
					"kubelicense_license_auto_renew", "kubelicense_license_seats", "kubelicense_license_seats_in_use",
					"kubelicense_license_max_activations", "kubelicense_license_activations",
					"kubelicense_licensee_licensed", "kubelicense_licensee_ready",
					"kubelicense_product_signing_key_available", "kubelicense_product_signing_key_created_timestamp_seconds",
					"kubelicense_product_signing_key_next_rotation_timestamp_seconds",
				} {
					g.Expect(got[name]).NotTo(BeEmpty(), name)
				}
			}).Should(Succeed())
		}
	})
})
