package servingcert

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// secretData is what newSecret would store, for hosts, at now.
func secretData(t *testing.T, now time.Time, hosts hostSet) map[string][]byte {
	t.Helper()
	caPEM, caKeyPEM, err := newCA(now)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := decodeCertificate(CACertKey, caPEM)
	if err != nil {
		t.Fatal(err)
	}
	caKey, err := decodeKey(CAKeyKey, caKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := issueServing(ca, caKey, hosts, now)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{CACertKey: caPEM, CAKeyKey: caKeyPEM, corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM}
}

func mustHosts(t *testing.T, ns string, extra ...string) hostSet {
	t.Helper()
	h, err := requiredHosts(ns, extra)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestRequiredHosts(t *testing.T) {
	h := mustHosts(t, "ops", "License.Example.com", "*.lic.example.com", "10.0.0.7", "fe80::1", "localhost", "10.0.0.7")
	want := []string{
		"*.lic.example.com", "kubelicense-license-api", "kubelicense-license-api.ops", "kubelicense-license-api.ops.svc",
		"kubelicense-license-api.ops.svc.cluster.local", "license.example.com", "localhost",
		"::1", "10.0.0.7", "127.0.0.1", "fe80::1", // by their 16-byte form
	}
	if got := h.strings(); !slices.Equal(got, want) {
		t.Errorf("hosts = %v, want %v", got, want)
	}
	for _, bad := range []string{"", "under_score.example.com", "a..b", "-lead.example.com", "*", "x.*.example.com", "host:443", "https://host", strings.Repeat("a", 254)} {
		_, err := requiredHosts("ops", []string{bad})
		if err == nil || !strings.Contains(err.Error(), "--license-api-cert-hosts") {
			t.Errorf("host %q: err = %v, want one naming --license-api-cert-hosts", bad, err)
		}
	}
}

func TestIssuedCertificates(t *testing.T) {
	hosts := mustHosts(t, "ops", "10.1.2.3")
	m, err := parseSecretData(secretData(t, t0, hosts))
	if err != nil {
		t.Fatal(err)
	}
	if !m.caCert.IsCA || !m.caCert.MaxPathLenZero || m.caCert.NotAfter.Sub(t0) != CAValidity {
		t.Errorf("CA: isCA %v, maxPathLenZero %v, life from now %v", m.caCert.IsCA, m.caCert.MaxPathLenZero, m.caCert.NotAfter.Sub(t0))
	}
	if m.leaf.IsCA || m.leaf.NotAfter.Sub(t0) != ServingValidity || !slices.Equal(m.leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}) {
		t.Errorf("serving: isCA %v, life %v, ext key usage %v", m.leaf.IsCA, m.leaf.NotAfter.Sub(t0), m.leaf.ExtKeyUsage)
	}
	if missing := hosts.missingFrom(m.leaf); len(missing) > 0 {
		t.Errorf("serving certificate lacks %v", missing)
	}
	if m.leaf.PublicKeyAlgorithm != x509.ECDSA || m.caCert.PublicKeyAlgorithm != x509.ECDSA {
		t.Errorf("key algorithms %v / %v, want ECDSA", m.leaf.PublicKeyAlgorithm, m.caCert.PublicKeyAlgorithm)
	}
	pool := x509.NewCertPool()
	pool.AddCert(m.caCert)
	for _, name := range []string{"kubelicense-license-api.ops.svc", "localhost", "127.0.0.1", "::1", "10.1.2.3"} {
		if _, err := m.leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: t0}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
}

func TestServingCertificateNeverOutlivesCA(t *testing.T) {
	m, err := parseSecretData(secretData(t, t0, mustHosts(t, "ops")))
	if err != nil {
		t.Fatal(err)
	}
	late := m.caCert.NotAfter.Add(-30 * 24 * time.Hour)
	certPEM, _, err := issueServing(m.caCert, m.caKey, mustHosts(t, "ops"), late)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := decodeCertificate("tls.crt", certPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !leaf.NotAfter.Equal(m.caCert.NotAfter) {
		t.Errorf("serving NotAfter %v, want the CA's %v", leaf.NotAfter, m.caCert.NotAfter)
	}
}

// TestParseSecretData feeds the parser what a hand edit, a bad restore or an
// attacker with write access to the Secret could store.
func TestParseSecretData(t *testing.T) {
	hosts := mustHosts(t, "ops")
	good := secretData(t, t0, hosts)
	other := secretData(t, t0, hosts) // another CA and serving pair
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)
	edDER, _ := x509.MarshalPKCS8PrivateKey(edKey)
	edPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: edDER})
	caBlock, _ := pem.Decode(good[CACertKey])

	if _, err := parseSecretData(good); err != nil {
		t.Fatalf("a generated Secret: %v", err)
	}
	cases := []struct {
		name string
		edit func(d map[string][]byte)
		want string
	}{
		{"no ca.crt", func(d map[string][]byte) { delete(d, CACertKey) }, "ca.crt is missing"},
		{"no ca.key", func(d map[string][]byte) { delete(d, CAKeyKey) }, "ca.key is missing"},
		{"empty tls.crt", func(d map[string][]byte) { d["tls.crt"] = nil }, "tls.crt is missing"},
		{"no tls.key", func(d map[string][]byte) { delete(d, "tls.key") }, "tls.key is missing"},
		{"ca.crt not PEM", func(d map[string][]byte) { d[CACertKey] = []byte("not a certificate") }, "ca.crt is not PEM"},
		{"ca.crt DER", func(d map[string][]byte) { d[CACertKey] = caBlock.Bytes }, "ca.crt is not PEM"},
		{"ca.crt holds a key", func(d map[string][]byte) { d[CACertKey] = d[CAKeyKey] }, `ca.crt holds a PEM block of type "PRIVATE KEY"`},
		{"ca.crt holds two certificates", func(d map[string][]byte) { d[CACertKey] = append(d[CACertKey], other[CACertKey]...) }, "more than one PEM block"},
		{"garbage after ca.crt", func(d map[string][]byte) { d[CACertKey] = append(d[CACertKey], "junk"...) }, "data after it"},
		{"ca.crt not DER inside", func(d map[string][]byte) {
			d[CACertKey] = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 0x03, 0x02, 0x01}})
		}, "ca.crt: x509"},
		{"ca.crt is not a CA", func(d map[string][]byte) { d[CACertKey], d[CAKeyKey] = d["tls.crt"], d["tls.key"] }, "ca.crt is not a CA certificate"},
		{"ca.key of another CA", func(d map[string][]byte) { d[CAKeyKey] = other[CAKeyKey] }, "ca.key is not the private key of ca.crt"},
		{"ca.key Ed25519", func(d map[string][]byte) { d[CAKeyKey] = edPEM }, "ca.key is not the private key of ca.crt"},
		{"ca.key a certificate", func(d map[string][]byte) { d[CAKeyKey] = d[CACertKey] }, `ca.key holds a PEM block of type "CERTIFICATE"`},
		{"ca.key encrypted", func(d map[string][]byte) {
			b, _ := pem.Decode(d[CAKeyKey])
			d[CAKeyKey] = pem.EncodeToMemory(&pem.Block{Type: b.Type, Headers: map[string]string{"Proc-Type": "4,ENCRYPTED"}, Bytes: b.Bytes})
		}, "must be unencrypted"},
		{"ca.key truncated", func(d map[string][]byte) {
			b, _ := pem.Decode(d[CAKeyKey])
			d[CAKeyKey] = pem.EncodeToMemory(&pem.Block{Type: b.Type, Bytes: b.Bytes[:len(b.Bytes)/2]})
		}, "ca.key is not a valid PRIVATE KEY"},
		{"tls.key of another certificate", func(d map[string][]byte) { d["tls.key"] = other["tls.key"] }, "tls.key is not the private key of tls.crt"},
		{"tls.crt and key of another CA", func(d map[string][]byte) { d["tls.crt"], d["tls.key"] = other["tls.crt"], other["tls.key"] }, "tls.crt is not signed by ca.crt"},
		{"tls.key is the CA key", func(d map[string][]byte) { d["tls.key"] = d[CAKeyKey] }, "tls.key is not the private key of tls.crt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := maps.Clone(good)
			tc.edit(d)
			_, err := parseSecretData(d)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
			if leaksKey(err.Error(), good[CAKeyKey], good["tls.key"], other[CAKeyKey], other["tls.key"], edPEM) {
				t.Errorf("error shows private key material: %v", err)
			}
		})
	}
}

