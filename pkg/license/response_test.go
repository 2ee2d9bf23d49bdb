package license

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// signAnswer is the License-Signature the license API sends for body: sign's
// compact JWS with the payload segment cut out (RFC 7515 appendix F).
func signAnswer(t testing.TB, k signingKey, body []byte, o signOptions) string {
	t.Helper()
	if o.typ == nil {
		o.typ = strPtr(ResponseTokenType)
	}
	return detach(sign(t, k, body, o))
}

func detach(compact string) string {
	parts := strings.Split(compact, ".")
	return parts[0] + ".." + parts[2]
}

func TestVerifyResponse(t *testing.T) {
	ed := newEd25519Key(t, "k-ed")
	ec := newP256Key(t, "k-ec")
	other := newEd25519Key(t, "k-ed") // same kid, different key
	stranger := newEd25519Key(t, "k-unknown")
	keys := keySetOf(t, ed, ec)
	edPub := []byte(ed.public().(ed25519.PublicKey))

	body := []byte(`{"valid":true,"code":"VALID","nonce":"n-1","time":"2026-12-01T12:00:00Z"}`)
	good := signAnswer(t, ed, body, signOptions{})
	altered := bytes.Replace(body, []byte("true"), []byte("false"), 1)

	tests := []struct {
		name      string
		body      []byte
		signature string
		noKeys    bool
		wantCode  Code // "" means success
		wantMsg   string
	}{
		{name: "EdDSA", body: body, signature: good},
		{name: "ES256", body: body, signature: signAnswer(t, ec, body, signOptions{})},
		{name: "typ with application/ prefix", body: body, signature: signAnswer(t, ed, body, signOptions{typ: strPtr("application/License-Response+JWT")})},
		{name: "header value with surrounding space", body: body, signature: " " + good + " "},
		{name: "empty body", body: nil, signature: signAnswer(t, ed, []byte{}, signOptions{})},

		{name: "no signature", body: body, signature: "", wantCode: CodeSignatureInvalid, wantMsg: "no License-Signature header"},
		{name: "altered body", body: altered, signature: good, wantCode: CodeSignatureInvalid, wantMsg: "altered"},
		{name: "body with a byte appended", body: append(bytes.Clone(body), ' '), signature: good, wantCode: CodeSignatureInvalid},
		{name: "signed by another key with the trusted kid", body: body, signature: signAnswer(t, other, body, signOptions{}), wantCode: CodeSignatureInvalid, wantMsg: `trusted key "k-ed"`},
		{name: "key not in the pinned JWKS", body: body, signature: signAnswer(t, stranger, body, signOptions{}), wantCode: CodeUnknownKey, wantMsg: `key "k-unknown" which is not in the trusted key set`},
		{name: "nil key set", body: body, signature: good, noKeys: true, wantCode: CodeUnknownKey},
		{name: "missing kid", body: body, signature: signAnswer(t, ed, body, signOptions{kid: strPtr("")}), wantCode: CodeMalformed, wantMsg: `no "kid"`},
		{name: "license token typ", body: body, signature: signAnswer(t, ed, body, signOptions{typ: strPtr(TokenType)}), wantCode: CodeMalformed, wantMsg: `typ is "license+jwt"`},
		{name: "missing typ", body: body, signature: signAnswer(t, ed, body, signOptions{typ: strPtr("")}), wantCode: CodeMalformed, wantMsg: "typ"},
		{name: "EdDSA header on an ECDSA key", body: body, signature: signAnswer(t, ed, body, signOptions{kid: strPtr("k-ec")}), wantCode: CodeSignatureInvalid, wantMsg: `"k-ec" is an ES256 key`},
		{name: "ES256 header on an Ed25519 key", body: body, signature: signAnswer(t, ec, body, signOptions{kid: strPtr("k-ed")}), wantCode: CodeSignatureInvalid},
		{name: "HS256 keyed with the public key", body: body, signature: signAnswer(t, ed, body, signOptions{alg: jose.HS256, key: edPub}), wantCode: CodeSignatureInvalid, wantMsg: `"HS256"`},
		{name: "alg none", body: body, signature: detach(unsignedToken(`{"alg":"none","typ":"license-response+jwt","kid":"k-ed"}`, "")), wantCode: CodeSignatureInvalid, wantMsg: `"none"`},
		{name: "unsupported critical header", body: body, signature: signAnswer(t, ed, body, signOptions{extra: map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}}), wantCode: CodeSignatureInvalid},
		{name: "attached payload", body: body, signature: sign(t, ed, body, signOptions{typ: strPtr(ResponseTokenType)}), wantCode: CodeMalformed, wantMsg: "not a detached compact JWS"},
		{name: "signature cut off", body: body, signature: good[:strings.LastIndex(good, ".")+1], wantCode: CodeSignatureInvalid},
		{name: "two parts", body: body, signature: good[:strings.Index(good, ".")], wantCode: CodeMalformed},
		{name: "garbage", body: body, signature: "not a signature", wantCode: CodeMalformed},
		{name: "header is not JSON", body: body, signature: "bm90IGpzb24..AAAA", wantCode: CodeMalformed},
		{name: "too large", body: body, signature: strings.Repeat("a", maxSignatureSize+1), wantCode: CodeMalformed, wantMsg: "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ks := keys
			if tt.noKeys {
				ks = nil
			}
			err := VerifyResponse(tt.body, tt.signature, ks)
			if got := CodeOf(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (err: %v)", got, tt.wantCode, err)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestCheckFreshness(t *testing.T) {
	now := testNow
	tests := []struct {
		name     string
		body     string
		wantCode Code
		wantMsg  string
	}{
		{name: "fresh", body: `{"nonce":"n-1","time":"2026-12-01T12:00:00Z"}`},
		{name: "within the skew, ahead", body: `{"nonce":"n-1","time":"2026-12-01T12:04:59Z"}`},
		{name: "within the skew, behind", body: `{"nonce":"n-1","time":"2026-12-01T11:55:00Z"}`},
		{name: "unknown members are ignored", body: `{"nonce":"n-1","time":"2026-12-01T12:00:00Z","future":{"x":1}}`},
		{name: "another nonce", body: `{"nonce":"n-2","time":"2026-12-01T12:00:00Z"}`, wantCode: CodeSignatureInvalid, wantMsg: "replay"},
		{name: "no nonce", body: `{"time":"2026-12-01T12:00:00Z"}`, wantCode: CodeSignatureInvalid},
		{name: "nonce is not a string", body: `{"nonce":1,"time":"2026-12-01T12:00:00Z"}`, wantCode: CodeMalformed},
		{name: "nonce twice", body: `{"nonce":"n-2","nonce":"n-1","time":"2026-12-01T12:00:00Z"}`, wantCode: CodeMalformed, wantMsg: "duplicate"},
		{name: "stale", body: `{"nonce":"n-1","time":"2026-12-01T11:54:59Z"}`, wantCode: CodeSignatureInvalid, wantMsg: "5m1s away"},
		{name: "from the future", body: `{"nonce":"n-1","time":"2026-12-01T12:06:00Z"}`, wantCode: CodeSignatureInvalid},
		{name: "no time", body: `{"nonce":"n-1"}`, wantCode: CodeMalformed, wantMsg: `no "time"`},
		{name: "time is not RFC 3339", body: `{"nonce":"n-1","time":"yesterday"}`, wantCode: CodeMalformed},
		{name: "not an object", body: `["n-1"]`, wantCode: CodeMalformed},
		{name: "not JSON", body: `<html>`, wantCode: CodeMalformed},
		{name: "empty", body: ``, wantCode: CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkFreshness([]byte(tt.body), "n-1", now, 5*time.Minute)
			if got := CodeOf(err); got != tt.wantCode {
				t.Fatalf("code = %q, want %q (err: %v)", got, tt.wantCode, err)
			}
			if tt.wantMsg != "" && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}

// FuzzVerifyResponse checks that no body but the signed one is ever accepted,
// and that nothing panics on hostile headers.
func FuzzVerifyResponse(f *testing.F) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	k := signingKey{kid: "k-ed", alg: jose.EdDSA, priv: priv}
	keys := keySetOf(f, k)
	signed := []byte(`{"valid":true,"nonce":"n-1","time":"2026-12-01T12:00:00Z"}`)
	sig := signAnswer(f, k, signed, signOptions{})
	f.Add(signed, sig)
	f.Add([]byte(`{"valid":false}`), sig)
	f.Add(signed, sig[:len(sig)-4])
	f.Add(signed, strings.Replace(sig, "..", ".e30.", 1))
	f.Fuzz(func(t *testing.T, body []byte, signature string) {
		if err := VerifyResponse(body, signature, keys); err == nil && !bytes.Equal(body, signed) {
			t.Fatalf("accepted a body that was not signed: %q", body)
		}
	})
}
