// Package e2e runs kubelicense end to end: the real manager and license-agent
// binaries, a real kube-apiserver and etcd (internal/testenv), and kubectl
// driving the cluster as a user would.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

var (
	// workDir holds the binaries, the kubeconfig, the volumes and every log; removed in AfterSuite.
	workDir        string
	managerBin     string
	agentBin       string
	apiClientBin   string
	kubeconfigPath string
	// managerKubeconfigPath impersonates the manager's service account roles.
	managerKubeconfigPath string
	env                   *envtest.Environment
	clientset             *kubernetes.Clientset
	// processes are stopped in reverse order in AfterSuite.
	processes []*process
	// manager is the manager process; licenseAPIAddr where it serves the license API.
	manager        *process
	licenseAPIAddr string
)

func TestE2E(t *testing.T) {
	RegisterFailHandler(Fail)
	SetDefaultEventuallyTimeout(30 * time.Second)
	SetDefaultEventuallyPollingInterval(250 * time.Millisecond)
	RunSpecs(t, "End-to-end suite")
}

var _ = BeforeSuite(func() {
	_, err := exec.LookPath("kubectl")
	Expect(err).NotTo(HaveOccurred(), "kubectl is not on PATH: the end-to-end tests drive the cluster with kubectl; install it (https://kubernetes.io/docs/tasks/tools/)")

	// Before the build, so that a missing KUBEBUILDER_ASSETS fails at once.
	env, err = testenv.New()
	Expect(err).NotTo(HaveOccurred())

	workDir, err = os.MkdirTemp("", "kubelicense-e2e-")
	Expect(err).NotTo(HaveOccurred())

	By("building the manager and license-agent binaries")
	binDir := filepath.Join(workDir, "bin")
	Expect(os.MkdirAll(binDir, 0o755)).To(Succeed())
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	build := exec.CommandContext(buildCtx, "go", "build", "-o", binDir+string(filepath.Separator), "./cmd/manager", "./cmd/license-agent", "./test/e2e/apiclient")
	build.Dir = testenv.RepoRoot()
	out, err := build.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "go build ./cmd/manager ./cmd/license-agent:\n%s", out)
	managerBin, agentBin = filepath.Join(binDir, "manager"), filepath.Join(binDir, "license-agent")
	apiClientBin = filepath.Join(binDir, "apiclient")

	By("starting a local control plane (kube-apiserver and etcd)")
	cfg, err := testenv.Start(env)
	Expect(err).NotTo(HaveOccurred())
	clientset, err = kubernetes.NewForConfig(cfg)
	Expect(err).NotTo(HaveOccurred())

	kubeconfigPath = filepath.Join(workDir, "kubeconfig")
	Expect(os.WriteFile(kubeconfigPath, env.KubeConfig, 0o600)).To(Succeed())

	By("starting the manager, with the license API")
	// Its CA and certificate go to the manager's namespace, as in a cluster.
	mustKubectl("create", "namespace", "kubelicense-system")
	// The manager acts with the permissions an install gives it (the roles
	// generated from the markers), not as the admin kubectl uses.
	managerKubeconfig, err := testenv.ManagerKubeconfig(context.Background(), cfg, env.KubeConfig, "kubelicense-system")
	Expect(err).NotTo(HaveOccurred())
	managerKubeconfigPath = filepath.Join(workDir, "manager.kubeconfig")
	Expect(os.WriteFile(managerKubeconfigPath, managerKubeconfig, 0o600)).To(Succeed())
	licenseAPIAddr = freeLocalAddr()
	manager = startManager("manager")
})

var _ = AfterSuite(func() {
	for i := len(processes) - 1; i >= 0; i-- {
		processes[i].stop()
	}
	if env != nil {
		Expect(env.Stop()).To(Succeed())
	}
	if workDir != "" {
		Expect(os.RemoveAll(workDir)).To(Succeed())
	}
})

// A failed spec prints the logs of every process, which the temporary
// directory would otherwise take away with it.
var _ = AfterEach(func() {
	if !CurrentSpecReport().Failed() {
		return
	}
	for _, p := range processes {
		fmt.Fprintf(GinkgoWriter, "\n----- %s log (%s, %s) -----\n%s\n", p.name, p.logPath, p.state(), tail(p.log(), 120))
	}
})

