package servingcert

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

const (
	// CAValidity and ServingValidity are the lifetimes of the generated CA and
	// serving certificate. The serving certificate is renewed at two thirds.
	CAValidity      = 10 * 365 * 24 * time.Hour
	ServingValidity = 365 * 24 * time.Hour
	// backdate covers clocks that lag the one that issued.
	backdate = time.Hour
)

// material is the parsed content of the Secret.
type material struct {
	caCert  *x509.Certificate
	caKey   crypto.Signer
	caPEM   []byte
	leaf    *x509.Certificate
	serving tls.Certificate
}

// hostSet is what a serving certificate must name.
type hostSet struct {
	dns []string // lower case, sorted, unique
	ips []net.IP // sorted by their 16-byte form, unique
}

// requiredHosts are the Service's names in namespace ns, localhost, the
// loopback addresses and extra (names or IP addresses).
func requiredHosts(ns string, extra []string) (hostSet, error) {
	names := []string{
		ServiceName, ServiceName + "." + ns, ServiceName + "." + ns + ".svc",
		ServiceName + "." + ns + ".svc.cluster.local", "localhost", "127.0.0.1", "::1",
	}
	for _, h := range extra {
		if err := checkHost(h); err != nil {
			return hostSet{}, err
		}
	}
	return newHostSet(append(names, extra...)), nil
}

// checkHost accepts an IP address or a DNS name (a leading "*." allowed).
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if errs := validation.IsWildcardDNS1123Subdomain(strings.ToLower(h)); len(errs) == 0 {
		return nil
	}
	if errs := validation.IsDNS1123Subdomain(strings.ToLower(h)); len(errs) > 0 {
		return fmt.Errorf("extra certificate host %q is neither an IP address nor a DNS name (%s): fix --license-api-cert-hosts", h, strings.Join(errs, "; "))
	}
	return nil
}

func newHostSet(hosts []string) hostSet {
	var s hostSet
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			s.ips = append(s.ips, ip.To16())
		} else {
			s.dns = append(s.dns, strings.ToLower(h))
		}
	}
	slices.Sort(s.dns)
	s.dns = slices.Compact(s.dns)
	slices.SortFunc(s.ips, func(a, b net.IP) int { return bytes.Compare(a, b) })
	s.ips = slices.CompactFunc(s.ips, net.IP.Equal)
	return s
}

// hostsOf are the names a certificate holds.
func hostsOf(c *x509.Certificate) hostSet {
	hosts := slices.Clone(c.DNSNames)
	for _, ip := range c.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	return newHostSet(hosts)
}

func (s hostSet) union(o hostSet) hostSet {
	return newHostSet(append(s.strings(), o.strings()...))
}

func (s hostSet) strings() []string {
	out := slices.Clone(s.dns)
	for _, ip := range s.ips {
		out = append(out, ip.String())
	}
	return out
}

// missingFrom lists the hosts of s that c does not name, literally (a
// wildcard in c does not stand for a required name: we issue literal names).
func (s hostSet) missingFrom(c *x509.Certificate) []string {
	have := hostsOf(c)
	var missing []string
	for _, d := range s.dns {
		if !slices.Contains(have.dns, d) {
			missing = append(missing, d)
		}
	}
	for _, ip := range s.ips {
		if !slices.ContainsFunc(have.ips, ip.Equal) {
			missing = append(missing, ip.String())
		}
	}
	return missing
}

// renewAt is two thirds into c's life, truncated to the second.
func renewAt(c *x509.Certificate) time.Time {
	life := c.NotAfter.Sub(c.NotBefore)
	return c.NotBefore.Add(life * 2 / 3).Truncate(time.Second)
}

// servingNotAfter is when a serving certificate issued at now ends: a year on,
// never after its CA.
func servingNotAfter(ca *x509.Certificate, now time.Time) time.Time {
	end := now.Add(ServingValidity)
	if ca.NotAfter.Before(end) {
		return ca.NotAfter
	}
	return end
}

// Reasons to re-issue the serving certificate.
const (
	reasonMissingHosts = "MissingHosts"
	reasonRenewalDue   = "RenewalDue"
)

// reissueCheck is one reason to re-issue: it returns the reason and a message
// when it applies.
type reissueCheck func(m *material, want hostSet, now time.Time) (reason, message string, applies bool)

// reissueChecks run in order; the first that applies wins.
var reissueChecks = []reissueCheck{checkHosts, checkRenewal}

func checkHosts(m *material, want hostSet, _ time.Time) (string, string, bool) {
	if missing := want.missingFrom(m.leaf); len(missing) > 0 {
		return reasonMissingHosts, "the serving certificate does not name " + strings.Join(missing, ", "), true
	}
	return "", "", false
}

// checkRenewal applies from two thirds of the certificate's life, unless a new
// certificate could not last longer (it is already cut at the CA's end): then
// renewing gains nothing and would only repeat.
func checkRenewal(m *material, _ hostSet, now time.Time) (string, string, bool) {
	if now.Before(renewAt(m.leaf)) || !servingNotAfter(m.caCert, now).After(m.leaf.NotAfter) {
		return "", "", false
	}
	return reasonRenewalDue, fmt.Sprintf("the serving certificate (valid until %s) was due for renewal at %s",
		m.leaf.NotAfter.UTC().Format(time.RFC3339), renewAt(m.leaf).UTC().Format(time.RFC3339)), true
}

