package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/printers"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func (p *plugin) newInspectCommand() *cobra.Command {
	var (
		flags  tokenFlags
		output string
	)
	cmd := &cobra.Command{
		Use:   "inspect (LICENSEE | -f FILE --jwks FILE)",
		Short: "Verify a license token and show its claims",
		Long: `Verify a license token with pkg/license and show its claims and the state of
each license at this moment (or --at).

With a LICENSEE, the token is read from its Secret (key license.jwt) and verified
against the product's published keys (ConfigMap <product>-license-keys, key
jwks.json), never against the copy in the Secret. Offline, -f reads a license.jwt
or a bundle written by export, and --jwks names the trust anchor.

Exits like verify: 0 entitled, 1 not entitled, 2 the token does not verify, 3 usage
or cluster error, 4 revoked.`,
		Example: `  kubectl license inspect globex -n licensing
  kubectl license inspect -f license.jwt --jwks jwks.json -o json
  kubectl license inspect -f globex.license.json --trust-bundled-keys`,
		Args: cobra.ArbitraryArgs, // checked by loadInput, with a clearer message
		RunE: func(cmd *cobra.Command, args []string) error {
			if output != "" && output != "json" {
				return usagef("unknown output format %q for inspect: use -o json, or no -o for text", output)
			}
			in, v, err := p.check(cmd.Context(), args, &flags)
			if err != nil {
				return err
			}
			report := newInspectReport(in, v)
			if output == "json" {
				err = writeJSON(cmd.OutOrStdout(), report)
			} else {
				err = report.render(cmd.OutOrStdout())
			}
			if err != nil {
				return err
			}
			return v.exitError()
		},
	}
	flags.addFlags(cmd)
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json (default: text)")
	return cmd
}

// inspectReport is what inspect prints, as text or JSON.
type inspectReport struct {
	Source    inspectSource `json:"source"`
	CheckedAt time.Time     `json:"checkedAt"`
	Result    inspectResult `json:"result"`
	// Claims are the verified claims, as in the token; absent when the token did
	// not verify.
	Claims *license.Claims `json:"claims,omitempty"`
	// Licenses, Features and Quotas are evaluated at CheckedAt.
	Licenses []grantReport    `json:"licenses,omitempty"`
	Features []string         `json:"features,omitempty"`
	Quotas   map[string]int64 `json:"quotas,omitempty"`
	// Revocation is the operator's notice when the Secret holds no token.
	Revocation *revocationReport `json:"revocation,omitempty"`
	// Notes point at inconsistencies worth a look, such as a Secret that is not
	// the one the Licensee status describes.
	Notes []string `json:"notes,omitempty"`
}

type revocationReport struct {
	RevokedAt time.Time `json:"revokedAt"`
	Reason    string    `json:"reason"`
	Licensee  string    `json:"licensee,omitempty"`
	Product   string    `json:"product,omitempty"`
}

type inspectSource struct {
	Token         string   `json:"token"`
	TrustAnchor   string   `json:"trustAnchor"`
	TrustedKeyIDs []string `json:"trustedKeyIDs,omitempty"`
}

type inspectResult struct {
	Code    license.Code `json:"code"`
	Valid   bool         `json:"valid"`
	Message string       `json:"message"`
	Feature string       `json:"feature,omitempty"`
}

type grantReport struct {
	Name       string           `json:"name"`
	State      license.Code     `json:"state"`
	Template   string           `json:"template,omitempty"`
	Type       string           `json:"type,omitempty"`
	StartsAt   *time.Time       `json:"startsAt,omitempty"`
	ValidUntil *time.Time       `json:"validUntil,omitempty"`
	GraceUntil *time.Time       `json:"graceUntil,omitempty"`
	Features   []string         `json:"features,omitempty"`
	Quotas     map[string]int64 `json:"quotas,omitempty"`
}

func newInspectReport(in *licenseInput, v verification) *inspectReport {
	r := &inspectReport{
		Source: inspectSource{
			Token:         in.TokenFrom,
			TrustAnchor:   in.KeysFrom,
			TrustedKeyIDs: in.Keys.KeyIDs(),
		},
		CheckedAt: v.At.UTC(),
		Result:    inspectResult{Code: v.Code, Valid: v.Valid, Message: v.Detail, Feature: v.Feature},
		Claims:    v.Claims,
	}
	if rv := v.Revocation; rv != nil {
		r.Revocation = &revocationReport{RevokedAt: rv.RevokedAt, Reason: rv.Reason, Licensee: rv.Licensee, Product: rv.Product}
	}
	c := v.Claims
	if c == nil {
		return r
	}
	for _, g := range c.Licenses {
		r.Licenses = append(r.Licenses, grantReport{
			Name:       g.Name,
			State:      c.GrantState(g, v.At),
			Template:   g.Template,
			Type:       g.Type,
			StartsAt:   optionalTime(g.StartsAt),
			ValidUntil: optionalTime(g.ValidUntil),
			GraceUntil: optionalTime(g.GraceUntil),
			Features:   g.Features,
			Quotas:     g.Quotas,
		})
	}
	r.Features = c.FeaturesAt(v.At)
	r.Quotas = c.QuotasAt(v.At)
	if l := in.Licensee; l != nil && l.Status.Serial != "" && l.Status.Serial != c.ID {
		r.Notes = append(r.Notes, fmt.Sprintf("the Secret holds serial %s but licensee status.serial is %s: the controller has not caught up yet, or something else wrote the Secret", c.ID, l.Status.Serial))
	}
	return r
}

