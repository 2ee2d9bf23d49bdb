// Command license-agent is the kubelicense sidecar: it verifies the mounted
// license Secret against a pinned trust anchor and serves the result on
// localhost (/v1/license, /v1/features/{name}, /v1/quotas/{name}), with health
// probes and Prometheus metrics. See docs/license-agent.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/kubelicense/kubelicense/internal/agent"
)

// Exit codes: 2 for a configuration the user must fix, 1 for a failure while running.
const (
	exitRuntime = 1
	exitConfig  = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	cfg, err := agent.ParseConfig(args, getenv, stderr)
	if errors.Is(err, agent.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "license-agent: %v\n", err)
		return exitConfig
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	cfg.Logger = log

	a, err := agent.New(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "license-agent: %v\n", err)
		return exitConfig
	}
	api, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		fmt.Fprintf(stderr, "license-agent: cannot listen on --listen=%s: %v; choose a free address\n", cfg.Listen, err)
		return exitConfig
	}
	var probes net.Listener
	if cfg.ProbeListen != "" {
		if probes, err = net.Listen("tcp", cfg.ProbeListen); err != nil {
			api.Close()
			fmt.Fprintf(stderr, "license-agent: cannot listen on --probe-listen=%s: %v; choose a free address\n", cfg.ProbeListen, err)
			return exitConfig
		}
	}
	if host, _, _ := net.SplitHostPort(cfg.Listen); !isLoopback(host) {
		log.Warn("the license API listens beyond localhost; anyone who can reach it can read the license, "+
			"and it answers only requests whose Host is localhost, a loopback address or an --allowed-host", "listen", cfg.Listen, "allowedHosts", cfg.AllowedHosts)
	}
	log.Info("license-agent serving", "listen", api.Addr().String(), "probeListen", cfg.ProbeListen,
		"licenseDir", cfg.LicenseDir, "bundle", cfg.BundleFile, "jwks", cfg.JWKSFile, "trustBundledKeys", cfg.TrustBundledKeys,
		"licenseAPI", cfg.LicenseAPI, "seat", cfg.Seat, "holder", cfg.Holder, "activate", cfg.Activate)
	if err := a.Run(ctx, api, probes); err != nil {
		// What the license API revealed about the flags (a --seat license
		// without seats) is fixed like a bad flag.
		if ce, ok := errors.AsType[*agent.ConfigError](err); ok {
			fmt.Fprintf(stderr, "license-agent: %v\n", ce)
			return exitConfig
		}
		log.Error("license-agent stopped", "error", err)
		return exitRuntime
	}
	log.Info("license-agent stopped")
	return 0
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
