package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// Exit statuses; see the package documentation.
const (
	ExitOK           = 0
	ExitNotEntitled  = 1
	ExitVerifyFailed = 2
	ExitUsage        = 3
	ExitRevoked      = 4
)

// defaultPollInterval is how often renew and rotate-key look for the controller's
// acknowledgement.
const defaultPollInterval = 500 * time.Millisecond

// Options are the plugin's dependencies; the zero value of each field is replaced
// by the real thing (os streams are the caller's business).
type Options struct {
	Streams genericiooptions.IOStreams
	// Now is the clock used for relative times, verification and request values.
	Now func() time.Time
	// PollInterval is how often --wait re-reads the object.
	PollInterval time.Duration
}

// exitError carries an exit status. A silent one has already told the user
// everything (verify's result line), so Run prints nothing more.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// withExit attaches an exit status to err.
func withExit(code int, err error) error { return &exitError{code: code, err: err} }

// exitCodeOf is the status for an error returned by a command: usage and cluster
// errors (including cobra's own argument and flag errors) are ExitUsage.
func exitCodeOf(err error) int {
	if err == nil {
		return ExitOK
	}
	if e, ok := errors.AsType[*exitError](err); ok {
		return e.code
	}
	return ExitUsage
}

// Run executes the plugin with args (without the program name) and returns its
// exit status. Errors are printed to Streams.ErrOut.
func Run(ctx context.Context, args []string, opts Options) int {
	cmd := NewCommand(opts)
	cmd.SetArgs(args)
	executed, err := cmd.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if e, ok := errors.AsType[*exitError](err); !ok || !e.silent {
		fmt.Fprintf(cmd.ErrOrStderr(), "error: %v\n", err)
		if isUsageError(err) {
			fmt.Fprintf(cmd.ErrOrStderr(), "Run '%s --help' for usage.\n", executed.CommandPath())
		}
	}
	return exitCodeOf(err)
}

// usageError marks a mistake in the command line, so Run points at --help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return withExit(ExitUsage, &usageError{msg: fmt.Sprintf(format, a...)})
}

func isUsageError(err error) bool {
	_, ok := errors.AsType[*usageError](err)
	return ok
}

// NewCommand builds the kubectl-license command tree.
func NewCommand(opts Options) *cobra.Command {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = defaultPollInterval
	}
	configFlags := genericclioptions.NewConfigFlags(true)
	p := &plugin{opts: opts, configFlags: configFlags}

	root := &cobra.Command{
		Use:   "kubectl-license",
		Short: "Inspect, verify, renew and export kubelicense licenses, and manage their activations and seats",
		Long: `kubectl license works with the licenses the kubelicense operator issues:
a status table of Licensees, inspection and verification of license tokens
(in the cluster or offline), renewal and key-rotation requests, export of
offline license bundles, and the license API's activations and seat leases
(list them, deactivate a machine, release a seat).

Exit status: 0 success or a license that entitles (VALID, IN_GRACE_PERIOD);
1 a verified license that does not entitle (EXPIRED, NOT_YET_VALID, SUSPENDED,
FEATURE_NOT_ENTITLED); 2 a token that does not verify (SIGNATURE_INVALID,
UNKNOWN_KEY, MALFORMED); 3 a usage or cluster error (also: nothing to
deactivate or release, or a seat another holder took meanwhile); 4 a revoked
license (REVOKED: the operator removed the token from the Secret).`,
		Annotations: map[string]string{
			cobra.CommandDisplayNameAnnotation: "kubectl license",
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown command %q; the commands are status, inspect, verify, renew, rotate-key, export, activations, seats, deactivate and release", args[0])
			}
			return nil
		},
		// A bare "kubectl license" shows help instead of doing nothing.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.SetIn(opts.Streams.In)
	root.SetOut(opts.Streams.Out)
	root.SetErr(opts.Streams.ErrOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withExit(ExitUsage, &usageError{msg: err.Error()})
	})
	configFlags.AddFlags(root.PersistentFlags())

	root.AddCommand(
		p.newStatusCommand(),
		p.newInspectCommand(),
		p.newVerifyCommand(),
		p.newRenewCommand(),
		p.newRotateKeyCommand(),
		p.newExportCommand(),
		p.newActivationsCommand(),
		p.newSeatsCommand(),
		p.newDeactivateCommand(),
		p.newReleaseCommand(),
	)
	return root
}

// plugin is the state shared by the subcommands.
type plugin struct {
	opts        Options
	configFlags *genericclioptions.ConfigFlags
}

// exactlyOne is cobra.ExactArgs with a message that says what to pass.
func exactlyOne(what, example string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch len(args) {
		case 1:
			return nil
		case 0:
			return usagef("name the %s, e.g. %s", what, example)
		default:
			return usagef("expected one %s, got %d arguments (%q)", what, len(args), args)
		}
	}
}
