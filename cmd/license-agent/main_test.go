package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	jwks := writeJWKS(t)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var code int
	var stderr syncBuilder
	wg.Go(func() {
		code = run(ctx, []string{"--license-dir", t.TempDir(), "--listen", addr}, func(k string) string {
			if k == "LICENSE_AGENT_JWKS" {
				return jwks
			}
			return ""
		}, &stderr)
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Errorf("readyz without a license: %d, want 503", resp.StatusCode)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("agent did not serve: %v; stderr %s", err, stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
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

// syncBuilder is a strings.Builder safe for the logger's goroutines.
type syncBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuilder) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuilder) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
