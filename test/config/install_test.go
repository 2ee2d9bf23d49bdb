package config

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

// installer renders dist/install.yaml the way `make build-installer` does
// (`make installer`, into a temporary file) and decodes it.
func installer(t *testing.T) []*unstructured.Unstructured {
	t.Helper()
	root := testenv.RepoRoot()
	path := filepath.Join(t.TempDir(), "install.yaml")
	cmd := exec.Command("make", "-s", "--no-print-directory", "-C", root, "installer", "INSTALLER="+path)
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "IMG=") || strings.HasPrefix(e, "MAKEFLAGS=") })
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make installer: %v\n%s", err, out)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeAll(t, data)
}

// TestInstallerManifest: dist/install.yaml runs the Makefile's image, gives the
// manager time to shut down gracefully, and rendering it edits nothing in config/.
func TestInstallerManifest(t *testing.T) {
	kustomization := readFile(t, "config/manager/kustomization.yaml")
	objs := installer(t)
	if got := readFile(t, "config/manager/kustomization.yaml"); string(got) != string(kustomization) {
		t.Error("make installer edited config/manager/kustomization.yaml; it must set the image in a copy")
	}
	d, c := managerDeployment(t, objs)
	if img := makeVar(t, "IMG"); c.Image != img {
		t.Errorf("dist/install.yaml runs %q, the Makefile's IMG is %q", c.Image, img)
	}
	shutdown := durationFlag(t, c.Args, "graceful-shutdown-timeout")
	if grace := d.Spec.Template.Spec.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second <= shutdown {
		t.Errorf("terminationGracePeriodSeconds %s must exceed --graceful-shutdown-timeout=%s, or the kubelet kills requests in flight", ptrString(grace), shutdown)
	}
	// With only "enforce", a Deployment whose pods break the policy is accepted
	// and its pods are silently never created; "warn" makes kubectl apply say so.
	ns := ofKind(objs, "Namespace")[0]
	for _, mode := range []string{"enforce", "warn"} {
		if ns.GetLabels()["pod-security.kubernetes.io/"+mode] != "restricted" {
			t.Errorf("Namespace %s lacks pod-security.kubernetes.io/%s: restricted", ns.GetName(), mode)
		}
	}
}

// warningRecorder keeps the warnings the API server sends (Warning headers):
// Pod Security violations of workloads, deprecated APIs, unknown fields.
type warningRecorder struct {
	mu       sync.Mutex
	warnings []string
}

func (w *warningRecorder) HandleWarningHeaderWithContext(_ context.Context, _ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.warnings = append(w.warnings, text)
}

func (w *warningRecorder) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.warnings
	w.warnings = nil
	return out
}

// stubCRD accepts any object of a kind whose real CRD belongs to another
// project (prometheus-operator, cert-manager), so the API server lets the
// chart's optional objects in. It validates nothing beyond apiVersion, kind and
// metadata: their fields are checked by TestHelmAllOptional.
func stubCRD(group, kind, plural string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": kind, "listKind": kind + "List", "plural": plural, "singular": strings.ToLower(kind)},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
			}},
		},
	}}
}

// restrictedNamespace is a namespace whose Pod Security admission refuses pods
// and warns about workloads that break the "restricted" standard.
func restrictedNamespace(name string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "v1",
		"kind":       "Namespace",
		"metadata": map[string]any{"name": name, "labels": map[string]any{
			"pod-security.kubernetes.io/enforce": "restricted",
			"pod-security.kubernetes.io/warn":    "restricted",
		}},
	}}
}

type cluster struct {
	client   client.Client
	warnings *warningRecorder
	// kubeconfig is a file for helm, as a cluster admin.
	kubeconfig string
}

func (cl *cluster) apply(ctx context.Context, t *testing.T, o *unstructured.Unstructured) error {
	t.Helper()
	return cl.client.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner("kubelicense-install-test"), client.ForceOwnership)
}

