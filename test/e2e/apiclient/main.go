// Command apiclient calls the license API with pkg/license's client, as an
// application would from its own process; the end-to-end tests run it. It
// prints the answer as JSON, or the error's code, and exits 1 on an error.
//
//	apiclient -url https://127.0.0.1:9443 -token license.jwt -jwks jwks.json -ca ca.crt validate
//	apiclient ... activate <fingerprint> | activations | seat <holder> | heartbeat <lease id>
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func main() {
	url := flag.String("url", "", "license API base URL")
	tokenFile := flag.String("token", "", "file holding the license token")
	jwksFile := flag.String("jwks", "", "the Product's JWKS (pinned)")
	caFile := flag.String("ca", "", "the license API's CA certificate")
	lic := flag.String("license", "main", "license name")
	flag.Parse()
	if err := run(*url, *tokenFile, *jwksFile, *caFile, *lic, flag.Args()); err != nil {
		fmt.Printf("{\"error\":%q,\"code\":%q}\n", err.Error(), license.CodeOf(err))
		os.Exit(1)
	}
}

func run(url, tokenFile, jwksFile, caFile, lic string, args []string) error {
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		return err
	}
	keys, err := license.LoadJWKSFile(jwksFile)
	if err != nil {
		return err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	c, err := license.NewClient(url, string(token), keys, license.WithCACertPEM(ca))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if len(args) == 0 {
		return fmt.Errorf("name a command: validate, activate, activations, seat, heartbeat")
	}
	arg := func() string {
		if len(args) < 2 {
			return ""
		}
		return args[1]
	}
	var answer any
	switch args[0] {
	case "validate":
		answer, err = c.Validate(ctx, license.ValidateRequest{})
	case "activate":
		answer, err = c.Activate(ctx, license.ActivateRequest{License: lic, Fingerprint: arg()})
	case "activations":
		answer, err = c.ListActivations(ctx)
	case "seat":
		answer, err = c.AcquireSeat(ctx, license.SeatRequest{License: lic, Holder: arg(), TTL: "10m"})
	case "heartbeat":
		answer, err = c.Heartbeat(ctx, arg())
	default:
		return fmt.Errorf("unknown command %q", args[0])
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(answer)
}
