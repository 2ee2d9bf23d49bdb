package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2/event"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// The example secret of the Standard Webhooks specification.
const specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestParseSigningSecret(t *testing.T) {
	key32 := base64.StdEncoding.EncodeToString(make([]byte, 32))
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"the spec's example", specSecret, ""},
		{"32 bytes, newline from a file", "whsec_" + key32 + "\n", ""},
		{"no prefix", key32, `must start with "whsec_"`},
		{"prefix in another case", "WHSEC_" + key32, `must start with "whsec_"`},
		{"empty", "", `must start with "whsec_"`},
		{"prefix only", "whsec_", "holds 0 bytes"},
		{"url-safe base64", "whsec_" + strings.NewReplacer("+", "-", "/", "_").Replace(base64.StdEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe, 0xfb, 0xff, 0xfe})), "not standard base64"},
		{"unpadded", "whsec_" + strings.TrimRight(base64.StdEncoding.EncodeToString(make([]byte, 25)), "="), "not standard base64"},
		{"inner newline", "whsec_" + key32[:10] + "\n" + key32[10:], "not standard base64"},
		{"trailing bits set", "whsec_" + key32[:len(key32)-2] + "B=", "not standard base64"},
		{"too short", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 23)), "holds 23 bytes"},
		{"too long", "whsec_" + base64.StdEncoding.EncodeToString(make([]byte, 65)), "holds 65 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, err := ParseSigningSecret([]byte(tc.in))
			if tc.wantErr == "" {
				if err != nil || len(key) < 24 {
					t.Fatalf("ParseSigningSecret: %d bytes, %v", len(key), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			if len(tc.in) > 12 && strings.Contains(err.Error(), tc.in[6:]) {
				t.Fatalf("the error repeats the secret: %v", err)
			}
		})
	}
}

