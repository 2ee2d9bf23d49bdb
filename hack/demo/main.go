// Command demo runs kubelicense end to end on an embedded local control plane:
// kube-apiserver and etcd (built by hack/envtest-assets.sh), the real manager
// binary, and kubectl applying config/samples. It prints what a user would look
// at, then stops everything it started. DEMO_KEEP=1 keeps it running.
package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

const namespace = "licensing"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run() error {
	if _, err := exec.LookPath("kubectl"); err != nil {
		return errors.New("kubectl is not installed: the demo drives the cluster with kubectl like a user would; install it (https://kubernetes.io/docs/tasks/tools/) and run `make demo` again")
	}
	root := testenv.RepoRoot()
	manager := filepath.Join(root, "bin", "manager")
	if _, err := os.Stat(manager); err != nil {
		return fmt.Errorf("%s is missing: run `make demo` (it builds the binaries first)", manager)
	}

	step("Starting a local control plane (kube-apiserver + etcd) and installing the CRDs")
	env, err := testenv.New()
	if err != nil {
		return err
	}
	if _, err := testenv.Start(env); err != nil {
		return err
	}
	defer func() {
		step("Stopping the control plane")
		_ = env.Stop()
	}()
	dir, err := os.MkdirTemp("", "kubelicense-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	kubeconfigPath := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfigPath, env.KubeConfig, 0o600); err != nil {
		return err
	}
	os.Setenv("KUBECONFIG", kubeconfigPath)

	// The manager keeps the license API's CA and certificate in its own namespace.
	if err := kubectl("create", "namespace", "kubelicense-system"); err != nil {
		return err
	}
	apiAddr, err := freeLocalAddress()
	if err != nil {
		return err
	}

	metricsAddr, err := freeLocalAddress()
	if err != nil {
		return err
	}

	step("Starting the manager (bin/manager), with the license API on https://" + apiAddr + " and metrics on http://" + metricsAddr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logPath := filepath.Join(dir, "manager.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logFile.Close()
	mgr := exec.CommandContext(ctx, manager, "--health-probe-bind-address=127.0.0.1:0", "--metrics-bind-address="+metricsAddr, "--metrics-secure=false",
		"--license-api-bind-address="+apiAddr)
	mgr.Stdout, mgr.Stderr = logFile, logFile
	if err := mgr.Start(); err != nil {
		return fmt.Errorf("start manager: %w", err)
	}
	defer func() { cancel(); _ = mgr.Wait() }()

	step("Applying config/samples into namespace " + namespace)
	if err := kubectl("create", "namespace", namespace); err != nil {
		return err
	}
	if err := kubectl("apply", "-n", namespace, "-k", filepath.Join(root, "config", "samples")); err != nil {
		return err
	}
	// A one-minute trial, to watch a license lapse during the demo, and a
	// license with one seat and two activations for the license API.
	for _, f := range []string{"short-trial.yaml", "online.yaml"} {
		if err := kubectl("apply", "-n", namespace, "-f", filepath.Join(root, "hack", "demo", f)); err != nil {
			return err
		}
	}

	step("Waiting for every object to be Ready")
	for _, kind := range []string{"products", "licensetemplates", "licensees"} {
		if err := kubectl("wait", "-n", namespace, "--for=condition=Ready", kind, "--all", "--timeout=90s"); err != nil {
			fmt.Fprintln(os.Stderr, "manager log:", logPath)
			_ = exec.Command("tail", "-n", "30", logPath).Run()
			return err
		}
	}

	step("kubectl get licensing -A")
	_ = kubectl("get", "licensing", "-A", "-o", "wide")

	step("Products: signing key and published JWKS")
	_ = kubectl("get", "products", "-n", namespace, "-o", `custom-columns=PRODUCT:.metadata.name,KEY:.status.signingKeyID,JWKS:.status.publicKeysConfigMap,KEY AVAILABLE:.status.conditions[?(@.type=="KeyAvailable")].reason`)
	_ = kubectl("get", "configmap", "-n", namespace, "acme-db-license-keys", "-o", "jsonpath={.data.jwks\\.json}")
	fmt.Println()

	step("Status of each object")
	for _, kind := range []string{"products", "licensetemplates", "licensees"} {
		_ = kubectl("get", kind, "-n", namespace, "-o", `custom-columns=KIND:.kind,NAME:.metadata.name,READY:.status.conditions[?(@.type=="Ready")].status,REASON:.status.conditions[?(@.type=="Ready")].reason,MESSAGE:.status.conditions[?(@.type=="Ready")].message`)
	}

	step("License Secrets")
	_ = kubectl("get", "secrets", "-n", namespace, "-l", "licensing.kubelicense.io/licensee", "-o", `custom-columns=SECRET:.metadata.name,LICENSEE:.metadata.annotations.licensing\.kubelicense\.io/licensee,SERIAL:.metadata.annotations.licensing\.kubelicense\.io/serial,EXPIRES:.metadata.annotations.licensing\.kubelicense\.io/expires-at`)

	step("The token of globex, decoded (license.json)")
	if err := printDecodedToken("globex-license"); err != nil {
		return err
	}

	if err := useLicenseAPI(ctx, "https://"+apiAddr); err != nil {
		return err
	}

	if err := watchTrialLapse(); err != nil {
		return err
	}

	if err := printLicenseMetrics(ctx, "http://"+metricsAddr+"/metrics"); err != nil {
		return err
	}

	if os.Getenv("DEMO_KEEP") != "" {
		step("DEMO_KEEP is set: the control plane and the manager keep running. In another shell:")
		fmt.Printf("  export KUBECONFIG=%s\n  kubectl get licensing -A\nPress Ctrl-C to stop.\n", kubeconfigPath)
		stop := make(chan os.Signal, 1)
		signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
		<-stop
	}
	step("Demo finished")
	return nil
}

// printDecodedToken shows the token's header and claims from the Secret.
func printDecodedToken(secret string) error {
	out, err := exec.Command("kubectl", "get", "secret", "-n", namespace, secret, "-o", "jsonpath={.data.license\\.jwt}").Output()
	if err != nil {
		return fmt.Errorf("read Secret %s: %w", secret, err)
	}
	jwt, err := base64.StdEncoding.DecodeString(string(out))
	if err != nil {
		return fmt.Errorf("decode Secret %s: %w", secret, err)
	}
	parts := strings.Split(string(jwt), ".")
	if len(parts) != 3 {
		return fmt.Errorf("Secret %s does not hold a compact JWS", secret)
	}
	header, _ := base64.RawURLEncoding.DecodeString(parts[0])
	fmt.Printf("token: %s…%s (%d bytes)\nheader: %s\n", parts[0][:12], parts[2][len(parts[2])-8:], len(jwt), header)
	out, err = exec.Command("kubectl", "get", "secret", "-n", namespace, secret, "-o", "jsonpath={.data.license\\.json}").Output()
	if err != nil {
		return err
	}
	claims, _ := base64.StdEncoding.DecodeString(string(out))
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, claims, "", "  "); err != nil {
		return fmt.Errorf("license.json of Secret %s is not JSON: %w", secret, err)
	}
	fmt.Printf("claims:\n%s\n", pretty.String())
	return nil
}

// watchTrialLapse follows the one-minute trial of "hooli" until it expires.
func watchTrialLapse() error {
	step("Watching the one-minute trial of licensee hooli lapse (grace 20s, then onExpiry: Revoke)")
	deadline := time.Now().Add(3 * time.Minute)
	last := ""
	for time.Now().Before(deadline) {
		out, err := exec.Command("kubectl", "get", "licensee", "-n", namespace, "hooli", "-o", "json").Output()
		if err != nil {
			return fmt.Errorf("get licensee hooli: %w", err)
		}
		var l struct {
			Status struct {
				Serial   string `json:"serial"`
				Licenses []struct {
					State      string `json:"state"`
					ValidUntil string `json:"validUntil"`
					GraceUntil string `json:"graceUntil"`
				} `json:"licenses"`
				Conditions []struct{ Type, Status, Reason string } `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(out, &l); err != nil {
			return err
		}
		state, licensed := "", ""
		if len(l.Status.Licenses) > 0 {
			state = l.Status.Licenses[0].State
		}
		for _, c := range l.Status.Conditions {
			if c.Type == "Licensed" {
				licensed = c.Status + "/" + c.Reason
			}
		}
		line := fmt.Sprintf("state=%-14s Licensed=%-22s serial=%s", state, licensed, orDash(l.Status.Serial))
		if line != last {
			fmt.Printf("%s  %s\n", time.Now().Format("15:04:05"), line)
			last = line
		}
		if state == "Expired" {
			out, _ := exec.Command("kubectl", "get", "secret", "-n", namespace, "hooli-license", "-o", "jsonpath={.data.license\\.json}").Output()
			notice, _ := base64.StdEncoding.DecodeString(string(out))
			fmt.Printf("\nhooli-license now says:\n%s", notice)
			return nil
		}
		time.Sleep(time.Second)
	}
	return errors.New("the one-minute trial did not expire within three minutes: see the manager log")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func kubectl(args ...string) error {
	fmt.Printf("$ kubectl %s\n", strings.Join(args, " "))
	cmd := exec.Command("kubectl", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("kubectl %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

func step(msg string) { fmt.Printf("\n=== %s\n", msg) }
