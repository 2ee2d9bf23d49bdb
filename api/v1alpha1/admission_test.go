package v1alpha1_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

// admissionCase is one object sent to the API server: accepted when wantError is
// empty, otherwise rejected with a message containing wantError.
type admissionCase struct {
	kind      string
	name      string // metadata.name; generated when empty
	spec      string // YAML of spec
	wantError string
}

var nameSeq atomic.Int64

func (c admissionCase) object(namespace string) *unstructured.Unstructured {
	spec := map[string]any{}
	Expect(yaml.Unmarshal([]byte(c.spec), &spec)).To(Succeed(), "spec of test case is not YAML")
	name := c.name
	if name == "" {
		name = fmt.Sprintf("case-%d", nameSeq.Add(1))
	}
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "licensing.kubelicense.io/v1alpha1",
		"kind":       c.kind,
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       spec,
	}}
	return u
}

const (
	validTemplate = `
productRef: {name: acme-db}
type: Subscription
duration: 720h
`
	validLicensee = `
productRef: {name: acme-db}
licenses:
- name: main
  templateRef: {name: enterprise}
`
)

// with appends YAML lines to a base spec.
func with(base, extra string) string { return base + strings.TrimLeft(extra, "\n") }

var admissionCases = map[string][]admissionCase{
	"references are DNS labels": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: Acme_DB}, type: Perpetual}`, wantError: "must be a DNS label"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: acme-db}, type: Perpetual}`},
	},
	"durations are positive Go durations": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Trial, duration: "-5h"}`, wantError: "must be a positive duration"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Trial, duration: "0s"}`, wantError: "must be a positive duration"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Trial, duration: "a month"}`, wantError: "must be a positive duration"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Trial, duration: "1h30m"}`},
		{kind: "Product", spec: `{signing: {rotateEvery: "0h"}}`, wantError: "must be a positive duration"},
		{kind: "Product", spec: `{signing: {rotateEvery: "8760h"}}`},
	},
	"feature names are DNS labels": {
		{kind: "LicenseTemplate", spec: with(validTemplate, `features: [Replication!]`), wantError: "feature names must be DNS labels"},
		{kind: "Product", spec: `{features: [{name: "Backup Plus"}]}`, wantError: "feature names must be DNS labels"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `features: [replication, backup]`)},
	},
	"quota names are DNS labels": {
		{kind: "LicenseTemplate", spec: with(validTemplate, `quotas: {Nodes: 3}`), wantError: "quota names must be DNS labels"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `quotas: {nodes: 3}`)},
	},
	"quota limits are not negative": {
		{kind: "LicenseTemplate", spec: with(validTemplate, `quotas: {nodes: -1}`), wantError: "quota limits must be zero or positive"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `quotas: {nodes: 0}`)},
	},
	"rotateEvery cannot be combined with secretRef": {
		{kind: "Product", spec: `{signing: {rotateEvery: 720h, secretRef: {name: vault-key}}}`, wantError: "rotateEvery cannot be used with secretRef"},
		{kind: "Product", spec: `{signing: {secretRef: {name: vault-key}}}`},
	},
	"Product names are short DNS labels": {
		{kind: "Product", name: "acme.db", spec: `{}`, wantError: "Product names must be DNS labels"},
		{kind: "Product", name: strings.Repeat("a", 48), spec: `{}`, wantError: "Product names must be DNS labels"},
		{kind: "Product", name: strings.Repeat("a", 47), spec: `{}`},
	},
	"signing algorithms are a closed set": {
		{kind: "Product", spec: `{signing: {algorithm: RSA}}`, wantError: `Unsupported value: "RSA"`},
		{kind: "Product", spec: `{signing: {algorithm: ECDSA-P256}}`},
	},
	"license types are a closed set": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Lifetime}`, wantError: `Unsupported value: "Lifetime"`},
	},
	"seats is required for Floating": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Floating}`, wantError: "seats is required when type is Floating"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Floating, seats: 5}`},
	},
	"seats and maxActivations on any type": {
		{kind: "LicenseTemplate", spec: with(validTemplate, `seats: 5`)},
		{kind: "LicenseTemplate", spec: with(validTemplate, `maxActivations: 3`)},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Perpetual, seats: 2, maxActivations: 3}`},
	},
	"seats is at least one": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Floating, seats: 0}`, wantError: "should be greater than or equal to 1"},
	},
	"maxActivations is required for NodeLocked": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: NodeLocked}`, wantError: "maxActivations is required when type is NodeLocked"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: NodeLocked, maxActivations: 3}`},
	},
	"NodeLocked needs maxActivations even with seats": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: NodeLocked, seats: 2}`, wantError: "maxActivations is required when type is NodeLocked"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Floating, seats: 2, maxActivations: 3}`},
	},
	"duration is required for Subscription and Trial": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Subscription}`, wantError: "duration is required for Subscription and Trial"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Trial}`, wantError: "duration is required for Subscription and Trial"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Trial, duration: 336h}`},
	},
	"duration is forbidden for Perpetual": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Perpetual, duration: 720h}`, wantError: "duration is not allowed for Perpetual"},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Perpetual}`},
	},
	"autoRenew only with Subscription": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Trial, duration: 720h, autoRenew: true}`, wantError: "autoRenew is only allowed for Subscription"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `autoRenew: true`)},
	},
	"gracePeriod needs a duration": {
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Perpetual, gracePeriod: 24h}`, wantError: "gracePeriod needs a duration"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `gracePeriod: 24h`)},
	},
	"tokenTTL is at least a minute": {
		{kind: "LicenseTemplate", spec: with(validTemplate, `tokenTTL: 30s`), wantError: "tokenTTL must be at least 1m"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `tokenTTL: 1m`)},
	},
	"notifyBefore: positive durations, distinct, at most ten": {
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: [720h, 168h, 24h]`)},
		{kind: "LicenseTemplate", spec: `{productRef: {name: p}, type: Perpetual, notifyBefore: [24h]}`},
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: [168h, 24h, 168h]`), wantError: "notifyBefore thresholds must be distinct durations"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: [24h, 1440m]`), wantError: "notifyBefore thresholds must be distinct durations"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: [0s]`), wantError: "must be a positive duration"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: ["-24h"]`), wantError: "must be a positive duration"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: ["a month", 24h]`), wantError: "must be a positive duration"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: [`+durationList(11)+`]`), wantError: "must have at most 10 items"},
		{kind: "LicenseTemplate", spec: with(validTemplate, `notifyBefore: [`+durationList(10)+`]`)},
	},
	"onExpiry is a closed set": {
		{kind: "LicenseTemplate", spec: with(validTemplate, `onExpiry: Delete`), wantError: `Unsupported value: "Delete"`},
		{kind: "LicenseTemplate", spec: with(validTemplate, `onExpiry: Revoke`)},
	},
	"endsAt is after startsAt": {
		{kind: "Licensee", spec: `
