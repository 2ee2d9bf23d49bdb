package licenseapi

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func decodeString(body string, v any) error {
	r := httptest.NewRequest(http.MethodPost, "/", bytes.NewBufferString(body))
	r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, license.MaxRequestBody)
	return decodeBody(r, v)
}

// FuzzDecodeRequest: any body either decodes into a request that re-encodes
// and decodes to the same value, or is a 400/413 problem; nothing panics.
func FuzzDecodeRequest(f *testing.F) {
	for _, seed := range []string{
		`{"nonce":"n"}`, `{"nonce":"n","feature":"x","fingerprint":"f","license":"main"}`,
		`{"license":"main","fingerprint":"f","metadata":{"a":"b"}}`, `{"license":"main","holder":"h","ttl":"2m"}`,
		`{"nonce":"n","nonce":"m"}`, `{"Nonce":"n"}`, `[]`, `null`, `{"nonce":"\ud800"}`, `{} {}`, ``,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		for _, v := range []any{&license.ValidateRequest{}, &license.ActivateRequest{}, &license.SeatRequest{}} {
			err := decodeString(body, v)
			if err != nil {
				p, ok := errors.AsType[*problem](err)
				if !ok || (p.status != http.StatusBadRequest && p.status != http.StatusRequestEntityTooLarge) || p.message == "" {
					t.Fatalf("decode %q: %v is not a 400/413 problem", body, err)
				}
				continue
			}
			again, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("re-encode %q: %v", body, err)
			}
			if err := decodeString(string(again), v); err != nil {
				t.Fatalf("decode of re-encoded %q: %v", again, err)
			}
		}
	})
}

func TestDecodeBodyNamesTheField(t *testing.T) {
	for body, field := range map[string]string{
		`{"nonce":"n","x":1}`:       "x",
		`{"nonce":"n","NONCE":"m"}`: "NONCE",
		`{"nonce":"n","nonce":"n"}`: "nonce",
		`{"nonce":1}`:               "nonce",
	} {
		err := decodeString(body, &license.ValidateRequest{})
		p, ok := errors.AsType[*problem](err)
		if !ok || p.field != field || p.code != license.CodeMalformed {
			t.Errorf("decode %s: got %v (field %q), want MALFORMED naming %q", body, err, p.field, field)
		}
	}
}

func TestSlotOrderVisitsEverySlotOnce(t *testing.T) {
	for _, n := range []int32{1, 2, 7, 100} {
		seen := map[int32]bool{}
		for s := range slotOrder("holder-a", n) {
			if s < 0 || s >= n || seen[s] {
				t.Fatalf("slotOrder(%d) = %v", n, slices.Collect(slotOrder("holder-a", n)))
			}
			seen[s] = true
		}
		if len(seen) != int(n) {
			t.Fatalf("slotOrder(%d) has %d slots", n, len(seen))
		}
	}
	if a, b := slices.Collect(slotOrder("same", 9)), slices.Collect(slotOrder("same", 9)); a[0] != b[0] {
		t.Fatal("the same key must start at the same slot")
	}
}

func TestKeyedLimiter(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	l := newKeyedLimiter("test", Limit{Rate: 1, Burst: 2})
	for n, want := range []bool{true, true, false} {
		if d := l.allow("a", now); d.allowed != want {
			t.Fatalf("request %d: allowed %v", n, d.allowed)
		}
	}
	d := l.allow("a", now)
	if d.retryAfter < time.Second || d.remaining != 0 || d.limit != 2 {
		t.Fatalf("refused decision %+v", d)
	}
	if !l.allow("b", now).allowed {
		t.Fatal("another key has its own bucket")
	}
	if !l.allow("a", now.Add(1100*time.Millisecond)).allowed {
		t.Fatal("a token refills after a second")
	}
	for k := range maxBuckets + 10 {
		l.allow(string(rune(k)), now.Add(time.Hour))
	}
	if len(l.buckets) > maxBuckets {
		t.Fatalf("%d buckets: the map must stay bounded", len(l.buckets))
	}
}

func TestCheckNonce(t *testing.T) {
	for _, ok := range []string{"", "n", "q1w2e3r4t5y6u7i8o9p0ASDFGHJKLZXC", "YWJj-_.~", "YWJjZA==", "a+b/c", strings.Repeat("a", license.MaxNonceLength)} {
		if err := checkNonce(ok); err != nil {
			t.Errorf("checkNonce(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{" ", "a b", "a\r\nb", "a%20b", "é", "a\x00", "a\"b", "a,b", strings.Repeat("a", license.MaxNonceLength+1)} {
		err := checkNonce(bad)
		if p, ok := err.(*problem); !ok || p.code != license.CodeMalformed || p.field != "nonce" {
			t.Errorf("checkNonce(%q) = %v, want MALFORMED on nonce", bad, err)
		}
	}
}