// applyAll applies objs as `kubectl apply --server-side` of one file would: the
// CRDs first, until the API server serves them, then namespaces, then the rest.
// It fails on every error and on every warning the API server sends.
func (cl *cluster) applyAll(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	byKind := func(keep func(kind string) bool) []*unstructured.Unstructured {
		return slices.DeleteFunc(slices.Clone(objs), func(o *unstructured.Unstructured) bool { return !keep(o.GetKind()) })
	}
	crds := byKind(func(k string) bool { return k == "CustomResourceDefinition" })
	for _, batch := range [][]*unstructured.Unstructured{
		crds,
		byKind(func(k string) bool { return k == "Namespace" }),
		byKind(func(k string) bool { return k != "CustomResourceDefinition" && k != "Namespace" }),
	} {
		for _, o := range batch {
			if err := cl.apply(ctx, t, o); err != nil {
				t.Errorf("apply %s %s/%s: %v", o.GetKind(), o.GetNamespace(), o.GetName(), err)
			}
		}
		cl.waitEstablished(ctx, t, batch)
	}
	if w := cl.warnings.take(); len(w) > 0 {
		t.Errorf("the API server warned:\n%s", strings.Join(w, "\n"))
	}
}

func (cl *cluster) waitEstablished(ctx context.Context, t *testing.T, objs []*unstructured.Unstructured) {
	t.Helper()
	g := gomega.NewWithT(t)
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		g.Eventually(func(g gomega.Gomega) {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(o.GroupVersionKind())
			g.Expect(cl.client.Get(ctx, client.ObjectKeyFromObject(o), crd)).To(gomega.Succeed())
			conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			g.Expect(conditions).To(gomega.ContainElement(gomega.And(
				gomega.HaveKeyWithValue("type", "Established"), gomega.HaveKeyWithValue("status", "True"))), "CRD %s is not established", o.GetName())
		}).WithTimeout(time.Minute).Should(gomega.Succeed())
	}
}

func (cl *cluster) helm(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, err := runHelm(t, append(args, "--kubeconfig", cl.kubeconfig)...)
	if err != nil {
		t.Fatalf("helm %v: %v\n%s%s", args, err, out, stderr)
	}
	return out
}

