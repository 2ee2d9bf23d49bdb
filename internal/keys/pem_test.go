package keys

import (
	"bytes"
	"crypto"
	"crypto/ecdh"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

// p256OID is the DER of the prime256v1 OID, the content of an "EC PARAMETERS"
// block as `openssl ecparam -genkey` writes it.
var p256OID = []byte{0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07}

func TestPrivateKeyPEMRoundTrip(t *testing.T) {
	for _, alg := range []Algorithm{Ed25519, ECDSAP256} {
		t.Run(string(alg), func(t *testing.T) {
			key := signingKeyFor(t, alg)
			out, err := MarshalPrivateKeyPEM(key.Signer)
			if err != nil {
				t.Fatalf("MarshalPrivateKeyPEM: %v", err)
			}
			if block, _ := pem.Decode(out); block == nil || block.Type != "PRIVATE KEY" {
				t.Fatalf("MarshalPrivateKeyPEM wrote %q, want one PKCS#8 PRIVATE KEY block", out)
			}
			signer, gotAlg, err := ParsePrivateKeyPEM(out)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if gotAlg != alg {
				t.Errorf("algorithm = %s, want %s", gotAlg, alg)
			}
			assertSameKey(t, signer, key.Signer)
		})
	}
}

func TestParsePrivateKeyPEMAcceptedForms(t *testing.T) {
	p256 := rfcP256Key(t)
	sec1, err := x509.MarshalECPrivateKey(p256)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := mustPEM(t, signingKeyFor(t, Ed25519).Signer)
	sec1PEM := pemBlock("EC PRIVATE KEY", sec1)

	tests := []struct {
		name    string
		input   []byte
		want    crypto.Signer
		wantAlg Algorithm
	}{
		{"SEC 1 P-256", sec1PEM, p256, ECDSAP256},
		{"openssl ecparam -genkey output", cat(pemBlock("EC PARAMETERS", p256OID), sec1PEM), p256, ECDSAP256},
		{"key after a certificate-like block", cat(pemBlock("CERTIFICATE", []byte("not parsed")), pkcs8), rfcEd25519Key(t), Ed25519},
		{"text around the PEM", cat([]byte("comment\n"), pkcs8, []byte("\ntrailer")), rfcEd25519Key(t), Ed25519},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, alg, err := ParsePrivateKeyPEM(tt.input)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if alg != tt.wantAlg {
				t.Errorf("algorithm = %s, want %s", alg, tt.wantAlg)
			}
			assertSameKey(t, signer, tt.want)
		})
	}
}

func TestParsePrivateKeyPEMErrors(t *testing.T) {
	rsaKey, p384 := unsupportedKeys()
	x25519, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384SEC1, err := x509.MarshalECPrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	good := mustPEM(t, rfcP256Key(t))
	goodDER, _ := pem.Decode(good)
	truncated := pemBlock("PRIVATE KEY", goodDER.Bytes[:len(goodDER.Bytes)-5])
	flipped := bytes.Clone(goodDER.Bytes)
	flipped[1] ^= 0xff

	const useSupported = "use an Ed25519 or ECDSA P-256 key"
	tests := []struct {
		name     string
		input    []byte
		wantErr  error
		wantText []string
	}{
		{"empty", nil, ErrNoPEM, nil},
		{"not PEM", []byte("hello, this is not a key"), ErrNoPEM, nil},
		{"raw DER", goodDER.Bytes, ErrNoPEM, nil},
		{"public key only", pemBlock("PUBLIC KEY", []byte{1, 2, 3}), ErrNoPEM, []string{"PUBLIC KEY"}},
		{"broken base64 body", []byte("-----BEGIN PRIVATE KEY-----\n!!!notbase64!!!\n-----END PRIVATE KEY-----\n"), ErrNoPEM, nil},
		{"truncated PKCS#8", truncated, ErrCorrupt, []string{"PKCS#8"}},
		{"flipped PKCS#8", pemBlock("PRIVATE KEY", flipped), ErrCorrupt, nil},
		{"corrupt SEC 1", pemBlock("EC PRIVATE KEY", p384SEC1[:20]), ErrCorrupt, []string{"SEC 1"}},
		{"two keys", cat(good, good), ErrCorrupt, []string{"more than one"}},
		{"RSA PKCS#8", mustPKCS8PEM(t, rsaKey), ErrUnsupportedKeyType, []string{"RSA 1024-bit", useSupported}},
		{"RSA PKCS#1", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), ErrUnsupportedKeyType, []string{"RSA", useSupported}},
		{"P-384 PKCS#8", mustPKCS8PEM(t, p384), ErrUnsupportedKeyType, []string{"ECDSA P-384", useSupported}},
		{"P-384 SEC 1", pemBlock("EC PRIVATE KEY", p384SEC1), ErrUnsupportedKeyType, []string{"ECDSA P-384", useSupported}},
		{"X25519 PKCS#8", mustPKCS8PEM(t, x25519), ErrUnsupportedKeyType, []string{"X25519", useSupported}},
		{"encrypted PKCS#8", pemBlock("ENCRYPTED PRIVATE KEY", goodDER.Bytes), ErrUnsupportedKeyType, []string{"encrypted", useSupported}},
		{"OpenSSH", pemBlock("OPENSSH PRIVATE KEY", goodDER.Bytes), ErrUnsupportedKeyType, []string{"OpenSSH", useSupported}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			signer, _, err := ParsePrivateKeyPEM(tt.input)
			if err == nil {
				t.Fatalf("ParsePrivateKeyPEM = %T, want an error", signer)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("error %q is not %v", err, tt.wantErr)
			}
			for _, text := range tt.wantText {
				if !strings.Contains(err.Error(), text) {
					t.Errorf("error %q does not mention %q", err, text)
				}
			}
			assertNoKeyMaterial(t, err.Error(), tt.input)
		})
	}
}

func TestMarshalPrivateKeyPEMErrors(t *testing.T) {
	rsaKey, p384 := unsupportedKeys()
	for _, signer := range []crypto.Signer{rsaKey, p384, nil} {
		out, err := MarshalPrivateKeyPEM(signer)
		if !errors.Is(err, ErrUnsupportedKeyType) {
			t.Errorf("MarshalPrivateKeyPEM(%s) = %d bytes, %v; want ErrUnsupportedKeyType", describeKeyType(signer), len(out), err)
		}
	}
}

func assertSameKey(t *testing.T, got, want crypto.Signer) {
	t.Helper()
	type equaler interface{ Equal(crypto.PrivateKey) bool }
	if !want.(equaler).Equal(got) {
		t.Errorf("parsed key (%s) differs from the original (%s)", describeKeyType(got), describeKeyType(want))
	}
}

func mustPEM(t *testing.T, signer crypto.Signer) []byte {
	t.Helper()
	out, err := MarshalPrivateKeyPEM(signer)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mustPKCS8PEM encodes keys MarshalPrivateKeyPEM refuses.
func mustPKCS8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("PRIVATE KEY", der)
}

func pemBlock(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