// reissueReason says whether, and why, the serving certificate in m must be
// re-issued.
func reissueReason(m *material, want hostSet, now time.Time) (reason, message string, due bool) {
	for _, check := range reissueChecks {
		if reason, message, due := check(m, want, now); due {
			return reason, message, true
		}
	}
	return "", "", false
}

// nextRenewal is when the serving certificate in m falls due, or the zero time
// when renewing would not extend it.
func nextRenewal(m *material) time.Time {
	at := renewAt(m.leaf)
	if !servingNotAfter(m.caCert, at).After(m.leaf.NotAfter) {
		return time.Time{}
	}
	return at
}

// newCA makes a self-signed ECDSA P-256 CA (P-256: curl, openssl, Java and
// every TLS stack verify it; Ed25519 certificates are not universal yet).
func newCA(now time.Time) (certPEM, keyPEM []byte, err error) {
	return newKeyAndCertificate("CA", &x509.Certificate{
		Subject:               pkix.Name{CommonName: ServiceName + "-ca"},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(CAValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, nil, nil)
}

// issueServing makes an ECDSA P-256 serving certificate for hosts, signed by ca.
func issueServing(ca *x509.Certificate, caKey crypto.Signer, hosts hostSet, now time.Time) (certPEM, keyPEM []byte, err error) {
	return newKeyAndCertificate("serving", &x509.Certificate{
		Subject:               pkix.Name{CommonName: ServiceName},
		NotBefore:             now.Add(-backdate),
		NotAfter:              servingNotAfter(ca, now),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		DNSNames:              hosts.dns,
		IPAddresses:           hosts.ips,
	}, ca, caKey)
}

// newKeyAndCertificate generates an ECDSA P-256 key and its certificate from
// tmpl, signed by parent with parentKey, or self-signed when parent is nil.
func newKeyAndCertificate(what string, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate %s key: %w", what, err)
	}
	if tmpl.SerialNumber, err = randomSerial(); err != nil {
		return nil, nil, err
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		return nil, nil, fmt.Errorf("sign %s certificate: %w", what, err)
	}
	if keyPEM, err = encodeKey(key); err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

func randomSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("draw certificate serial: %w", err)
	}
	return serial, nil
}

func encodeKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// parseSecretData parses and cross-checks the four entries. Its errors name
// the entry and the problem, never key bytes.
func parseSecretData(data map[string][]byte) (*material, error) {
	caCert, err := decodeCertificate(CACertKey, data[CACertKey])
	if err != nil {
		return nil, err
	}
	if !caCert.BasicConstraintsValid || !caCert.IsCA || caCert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, errors.New("ca.crt is not a CA certificate (it needs basic constraints CA:TRUE and key usage certSign)")
	}
	caKey, err := decodeKey(CAKeyKey, data[CAKeyKey])
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(caKey.Public(), caCert.PublicKey) {
		return nil, errors.New("ca.key is not the private key of ca.crt")
	}
	leaf, err := decodeCertificate(corev1.TLSCertKey, data[corev1.TLSCertKey])
	if err != nil {
		return nil, err
	}
	servingKey, err := decodeKey(corev1.TLSPrivateKeyKey, data[corev1.TLSPrivateKeyKey])
	if err != nil {
		return nil, err
	}
	if !publicKeysEqual(servingKey.Public(), leaf.PublicKey) {
		return nil, errors.New("tls.key is not the private key of tls.crt")
	}
	if err := leaf.CheckSignatureFrom(caCert); err != nil {
		return nil, fmt.Errorf("tls.crt is not signed by ca.crt: %w", err)
	}
	return &material{
		caCert: caCert,
		caKey:  caKey,
		caPEM:  data[CACertKey],
		leaf:   leaf,
		serving: tls.Certificate{
			Certificate: [][]byte{leaf.Raw},
			PrivateKey:  servingKey,
			Leaf:        leaf,
		},
	}, nil
}

// decodePEM returns the single PEM block of entry name, of type want.
func decodePEM(name string, data []byte, want ...string) (*pem.Block, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%s is missing or empty", name)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s is not PEM", name)
	}
	if !slices.Contains(want, block.Type) {
		return nil, fmt.Errorf("%s holds a PEM block of type %q, want %s", name, block.Type, strings.Join(want, " or "))
	}
	if len(block.Headers) > 0 {
		return nil, fmt.Errorf("%s has PEM headers (an encrypted key?): it must be unencrypted", name)
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, fmt.Errorf("%s holds more than one PEM block, or data after it", name)
	}
	return block, nil
}

func decodeCertificate(name string, data []byte) (*x509.Certificate, error) {
	block, err := decodePEM(name, data, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return c, nil
}

// decodeKey reads a PKCS#8 or SEC 1 (EC) private key. The parsers' errors
// describe the structure, not the key.
func decodeKey(name string, data []byte) (crypto.Signer, error) {
	block, err := decodePEM(name, data, "PRIVATE KEY", "EC PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	var key any
	if block.Type == "EC PRIVATE KEY" {
		key, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("%s is not a valid %s: %w", name, block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s holds a %T, which cannot sign", name, key)
	}
	return signer, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
