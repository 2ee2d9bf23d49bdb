package plugin

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

// The suite runs the plugin's commands in-process against a real kube-apiserver
// with the CRDs installed. No controller runs: the specs write status, Secrets
// and ConfigMaps themselves, and play the controller where a command waits for it.

var (
	env        *envtest.Environment
	restConfig *rest.Config
	k8sClient  client.Client
	kubeconfig string
	suiteCtx   context.Context
	cancel     context.CancelFunc
)

func TestPlugin(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "kubectl-license plugin suite")
}

var _ = BeforeSuite(func() {
	suiteCtx, cancel = context.WithCancel(context.Background())
	var err error
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())
	restConfig, err = testenv.Start(env)
	Expect(err).NotTo(HaveOccurred())
	scheme, err := newScheme()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.New(restConfig, client.Options{Scheme: scheme})
	Expect(err).NotTo(HaveOccurred())

	// The plugin connects the way it does for users: through a kubeconfig file.
	kubeconfig = filepath.Join(GinkgoT().TempDir(), "kubeconfig")
	Expect(os.WriteFile(kubeconfig, env.KubeConfig, 0o600)).To(Succeed())
})

var _ = AfterSuite(func() {
	if cancel != nil {
		cancel()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
})

// kubectlLicense runs "kubectl license args..." against the test API server.
func kubectlLicense(args ...string) runResult {
	return runPlugin(suiteCtx, "", append([]string{"--kubeconfig", kubeconfig}, args...)...)
}
