// Package testenv starts a real kube-apiserver and etcd (controller-runtime envtest)
// with the kubelicense CRDs installed, for test suites and the demo.
package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// RepoRoot is the repository root, found from this file's location so tests in
// any package find config/crd/bases.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// CRDDir holds the generated CRDs.
func CRDDir() string { return filepath.Join(RepoRoot(), "config", "crd", "bases") }

// New returns an envtest environment with the CRDs. It refuses to run without
// KUBEBUILDER_ASSETS rather than skipping: `make test` builds the control plane.
func New() (*envtest.Environment, error) {
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or export KUBEBUILDER_ASSETS=$(hack/envtest-assets.sh)")
	}
	if err := licensingv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, fmt.Errorf("register licensing types: %w", err)
	}
	return &envtest.Environment{
		CRDDirectoryPaths:     []string{CRDDir()},
		ErrorIfCRDPathMissing: true,
	}, nil
}

// Start starts env and returns its rest config.
func Start(env *envtest.Environment) (*rest.Config, error) {
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("start local control plane (kube-apiserver and etcd from KUBEBUILDER_ASSETS=%s): %w", os.Getenv("KUBEBUILDER_ASSETS"), err)
	}
	return cfg, nil
}
