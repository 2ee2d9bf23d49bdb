package plugin

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func (p *plugin) newExportCommand() *cobra.Command {
	var outputFile string
	cmd := &cobra.Command{
		Use:   "export LICENSEE [-o FILE]",
		Short: "Write an offline license bundle: the token and the product's public keys",
		Long: `Write a license bundle (kind LicenseBundle) for a licensee: its token from the
license Secret and the product's JWKS from ConfigMap <product>-license-keys. The
license-agent and pkg/license (LoadBundleFile) accept it offline.

The token is verified against the product's keys first; a token that does not
verify is not exported, nor is a revoked license (exit status 4). A license
that does not entitle now is exported with a warning. Verify a bundle with:
  kubectl license verify -f FILE --jwks jwks.json`,
		Example: `  kubectl license export globex -n licensing -o globex.license.json
  kubectl license export globex -n licensing > globex.license.json`,
		Args: exactlyOne("licensee", "kubectl license export globex -n licensing -o globex.license.json"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := p.loadFromCluster(cmd.Context(), args[0], "")
			if err != nil {
				return err
			}
			now := p.opts.Now()
			v := in.verify(now, "")
			l := in.Licensee
			if in.Revocation != nil {
				return withExit(ExitRevoked, fmt.Errorf("licensee %s/%s has no token to export: %s", l.Namespace, l.Name, v.Detail))
			}
			if v.exitCode() == ExitVerifyFailed {
				return withExit(ExitVerifyFailed, fmt.Errorf("the token in %s does not verify against %s (%s); refusing to export a bundle no verifier accepts: %s",
					in.TokenFrom, in.KeysFrom, v.Code, v.Detail))
			}
			if !v.Valid {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: licensee %s/%s is not entitled now (%s); exporting anyway\n", l.Namespace, l.Name, v.line())
			}
			bundle, err := license.MarshalBundle(in.Token, in.JWKS)
			if err != nil {
				return withExit(ExitVerifyFailed, fmt.Errorf("build bundle for licensee %s/%s: %w", l.Namespace, l.Name, err))
			}
			if outputFile == "" || outputFile == "-" {
				_, err := cmd.OutOrStdout().Write(bundle)
				return err
			}
			if err := writeFileAtomic(outputFile, bundle); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "Wrote license bundle for licensee %s/%s (product %s, serial %s, %s) to %s\n",
				l.Namespace, l.Name, l.Spec.ProductRef.Name, v.Claims.ID, v.Code, outputFile)
			return nil
		},
	}
	cmd.Flags().StringVarP(&outputFile, "output", "o", "", "write the bundle to this file (default: stdout)")
	return cmd
}

// writeFileAtomic replaces path with data, so an interrupted export never leaves
// half a bundle where the old one was. The bundle is readable by its owner only:
// whoever holds it holds the license.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write bundle: %w; pick a writable path with -o", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write bundle %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write bundle %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write bundle %s: %w", path, err)
	}
	return nil
}
