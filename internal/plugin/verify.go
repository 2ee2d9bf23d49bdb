package plugin

import (
	"fmt"

	"github.com/spf13/cobra"
)

func (p *plugin) newVerifyCommand() *cobra.Command {
	var flags tokenFlags
	cmd := &cobra.Command{
		Use:   "verify (LICENSEE | -f FILE --jwks FILE) [--feature NAME]",
		Short: "Verify a license token; print one line and exit 0 when it entitles",
		Long: `Verify a license token with pkg/license, from the same inputs as inspect, and
print one line: the code, the licensee and product, and why.

Exit status:
  0  VALID or IN_GRACE_PERIOD (and, with --feature, the feature is granted)
  1  the token verifies but does not entitle: EXPIRED, NOT_YET_VALID, SUSPENDED,
     FEATURE_NOT_ENTITLED
  2  the token does not verify: SIGNATURE_INVALID, UNKNOWN_KEY, MALFORMED
  3  usage or cluster error (bad arguments, unreadable file, missing object)
  4  REVOKED: the operator removed the token; the Secret says why and when`,
		Example: `  kubectl license verify globex -n licensing --feature replication
  kubectl license verify -f license.jwt --jwks jwks.json
  kubectl license verify -f globex.license.json --jwks jwks.json --at 2027-06-01T00:00:00Z`,
		Args: cobra.ArbitraryArgs, // checked by loadInput, with a clearer message
		RunE: func(cmd *cobra.Command, args []string) error {
			_, v, err := p.check(cmd.Context(), args, &flags)
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), v.line()); err != nil {
				return err
			}
			return v.exitError()
		},
	}
	flags.addFlags(cmd)
	return cmd
}
