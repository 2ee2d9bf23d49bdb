package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// defaultWaitTimeout bounds --wait: long enough for a busy controller, short
// enough that a missing one is noticed.
const defaultWaitTimeout = 2 * time.Minute

// waitFlags are renew's and rotate-key's --wait and --timeout.
type waitFlags struct {
	wait    bool
	timeout time.Duration
}

func (f *waitFlags) addFlags(cmd *cobra.Command, acknowledgedIn string) {
	cmd.Flags().BoolVar(&f.wait, "wait", true, "wait until the controller acknowledges the request in "+acknowledgedIn)
	cmd.Flags().DurationVar(&f.timeout, "timeout", defaultWaitTimeout, "how long --wait waits")
}

func (f *waitFlags) validate() error {
	if f.wait && f.timeout <= 0 {
		return usagef("--timeout must be positive, got %s", f.timeout)
	}
	return nil
}

// annotationRequest is an annotation the controller acts on once per value and
// acknowledges by copying the value into a status field, like Flux's
// reconcile.fluxcd.io/requestedAt.
type annotationRequest[T client.Object] struct {
	kind        string // "licensee", "product"
	what        string // "renewal", "key rotation"
	annotation  string
	statusField string
	// get reads the object the request is for.
	get func(ctx context.Context, c *cluster, name string) (T, error)
	// handled is the value in statusField.
	handled func(T) string
	// watchHint tells the user how to follow the request without --wait.
	watchHint func(T) string
	// report prints what the controller did, from the object before the request
	// and after its acknowledgement.
	report func(cmd *cobra.Command, before, after T, now time.Time)
}

// runE is the command: send the request and, with --wait, wait for it.
func (r annotationRequest[T]) runE(p *plugin, flags *waitFlags) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := flags.validate(); err != nil {
			return err
		}
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		c, err := p.connect()
		if err != nil {
			return err
		}
		obj, err := r.get(ctx, c, args[0])
		if err != nil {
			return err
		}
		before := obj.DeepCopyObject().(T)
		value := requestValue(p.opts.Now())
		if err := r.send(ctx, c, obj, value); err != nil {
			return err
		}
		fmt.Fprintf(out, "%s %s/%s: %s requested (%s=%s)\n", r.kind, obj.GetNamespace(), obj.GetName(), r.what, r.annotation, value)
		if !flags.wait {
			fmt.Fprintf(out, "not waiting; the controller acknowledges it in %s (%s)\n", r.statusField, r.watchHint(obj))
			return nil
		}
		if err := r.await(ctx, c, obj, value, flags.timeout, p.opts.PollInterval); err != nil {
			return err
		}
		r.report(cmd, before, obj, p.opts.Now())
		return nil
	}
}

// requestValue is the annotation value for a request made at now. Two requests
// within the same second are one request: the second finds it already handled.
func requestValue(now time.Time) string {
	return now.UTC().Format(time.RFC3339)
}

// send sets the annotation with a merge patch, which touches nothing else and
// needs no resourceVersion, so it cannot conflict with the controller's writes.
func (r annotationRequest[T]) send(ctx context.Context, c *cluster, obj T, value string) error {
	patch, err := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{r.annotation: value}},
	})
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	if err := c.client.Patch(ctx, obj, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return c.apiError(err, r.kind, obj.GetNamespace(), obj.GetName(), "")
	}
	return nil
}

// await re-reads obj until the controller has handled value, the timeout passes
// or ctx ends. Transient read errors are retried; the last one is reported.
func (r annotationRequest[T]) await(ctx context.Context, c *cluster, obj T, value string, timeout, interval time.Duration) error {
	key := client.ObjectKeyFromObject(obj)
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		if err := c.client.Get(ctx, key, obj); err != nil {
			if apierrors.IsNotFound(err) {
				return false, fmt.Errorf("%s %s was deleted while waiting for the controller", r.kind, key)
			}
			lastErr = err
			return false, nil
		}
		lastErr = nil
		return r.handled(obj) == value, nil
	})
	if err == nil {
		return nil
	}
	if !wait.Interrupted(err) {
		return err
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted while waiting for the controller to handle %s=%s on %s %s; the request stays in place", r.annotation, value, r.kind, key)
	}
	msg := fmt.Sprintf("timed out after %s waiting for the controller to handle %s=%s on %s %s (%s is %q); the request stays in place and is handled when the kubelicense manager runs: check that it is running and read its logs, or raise --timeout",
		timeout, r.annotation, value, r.kind, key, r.statusField, r.handled(obj))
	if lastErr != nil {
		msg += fmt.Sprintf("; last read failed: %v", lastErr)
	}
	return fmt.Errorf("%s", msg)
}

