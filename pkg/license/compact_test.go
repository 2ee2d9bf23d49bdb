package license

import (
	"encoding/base64"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestVerifyRefusesOtherByteForms(t *testing.T) {
	ed := newEd25519Key(t, "k-ed")
	keys := keySetOf(t, ed)
	claims := sampleClaims()
	good := sign(t, ed, claims, signOptions{})
	payload := string(mustJSON(t, claims))
	const header = `{"alg":"EdDSA","kid":"k-ed","typ":"license+jwt"}`

	trailing := func(seg string) string {
		s, ok := withTrailingBits(seg)
		if !ok {
			t.Fatalf("segment %q has no unused bits to set", seg)
		}
		return s
	}
	insert := func(s string) func(string) string {
		return func(seg string) string { return seg[:len(seg)/2] + s + seg[len(seg)/2:] }
	}
	// An RFC 7797 unencoded payload: go-jose verifies the raw payload bytes.
	unencoded := func() string {
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: ed.priv},
			(&jose.SignerOptions{}).WithType(TokenType).WithHeader("kid", ed.kid).WithBase64(false))
		if err != nil {
			t.Fatal(err)
		}
		jws, err := signer.Sign([]byte(payload))
		if err != nil {
			t.Fatal(err)
		}
		detached, err := jws.DetachedCompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		return editSegment(t, detached, 1, func(string) string { return base64.RawURLEncoding.EncodeToString([]byte(payload)) })
	}

	tests := []struct {
		name     string
		token    string
		wantCode Code
		wantMsg  string
	}{
		{"control: the operator's header, signed raw", signRaw(ed, header, payload), "", ""},
		{"control: whitespace in the header", signRaw(ed, `{"alg":"EdDSA", "kid":"k-ed","typ":"license+jwt"}`, payload), "", ""},
		{"control: members in another order", signRaw(ed, `{"typ":"license+jwt","kid":"k-ed","alg":"EdDSA"}`, payload), "", ""},

		// Canonical base64url only.
		{"LF inside the payload", editSegment(t, good, 1, insert("\n")), CodeMalformed, "payload"},
		{"CRLF inside the header", editSegment(t, good, 0, insert("\r\n")), CodeMalformed, "header"},
		{"CR inside the signature", editSegment(t, good, 2, insert("\r")), CodeMalformed, "signature"},
		{"trailing bits set in the signature", editSegment(t, good, 2, trailing), CodeMalformed, "canonical"},
		{"trailing bits set in the header", editSegment(t, signRaw(ed, `{"alg":"EdDSA", "kid":"k-ed","typ":"license+jwt"}`, payload), 0, trailing), CodeMalformed, "canonical"},
		{"padding", editSegment(t, good, 2, func(s string) string { return s + "==" }), CodeMalformed, "signature"},
		{"impossible length", editSegment(t, good, 2, func(s string) string { return s + "AAA" }), CodeMalformed, "signature"},
		{"standard alphabet", editSegment(t, good, 1, func(s string) string { return strings.NewReplacer("-", "+", "_", "/").Replace(s) + "+/" }), CodeMalformed, "payload"},
		{"four parts", good + ".", CodeMalformed, "three"},

		// Only alg, kid and typ, each once, spelled as the operator writes them.
		{"b64 false", unencoded(), CodeMalformed, `"b64"`},
		{"empty crit", sign(t, ed, claims, signOptions{extra: map[jose.HeaderKey]any{"crit": []string{}}}), CodeMalformed, `"crit"`},
		{"unsupported crit", sign(t, ed, claims, signOptions{extra: map[jose.HeaderKey]any{"crit": []string{"exp"}, "exp": 1}}), CodeMalformed, "critical"},
		{"embedded jwk", sign(t, ed, claims, signOptions{extra: map[jose.HeaderKey]any{"jwk": map[string]string{"kty": "OKP"}}}), CodeMalformed, `"jwk"`},
		{"cty", sign(t, ed, claims, signOptions{extra: map[jose.HeaderKey]any{"cty": "JWT"}}), CodeMalformed, `"cty"`},
		{"duplicate kid", signRaw(ed, `{"alg":"EdDSA","kid":"k-other","typ":"license+jwt","kid":"k-ed"}`, payload), CodeMalformed, "duplicate"},
		{"duplicate alg", signRaw(ed, `{"alg":"none","alg":"EdDSA","kid":"k-ed","typ":"license+jwt"}`, payload), CodeMalformed, "duplicate"},
		{"case-variant kid", signRaw(ed, `{"alg":"EdDSA","kid":"k-ed","KID":"k-other","typ":"license+jwt"}`, payload), CodeMalformed, `"KID"`},
		{"case-variant typ only", signRaw(ed, `{"alg":"EdDSA","kid":"k-ed","Typ":"license+jwt"}`, payload), CodeMalformed, `"Typ"`},
		{"header not an object", signRaw(ed, `["alg","EdDSA"]`, payload), CodeMalformed, "header"},
		{"kid not a string", signRaw(ed, `{"alg":"EdDSA","kid":7,"typ":"license+jwt"}`, payload), CodeMalformed, "header"},
		{"header with invalid UTF-8", signRaw(ed, "{\"alg\":\"EdDSA\",\"kid\":\"k-ed\",\"typ\":\"license+jwt\xff\"}", payload), CodeMalformed, "header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.token, keys, testNow)
			if CodeOf(err) != tt.wantCode {
				t.Fatalf("Verify() error = %v, want code %q", err, tt.wantCode)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("Verify() error = %q, want it to mention %q", err, tt.wantMsg)
			}
		})
	}

	// A bundle holds the same token, so it is held to the same form.
	for _, tok := range []string{editSegment(t, good, 2, trailing), unencoded()} {
		if _, err := MarshalBundle(tok, jwksOf(t, ed)); CodeOf(err) != CodeMalformed {
			t.Errorf("MarshalBundle(%.40s...) error = %v, want MALFORMED", tok, err)
		}
	}
}