// process is a binary started by the suite, its output in a log file.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	// waitErr is the exit status; read it only after done is closed.
	waitErr error
}

// startProcess starts bin with args. The environment is the test's, minus the
// variables that would point the binaries at something else than this suite's
// files (a developer's KUBECONFIG, LICENSE_AGENT_* settings), plus extraEnv.
func startProcess(name string, extraEnv []string, bin string, args ...string) *process {
	GinkgoHelper()
	logPath := filepath.Join(workDir, name+".log")
	logFile, err := os.Create(logPath)
	Expect(err).NotTo(HaveOccurred())
	cmd := exec.Command(bin, args...)
	cmd.Env = append(isolatedEnv(), extraEnv...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		Fail(fmt.Sprintf("start %s: %v", name, err))
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logFile.Close()
		close(p.done)
	}()
	processes = append(processes, p)
	return p
}

func isolatedEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KUBECONFIG=") || strings.HasPrefix(kv, "LICENSE_AGENT_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) state() string {
	if !p.exited() {
		return "running"
	}
	if p.waitErr == nil {
		return "exited with status 0"
	}
	return p.waitErr.Error()
}

// stop asks the process to shut down (SIGTERM) and kills it if it has not
// within 10 seconds.
func (p *process) stop() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		fmt.Fprintf(GinkgoWriter, "%s did not stop within 10s of SIGTERM; killing it\n", p.name)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

func (p *process) log() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", p.logPath, err)
	}
	return string(data)
}

func tail(s string, lines int) string {
	all := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(all) <= lines {
		return strings.Join(all, "\n")
	}
	return fmt.Sprintf("(%d earlier lines cut)\n%s", len(all)-lines, strings.Join(all[len(all)-lines:], "\n"))
}

// kubectl runs kubectl against the suite's cluster and returns its stdout;
// stdin, when not empty, is fed to it. kubectl's discovery cache goes to the
// work directory, not to the developer's ~/.kube.
func kubectl(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kubectl", args...)
	cmd.Env = append(isolatedEnv(), "KUBECONFIG="+kubeconfigPath, "KUBECACHEDIR="+filepath.Join(workDir, "kube-cache"))
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	fmt.Fprintf(GinkgoWriter, "$ kubectl %s\n", strings.Join(args, " "))
	err := cmd.Run()
	for _, out := range []string{stdout.String(), stderr.String()} {
		if out != "" && !strings.HasSuffix(out, "\n") {
			out += "\n"
		}
		fmt.Fprint(GinkgoWriter, out)
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

// mustKubectl is kubectl that fails the spec on error.
func mustKubectl(args ...string) string {
	GinkgoHelper()
	out, err := kubectl("", args...)
	Expect(err).NotTo(HaveOccurred())
	return out
}

// startManager starts the manager binary, serving the license API on
// licenseAPIAddr, with the extra flags given.
func startManager(name string, extra ...string) *process {
	GinkgoHelper()
	// Leader election as in a cluster, with short timings so that a manager
	// restarted after a SIGKILL takes over within seconds.
	return startProcess(name, []string{"KUBECONFIG=" + managerKubeconfigPath}, managerBin, append([]string{
		"--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address=0", "--license-api-bind-address=" + licenseAPIAddr,
		"--leader-elect", "--leader-elect-lease-duration=4s", "--leader-elect-renew-deadline=3s", "--leader-elect-retry-period=1s",
	}, extra...)...)
}

// kill ends the process at once (SIGKILL): nothing of it runs on the way out.
func (p *process) kill() {
	if p.exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// freeLocalAddr is a loopback address with a port free right now. Another
// process could take it before the agent binds it; on this test host that is
// unlikely enough, and the agent then exits at once with a clear message.
func freeLocalAddr() string {
	GinkgoHelper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	Expect(err).NotTo(HaveOccurred())
	addr := l.Addr().String()
	Expect(l.Close()).To(Succeed())
	return addr
}
