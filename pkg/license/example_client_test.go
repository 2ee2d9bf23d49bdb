package license_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// exampleAPI stands in for the operator's license API: one licensee, one
// license with one seat, answers signed with the Product's key. It returns the
// server, the Product's jwks.json and the API's ca.crt.
func exampleAPI() (api *httptest.Server, jwks, caPEM []byte) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	const kid = "k-2026-11-23-7f3a"
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: priv},
		(&jose.SignerOptions{}).WithType(license.ResponseTokenType).WithHeader("kid", kid))
	jwks, _ = json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: priv.Public(), KeyID: kid, Algorithm: string(jose.EdDSA), Use: "sig"}}})

	var mu sync.Mutex
	var held *license.Lease
	reply := func(w http.ResponseWriter, status int, v any) {
		body, _ := json.Marshal(v)
		jws, _ := signer.Sign(body)
		sig, _ := jws.DetachedCompactSerialize()
		w.Header().Set(license.HeaderSignature, sig)
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+license.PathValidate, func(w http.ResponseWriter, r *http.Request) {
		var req license.ValidateRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		reply(w, http.StatusOK, license.Verdict{
			Valid: true, Code: license.CodeValid, Licensee: license.LicenseeInfo{Name: "globex"},
			Features: []string{"replication"}, Nonce: req.Nonce, Time: time.Now(),
		})
	})
	mux.HandleFunc("POST "+license.PathSeats, func(w http.ResponseWriter, r *http.Request) {
		var req license.SeatRequest
		_ = json.NewDecoder(r.Body).Decode(&req)
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		if held != nil && held.Holder != req.Holder {
			w.Header().Set("Retry-After", "120")
			reply(w, http.StatusConflict, license.Problem{Code: license.CodeNoSeatsAvailable, Message: "the license's 1 seat is taken", Nonce: req.Nonce, Time: now})
			return
		}
		held = &license.Lease{ID: "main-7c2e", License: req.License, Holder: req.Holder, ExpiresAt: now.Add(2 * time.Minute), TTL: "2m0s", HeartbeatEvery: "40s"}
		reply(w, http.StatusCreated, license.SeatAnswer{Code: license.CodeValid, Lease: held, Seats: 1, SeatsInUse: 1, Nonce: req.Nonce, Time: now})
	})
	mux.HandleFunc("DELETE "+license.PathSeats+"/{id}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		held = nil
		reply(w, http.StatusOK, license.SeatAnswer{Code: license.CodeValid, Seats: 1, Nonce: r.Header.Get(license.HeaderNonce), Time: time.Now()})
	})
	api = httptest.NewTLSServer(mux)
	caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw})
	return api, jwks, caPEM
}

func ExampleClient_Validate() {
	api, jwks, caPEM := exampleAPI()
	defer api.Close()

	// In a pod: the mounted jwks.json of the Product, license.jwt of the license
	// Secret, and ca.crt of ConfigMap kubelicense-license-api-ca.
	keys, err := license.ParseJWKS(jwks)
	if err != nil {
		panic(err)
	}
	client, err := license.NewClient(api.URL, "<content of license.jwt>", keys, license.WithCACertPEM(caPEM))
	if err != nil {
		panic(err)
	}

	verdict, err := client.Validate(context.Background(), license.ValidateRequest{Feature: "replication"})
	switch {
	case errors.Is(err, license.ErrUntrustedAnswer):
		fmt.Println("not the license API:", license.CodeOf(err))
	case err != nil:
		// Unreachable, or refused: fall back to the offline token (license.Verify).
		fmt.Println("offline:", err)
	default:
		fmt.Println(verdict.Licensee.Name, verdict.Valid, verdict.Code)
	}
	// Output:
	// globex true VALID
}

func ExampleClient_AcquireSeat() {
	api, jwks, caPEM := exampleAPI()
	defer api.Close()
	keys, _ := license.ParseJWKS(jwks)
	client, _ := license.NewClient(api.URL, "<content of license.jwt>", keys, license.WithCACertPEM(caPEM))
	ctx := context.Background()

	seat, err := client.AcquireSeat(ctx, license.SeatRequest{License: "main", Holder: "worker-1"})
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s holds %s, heartbeat every %s\n", seat.Lease.Holder, seat.Lease.ID, seat.Lease.HeartbeatEvery)

	_, err = client.AcquireSeat(ctx, license.SeatRequest{License: "main", Holder: "worker-2"})
	if apiErr, ok := errors.AsType[*license.APIError](err); ok && apiErr.Code == license.CodeNoSeatsAvailable {
		fmt.Println("worker-2:", apiErr.Code, "retry after", apiErr.RetryAfter)
	}

	if _, err := client.ReleaseSeat(ctx, seat.Lease.ID); err != nil {
		panic(err)
	}
	// Output:
	// worker-1 holds main-7c2e, heartbeat every 40s
	// worker-2: NO_SEATS_AVAILABLE retry after 2m0s
}

func ExampleClient_KeepSeat() {
	api, jwks, caPEM := exampleAPI()
	defer api.Close()
	keys, _ := license.ParseJWKS(jwks)
	client, _ := license.NewClient(api.URL, "<content of license.jwt>", keys, license.WithCACertPEM(caPEM))

	// The keeper holds the seat for as long as ctx lasts (a pod's life), and
	// gives it back when ctx ends. Held() is what a readiness probe reports.
	ctx, stop := context.WithCancel(context.Background())
	events := make(chan license.SeatEvent, 10)
	keeper, err := client.KeepSeat(ctx, license.SeatRequest{License: "main", Holder: "pod-a/3f1c"},
		license.OnSeatEvent(func(e license.SeatEvent) { events <- e }))
	if err != nil {
		panic(err)
	}
	for e := range events {
		fmt.Println(e.Kind, e.Lease.ID)
		if e.Kind == license.SeatAcquired {
			break
		}
	}
	fmt.Println("held:", keeper.Held())

	stop()
	<-keeper.Done()
	fmt.Println((<-events).Kind, "held:", keeper.Held())
	// Output:
	// Acquired main-7c2e
	// held: true
	// Released held: false
}