// leaksKey tells whether msg holds a line of one of the PEM keys.
func leaksKey(msg string, keys ...[]byte) bool {
	for _, k := range keys {
		for _, line := range strings.Split(string(k), "\n") {
			if len(line) > 8 && !strings.HasPrefix(line, "-----") && strings.Contains(msg, line) {
				return true
			}
		}
	}
	return false
}

func TestReissueReason(t *testing.T) {
	hosts := mustHosts(t, "ops")
	m, err := parseSecretData(secretData(t, t0, hosts))
	if err != nil {
		t.Fatal(err)
	}
	due := renewAt(m.leaf)
	if want := t0.Add(-backdate).Add((ServingValidity + backdate) * 2 / 3).Truncate(time.Second); !due.Equal(want) {
		t.Fatalf("renewAt = %v, want %v", due, want)
	}
	cases := []struct {
		name   string
		want   hostSet
		now    time.Time
		reason string
	}{
		{"fresh", hosts, t0, ""},
		{"a second before two thirds", hosts, due.Add(-time.Second), ""},
		{"at two thirds", hosts, due, reasonRenewalDue},
		{"expired", hosts, m.leaf.NotAfter.Add(time.Hour), reasonRenewalDue},
		{"a host added", mustHosts(t, "ops", "lic.example.com"), t0, reasonMissingHosts},
		{"another namespace", mustHosts(t, "prod"), t0, reasonMissingHosts},
		{"a host added, and due", mustHosts(t, "ops", "10.9.9.9"), due, reasonMissingHosts},
		{"fewer hosts", newHostSet([]string{"localhost"}), t0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			reason, message, isDue := reissueReason(m, tc.want, tc.now)
			if reason != tc.reason || isDue != (tc.reason != "") || isDue != (message != "") {
				t.Errorf("reissueReason = %q, %q, %v; want %q", reason, message, isDue, tc.reason)
			}
		})
	}
}

