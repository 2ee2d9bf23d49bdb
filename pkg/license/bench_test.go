package license

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kubelicense/kubelicense/internal/cputime"
)

// The two benchmarks verify the same Ed25519 token: BenchmarkVerify with the
// full Verify, BenchmarkEd25519Verify with ed25519.Verify alone over its signing
// input, so their ratio is the cost of parsing and checking around the crypto.
// Both also report cpu-ns/op (process CPU time), which stays comparable when
// other work competes for the CPU; see docs/performance.md.
//
//	GOMAXPROCS=1 go test -run '^$' -bench 'Verify$' -benchmem -count 10 ./pkg/license/

func benchToken(b testing.TB) (token string, key signingKey) {
	key = newEd25519Key(b, "k-2026-11-23-7f3a")
	return sign(b, key, sampleClaims(), signOptions{}), key
}

func BenchmarkVerify(b *testing.B) {
	token, key := benchToken(b)
	keys := keySetOf(b, key)
	b.ReportAllocs()
	defer cputime.ReportPerOp(b)()
	for b.Loop() {
		if _, err := Verify(token, keys, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEd25519Verify(b *testing.B) {
	token, key := benchToken(b)
	pub := key.public().(ed25519.PublicKey)
	dot := strings.LastIndexByte(token, '.')
	input := []byte(token[:dot])
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	defer cputime.ReportPerOp(b)()
	for b.Loop() {
		if !ed25519.Verify(pub, input, sig) {
			b.Fatal("signature does not verify")
		}
	}
}

// BenchmarkVerifyParts times the two largest parts of Verify on the same token:
// go-jose alone (parse and verify, the floor for any Verify built on it) and
// the claims decoding. Compare them with BenchmarkEd25519Verify in one run:
//
//	GOMAXPROCS=1 go test -run '^$' -bench 'Verify$|VerifyParts' -benchmem -count 10 ./pkg/license/
func BenchmarkVerifyParts(b *testing.B) {
	token, key := benchToken(b)
	pub := key.public()
	b.Run("go-jose", func(b *testing.B) {
		b.ReportAllocs()
		defer cputime.ReportPerOp(b)()
		for b.Loop() {
			jws, err := jose.ParseSignedCompact(token, acceptedAlgorithms)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := jws.Verify(pub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeClaims", func(b *testing.B) {
		payload, err := json.Marshal(sampleClaims())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		defer cputime.ReportPerOp(b)()
		for b.Loop() {
			if _, err := decodeClaims(payload); err != nil {
				b.Fatal(err)
			}
		}
	})
}
