// Command kubectl-license is the kubelicense kubectl plugin (kubectl license ...):
// Licensee status, token inspection and verification, renewal, key rotation,
// offline bundle export, and the license API's activations and seat leases.
// See docs/kubectl-license.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubelicense/kubelicense/internal/plugin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := plugin.Run(ctx, os.Args[1:], plugin.Options{
		Streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
	})
	stop()
	os.Exit(code)
}