productRef: {name: acme-db}
licenses:
- {name: main, templateRef: {name: t}, startsAt: "2026-12-01T00:00:00Z", endsAt: "2026-11-01T00:00:00Z"}`, wantError: "endsAt must be after startsAt"},
		{kind: "Licensee", spec: `
productRef: {name: acme-db}
licenses:
- {name: main, templateRef: {name: t}, startsAt: "2026-12-01T00:00:00Z", endsAt: "2026-12-01T00:00:00Z"}`, wantError: "endsAt must be after startsAt"},
		{kind: "Licensee", spec: `
productRef: {name: acme-db}
licenses:
- {name: main, templateRef: {name: t}, startsAt: "2026-12-01T00:00:00Z", endsAt: "2027-12-01T00:00:00Z"}`},
	},
	"license names are DNS labels and unique": {
		{kind: "Licensee", spec: `{productRef: {name: p}, licenses: [{name: Main, templateRef: {name: t}}]}`, wantError: "license names must be DNS labels"},
		{kind: "Licensee", spec: `{productRef: {name: p}, licenses: [{name: main, templateRef: {name: t}}, {name: main, templateRef: {name: u}}]}`, wantError: "Duplicate value"},
		{kind: "Licensee", spec: `{productRef: {name: p}, licenses: [{name: main, templateRef: {name: t}}, {name: extra, templateRef: {name: u}}]}`},
	},
	"a feature cannot be both added and removed": {
		{kind: "Licensee", spec: `{productRef: {name: p}, licenses: [{name: main, templateRef: {name: t}, features: {add: [backup], remove: [backup]}}]}`, wantError: "a feature cannot be both added and removed"},
		{kind: "Licensee", spec: `{productRef: {name: p}, licenses: [{name: main, templateRef: {name: t}, features: {add: [backup], remove: [analytics]}}]}`},
	},
	"override lists are sets": {
		{kind: "Licensee", spec: `{productRef: {name: p}, licenses: [{name: main, templateRef: {name: t}, features: {add: [backup, backup]}}]}`, wantError: "Duplicate value"},
	},
	"license quotas are checked like template quotas": {
		{kind: "Licensee", spec: `{productRef: {name: p}, licenses: [{name: main, templateRef: {name: t}, quotas: {nodes: -3}}]}`, wantError: "quota limits must be zero or positive"},
	},
	"Secret names are DNS subdomains": {
		{kind: "Licensee", spec: with(validLicensee, `secret: {name: Globex_License}`), wantError: "must be a DNS subdomain"},
		{kind: "Licensee", spec: with(validLicensee, `secret: {name: globex.license}`)},
	},
	"operator label and annotation keys are reserved": {
		{kind: "Licensee", spec: with(validLicensee, `secret: {template: {labels: {licensing.kubelicense.io/managed: "false"}}}`), wantError: "label keys under licensing.kubelicense.io/ are reserved"},
		{kind: "Licensee", spec: with(validLicensee, `secret: {template: {annotations: {licensing.kubelicense.io/serial: x}}}`), wantError: "annotation keys under licensing.kubelicense.io/ are reserved"},
		{kind: "Licensee", spec: with(validLicensee, `secret: {template: {labels: {team: db}, annotations: {owner: ops}}}`)},
	},
	"deletionPolicy is a closed set": {
		{kind: "Licensee", spec: with(validLicensee, `secret: {deletionPolicy: Keep}`), wantError: `Unsupported value: "Keep"`},
		{kind: "Licensee", spec: with(validLicensee, `secret: {deletionPolicy: Orphan}`)},
	},
	"distribution names namespaces, selects them, or both": {
		{kind: "Licensee", spec: with(validLicensee, `distribution: {}`), wantError: "distribution needs namespaces, a namespaceSelector, or both"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: []}`), wantError: "distribution needs namespaces, a namespaceSelector, or both"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: [shop]}`)},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaceSelector: {}}`)},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: [shop, web], namespaceSelector: {matchLabels: {team: payments}}}`)},
	},
	"distribution namespaces are DNS labels, unique and bounded": {
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: [Shop]}`), wantError: "namespace names must be DNS labels"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: [shop.eu]}`), wantError: "namespace names must be DNS labels"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: ["`+strings.Repeat("a", 64)+`"]}`), wantError: "may not be more than 63"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: [shop, shop]}`), wantError: "Duplicate value"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: [`+namespaceList(65)+`]}`), wantError: "must have at most 64 items"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaces: [`+namespaceList(64)+`]}`)},
	},
	"namespaceSelector expressions are well formed": {
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaceSelector: {matchExpressions: [{key: team, operator: Equals, values: [a]}]}}`), wantError: "matchExpressions operators are In, NotIn, Exists and DoesNotExist"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaceSelector: {matchExpressions: [{key: team, operator: In}]}}`), wantError: "In and NotIn need values; Exists and DoesNotExist take none"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaceSelector: {matchExpressions: [{key: team, operator: NotIn, values: []}]}}`), wantError: "In and NotIn need values; Exists and DoesNotExist take none"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaceSelector: {matchExpressions: [{key: team, operator: Exists, values: [a]}]}}`), wantError: "In and NotIn need values; Exists and DoesNotExist take none"},
		{kind: "Licensee", spec: with(validLicensee, `distribution: {namespaceSelector: {matchLabels: {team: payments}, matchExpressions: [{key: env, operator: In, values: [prod]}, {key: legacy, operator: DoesNotExist}]}}`)},
	},
	"Licensee names are short DNS labels": {
		{kind: "Licensee", name: "globex.corp", spec: validLicensee, wantError: "Licensee names must be DNS labels"},
		{kind: "Licensee", name: strings.Repeat("g", 56), spec: validLicensee, wantError: "Licensee names must be DNS labels"},
		{kind: "Licensee", name: strings.Repeat("g", 55), spec: validLicensee},
	},
}

// namespaceList is n distinct namespace names, comma-separated.
func namespaceList(n int) string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ns-%d", i)
	}
	return strings.Join(names, ", ")
}

// durationList is n distinct durations, comma-separated.
func durationList(n int) string {
	ds := make([]string, n)
	for i := range ds {
		ds[i] = fmt.Sprintf("%dh", i+1)
	}
	return strings.Join(ds, ", ")
}

func newNamespace() string {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "admission-"}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

var _ = Describe("CRD admission", func() {
	var namespace string
	BeforeEach(func() { namespace = newNamespace() })

	for rule, cases := range admissionCases {
		It("enforces: "+rule, func() {
			for _, c := range cases {
				err := k8sClient.Create(ctx, c.object(namespace))
				if c.wantError == "" {
					Expect(err).NotTo(HaveOccurred(), "%s should be accepted:\n%s", c.kind, c.spec)
				} else {
					Expect(err).To(HaveOccurred(), "%s should be rejected:\n%s", c.kind, c.spec)
					Expect(err.Error()).To(ContainSubstring(c.wantError))
				}
			}
		})
	}

	It("has a reject and an accept case for every CEL rule of the CRDs", func() {
		// Each rule's message must appear as the expected error of some case, so a new
		// rule without a test fails here.
		covered := map[string]bool{}
		for _, cases := range admissionCases {
			for _, c := range cases {
				covered[c.wantError] = true
			}
		}
		for _, message := range crdRuleMessages() {
			found := false
			for want := range covered {
				if want != "" && strings.Contains(message, want) {
					found = true
				}
			}
			Expect(found).To(BeTrue(), "no admission case rejects with the CEL rule message %q", message)
		}
	})

	It("reads a fresh object as in progress: status.observedGeneration defaults to -1", func() {
		c := admissionCase{kind: "LicenseTemplate", spec: validTemplate}
		obj := c.object(namespace)
		Expect(k8sClient.Create(ctx, obj)).To(Succeed())
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(obj.GroupVersionKind())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), got)).To(Succeed())
		observed, found, err := unstructured.NestedInt64(got.Object, "status", "observedGeneration")
		Expect(err).NotTo(HaveOccurred())
		Expect(found).To(BeTrue())
		Expect(observed).To(Equal(int64(-1)))
		Expect(got.GetGeneration()).To(Equal(int64(1)))
	})

	It("accepts every sample in config/samples", func() {
		for _, obj := range sampleObjects() {
			obj.SetNamespace(namespace)
			Expect(k8sClient.Create(ctx, obj)).To(Succeed(), "sample %s/%s", obj.GetKind(), obj.GetName())
		}
	})
})

// sampleObjects reads every object of config/samples.
func sampleObjects() []*unstructured.Unstructured {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "licensing_*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	Expect(files).NotTo(BeEmpty())
	var objects []*unstructured.Unstructured
	for _, file := range files {
		raw, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		decoder := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(raw)), 4096)
		for {
			obj := &unstructured.Unstructured{}
			if err := decoder.Decode(&obj.Object); err != nil {
				break
			}
			if len(obj.Object) > 0 {
				objects = append(objects, obj)
			}
		}
	}
	return objects
}

// crdRuleMessages lists the message of every x-kubernetes-validations rule in the generated CRDs.
func crdRuleMessages() []string {
	files, err := filepath.Glob(filepath.Join(testenv.CRDDir(), "*.yaml"))
	Expect(err).NotTo(HaveOccurred())
	var messages []string
	var walk func(any)
	walk = func(node any) {
		switch n := node.(type) {
		case map[string]any:
			if rules, ok := n["x-kubernetes-validations"].([]any); ok {
				for _, r := range rules {
					if m, ok := r.(map[string]any)["message"].(string); ok {
						messages = append(messages, m)
					}
				}
			}
			for _, v := range n {
				walk(v)
			}
		case []any:
			for _, v := range n {
				walk(v)
			}
		}
	}
	for _, file := range files {
		raw, err := os.ReadFile(file)
		Expect(err).NotTo(HaveOccurred())
		var doc any
		Expect(yaml.Unmarshal(raw, &doc)).To(Succeed())
		walk(doc)
	}
	Expect(messages).NotTo(BeEmpty())
	return messages
}
