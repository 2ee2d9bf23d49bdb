package license

import (
	"errors"
	"strings"
	"testing"
)

// maxMessage bounds every error message below: what an attacker sends is
// quoted in part, never whole.
const maxMessage = 2048

func TestErrorsDoNotEchoLongInput(t *testing.T) {
	ed := newEd25519Key(t, "k-ed")
	keys := keySetOf(t, ed)
	claims := sampleClaims()
	huge := strings.Repeat("A", 100<<10)
	payload := string(mustJSON(t, claims))
	withIssuer := claims
	withIssuer.Issuer = huge
	withAudience := claims
	withAudience.Audience = []string{huge, huge, huge}
	withQuota := []byte(`{"quotas":{"` + huge + `":"ten"}}`)

	tests := []struct {
		name     string
		token    string
		opts     []Option
		wantCode Code
	}{
		{"100 KiB kid", sign(t, ed, claims, signOptions{kid: &huge}), nil, CodeUnknownKey},
		{"100 KiB typ", sign(t, ed, claims, signOptions{typ: &huge}), nil, CodeMalformed},
		{"100 KiB alg", signRaw(ed, `{"alg":"`+huge+`","kid":"k-ed","typ":"license+jwt"}`, payload), nil, CodeSignatureInvalid},
		{"100 KiB header member", signRaw(ed, `{"alg":"EdDSA","kid":"k-ed","typ":"license+jwt","`+huge+`":1}`, payload), nil, CodeMalformed},
		{"100 KiB issuer", sign(t, ed, withIssuer, signOptions{}), []Option{WithIssuer("licensing.kubelicense.io/licensing/acme-db")}, CodeMalformed},
		{"100 KiB audiences", sign(t, ed, withAudience, signOptions{}), []Option{WithAudience("acme-db")}, CodeMalformed},
		{"100 KiB quota name in a type error", sign(t, ed, withQuota, signOptions{}), nil, CodeMalformed},
		{"100 KiB license name with a bad date", sign(t, ed, []byte(`{"licenses":[{"name":"`+huge+`","startsAt":-1}]}`), signOptions{}), nil, CodeMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.token, keys, testNow, tt.opts...)
			if CodeOf(err) != tt.wantCode {
				t.Fatalf("Verify() error code = %q, want %q (%.300v)", CodeOf(err), tt.wantCode, err)
			}
			if n := len(err.Error()); n > maxMessage {
				t.Errorf("Verify() error is %d bytes, want at most %d: %.300s...", n, maxMessage, err)
			}
		})
	}

	bundle := []byte(`{"apiVersion":"` + huge + `","kind":"` + huge + `"}`)
	if _, err := ParseBundle(bundle); len(err.Error()) > maxMessage {
		t.Errorf("ParseBundle() error is %d bytes, want at most %d", len(err.Error()), maxMessage)
	}
}

func TestQuoteUntrusted(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"k-2026-11-23-7f3a", `"k-2026-11-23-7f3a"`},
		{"", `""`},
		{"a\nb\xff", `"a\nb\xff"`},
		{strings.Repeat("x", 96), `"` + strings.Repeat("x", 96) + `"`},
		{strings.Repeat("x", 97), `"` + strings.Repeat("x", 96) + `"... (97 bytes)`},
		// Cut before a character, not inside it.
		{strings.Repeat("x", 95) + "é" + "tail", `"` + strings.Repeat("x", 95) + `"... (101 bytes)`},
	}
	for _, tt := range tests {
		if got := QuoteUntrusted(tt.in); got != tt.want {
			t.Errorf("QuoteUntrusted(%.20q...) = %s, want %s", tt.in, got, tt.want)
		}
	}
	if got, want := quoteList([]string{"a", "b", "c", "d", "e", "f"}), `["a" "b" "c" "d" and 2 more]`; got != want {
		t.Errorf("quoteList() = %s, want %s", got, want)
	}
	long := &Error{Code: CodeMalformed, Message: "m", Err: errors.New(strings.Repeat("y", 10000))}
	if n := len(long.Error()); n > maxMessage {
		t.Errorf("Error() with a 10000-byte cause is %d bytes", n)
	}
}
