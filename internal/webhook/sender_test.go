package webhook

import (
	"encoding/pem"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestCheckCABundle(t *testing.T) {
	srv := httptest.NewTLSServer(nil)
	defer srv.Close()
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	key := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not for here")})
	for _, tc := range []struct {
		name   string
		bundle []byte
		want   string // "" = accepted
	}{
		{"empty: the system's roots", nil, ""},
		{"a CA certificate", cert, ""},
		{"no PEM at all", []byte("MIIB...base64 without armour"), "no PEM certificate found"},
		{"a key next to the certificate", append(append([]byte{}, cert...), key...), "never a key"},
		{"a certificate that does not parse", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1, 2, 3}}), "PEM block #1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckCABundle(tc.bundle)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "spec.caBundle: ")):
				t.Fatalf("error %v, want one naming spec.caBundle and saying %q", err, tc.want)
			}
			if _, cerr := (&Sender{}).client(tc.bundle); (cerr == nil) != (err == nil) {
				t.Fatalf("the sender's client (%v) disagrees with CheckCABundle (%v)", cerr, err)
			}
		})
	}
}