// A serving certificate already cut at the CA's end cannot be extended: it is
// not due, and nextRenewal says there is nothing to wait for.
func TestNoRenewalAtTheEndOfTheCA(t *testing.T) {
	m, err := parseSecretData(secretData(t, t0, mustHosts(t, "ops")))
	if err != nil {
		t.Fatal(err)
	}
	if at := nextRenewal(m); !at.Equal(renewAt(m.leaf)) {
		t.Errorf("nextRenewal = %v, want %v", at, renewAt(m.leaf))
	}
	late := m.caCert.NotAfter.Add(-10 * 24 * time.Hour)
	certPEM, keyPEM, err := issueServing(m.caCert, m.caKey, mustHosts(t, "ops"), late)
	if err != nil {
		t.Fatal(err)
	}
	d := map[string][]byte{CACertKey: m.caPEM, CAKeyKey: mustKeyPEM(t, m), "tls.crt": certPEM, "tls.key": keyPEM}
	cut, err := parseSecretData(d)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, due := reissueReason(cut, mustHosts(t, "ops"), m.caCert.NotAfter.Add(-time.Hour)); due {
		t.Error("a serving certificate cut at the CA's end is due for renewal")
	}
	if at := nextRenewal(cut); !at.IsZero() {
		t.Errorf("nextRenewal = %v, want none", at)
	}
}

func mustKeyPEM(t *testing.T, m *material) []byte {
	t.Helper()
	p, err := encodeKey(m.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheckCertificates(t *testing.T) {
	d := secretData(t, t0, mustHosts(t, "ops"))
	for _, tc := range []struct {
		name, data, want string
	}{
		{"one", string(d[CACertKey]), ""},
		{"a bundle", string(d[CACertKey]) + string(d["tls.crt"]), ""},
		{"empty", "", "no PEM certificate"},
		{"a key", string(d["tls.key"]), `type "PRIVATE KEY"`},
		{"junk after", string(d[CACertKey]) + "junk", "not PEM"},
	} {
		err := checkCertificates([]byte(tc.data))
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}
