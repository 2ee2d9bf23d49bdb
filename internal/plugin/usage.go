package plugin

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// The license API keeps its state as Activation and SeatLease objects, one per
// numbered slot of a license (api/v1alpha1 usage_types.go). The activations and
// seats commands list them; deactivate and release delete one, at the version
// read, so a slot that changed hands meanwhile is never freed by mistake.

// slotRef is what every Activation and SeatLease row starts with.
type slotRef struct {
	Namespace string `json:"namespace"`
	// Name is the object's name, <licensee>.<license>.<slot>.
	Name     string `json:"name"`
	Licensee string `json:"licensee"`
	License  string `json:"license"`
	Slot     int32  `json:"slot"`
}

func (r slotRef) ref() slotRef { return r }

func compareSlots(a, b slotRef) int {
	return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Licensee, b.Licensee),
		strings.Compare(a.License, b.License), cmp.Compare(a.Slot, b.Slot))
}

// usageFlags are the flags of activations and seats.
type usageFlags struct {
	allNamespaces bool
	license       string
	output        string
}

func (f *usageFlags) addFlags(cmd *cobra.Command, what string) {
	cmd.Flags().BoolVarP(&f.allNamespaces, "all-namespaces", "A", false, "list "+what+" in every namespace")
	cmd.Flags().StringVar(&f.license, "license", "", "only the "+what+" of this license (a name in the Licensee's spec.licenses)")
	cmd.Flags().StringVarP(&f.output, "output", "o", "", "output format: json or yaml (default: table)")
}

// usageQuery is what a listing asks for.
type usageQuery struct {
	namespace string                      // "" with -A
	licensee  *licensingv1alpha1.Licensee // nil: every licensee
	license   string                      // "": every license
}

func (q usageQuery) listOptions() []client.ListOption {
	var opts []client.ListOption
	if q.namespace != "" {
		opts = append(opts, client.InNamespace(q.namespace))
	}
	// The labels the license API sets; the Licensee controller counts by them too.
	labels := client.MatchingLabels{}
	if q.licensee != nil {
		labels[licensingv1alpha1.LabelLicensee] = q.licensee.Name
	}
	if q.license != "" {
		labels[licensingv1alpha1.LabelLicense] = q.license
	}
	if len(labels) > 0 {
		opts = append(opts, labels)
	}
	return opts
}

// noneFound says that nothing matched, and why when --license names a license
// the licensee does not have.
func (q usageQuery) noneFound(what string) string {
	msg := "No " + what + " found"
	switch {
	case q.license != "" && q.licensee != nil:
		msg += fmt.Sprintf(" for license %s of licensee %s", q.license, q.licensee.Name)
	case q.license != "":
		msg += " for license " + q.license
	case q.licensee != nil:
		msg += " for licensee " + q.licensee.Name
	}
	if q.namespace == "" {
		msg += " in any namespace"
	} else {
		msg += " in namespace " + q.namespace
	}
	if q.license != "" && q.licensee != nil {
		names := make([]string, 0, len(q.licensee.Spec.Licenses))
		for _, l := range q.licensee.Spec.Licenses {
			names = append(names, l.Name)
		}
		if !slices.Contains(names, q.license) {
			msg += fmt.Sprintf("; licensee %s has no license %q (its licenses: %s)", q.licensee.Name, q.license, orNone(strings.Join(names, ", ")))
		}
	}
	return msg + "."
}

// usageTable is one listing command: activations or seats.
type usageTable[R interface{ ref() slotRef }] struct {
	what     string // "activations", in messages
	resource string // "activations", the API resource, in errors
	columns  []string
	// list reads the objects as rows at now.
	list  func(ctx context.Context, c client.Client, now time.Time, opts ...client.ListOption) ([]R, error)
	cells func(r R, now time.Time) []string
}

type usageList[R any] struct {
	Items []R `json:"items"`
}

func (t usageTable[R]) runE(p *plugin, flags *usageFlags) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if !slices.Contains([]string{"", "json", "yaml"}, flags.output) {
			return usagef("unknown output format %q: use -o json or yaml", flags.output)
		}
		if len(args) > 1 {
			return usagef("expected at most one licensee, got %d arguments (%q)", len(args), args)
		}
		if flags.allNamespaces && len(args) > 0 {
			return usagef("name a licensee within one namespace (-n), or list every namespace with -A, not both")
		}
		if err := checkLicenseFlag(flags.license); err != nil {
			return err
		}
		c, err := p.connect()
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		q := usageQuery{namespace: c.namespace, license: flags.license}
		if flags.allNamespaces {
			q.namespace = ""
		}
		if len(args) == 1 {
			// A licensee that does not exist is an error, not an empty table.
			if q.licensee, err = c.getLicensee(ctx, args[0]); err != nil {
				return err
			}
		}
		now := p.opts.Now()
		rows, err := t.list(ctx, c.client, now, q.listOptions()...)
		if err != nil {
			return listError(err, t.resource, q.namespace)
		}
		slices.SortFunc(rows, func(a, b R) int { return compareSlots(a.ref(), b.ref()) })
		out := cmd.OutOrStdout()
		switch flags.output {
		case "json":
			return writeJSON(out, usageList[R]{Items: rows})
		case "yaml":
			return writeYAML(out, usageList[R]{Items: rows})
		}
		if len(rows) == 0 {
			_, err := fmt.Fprintln(cmd.ErrOrStderr(), q.noneFound(t.what))
			return err
		}
		return t.render(out, rows, now, q)
	}
}

// render writes rows as kubectl get does; LICENSEE without a licensee named,
// NAMESPACE with -A.
func (t usageTable[R]) render(out io.Writer, rows []R, now time.Time, q usageQuery) error {
	tw := printers.GetNewTabWriter(out)
	var lead []string
	if q.namespace == "" {
		lead = append(lead, "NAMESPACE")
	}
	if q.licensee == nil {
		lead = append(lead, "LICENSEE")
	}
	fmt.Fprintln(tw, strings.Join(append(slices.Clone(lead), t.columns...), "\t"))
	for _, r := range rows {
		var cells []string
		if q.namespace == "" {
			cells = append(cells, r.ref().Namespace)
		}
		if q.licensee == nil {
			cells = append(cells, r.ref().Licensee)
		}
		fmt.Fprintln(tw, strings.Join(append(cells, t.cells(r, now)...), "\t"))
	}
	return tw.Flush()
}

// checkLicenseFlag refuses a --license that is no license name (it becomes a
// label selector value).
func checkLicenseFlag(name string) error {
	if name != "" && len(validation.IsDNS1123Label(name)) > 0 {
		return usagef("--license %.70q is not a license name: use the name of a license in the Licensee's spec.licenses (a DNS label of at most 63 characters)", name)
	}
	return nil
}

// printableCell is s for a table cell: "-" when empty, quoted when it holds
// tabs, control characters or invalid UTF-8. Anyone allowed to write these
// objects could otherwise shift columns or send escapes to the terminal.
func printableCell(s string) string {
	if s == "" {
		return "-"
	}
	if !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return strconv.Quote(s)
	}
	return s
}

// exactlyTwo is cobra.ExactArgs(2) with a message that says what to pass.
func exactlyTwo(what, example string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 2 {
			return nil
		}
		if len(args) < 2 {
			return usagef("name the %s, e.g. %s", what, example)
		}
		return usagef("expected the %s, got %d arguments (%q)", what, len(args), args)
	}
}