// The signature is the Standard Webhooks one: the spec's own test vector,
// recomputed by hand, and accepted by the reference library.
func TestSignatureHeaders(t *testing.T) {
	key, err := ParseSigningSecret([]byte(specSecret))
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"test": 2432232314}`)
	at := time.Unix(1614265330, 0)
	h, err := SignatureHeaders(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", at, body)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Get(HeaderSignature), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("webhook-signature %q, want the spec's %q", got, want)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("msg_p5jXN8AQM9LWM0D4loKWxJek.1614265330." + string(body)))
	if want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)); h.Get(HeaderSignature) != want {
		t.Errorf("webhook-signature %q, want %q", h.Get(HeaderSignature), want)
	}
	if h.Get(HeaderID) != "msg_p5jXN8AQM9LWM0D4loKWxJek" || h.Get(HeaderTimestamp) != "1614265330" || h.Get("Content-Type") != ContentType {
		t.Errorf("headers %v", h)
	}
	wh, _ := standardwebhooks.NewWebhook(specSecret)
	if err := wh.VerifyIgnoringTimestamp(body, h); err != nil {
		t.Errorf("reference library: %v", err)
	}
	if err := wh.VerifyIgnoringTimestamp(append(body, ' '), h); err == nil {
		t.Error("a changed body verifies")
	}
}

func TestBodyIsAStructuredCloudEvent(t *testing.T) {
	l := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "licensing", Name: "globex", UID: "u-1"}}
	l.Spec.ProductRef.Name, l.Spec.ExternalID = "acme-db", "crm-00042"
	e := LicenseIssued(l, "s-1", time.Date(2026, 12, 1, 10, 0, 0, 500, time.UTC))
	obj := e.Object()
	body, err := Body(obj)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]any{
		"specversion": "1.0", "id": obj.Name, "type": "io.kubelicense.license.issued", "subject": "s-1",
		"source": "/apis/licensing.kubelicense.io/v1alpha1/namespaces/licensing/licensees/globex", "time": "2026-12-01T10:00:00Z",
		"datacontenttype": "application/json",
	} {
		if raw[k] != want {
			t.Errorf("%s = %v, want %v", k, raw[k], want)
		}
	}
	data, _ := raw["data"].(map[string]any)
	if data["licensee"] != "globex" || data["externalID"] != "crm-00042" || data["serial"] != "s-1" || data["namespace"] != "licensing" || data["product"] != "acme-db" {
		t.Errorf("data %v", data)
	}
	var ce cloudevents.Event
	if err := json.Unmarshal(body, &ce); err != nil || ce.Validate() != nil {
		t.Errorf("the SDK does not read it back: %v", err)
	}
}

func TestEventIDs(t *testing.T) {
	now := time.Now()
	l := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "globex", UID: "u-1", Generation: 3}}
	other := l.DeepCopy()
	other.UID = "u-2" // deleted and re-created under the same name
	until := metav1.NewTime(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	grace := &licensingv1alpha1.LicenseStatus{Name: "main", State: licensingv1alpha1.LicenseStateInGracePeriod, ValidUntil: &until}
	entered := func(l *licensingv1alpha1.Licensee, ls *licensingv1alpha1.LicenseStatus, old licensingv1alpha1.LicenseState) string {
		e, ok := LicenseStateEntered(l, ls, old, now)
		if !ok {
			t.Fatalf("%s -> %s is no event", old, ls.State)
		}
		return e.EventID()
	}
	a := LicenseIssued(l, "s-1", now)
	b := LicenseIssued(l, "s-1", now.Add(time.Hour)) // the same issuance seen again later
	if a.EventID() != b.EventID() {
		t.Error("the same issuance seen twice has two ids")
	}
	distinct := map[string]string{
		"issued":                a.EventID(),
		"issued, another token": func() string { e := LicenseIssued(l, "s-2", now); return e.EventID() }(),
		"issued, other uid":     func() string { e := LicenseIssued(other, "s-1", now); return e.EventID() }(),
		"renewed, same serial":  func() string { e := LicenseRenewed(l, "s-1", "s-0", "", now); return e.EventID() }(),
		"grace":                 entered(l, grace, licensingv1alpha1.LicenseStateValid),
		"grace, next period": func() string {
			g := grace.DeepCopy()
			later := metav1.NewTime(until.AddDate(1, 0, 0))
			g.ValidUntil = &later
			return entered(l, g, licensingv1alpha1.LicenseStateValid)
		}(),
		"key rotated": func() string {
			e := KeyRotated(&licensingv1alpha1.Product{ObjectMeta: metav1.ObjectMeta{UID: "u-1"}}, "s-1", "", "", now)
			return e.EventID()
		}(),
	}
	seen := map[string]string{}
	for name, id := range distinct {
		if !strings.HasPrefix(id, "evt-") || len(id) != 44 {
			t.Errorf("%s: id %q", name, id)
		}
		if prev, ok := seen[id]; ok {
			t.Errorf("%s and %s share id %s", name, prev, id)
		}
		seen[id] = name
	}
	if entered(l, grace, licensingv1alpha1.LicenseStateValid) != distinct["grace"] {
		t.Error("the same state change seen twice has two ids")
	}
}

func TestLicenseStateEntered(t *testing.T) {
	l := &licensingv1alpha1.Licensee{}
	for _, tc := range []struct {
		old, now licensingv1alpha1.LicenseState
		want     licensingv1alpha1.EventType
	}{
		{licensingv1alpha1.LicenseStateValid, licensingv1alpha1.LicenseStateInGracePeriod, licensingv1alpha1.EventLicenseEnteredGrace},
		{licensingv1alpha1.LicenseStateInGracePeriod, licensingv1alpha1.LicenseStateExpired, licensingv1alpha1.EventLicenseExpired},
		{licensingv1alpha1.LicenseStateValid, licensingv1alpha1.LicenseStateExpired, licensingv1alpha1.EventLicenseExpired},
		{licensingv1alpha1.LicenseStateValid, licensingv1alpha1.LicenseStateSuspended, licensingv1alpha1.EventLicenseSuspended},
		{licensingv1alpha1.LicenseStateSuspended, licensingv1alpha1.LicenseStateValid, licensingv1alpha1.EventLicenseResumed},
		{licensingv1alpha1.LicenseStateSuspended, licensingv1alpha1.LicenseStateInGracePeriod, licensingv1alpha1.EventLicenseResumed},
		{licensingv1alpha1.LicenseStateSuspended, licensingv1alpha1.LicenseStateExpired, licensingv1alpha1.EventLicenseExpired},
		{"", licensingv1alpha1.LicenseStateExpired, licensingv1alpha1.EventLicenseExpired},
		{licensingv1alpha1.LicenseStatePending, licensingv1alpha1.LicenseStateValid, ""},
		{"", licensingv1alpha1.LicenseStateValid, ""},
		{licensingv1alpha1.LicenseStateExpired, licensingv1alpha1.LicenseStateExpired, ""},
		{licensingv1alpha1.LicenseStateValid, licensingv1alpha1.LicenseStateInvalid, ""},
	} {
		e, ok := LicenseStateEntered(l, &licensingv1alpha1.LicenseStatus{Name: "main", State: tc.now}, tc.old, time.Now())
		if got := e.Type; ok != (tc.want != "") || got != tc.want {
			t.Errorf("%q -> %q: %q %v, want %q", tc.old, tc.now, got, ok, tc.want)
		}
	}
}
