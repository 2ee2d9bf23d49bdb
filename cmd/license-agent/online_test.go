package main

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/internal/keys"
	"github.com/kubelicense/kubelicense/internal/token"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// licenseAPI is a minimal stand-in for the operator's license API: signed
// answers to validate and to the seat calls, for one license "main".
type licenseAPI struct {
	srv    *httptest.Server
	signer *token.ResponseSigner
	mu     sync.Mutex
	seats  int32
	leases map[string]string // id -> holder
	calls  []string
}

// onlineSetup is what an agent in online mode needs on disk: a license
// directory with a signed token, the pinned JWKS, and the CA of a stand-in
// license API signing with the same key. It returns the flags.
func onlineSetup(t *testing.T, seats int32) (*licenseAPI, []string) {
	t.Helper()
	k, err := keys.Generate(keys.Ed25519, time.Now().Add(-time.Hour), nil)
	must(t, err)
	now := time.Now()
	tok, err := token.Sign(&license.Claims{
		Issuer: license.IssuerPrefix + "licensing/acme-db", Subject: "globex", Audience: []string{"acme-db"}, ID: "s-1",
		IssuedAt: now.Add(-time.Minute).Unix(), Licensee: license.LicenseeInfo{Name: "globex"}, Product: license.ProductInfo{Name: "acme-db"},
		Licenses: []license.Grant{{Name: "main", Template: "floating", Type: "Floating", StartsAt: now.Add(-time.Hour).Unix(), Features: []string{"replication"}, Seats: seats}},
		Features: []string{"replication"},
	}, k)
	must(t, err)
	dir := t.TempDir()
	licenseDir := filepath.Join(dir, "license")
	must(t, os.Mkdir(licenseDir, 0o755))
	must(t, os.WriteFile(filepath.Join(licenseDir, "license.jwt"), []byte(tok), 0o644))
	jwks, err := keys.MarshalJWKS([]keys.PublicKey{keys.PublicKeyOf(k)})
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "jwks.json"), jwks, 0o644))

	signer, err := token.NewResponseSigner(k)
	must(t, err)
	api := &licenseAPI{signer: signer, seats: seats, leases: map[string]string{}}
	api.srv = httptest.NewTLSServer(http.HandlerFunc(api.serve))
	t.Cleanup(api.srv.Close)
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.srv.Certificate().Raw})
	must(t, os.WriteFile(filepath.Join(dir, "ca.crt"), ca, 0o644))
	return api, []string{"--license-dir", licenseDir, "--jwks", filepath.Join(dir, "jwks.json"), "--listen", "127.0.0.1:0",
		"--license-api", api.srv.URL, "--license-api-ca", filepath.Join(dir, "ca.crt"), "--online-interval", "20ms"}
}

func (api *licenseAPI) serve(w http.ResponseWriter, r *http.Request) {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.calls = append(api.calls, r.Method+" "+r.URL.Path)
	nonce, now := r.Header.Get(license.HeaderNonce), time.Now()
	var status int
	var body any
	switch {
	case r.Method == http.MethodPost && r.URL.Path == license.PathValidate:
		status, body = http.StatusOK, license.Verdict{
			Valid: true, Code: license.CodeValid, Message: "valid", Licensee: license.LicenseeInfo{Name: "globex"},
			Licenses: []license.LicenseStatus{{Name: "main", Template: "floating", State: license.CodeValid, Seats: api.seats, Features: []string{"replication"}}},
			Features: []string{"replication"}, Nonce: nonce, Time: now,
		}
	case r.Method == http.MethodPost && r.URL.Path == license.PathSeats:
		var req license.SeatRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		id := "main.0.000000000000000000000001"
		api.leases[id] = req.Holder
		status, body = http.StatusCreated, license.SeatAnswer{Code: license.CodeValid, Message: "seat acquired", Nonce: nonce, Time: now,
			Lease: &license.Lease{ID: id, License: "main", Holder: req.Holder, ExpiresAt: now.Add(2 * time.Minute), TTL: "2m0s", HeartbeatEvery: "40s"}}
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, license.PathSeats+"/"):
		delete(api.leases, strings.TrimPrefix(r.URL.Path, license.PathSeats+"/"))
		status, body = http.StatusOK, license.SeatAnswer{Code: license.CodeValid, Message: "released", Nonce: nonce, Time: now}
	default:
		status, body = http.StatusNotFound, license.Problem{Code: license.CodeNotFound, Message: "no such endpoint", Nonce: nonce, Time: now}
	}
	data, _ := json.Marshal(body)
	sig, err := api.signer.SignDetached(data)
	if err != nil {
		panic(err)
	}
	w.Header().Set(license.HeaderSignature, sig)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

