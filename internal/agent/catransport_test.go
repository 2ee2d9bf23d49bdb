package agent

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// otherCA is a CA certificate that signed nothing the tests serve.
func otherCA(t *testing.T) []byte {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	must(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestCATransportFollowsTheMountedCA(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	serving := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	vol := newVolume(t, map[string][]byte{"ca.crt": serving})
	tr, err := newCATransport(vol.path("ca.crt"))
	must(t, err)
	hc := &http.Client{Transport: tr}
	get := func() error {
		resp, err := hc.Get(srv.URL)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	must(t, get())

	// kubelet swaps in another CA: new connections verify against it.
	vol.update(map[string][]byte{"ca.crt": otherCA(t)})
	must(t, tr.reload())
	if err := get(); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("the old CA is still trusted: %v", err)
	}
	vol.update(map[string][]byte{"ca.crt": serving})
	must(t, tr.reload())
	must(t, get())

	// An unusable file is refused and the CA loaded before stays in use.
	vol.update(map[string][]byte{"ca.crt": []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")})
	if err := tr.reload(); err == nil || !strings.Contains(err.Error(), "never a key") {
		t.Fatalf("reload of a key: %v", err)
	}
	must(t, get())
}

func TestOnlineStartErrorsSayWhatToFix(t *testing.T) {
	f := newFixture(t, testClaims("start"))
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		must(t, os.WriteFile(p, []byte(content), 0o644))
		return p
	}
	for name, tc := range map[string]struct {
		change func(*Config)
		want   []string
	}{
		"missing ca":        {func(c *Config) { c.LicenseAPICA = "/nonexistent/ca.crt" }, []string{"--license-api-ca=/nonexistent/ca.crt", "does not exist", "kubelicense-license-api-ca"}},
		"ca is not pem":     {func(c *Config) { c.LicenseAPICA = write("ca.txt", "hello") }, []string{"--license-api-ca", "no PEM certificate"}},
		"missing print":     {func(c *Config) { c.FingerprintFile = "/nonexistent/machine-id" }, []string{"--fingerprint-file=/nonexistent/machine-id does not exist", "hostPath"}},
		"empty print file":  {func(c *Config) { c.FingerprintFile = write("empty", " \n") }, []string{"the fingerprint is empty", "--fingerprint-file"}},
		"binary print file": {func(c *Config) { c.FingerprintFile = write("binary", "a\x00b") }, []string{"--fingerprint-file", "control characters"}},
	} {
		t.Run(name, func(t *testing.T) {
			cfg := f.cfg
			cfg.LicenseAPI, cfg.OnlineInterval = "https://127.0.0.1:9443", time.Second
			cfg.Activate = "main"
			tc.change(&cfg)
			if cfg.FingerprintFile == "" {
				cfg.Fingerprint = "node-a"
			}
			_, err := New(cfg)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestFingerprintFromAFile(t *testing.T) {
	machineID := filepath.Join(t.TempDir(), "machine-id")
	must(t, os.WriteFile(machineID, []byte("4c4c4544004b5a10\n"), 0o444))
	f, api := newOnlineFixture(t, testClaims("file"), func(_ *fixture, c *Config) { c.FingerprintFile = machineID })
	f.run()
	f.waitLogged("online verdict")
	if got := api.seen()[0].fingerprint; got != "4c4c4544004b5a10" {
		t.Fatalf("fingerprint sent %q", got)
	}
}