// TestServerSideApply applies dist/install.yaml and the chart's renderings to a
// real kube-apiserver with server-side apply (not a dry run), so the API
// server's own validation judges them: OpenAPI schemas, strict field
// validation, CRD structural rules and Pod Security "restricted"; and it
// installs, upgrades and uninstalls the chart with helm, as the README says.
func TestServerSideApply(t *testing.T) {
	env, err := testenv.New()
	if err != nil {
		t.Fatal(err)
	}
	// The CRDs must come from the manifests under test, not from testenv.
	env.CRDDirectoryPaths, env.ErrorIfCRDPathMissing = nil, false
	cfg, err := testenv.Start(env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("stop the control plane: %v", err)
		}
	})
	ctx := t.Context()

	cl := &cluster{warnings: &warningRecorder{}}
	cfg = rest.CopyConfig(cfg)
	cfg.WarningHandlerWithContext = cl.warnings
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cl.client = client.WithFieldValidation(c, metav1.FieldValidationStrict)
	admin, err := env.AddUser(envtest.User{Name: "helm", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	cl.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(cl.kubeconfig, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	cl.applyAll(ctx, t, []*unstructured.Unstructured{
		stubCRD("monitoring.coreos.com", "ServiceMonitor", "servicemonitors"),
		stubCRD("monitoring.coreos.com", "PrometheusRule", "prometheusrules"),
		stubCRD("cert-manager.io", "Certificate", "certificates"),
	})

	// First, on a cluster without the CRDs: the README's commands.
	t.Run("helm install, upgrade, uninstall", func(t *testing.T) {
		notes := cl.helm(t, "install", "kubelicense", "./"+chartDir, "-n", namespace, "--create-namespace")
		for _, want := range []string{
			"kind: Product", "rollout status deployment/kubelicense-controller-manager",
			"https://kubelicense-license-api.kubelicense-system.svc:9443", "configmap kubelicense-license-api-ca -n kubelicense-system",
		} {
			if !strings.Contains(notes, want) {
				t.Errorf("helm install's NOTES do not say %q:\n%s", want, notes)
			}
		}
		crd := &unstructured.Unstructured{}
		crd.SetAPIVersion("apiextensions.k8s.io/v1")
		crd.SetKind("CustomResourceDefinition")
		cl.waitEstablished(ctx, t, []*unstructured.Unstructured{withName(crd, "licensees."+apiGroup)})

		notes = cl.helm(t, "upgrade", "kubelicense", "./"+chartDir, "-n", namespace, "-f", allOptional)
		if !strings.Contains(notes, "ClusterIssuer kubelicense-ca") {
			t.Errorf("with cert-manager, NOTES do not name the issuer:\n%s", notes)
		}
		d := &unstructured.Unstructured{}
		d.SetAPIVersion("apps/v1")
		d.SetKind("Deployment")
		if err := cl.client.Get(ctx, client.ObjectKey{Namespace: namespace, Name: "kubelicense-controller-manager"}, d); err != nil {
			t.Fatal(err)
		}
		if replicas, _, _ := unstructured.NestedInt64(d.Object, "spec", "replicas"); replicas != 3 {
			t.Errorf("after helm upgrade the Deployment has %d replicas, want the ci values' 3", replicas)
		}

		cl.helm(t, "uninstall", "kubelicense", "-n", namespace)
		if err := cl.client.Get(ctx, client.ObjectKeyFromObject(d), d); !apierrors.IsNotFound(err) {
			t.Errorf("after helm uninstall, get the Deployment: %v, want NotFound", err)
		}
		// crds.keep: the CRDs, and every Product with its signing key, stay.
		for _, plural := range []string{"products", "licensetemplates", "licensees", "activations", "seatleases", "licenseevents", "licensewebhooks"} {
			if err := cl.client.Get(ctx, client.ObjectKey{Name: plural + "." + apiGroup}, crd); err != nil {
				t.Errorf("after helm uninstall, CRD %s.%s: %v; crds.keep must keep it", plural, apiGroup, err)
			}
		}
		cl.warnings.take() // helm's own requests; the renderings below are judged
	})

	t.Run("dist/install.yaml", func(t *testing.T) {
		cl.applyAll(ctx, t, installer(t))
	})
	t.Run("chart defaults", func(t *testing.T) {
		const ns = "kubelicense-defaults"
		cl.applyAll(ctx, t, append([]*unstructured.Unstructured{restrictedNamespace(ns)}, helmTemplateRelease(t, "kubelicense-defaults", ns)...))
	})
	t.Run("chart with every optional part", func(t *testing.T) {
		const ns = "kubelicense-optional"
		cl.applyAll(ctx, t, append([]*unstructured.Unstructured{restrictedNamespace(ns)}, helmTemplateRelease(t, "kubelicense-optional", ns, "-f", allOptional)...))
	})

	// The checks above can fail: this API server does judge Pod Security and
	// unknown fields.
	t.Run("controls", func(t *testing.T) {
		const ns = "kubelicense-controls"
		if err := cl.apply(ctx, t, restrictedNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		unhardened := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]any{"name": "unhardened", "namespace": ns},
			"spec": map[string]any{
				"selector": map[string]any{"matchLabels": map[string]any{"app": "x"}},
				"template": map[string]any{
					"metadata": map[string]any{"labels": map[string]any{"app": "x"}},
					"spec":     map[string]any{"containers": []any{map[string]any{"name": "x", "image": "x"}}},
				},
			},
		}}
		if err := cl.apply(ctx, t, unhardened); err != nil {
			t.Fatal(err)
		}
		if w := cl.warnings.take(); !slices.ContainsFunc(w, func(s string) bool { return strings.Contains(s, `violate PodSecurity "restricted`) }) {
			t.Errorf("a Deployment without a securityContext drew no Pod Security warning (got %q): the API server does not judge the manifests", w)
		}
		misspelt := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "v1", "kind": "Service",
			"metadata": map[string]any{"name": "misspelt", "namespace": ns},
			"spec":     map[string]any{"ports": []any{map[string]any{"port": int64(80), "targetPort": "http", "protcol": "TCP"}}},
		}}
		if err := cl.apply(ctx, t, misspelt); err == nil || !strings.Contains(err.Error(), "protcol") {
			t.Errorf("a Service with a misspelt field: %v, want an error naming it", err)
		}
	})
}

func withName(u *unstructured.Unstructured, name string) *unstructured.Unstructured {
	u.SetName(name)
	return u
}
