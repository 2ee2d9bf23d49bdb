package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os/exec"
	"strings"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// freeLocalAddress is a 127.0.0.1 address with a port nobody listens on.
func freeLocalAddress() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free local port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// useLicenseAPI calls the license API as an application of licensee umbrella
// would: with the token of its license Secret, pinning the Product's JWKS and
// the API's CA. It validates, activates a machine, takes the one seat, and is
// refused a second.
func useLicenseAPI(ctx context.Context, url string) error {
	step("The license API (" + url + "), called with the Go client of pkg/license as licensee umbrella")
	token, err := secretValue("umbrella-license", "license.jwt")
	if err != nil {
		return err
	}
	jwks, err := secretValue("umbrella-license", "jwks.json")
	if err != nil {
		return err
	}
	keys, err := license.ParseJWKS(jwks)
	if err != nil {
		return err
	}
	ca, err := exec.Command("kubectl", "get", "configmap", "-n", "kubelicense-system", "kubelicense-license-api-ca", "-o", "jsonpath={.data.ca\\.crt}").Output()
	if err != nil {
		return fmt.Errorf("read the license API's CA (ConfigMap kubelicense-system/kubelicense-license-api-ca): %w", err)
	}
	c, err := license.NewClient(url, string(token), keys, license.WithCACertPEM(ca))
	if err != nil {
		return err
	}

	v, err := c.Validate(ctx, license.ValidateRequest{Feature: "replication"})
	if err != nil {
		return fmt.Errorf("validate: %w", err)
	}
	fmt.Printf("POST /v1/validate {feature: replication}      -> valid=%v code=%s features=%v (signature and nonce checked)\n", v.Valid, v.Code, v.Features)

	a, err := c.Activate(ctx, license.ActivateRequest{License: "main", Fingerprint: "demo-machine-1", Name: "db-1"})
	if err != nil {
		return fmt.Errorf("activate: %w", err)
	}
	fmt.Printf("POST /v1/activations {fingerprint: demo-machine-1} -> %s, %d of %d activations in use\n", a.Message, a.Activations, a.MaxActivations)

	s, err := c.AcquireSeat(ctx, license.SeatRequest{License: "main", Holder: "pod-a"})
	if err != nil {
		return fmt.Errorf("acquire a seat: %w", err)
	}
	fmt.Printf("POST /v1/seats {holder: pod-a}                -> %s: lease %s until %s (heartbeat every %s)\n", s.Message, s.Lease.ID, s.Lease.ExpiresAt.Format("15:04:05"), s.Lease.HeartbeatEvery)

	_, err = c.AcquireSeat(ctx, license.SeatRequest{License: "main", Holder: "pod-b"})
	if license.CodeOf(err) != license.CodeNoSeatsAvailable {
		return fmt.Errorf("a second seat of a one-seat license: want NO_SEATS_AVAILABLE, got %v", err)
	}
	fmt.Printf("POST /v1/seats {holder: pod-b}                -> refused: %v\n", err)

	fmt.Println()
	return kubectl("get", "activations,seatleases", "-n", namespace)
}

// secretValue is one data entry of a Secret in the demo namespace.
func secretValue(secret, key string) ([]byte, error) {
	out, err := exec.Command("kubectl", "get", "secret", "-n", namespace, secret, "-o", "jsonpath={.data."+strings.ReplaceAll(key, ".", "\\.")+"}").Output()
	if err != nil {
		return nil, fmt.Errorf("read Secret %s: %w", secret, err)
	}
	return base64.StdEncoding.DecodeString(string(out))
}
