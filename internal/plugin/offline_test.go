package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// TestOfflineCommands runs inspect and verify on files, as a licensee without
// cluster access would, and checks every exit status.
func TestOfflineCommands(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	key, attacker := testKey(1), testKey(2)
	claims := sampleClaims("licensing", "acme-db", "globex", testNow)
	good := sign(claims, key)
	tokenFile := write("license.jwt", []byte(good+"\n"))
	jwksFile := write("jwks.json", jwksOf(key))
	bundleFile := write("globex.license.json", must(license.MarshalBundle(good, jwksOf(key))))
	// A self-made bundle: the attacker's token with the attacker's keys.
	forgedBundle := write("forged.license.json", must(license.MarshalBundle(sign(claims, attacker), jwksOf(attacker))))
	garbage := write("garbage.jwt", []byte("this is not a token"))
	empty := write("empty.jwt", nil)
	notBundle := write("other.json", []byte(`{"apiVersion":"v1","kind":"Secret"}`))
	privateJWKS := write("private.json", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k"}]}`))
	missing := filepath.Join(dir, "missing.jwt")
	emptyKubeconfig := write("kubeconfig", []byte("apiVersion: v1\nkind: Config\n"))

	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stdout string // prefix of stdout
		stderr string // substring of stderr
	}{
		{name: "token", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile}, code: ExitOK, stdout: "VALID: licensee globex, product acme-db"},
		{name: "token from stdin", stdin: good, args: []string{"verify", "-f", "-", "--jwks", jwksFile}, code: ExitOK, stdout: "VALID:"},
		{name: "feature granted", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile, "--feature", "backup"}, code: ExitOK, stdout: "VALID:"},
		{name: "feature not granted", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile, "--feature", "analytics"}, code: ExitNotEntitled, stdout: "FEATURE_NOT_ENTITLED:"},
		{name: "in grace", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile, "--at", "2027-12-01T00:00:00Z"}, code: ExitOK, stdout: "IN_GRACE_PERIOD:"},
		{name: "expired", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile, "--at", "2028-01-01T00:00:00Z"}, code: ExitNotEntitled, stdout: "EXPIRED:"},
		{name: "bundle with anchor", args: []string{"verify", "-f", bundleFile, "--jwks", jwksFile}, code: ExitOK, stdout: "VALID:"},
		{name: "bundle, bundled keys trusted", args: []string{"verify", "-f", bundleFile, "--trust-bundled-keys"}, code: ExitOK, stdout: "VALID:"},
		{name: "forged bundle against the anchor", args: []string{"verify", "-f", forgedBundle, "--jwks", jwksFile}, code: ExitVerifyFailed, stdout: "UNKNOWN_KEY:"},
		{name: "token signed by another key", args: []string{"inspect", "-f", forgedBundle, "--jwks", jwksFile}, code: ExitVerifyFailed, stdout: "Token:        bundle "},
		{name: "garbage token", args: []string{"verify", "-f", garbage, "--jwks", jwksFile}, code: ExitVerifyFailed, stdout: "MALFORMED: token is not a compact JWS"},
		{name: "empty token", args: []string{"verify", "-f", empty, "--jwks", jwksFile}, code: ExitVerifyFailed, stdout: "MALFORMED: token is empty"},
		{name: "JSON that is not a bundle", args: []string{"verify", "-f", notBundle, "--jwks", jwksFile}, code: ExitVerifyFailed, stdout: `MALFORMED: file has apiVersion "v1" and kind "Secret"`},
		{name: "for the product", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile, "--product", "acme-db"}, code: ExitOK, stdout: "VALID:"},
		{name: "for another product", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile, "--product", "other-db"}, code: ExitVerifyFailed, stdout: `MALFORMED: token audience is ["acme-db"], which does not include "other-db"`},
		{name: "inspect json", args: []string{"inspect", "-f", tokenFile, "--jwks", jwksFile, "-o", "json"}, code: ExitOK, stdout: "{"},

		{name: "bundle without anchor", args: []string{"verify", "-f", bundleFile}, code: ExitUsage, stderr: "--trust-bundled-keys"},
		{name: "token without anchor", args: []string{"verify", "-f", tokenFile}, code: ExitUsage, stderr: "--jwks FILE is required"},
		{name: "token with bundled keys", args: []string{"verify", "-f", tokenFile, "--trust-bundled-keys"}, code: ExitUsage, stderr: "holds a bare token"},
		{name: "unreadable file", args: []string{"verify", "-f", missing, "--jwks", jwksFile}, code: ExitUsage, stderr: "no such file"},
		{name: "unreadable anchor", args: []string{"verify", "-f", tokenFile, "--jwks", missing}, code: ExitUsage, stderr: "read --jwks"},
		{name: "private key as anchor", args: []string{"verify", "-f", tokenFile, "--jwks", privateJWKS}, code: ExitUsage, stderr: "not a usable trust anchor"},
		{name: "product with a licensee", args: []string{"verify", "globex", "--product", "acme-db"}, code: ExitUsage, stderr: "--product applies to files"},
		{name: "licensee and file", args: []string{"verify", "globex", "-f", tokenFile, "--jwks", jwksFile}, code: ExitUsage, stderr: "not both"},
		{name: "no input", args: []string{"verify"}, code: ExitUsage, stderr: "name a licensee"},
		{name: "two licensees", args: []string{"inspect", "a", "b"}, code: ExitUsage, stderr: "expected one licensee"},
		{name: "bad --at", args: []string{"verify", "-f", tokenFile, "--jwks", jwksFile, "--at", "tomorrow"}, code: ExitUsage, stderr: "not an RFC 3339 time"},
		{name: "bad output", args: []string{"inspect", "-f", tokenFile, "--jwks", jwksFile, "-o", "yaml"}, code: ExitUsage, stderr: "unknown output format"},
		{name: "bad status output", args: []string{"status", "-o", "xml"}, code: ExitUsage, stderr: "unknown output format"},
		{name: "status names with -A", args: []string{"status", "-A", "globex"}, code: ExitUsage, stderr: "not both"},
		{name: "unknown command", args: []string{"renwe"}, code: ExitUsage, stderr: `unknown command "renwe"`},
		{name: "unknown flag", args: []string{"verify", "--bogus"}, code: ExitUsage, stderr: "unknown flag: --bogus"},
		{name: "renew without licensee", args: []string{"renew"}, code: ExitUsage, stderr: "name the licensee"},
		{name: "rotate-key without product", args: []string{"rotate-key"}, code: ExitUsage, stderr: "name the product"},
		{name: "export without licensee", args: []string{"export"}, code: ExitUsage, stderr: "name the licensee"},
		{name: "missing kubeconfig", args: []string{"status", "--kubeconfig", missing}, code: ExitUsage, stderr: "load kubeconfig: "},
		{name: "unreachable cluster", args: []string{"status", "--kubeconfig", emptyKubeconfig, "--server", "https://127.0.0.1:1", "-n", "licensing"}, code: ExitUsage, stderr: "cannot reach the API server"},
		{name: "renew with bad timeout", args: []string{"renew", "globex", "--timeout", "0s"}, code: ExitUsage, stderr: "--timeout must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runPlugin(context.Background(), tt.stdin, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit status = %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			if !strings.HasPrefix(r.stdout, tt.stdout) {
				t.Errorf("stdout = %q, want prefix %q", r.stdout, tt.stdout)
			}
			if !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tt.stderr)
			}
			if tt.code == ExitUsage && !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("stderr = %q, want an error message", r.stderr)
			}
			if tt.code != ExitUsage && r.stderr != "" {
				t.Errorf("stderr = %q, want nothing: the result is on stdout", r.stderr)
			}
		})
	}
}
