package plugin

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// activationRow is one row of the activations table, and one item of -o json|yaml.
type activationRow struct {
	slotRef     `json:",inline"`
	Fingerprint string            `json:"fingerprint"`
	DisplayName string            `json:"displayName,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	ActivatedAt time.Time         `json:"activatedAt"`
}

func activationRowOf(a *licensingv1alpha1.Activation) activationRow {
	return activationRow{
		slotRef: slotRef{
			Namespace: a.Namespace, Name: a.Name, Licensee: a.Spec.LicenseeRef.Name,
			License: a.Spec.License, Slot: a.Spec.Slot,
		},
		Fingerprint: a.Spec.Fingerprint, DisplayName: a.Spec.DisplayName, Metadata: a.Spec.Metadata,
		ActivatedAt: a.Spec.ActivatedAt.UTC(),
	}
}

var activationsTable = usageTable[activationRow]{
	what:     "activations",
	resource: "activations",
	columns:  []string{"LICENSE", "FINGERPRINT", "MACHINE", "ACTIVATED", "SLOT"},
	list: func(ctx context.Context, c client.Client, _ time.Time, opts ...client.ListOption) ([]activationRow, error) {
		var list licensingv1alpha1.ActivationList
		if err := c.List(ctx, &list, opts...); err != nil {
			return nil, err
		}
		rows := make([]activationRow, 0, len(list.Items))
		for i := range list.Items {
			rows = append(rows, activationRowOf(&list.Items[i]))
		}
		return rows, nil
	},
	cells: func(r activationRow, now time.Time) []string {
		return []string{r.License, printableCell(r.Fingerprint), printableCell(r.DisplayName),
			relativeTime(r.ActivatedAt, now), strconv.Itoa(int(r.Slot))}
	},
}

func (p *plugin) newActivationsCommand() *cobra.Command {
	var flags usageFlags
	cmd := &cobra.Command{
		Use:   "activations [LICENSEE]",
		Short: "List the machine fingerprints activated through the license API",
		Long: `List the Activations the license API holds: one per machine fingerprint
activated for a license (node-locking, maxActivations), with the machine's name,
when it was activated and the slot it takes. Without a LICENSEE, every licensee's
activations in the namespace (or in every namespace with -A).`,
		Example: `  kubectl license activations globex -n licensing
  kubectl license activations globex -n licensing --license main -o json
  kubectl license activations -A`,
		RunE: activationsTable.runE(p, &flags),
	}
	flags.addFlags(cmd, "activations")
	return cmd
}

func (p *plugin) newDeactivateCommand() *cobra.Command {
	var license string
	cmd := &cobra.Command{
		Use:   "deactivate LICENSEE FINGERPRINT",
		Short: "Free a machine's activation, as DELETE /v1/activations/{fingerprint} does",
		Long: `Delete the Activation of FINGERPRINT for the licensee, which frees its slot for
another machine. When the fingerprint is activated for several of the licensee's
licenses, name the one with --license.`,
		Example: `  kubectl license deactivate globex 9f2c4e0a -n licensing
  kubectl license deactivate globex 9f2c4e0a --license main -n licensing`,
		Args: exactlyTwo("licensee and the fingerprint", "kubectl license deactivate globex 9f2c4e0a -n licensing"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkLicenseFlag(license); err != nil {
				return err
			}
			c, err := p.connect()
			if err != nil {
				return err
			}
			deleted, err := c.deactivate(cmd.Context(), args[0], args[1], license)
			for _, a := range deleted {
				machine := ""
				if a.Spec.DisplayName != "" {
					machine = ", machine " + printableCell(a.Spec.DisplayName)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "licensee %s/%s: fingerprint %q deactivated for license %s (activation %s%s)\n",
					a.Namespace, a.Spec.LicenseeRef.Name, a.Spec.Fingerprint, a.Spec.License, a.Name, machine)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&license, "license", "", "the license to deactivate the fingerprint for (needed when it is activated for several)")
	return cmd
}

// deactivate deletes the activations of fingerprint for licensee (of license
// lic, or of the only license that has it) and returns them.
func (c *cluster) deactivate(ctx context.Context, licensee, fingerprint, lic string) ([]licensingv1alpha1.Activation, error) {
	l, err := c.getLicensee(ctx, licensee)
	if err != nil {
		return nil, err
	}
	q := usageQuery{namespace: l.Namespace, licensee: l, license: lic}
	var list licensingv1alpha1.ActivationList
	if err := c.client.List(ctx, &list, q.listOptions()...); err != nil {
		return nil, listError(err, "activations", l.Namespace)
	}
	var matches []licensingv1alpha1.Activation
	var licenses []string
	for _, a := range list.Items {
		if a.Spec.Fingerprint == fingerprint {
			matches = append(matches, a)
			if !slices.Contains(licenses, a.Spec.License) {
				licenses = append(licenses, a.Spec.License)
			}
		}
	}
	notActivated := func(why string) error {
		of := ""
		if lic != "" {
			of = " license " + lic + " of"
		}
		return fmt.Errorf("fingerprint %q is not activated for%s licensee %s in namespace %s%s; list the activations with: kubectl license activations %s -n %s",
			fingerprint, of, l.Name, l.Namespace, why, l.Name, l.Namespace)
	}
	if len(matches) == 0 {
		return nil, notActivated("")
	}
	if len(licenses) > 1 {
		slices.Sort(licenses)
		return nil, usagef("fingerprint %q is activated for %d licenses of licensee %s: %s; name the one to deactivate with --license",
			fingerprint, len(licenses), l.Name, strings.Join(licenses, ", "))
	}
	var deleted []licensingv1alpha1.Activation
	for i := range matches {
		a := &matches[i]
		// At the uid read: if the slot was freed and taken by another machine
		// meanwhile, that machine's activation stays.
		err := c.client.Delete(ctx, a, client.Preconditions{UID: &a.UID})
		switch {
		case err == nil:
			deleted = append(deleted, *a)
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Deactivated by someone else meanwhile.
		default:
			return deleted, c.apiError(err, "activation", a.Namespace, a.Name, "")
		}
	}
	if len(deleted) == 0 {
		return nil, notActivated(" (it was deactivated while this command ran)")
	}
	return deleted, nil
}