func optionalTime(sec int64) *time.Time {
	if sec == 0 {
		return nil
	}
	t := unixTime(sec)
	return &t
}

// render writes the report for people.
func (r *inspectReport) render(out io.Writer) error {
	w := &fieldWriter{out: out}
	at := r.CheckedAt
	w.field("Token", r.Source.Token)
	anchor := r.Source.TrustAnchor
	if len(r.Source.TrustedKeyIDs) > 0 {
		anchor += " (keys " + strings.Join(r.Source.TrustedKeyIDs, ", ") + ")"
	}
	w.field("Trust anchor", anchor)
	w.field("Checked at", absoluteTime(at))
	w.field("Result", fmt.Sprintf("%s (valid: %t)", r.Result.Code, r.Result.Valid))
	w.field("", r.Result.Message)
	for _, n := range r.Notes {
		w.field("Note", n)
	}

	if rv := r.Revocation; rv != nil {
		w.field("Revoked at", whenTime(rv.RevokedAt, at))
		w.field("Reason", orNone(rv.Reason))
		w.line("")
		w.line("The Secret holds no token: the operator removed it. A new one is issued once a license entitles again (renew, or extend the license).")
		return w.err
	}
	c := r.Claims
	if c == nil {
		w.line("")
		w.line("Claims are not shown: the token did not verify, so nothing in it can be trusted.")
		return w.err
	}
	w.line("")
	licensee := c.Licensee.Name
	if c.Licensee.DisplayName != "" {
		licensee += " (" + c.Licensee.DisplayName + ")"
	}
	if c.Licensee.ExternalID != "" {
		licensee += ", external ID " + c.Licensee.ExternalID
	}
	if c.Licensee.Suspended {
		licensee += ", SUSPENDED"
	}
	w.field("Licensee", licensee)
	product := c.Product.Name
	if c.Product.DisplayName != "" {
		product += " (" + c.Product.DisplayName + ")"
	}
	w.field("Product", product)
	w.field("Serial", c.ID)
	w.field("Issuer", c.Issuer)
	w.field("Audience", strings.Join(c.Audience, ", "))
	w.field("Issued at", whenTime(unixTime(c.IssuedAt), at))
	if c.NotBefore != 0 {
		w.field("Not before", whenTime(unixTime(c.NotBefore), at))
	}
	if c.Expiry != 0 {
		w.field("Token expiry", whenTime(unixTime(c.Expiry), at))
	} else {
		w.field("Token expiry", "none")
	}
	w.field("Features", orNone(strings.Join(r.Features, ", ")))
	w.field("Quotas", orNone(formatQuotas(r.Quotas)))
	if w.err != nil {
		return w.err
	}
	if len(r.Licenses) == 0 {
		w.line("Licenses:     <none>")
		return w.err
	}
	w.line("Licenses:")
	tw := printers.GetNewTabWriter(out)
	fmt.Fprintln(tw, "  NAME\tSTATE\tTYPE\tTEMPLATE\tSTARTS\tVALID UNTIL\tGRACE UNTIL\tFEATURES\tQUOTAS")
	for _, g := range r.Licenses {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.Name, g.State, orDash(g.Type), orDash(g.Template),
			optionalAbsolute(g.StartsAt, "-"), optionalAbsolute(g.ValidUntil, "never"), optionalAbsolute(g.GraceUntil, "-"),
			orDash(strings.Join(g.Features, ",")), orDash(formatQuotas(g.Quotas)))
	}
	return tw.Flush()
}

// fieldWriter writes "Label:  value" lines and keeps the first error.
type fieldWriter struct {
	out io.Writer
	err error
}

func (w *fieldWriter) field(label, value string) {
	if label != "" {
		label += ":"
	}
	w.line(fmt.Sprintf("%-14s%s", label, value))
}

func (w *fieldWriter) line(s string) {
	if w.err == nil {
		_, w.err = fmt.Fprintln(w.out, s)
	}
}

func optionalAbsolute(t *time.Time, absent string) string {
	if t == nil {
		return absent
	}
	return absoluteTime(*t)
}

// formatQuotas is "a=1,b=2", sorted by name.
func formatQuotas(q map[string]int64) string {
	parts := make([]string, 0, len(q))
	for _, name := range slices.Sorted(maps.Keys(q)) {
		parts = append(parts, fmt.Sprintf("%s=%d", name, q[name]))
	}
	return strings.Join(parts, ",")
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
