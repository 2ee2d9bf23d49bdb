package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/internal/keys"
)

func noEnv(string) string { return "" }

func writeJWKS(t *testing.T) string {
	t.Helper()
	k, err := keys.Generate(keys.Ed25519, time.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	data, err := keys.MarshalJWKS([]keys.PublicKey{keys.PublicKeyOf(k)})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigurationErrorsExitWithCode2(t *testing.T) {
	jwks := writeJWKS(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, tc := range map[string]struct {
		args []string
		want string
	}{
		"no trust anchor":    {[]string{"--license-dir", t.TempDir()}, "no trust anchor: set --jwks"},
		"missing dir":        {[]string{"--jwks", jwks, "--license-dir", "/nonexistent/license"}, "--license-dir=/nonexistent/license"},
		"missing jwks":       {[]string{"--jwks", "/nonexistent/jwks.json", "--license-dir", t.TempDir()}, "--jwks"},
		"missing state dir":  {[]string{"--jwks", jwks, "--license-dir", t.TempDir(), "--state-dir", "/nonexistent/state"}, "--state-dir=/nonexistent/state"},
		"address in use":     {[]string{"--jwks", jwks, "--license-dir", t.TempDir(), "--listen", busy.Addr().String()}, "cannot listen on --listen"},
		"probe address used": {[]string{"--jwks", jwks, "--license-dir", t.TempDir(), "--listen", "127.0.0.1:0", "--probe-listen", busy.Addr().String()}, "cannot listen on --probe-listen"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr strings.Builder
			if code := run(context.Background(), tc.args, noEnv, &stderr); code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitConfig, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not contain %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestHelpExitsZero(t *testing.T) {
	var stderr strings.Builder
	if code := run(context.Background(), []string{"--help"}, noEnv, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), "-trust-bundled-keys") {
		t.Fatalf("usage %q", stderr.String())
	}
}

// The agent starts without a token mounted, serves, and stops cleanly.
func TestServesUntilCancelled(t *testing.T) {
	jwks := writeJWKS(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var code int
	stderr := newSyncBuilder()
	wg.Go(func() {
		code = run(ctx, []string{"--license-dir", t.TempDir(), "--listen", "127.0.0.1:0"}, func(k string) string {
			if k == "LICENSE_AGENT_JWKS" {
				return jwks
			}
			return ""
		}, stderr)
	})
	// The listener accepts (into its backlog) before the agent logs that it
	// serves, so the logged address can be asked at once.
	addr := stderr.waitFor(regexp.MustCompile(`msg="license-agent serving" listen=(\S+)`))[1]
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatalf("agent does not serve on %s: %v; stderr %s", addr, err, stderr.String())
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz without a license: %d, want 503", resp.StatusCode)
	}
	cancel()
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d after cancel; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "no license mounted yet") {
		t.Errorf("log does not report the missing license: %s", stderr.String())
	}
}

// syncBuilder is a strings.Builder safe for the logger's goroutines, which
// signals each write so a test can wait for a log line instead of polling.
type syncBuilder struct {
	mu    sync.Mutex
	b     strings.Builder
	wrote chan struct{}
}

func newSyncBuilder() *syncBuilder { return &syncBuilder{wrote: make(chan struct{}, 1)} }

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.b.Write(p)
	select {
	case s.wrote <- struct{}{}:
	default:
	}
	return n, err
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor blocks until the output matches re and returns the submatches; a
// hang is ended by go test's -timeout.
func (s *syncBuilder) waitFor(re *regexp.Regexp) []string {
	for {
		if m := re.FindStringSubmatch(s.String()); m != nil {
			return m
		}
		<-s.wrote
	}
}
