package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Published test vectors, so key ids and JWKS output are checked against the
// standards rather than against this package's own output.
const (
	// RFC 8037 A.1 (Ed25519 key) and A.3 (its RFC 7638 thumbprint).
	rfc8037D          = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
	rfc8037X          = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	rfc8037Thumbprint = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
	// RFC 7517 A.2 (P-256 key).
	rfc7517D = "870MB6gfuTJ4HtUnUvYMyJpr5eUZNP4Bk43bVdj3eAE"
	rfc7517X = "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4"
	rfc7517Y = "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"
)

var testCreatedAt = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func b64url(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode test vector %q: %v", s, err)
	}
	return b
}

func rfcEd25519Key(t testing.TB) ed25519.PrivateKey {
	t.Helper()
	return ed25519.NewKeyFromSeed(b64url(t, rfc8037D))
}

func rfcP256Key(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), b64url(t, rfc7517D))
	if err != nil {
		t.Fatalf("P-256 test key: %v", err)
	}
	return key
}

// thumbprintHex is the hex of an RFC 7638 thumbprint given in base64url.
func thumbprintHex(t testing.TB, b64 string) string {
	return hex.EncodeToString(b64url(t, b64))
}

// rfcP256ThumbprintHex computes the RFC 7638 thumbprint of the RFC 7517 key by
// the letter of RFC 7638 section 3.2: required members, sorted, no whitespace.
func rfcP256ThumbprintHex() string {
	sum := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + rfc7517X + `","y":"` + rfc7517Y + `"}`))
	return hex.EncodeToString(sum[:])
}

// unsupportedKeys are an RSA and an ECDSA P-384 key, which the operator must
// reject; generated once, RSA generation being slow.
var unsupportedKeys = sync.OnceValues(func() (*rsa.PrivateKey, *ecdsa.PrivateKey) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		panic(fmt.Sprintf("RSA test key: %v", err))
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		panic(fmt.Sprintf("P-384 test key: %v", err))
	}
	return rsaKey, p384
})

func signingKeyFor(t testing.TB, alg Algorithm) *SigningKey {
	t.Helper()
	var key *SigningKey
	var err error
	switch alg {
	case Ed25519:
		key, err = NewSigningKey(rfcEd25519Key(t), alg, testCreatedAt)
	case ECDSAP256:
		key, err = NewSigningKey(rfcP256Key(t), alg, testCreatedAt)
	}
	if err != nil || key == nil {
		t.Fatalf("test signing key %s: %v", alg, err)
	}
	return key
}

// assertNoKeyMaterial fails when msg quotes any of the secret input.
func assertNoKeyMaterial(t *testing.T, msg string, secret []byte) {
	t.Helper()
	if leaked := keyMaterialIn(msg, secret); leaked != "" {
		t.Fatalf("text quotes key material %q: %s", leaked, msg)
	}
}

// keyMaterialIn is the first run of secret that msg quotes: 16 chars of its
// text, or 8 bytes of its DER (each PEM block, or the input itself when it
// holds no PEM) in raw, decimal, hex or base64 form.
func keyMaterialIn(msg string, secret []byte) string {
	var ders [][]byte
	for rest := secret; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		ders = append(ders, block.Bytes)
	}
	if len(ders) == 0 {
		ders = append(ders, secret)
	}
	var fragments []string
	for _, der := range ders {
		fragments = append(fragments, windows(base64.StdEncoding.EncodeToString(der), 16)...)
		fragments = append(fragments, windows(hex.EncodeToString(der), 16)...)
		for _, w := range windows(string(der), 8) {
			fragments = append(fragments, w, strings.Trim(fmt.Sprint([]byte(w)), "[]"))
		}
	}
	for _, line := range strings.Split(string(secret), "\n") {
		if !strings.HasPrefix(line, "-----") {
			fragments = append(fragments, windows(line, 16)...)
		}
	}
	for _, f := range fragments {
		if strings.Contains(msg, f) {
			return f
		}
	}
	return ""
}

func windows(s string, n int) []string {
	var out []string
	for i := 0; i+n <= len(s); i++ {
		out = append(out, s[i:i+n])
	}
	return out
}

// The detector must see a leak, or the tests that use it prove nothing.
func TestKeyMaterialDetector(t *testing.T) {
	secret, err := MarshalPrivateKeyPEM(rfcEd25519Key(t))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(secret)
	leaks := map[string]string{
		"PEM":          "bad key: " + string(secret),
		"one PEM line": "bad key: " + strings.Split(string(secret), "\n")[1],
		"hex DER":      fmt.Sprintf("bad key: %x", block.Bytes),
		"byte slice":   fmt.Sprintf("bad key: %v", []byte(rfcEd25519Key(t))),
		"hex key":      fmt.Sprintf("bad key: %x", []byte(rfcEd25519Key(t))),
	}
	for name, msg := range leaks {
		if keyMaterialIn(msg, secret) == "" && keyMaterialIn(msg, []byte(rfcEd25519Key(t))) == "" {
			t.Errorf("%s: leak not detected in %q", name, msg)
		}
	}
	if leaked := keyMaterialIn("parse signing key: key data is corrupt", secret); leaked != "" {
		t.Errorf("false positive %q", leaked)
	}
}
