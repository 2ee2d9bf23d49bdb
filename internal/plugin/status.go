package plugin

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/printers"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func (p *plugin) newStatusCommand() *cobra.Command {
	var (
		allNamespaces bool
		output        string
	)
	cmd := &cobra.Command{
		Use:   "status [LICENSEE...]",
		Short: "Show where Licensees stand: licensed, licenses, expiry, readiness",
		Long: `Show a table of Licensees (all of them in the namespace, or the ones named)
from their status as the controller wrote it: whether they are licensed and why,
the state of each license, when the entitlement ends, and whether the object is
fully reconciled.`,
		Example: `  kubectl license status -n licensing
  kubectl license status -A -o wide
  kubectl license status globex -n licensing -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{"", "wide", "json", "yaml"}, output) {
				return usagef("unknown output format %q: use -o wide, json or yaml", output)
			}
			if allNamespaces && len(args) > 0 {
				return usagef("name licensees within one namespace (-n), or list every namespace with -A, not both")
			}
			c, err := p.connect()
			if err != nil {
				return err
			}
			licensees, lookupErr := fetchLicensees(cmd.Context(), c, args, allNamespaces)
			if lookupErr != nil && len(licensees) == 0 {
				return lookupErr
			}
			now := p.opts.Now()
			rows := make([]licenseeSummary, 0, len(licensees))
			for i := range licensees {
				rows = append(rows, summarizeLicensee(&licensees[i]))
			}
			out := cmd.OutOrStdout()
			switch output {
			case "json":
				err = writeJSON(out, summaryList{Items: rows})
			case "yaml":
				err = writeYAML(out, summaryList{Items: rows})
			default:
				if len(rows) == 0 {
					where := fmt.Sprintf("in namespace %s", c.namespace)
					if allNamespaces {
						where = "in any namespace"
					}
					_, err = fmt.Fprintf(cmd.ErrOrStderr(), "No licensees found %s.\n", where)
					break
				}
				err = renderStatusTable(out, rows, now, tableOptions{wide: output == "wide", namespaces: allNamespaces})
			}
			return cmp.Or(err, lookupErr)
		},
	}
	cmd.Flags().BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list licensees in every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: wide, json or yaml (default: table)")
	return cmd
}

// fetchLicensees lists the namespace (or every namespace), or gets the named
// licensees. Like kubectl get, it returns the ones found together with an error
// naming the missing ones.
func fetchLicensees(ctx context.Context, c *cluster, names []string, allNamespaces bool) ([]licensingv1alpha1.Licensee, error) {
	if len(names) == 0 {
		var list licensingv1alpha1.LicenseeList
		var opts []client.ListOption
		namespace := c.namespace
		if !allNamespaces {
			opts = append(opts, client.InNamespace(namespace))
		} else {
			namespace = ""
		}
		if err := c.client.List(ctx, &list, opts...); err != nil {
			return nil, listError(err, "licensees", namespace)
		}
		slices.SortFunc(list.Items, func(a, b licensingv1alpha1.Licensee) int {
			return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name))
		})
		return list.Items, nil
	}
	var (
		found []licensingv1alpha1.Licensee
		errs  []error
	)
	for _, name := range names {
		l, err := c.getLicensee(ctx, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		found = append(found, *l)
	}
	return found, errors.Join(errs...)
}

// licenseeSummary is one row of the status table, and one item of -o json|yaml.
type licenseeSummary struct {
	Namespace   string            `json:"namespace"`
	Name        string            `json:"name"`
	Product     string            `json:"product"`
	Licensed    *conditionSummary `json:"licensed,omitempty"`
	Ready       *conditionSummary `json:"ready,omitempty"`
	Licenses    []licenseSummary  `json:"licenses"`
	ExpiresAt   *time.Time        `json:"expiresAt,omitempty"`
	Serial      string            `json:"serial,omitempty"`
	KeyID       string            `json:"keyID,omitempty"`
	IssuedAt    *time.Time        `json:"issuedAt,omitempty"`
	NextCheckAt *time.Time        `json:"nextCheckAt,omitempty"`
	SecretName  string            `json:"secretName"`
	// UpToDate is false while the controller has not reconciled the latest spec.
	UpToDate bool `json:"upToDate"`
}

type conditionSummary struct {
	Status  metav1.ConditionStatus `json:"status"`
	Reason  string                 `json:"reason,omitempty"`
	Message string                 `json:"message,omitempty"`
}

type licenseSummary struct {
	Name       string                         `json:"name"`
	State      licensingv1alpha1.LicenseState `json:"state"`
	Template   string                         `json:"template,omitempty"`
	Type       licensingv1alpha1.LicenseType  `json:"type,omitempty"`
	ValidUntil *time.Time                     `json:"validUntil,omitempty"`
	GraceUntil *time.Time                     `json:"graceUntil,omitempty"`
	Features   []string                       `json:"features,omitempty"`
	Quotas     map[string]int64               `json:"quotas,omitempty"`
	Message    string                         `json:"message,omitempty"`
	// Usage of the license API's limits, as the controller last counted it.
	Seats          int32 `json:"seats,omitempty"`
	SeatsInUse     int32 `json:"seatsInUse,omitempty"`
	MaxActivations int32 `json:"maxActivations,omitempty"`
	Activations    int32 `json:"activations,omitempty"`
}

type summaryList struct {
	Items []licenseeSummary `json:"items"`
}

func summarizeLicensee(l *licensingv1alpha1.Licensee) licenseeSummary {
	s := licenseeSummary{
		Namespace:   l.Namespace,
		Name:        l.Name,
		Product:     l.Spec.ProductRef.Name,
		Licensed:    summarizeCondition(l.Status.Conditions, licensingv1alpha1.ConditionLicensed),
		Ready:       summarizeCondition(l.Status.Conditions, licensingv1alpha1.ConditionReady),
		Licenses:    []licenseSummary{},
		ExpiresAt:   timeOf(l.Status.ExpiresAt),
		Serial:      l.Status.Serial,
		KeyID:       l.Status.KeyID,
		IssuedAt:    timeOf(l.Status.IssuedAt),
		NextCheckAt: timeOf(l.Status.NextCheckAt),
		SecretName:  licenseSecretName(l),
		UpToDate:    l.Status.ObservedGeneration == l.Generation,
	}
	for _, ls := range l.Status.Licenses {
		s.Licenses = append(s.Licenses, licenseSummary{
			Name:       ls.Name,
			State:      ls.State,
			Template:   ls.Template,
			Type:       ls.Type,
			ValidUntil: timeOf(ls.ValidUntil),
			GraceUntil: timeOf(ls.GraceUntil),
			Features:   ls.Features,
			Quotas:     ls.Quotas,
			Message:    ls.Message,

			Seats:          ls.Seats,
			SeatsInUse:     ls.SeatsInUse,
			MaxActivations: ls.MaxActivations,
			Activations:    ls.Activations,
		})
	}
	return s
}

func summarizeCondition(conditions []metav1.Condition, conditionType string) *conditionSummary {
	c := meta.FindStatusCondition(conditions, conditionType)
	if c == nil {
		return nil
	}
	return &conditionSummary{Status: c.Status, Reason: c.Reason, Message: c.Message}
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

type tableOptions struct {
	wide       bool
	namespaces bool
}

// renderStatusTable writes rows as kubectl get does: tab-aligned columns, a
// NAMESPACE column with -A, more columns with -o wide.
func renderStatusTable(out io.Writer, rows []licenseeSummary, now time.Time, o tableOptions) error {
	tw := printers.GetNewTabWriter(out)
	header := []string{"LICENSEE", "PRODUCT", "LICENSED", "LICENSES", "EXPIRES", "SEATS", "ACTIVATIONS", "READY"}
	if o.namespaces {
		header = append([]string{"NAMESPACE"}, header...)
	}
	if o.wide {
		header = append(header, "SERIAL", "KEY ID", "ISSUED", "NEXT CHECK", "SECRET", "MESSAGE")
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		cells := []string{r.Name, r.Product, licensedCell(r.Licensed), licensesCell(r.Licenses), expiresCell(r, now),
			seatsCell(r.Licenses), activationsCell(r.Licenses), readyCell(r.Ready)}
		if o.namespaces {
			cells = append([]string{r.Namespace}, cells...)
		}
		if o.wide {
			cells = append(cells, orDash(r.Serial), orDash(r.KeyID), optionalRelative(r.IssuedAt, now),
				optionalRelative(r.NextCheckAt, now), r.SecretName, orDash(statusMessage(r)))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// licensedCell is "True (Valid)"; "-" until the controller has written the condition.
func licensedCell(c *conditionSummary) string {
	if c == nil {
		return "-"
	}
	if c.Reason == "" {
		return string(c.Status)
	}
	return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
}

// readyCell is "True", or "False (Reason)" so a broken object says why.
func readyCell(c *conditionSummary) string {
	if c == nil {
		return "-"
	}
	if c.Status == metav1.ConditionTrue || c.Reason == "" {
		return string(c.Status)
	}
	return fmt.Sprintf("%s (%s)", c.Status, c.Reason)
}

// licensesCell is "main=Valid, trial=Expired".
func licensesCell(ls []licenseSummary) string {
	if len(ls) == 0 {
		return "<none>"
	}
	parts := make([]string, 0, len(ls))
	for _, l := range ls {
		parts = append(parts, l.Name+"="+string(l.State))
	}
	return strings.Join(parts, ", ")
}

// seatsCell is "2/5": seat leases held over seats, summed over the licenses;
// "-" when no license has seats or holds any.
func seatsCell(ls []licenseSummary) string {
	return usageCell(ls, func(l licenseSummary) (int32, int32) { return l.SeatsInUse, l.Seats })
}

// activationsCell is "1/3": activations over maxActivations, like seatsCell.
func activationsCell(ls []licenseSummary) string {
	return usageCell(ls, func(l licenseSummary) (int32, int32) { return l.Activations, l.MaxActivations })
}

// usageCell sums "in use/limit" over ls. A limit lowered to 0 keeps what is in
// use (the license API does not take it back), so "1/0" is shown, not "-".
func usageCell(ls []licenseSummary, of func(licenseSummary) (inUse, limit int32)) string {
	var inUse, limit int64
	for _, l := range ls {
		u, m := of(l)
		inUse += int64(u)
		limit += int64(m)
	}
	if inUse == 0 && limit == 0 {
		return "-"
	}
	return fmt.Sprintf("%d/%d", inUse, limit)
}

// expiresCell is relative and absolute; a licensed licensee without an end
// date never expires, anything else without one has nothing to expire.
func expiresCell(r licenseeSummary, now time.Time) string {
	switch {
	case r.ExpiresAt != nil:
		return relativeAbsolute(*r.ExpiresAt, now)
	case r.Licensed != nil && r.Licensed.Status == metav1.ConditionTrue:
		return "never"
	default:
		return "-"
	}
}

func optionalRelative(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return relativeTime(*t, now)
}

// statusMessage is the message most worth reading: why it is not Ready, else
// why it is not Licensed.
func statusMessage(r licenseeSummary) string {
	if r.Ready != nil && r.Ready.Status != metav1.ConditionTrue && r.Ready.Message != "" {
		return r.Ready.Message
	}
	if r.Licensed != nil && r.Licensed.Status != metav1.ConditionTrue {
		return r.Licensed.Message
	}
	return ""
}

func writeYAML(out io.Writer, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	_, err = out.Write(data)
	return err
}