func (p *plugin) newRenewCommand() *cobra.Command {
	var flags waitFlags
	req := annotationRequest[*licensingv1alpha1.Licensee]{
		kind:        "licensee",
		what:        "renewal",
		annotation:  licensingv1alpha1.AnnotationRenew,
		statusField: "status.lastHandledRenewAt",
		get: func(ctx context.Context, c *cluster, name string) (*licensingv1alpha1.Licensee, error) {
			return c.getLicensee(ctx, name)
		},
		handled: func(l *licensingv1alpha1.Licensee) string { return l.Status.LastHandledRenewAt },
		watchHint: func(l *licensingv1alpha1.Licensee) string {
			return fmt.Sprintf("kubectl license status %s -n %s", l.Name, l.Namespace)
		},
		report: func(cmd *cobra.Command, before, after *licensingv1alpha1.Licensee, now time.Time) {
			fmt.Fprintf(cmd.OutOrStdout(), "licensee %s/%s: renewed; %s\n", after.Namespace, after.Name, renewalOutcome(before.Status.Serial, after, now))
			warnNotTrue(cmd.ErrOrStderr(), after.Status.Conditions, licensingv1alpha1.ConditionReady)
		},
	}
	cmd := &cobra.Command{
		Use:   "renew LICENSEE",
		Short: "Ask the controller to re-issue a licensee's token now",
		Long: `Set the annotation ` + licensingv1alpha1.AnnotationRenew + `=<now, RFC 3339> on the
Licensee. The controller re-issues its token and records the value in
status.lastHandledRenewAt; with --wait (the default) the command waits for that.`,
		Example: `  kubectl license renew globex -n licensing
  kubectl license renew globex -n licensing --wait=false`,
		Args: exactlyOne("licensee", "kubectl license renew globex -n licensing"),
		RunE: req.runE(p, &flags),
	}
	flags.addFlags(cmd, req.statusField)
	return cmd
}

// renewalOutcome says what the renewal changed.
func renewalOutcome(serialBefore string, l *licensingv1alpha1.Licensee, now time.Time) string {
	s := "serial " + orDash(l.Status.Serial) + " (unchanged)"
	if l.Status.Serial != serialBefore {
		s = fmt.Sprintf("serial %s -> %s", orDash(serialBefore), orDash(l.Status.Serial))
	}
	summary := summarizeLicensee(l)
	s += ", licensed " + licensedCell(summary.Licensed) + ", expires " + expiresCell(summary, now)
	return s
}

func (p *plugin) newRotateKeyCommand() *cobra.Command {
	var flags waitFlags
	req := annotationRequest[*licensingv1alpha1.Product]{
		kind:        "product",
		what:        "key rotation",
		annotation:  licensingv1alpha1.AnnotationRotateKey,
		statusField: "status.lastHandledRotateKey",
		get: func(ctx context.Context, c *cluster, name string) (*licensingv1alpha1.Product, error) {
			return c.getProduct(ctx, name)
		},
		handled: func(p *licensingv1alpha1.Product) string { return p.Status.LastHandledRotateKey },
		watchHint: func(p *licensingv1alpha1.Product) string {
			return fmt.Sprintf("kubectl get product %s -n %s -o yaml", p.Name, p.Namespace)
		},
		report: func(cmd *cobra.Command, before, after *licensingv1alpha1.Product, _ time.Time) {
			out := cmd.OutOrStdout()
			if old, cur := before.Status.SigningKeyID, after.Status.SigningKeyID; old == cur {
				fmt.Fprintf(out, "product %s/%s: rotation handled, but the signing key is still %s\n", after.Namespace, after.Name, orDash(cur))
			} else {
				fmt.Fprintf(out, "product %s/%s: signing key %s -> %s\n", after.Namespace, after.Name, orDash(old), cur)
			}
			warnNotTrue(cmd.ErrOrStderr(), after.Status.Conditions, licensingv1alpha1.ConditionKeyAvailable)
			warnNotTrue(cmd.ErrOrStderr(), after.Status.Conditions, licensingv1alpha1.ConditionReady)
		},
	}
	cmd := &cobra.Command{
		Use:   "rotate-key PRODUCT",
		Short: "Ask the controller to rotate a product's signing key",
		Long: `Set the annotation ` + licensingv1alpha1.AnnotationRotateKey + `=<now, RFC 3339> on the
Product. The controller generates a new signing key, keeps the old public key in
the JWKS until the tokens it signed have lapsed, and records the value in
status.lastHandledRotateKey; with --wait (the default) the command waits for that.
This is also how issuing resumes after a signing key went missing.`,
		Example: `  kubectl license rotate-key acme-db -n licensing`,
		Args:    exactlyOne("product", "kubectl license rotate-key acme-db -n licensing"),
		RunE:    req.runE(p, &flags),
	}
	flags.addFlags(cmd, req.statusField)
	return cmd
}

// warnNotTrue tells the user when a condition the request should have fixed is
// still not True, with the controller's own reason and message.
func warnNotTrue(out io.Writer, conditions []metav1.Condition, conditionType string) {
	c := meta.FindStatusCondition(conditions, conditionType)
	if c == nil || c.Status == metav1.ConditionTrue {
		return
	}
	fmt.Fprintf(out, "warning: %s=%s (%s): %s\n", c.Type, c.Status, c.Reason, c.Message)
}
