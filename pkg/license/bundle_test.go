package license

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
)

func TestBundleRoundTrip(t *testing.T) {
	key := newEd25519Key(t, "k-1")
	token := sign(t, key, sampleClaims(), signOptions{})
	jwks := jwksOf(t, key)

	data, err := MarshalBundle(token+"\n", jwks)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "globex.license.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := LoadBundleFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.APIVersion != BundleAPIVersion || b.Kind != BundleKind || b.Token != token {
		t.Errorf("bundle = %+v, want the token with apiVersion and kind set", b)
	}
	bundled, err := b.BundledKeys()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bundled.KeyIDs(), []string{"k-1"}) {
		t.Errorf("BundledKeys().KeyIDs() = %q", bundled.KeyIDs())
	}
	// The pinned anchor is what a verifier uses.
	if _, err := Verify(b.Token, keySetOf(t, key), testNow); err != nil {
		t.Errorf("Verify(bundle token) = %v", err)
	}

	// The documented shape, field by field.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if got := slices.Sorted(maps.Keys(doc)); !slices.Equal(got, []string{"apiVersion", "jwks", "kind", "token"}) {
		t.Errorf("bundle fields = %q", got)
	}
}

func TestMarshalBundleRejects(t *testing.T) {
	key := newEd25519Key(t, "k-1")
	token := sign(t, key, sampleClaims(), signOptions{})
	tests := []struct {
		name  string
		token string
		jwks  []byte
		want  string
	}{
		{"token not a JWS", "nope", jwksOf(t, key), "not a compact JWS"},
		{"unsigned token", unsignedToken(`{"alg":"none"}`, `{}`), jwksOf(t, key), "not a compact JWS"},
		{"JWKS not JSON", token, []byte("nope"), "not a valid trust anchor"},
		{"private JWKS", token, mustJSON(t, map[string]any{"keys": []any{json.RawMessage(privateJWK(t, key))}}), "private"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := MarshalBundle(tt.token, tt.jwks)
			if CodeOf(err) != CodeMalformed || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("MarshalBundle() error = %v, want MALFORMED mentioning %q", err, tt.want)
			}
		})
	}
}

func TestParseBundleRejects(t *testing.T) {
	key := newEd25519Key(t, "k-1")
	good, err := MarshalBundle(sign(t, key, sampleClaims(), signOptions{}), jwksOf(t, key))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(field string, value any) []byte {
		var doc map[string]any
		if err := json.Unmarshal(good, &doc); err != nil {
			t.Fatal(err)
		}
		if value == nil {
			delete(doc, field)
		} else {
			doc[field] = value
		}
		return mustJSON(t, doc)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"not JSON", []byte("{"), "not valid JSON"},
		{"wrong kind", edit("kind", "Secret"), `kind "Secret"`},
		{"wrong apiVersion", edit("apiVersion", "v1"), `apiVersion "v1"`},
		{"no token", edit("token", nil), "token"},
		{"no jwks", edit("jwks", nil), "JWKS"},
		{"jwks without keys", edit("jwks", map[string]any{"keys": []any{}}), "no keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseBundle(tt.data)
			if CodeOf(err) != CodeMalformed || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseBundle() error = %v, want MALFORMED mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := LoadBundleFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("LoadBundleFile(missing) succeeded")
	}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func privateJWK(t testing.TB, k signingKey) []byte {
	t.Helper()
	return mustJSON(t, jose.JSONWebKey{Key: k.priv, KeyID: k.kid})
}
