package plugin

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func TestParseLeaseArg(t *testing.T) {
	const id = "0123456789abcdef01234567"
	good := []struct {
		licensee, arg string
		want          leaseRef
	}{
		{"globex", "main.0." + id, leaseRef{license: "main", slot: 0, id: "main.0." + id}},
		{"globex", "main.12." + id, leaseRef{license: "main", slot: 12, id: "main.12." + id}},
		{"globex", "globex.main.3", leaseRef{license: "main", slot: 3}},
		// A licensee name may hold dots; a license name may not.
		{"acme.eu", "acme.eu.main.3", leaseRef{license: "main", slot: 3}},
		{"acme.eu", "main.3." + id, leaseRef{license: "main", slot: 3, id: "main.3." + id}},
		// A licensee named like a license: the lease id's last part is no slot.
		{"main", "main.0." + id, leaseRef{license: "main", slot: 0, id: "main.0." + id}},
		{"main", "main.dev.1", leaseRef{license: "dev", slot: 1}},
	}
	for _, tt := range good {
		got, err := parseLeaseArg(tt.licensee, tt.arg)
		if err != nil || got != tt.want {
			t.Errorf("parseLeaseArg(%q, %q) = %+v, %v; want %+v", tt.licensee, tt.arg, got, err, tt.want)
		}
	}
	bad := []string{
		"", ".", "..", "main", "main.0", "main..", ".0." + id, "main.." + id,
		"main.-1." + id, "main.01." + id, "main.+1." + id, "main.2147483648." + id, "main.1e3." + id,
		"Main.0." + id, "ma/in.0." + id, "main.0." + id + ".x", "main.0.a/b", "main.0.%2e%2e", "main.0.a b",
		"main.0." + strings.Repeat("a", 65), strings.Repeat("m", 64) + ".0." + id, "main.0.\x1b[2J",
		"globex.main", "globex.main.x", "globex.main.01", "globex..0", "globex.Main.0", "globex.main.0.1",
	}
	for _, arg := range bad {
		if got, err := parseLeaseArg("globex", arg); err == nil {
			t.Errorf("parseLeaseArg(%q) = %+v, want an error", arg, got)
		} else if !strings.Contains(err.Error(), "is not a seat lease") || strings.ContainsRune(err.Error(), 0x1b) {
			t.Errorf("parseLeaseArg(%q) error %q does not say what a lease is, or echoes control characters", arg, err)
		}
	}
}

func TestSeatExpiresCell(t *testing.T) {
	lease := func(renewed time.Time, ttl time.Duration) *licensingv1alpha1.SeatLease {
		return &licensingv1alpha1.SeatLease{Spec: licensingv1alpha1.SeatLeaseSpec{
			RenewedAt: metav1.NewMicroTime(renewed), TTLSeconds: int32(ttl / time.Second),
		}}
	}
	tests := []struct {
		name string
		l    *licensingv1alpha1.SeatLease
		want string
	}{
		{"held", lease(testNow.Add(-30*time.Second), 2*time.Minute), "in 90s"},
		{"held for hours", lease(testNow, 5*time.Hour), "in 5h"},
		// Held for less than a second more: still held, never "now" or "0s".
		{"held, under a second", lease(testNow.Add(-2*time.Minute+300*time.Millisecond), 2*time.Minute), "in 1s"},
		{"lapses this instant", lease(testNow.Add(-2*time.Minute), 2*time.Minute), "lapsed now"},
		{"lapsed", lease(testNow.Add(-140*time.Second), 2*time.Minute), "lapsed 20s ago"},
		{"lapsed, fraction", lease(testNow.Add(-140*time.Second-700*time.Millisecond), 2*time.Minute), "lapsed 20s ago"},
	}
	for _, tt := range tests {
		if got := seatExpiresCell(tt.l, testNow); got != tt.want {
			t.Errorf("%s: seatExpiresCell() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPrintableCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"web-1/uid-1", "web-1/uid-1"},
		{"Zürich 1", "Zürich 1"},
		{"", "-"},
		// Objects may be written by anyone with RBAC: no tabs that shift columns,
		// no escapes that reach the terminal.
		{"a\tb", `"a\tb"`},
		{"x\x1b[2Jy", `"x\x1b[2Jy"`},
		{"line\nbreak", `"line\nbreak"`},
		{"bad\xffutf8", `"bad\xffutf8"`},
	}
	for _, tt := range tests {
		if got := printableCell(tt.in); got != tt.want {
			t.Errorf("printableCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