func (api *licenseAPI) holder(lease string) string {
	api.mu.Lock()
	defer api.mu.Unlock()
	return api.leases[lease]
}

func (api *licenseAPI) seen() []string {
	api.mu.Lock()
	defer api.mu.Unlock()
	return append([]string(nil), api.calls...)
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func podEnv(k string) string {
	return map[string]string{"POD_NAME": "web-0", "POD_UID": "4f1c"}[k]
}

func TestOnlineConfigurationErrorsExitWithCode2(t *testing.T) {
	machineID := filepath.Join(t.TempDir(), "machine-id")
	must(t, os.WriteFile(machineID, []byte("\n"), 0o644))
	for name, tc := range map[string]struct {
		seats int32
		args  []string
		env   func(string) string
		want  []string
	}{
		"seat of a license without seats": {0, []string{"--seat", "main"}, podEnv, []string{"--seat=main: license main of Licensee globex has no seats", "set spec.seats in the LicenseTemplate, or remove --seat"}},
		"seat without a holder":           {1, []string{"--seat", "main"}, noEnv, []string{"--seat=main needs a holder", "POD_NAME", "POD_UID", "--holder"}},
		"empty fingerprint variable":      {1, []string{"--activate", "main", "--fingerprint-env", "NODE_NAME"}, noEnv, []string{"the fingerprint is empty", "NODE_NAME"}},
		"empty fingerprint":               {1, []string{"--activate", "main", "--fingerprint="}, noEnv, []string{"--fingerprint is empty"}},
		"empty fingerprint file":          {1, []string{"--activate", "main", "--fingerprint-file", machineID}, noEnv, []string{"the fingerprint is empty", machineID}},
		"activate without a fingerprint":  {1, []string{"--activate", "main"}, noEnv, []string{"--activate=main needs a fingerprint"}},
	} {
		t.Run(name, func(t *testing.T) {
			api, flags := onlineSetup(t, tc.seats)
			var stderr strings.Builder
			if code := run(context.Background(), append(flags, tc.args...), tc.env, &stderr); code != exitConfig {
				t.Fatalf("exit %d, want %d; stderr %s", code, exitConfig, stderr.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q does not contain %q", stderr.String(), w)
				}
			}
			for _, c := range api.seen() {
				if c != "POST "+license.PathValidate {
					t.Errorf("call %s by an agent that must exit", c)
				}
			}
		})
	}
}

// The agent holds its seat while it runs and gives it back on SIGTERM
// (ctx cancelled), with log lines a test can wait on.
func TestSeatIsReleasedOnSIGTERM(t *testing.T) {
	api, flags := onlineSetup(t, 1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var code int
	stderr := newSyncBuilder()
	wg.Go(func() { code = run(ctx, append(flags, "--seat", "main"), podEnv, stderr) })
	stderr.waitFor(regexp.MustCompile(`msg="seat acquired" license=main holder=web-0/4f1c`))
	cancel()
	wg.Wait()
	if code != 0 {
		t.Fatalf("exit %d; stderr %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `msg="seat released" license=main`) {
		t.Errorf("no seat released in the log:\n%s", stderr.String())
	}
	if api.holder("main.0.000000000000000000000001") != "" {
		t.Errorf("the seat is still held after exit; calls %v", api.seen())
	}
}
