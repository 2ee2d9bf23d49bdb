package plugin

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/usage"
)

// seatRow is one row of the seats table, and one item of -o json|yaml.
type seatRow struct {
	slotRef `json:",inline"`
	Holder  string `json:"holder"`
	// Lease is the license API's id of the lease: <license>.<slot>.<lease id>.
	Lease      string    `json:"lease"`
	AcquiredAt time.Time `json:"acquiredAt"`
	RenewedAt  time.Time `json:"renewedAt"`
	TTLSeconds int32     `json:"ttlSeconds"`
	ExpiresAt  time.Time `json:"expiresAt"`
	// Held is false once the lease lapsed: the seat is free for the next holder,
	// though the object stays until the operator cleans it up.
	Held bool `json:"held"`
}

func seatRowOf(s *licensingv1alpha1.SeatLease, now time.Time) seatRow {
	return seatRow{
		slotRef: slotRef{
			Namespace: s.Namespace, Name: s.Name, Licensee: s.Spec.LicenseeRef.Name,
			License: s.Spec.License, Slot: s.Spec.Slot,
		},
		Holder: s.Spec.Holder, Lease: usage.LeaseID(s),
		AcquiredAt: s.Spec.AcquiredAt.UTC(), RenewedAt: s.Spec.RenewedAt.UTC(), TTLSeconds: s.Spec.TTLSeconds,
		ExpiresAt: usage.LeaseExpiry(s).UTC(), Held: usage.LeaseHeld(s, now),
	}
}

// seatExpiresCell is "in 90s" for a held lease, "lapsed 20s ago" for a lapsed one.
func seatExpiresCell(s *licensingv1alpha1.SeatLease, now time.Time) string {
	return leaseExpiresCell(usage.LeaseExpiry(s), usage.LeaseHeld(s, now), now)
}

// leaseExpiresCell rounds a held lease's time up, so that it never reads "now"
// or "0s" while it is still held, and a lapsed one's down.
func leaseExpiresCell(expiry time.Time, held bool, now time.Time) string {
	if held {
		d := expiry.Sub(now)
		if r := d.Truncate(time.Second); r != d {
			d = r + time.Second
		}
		return "in " + duration.HumanDuration(d)
	}
	d := now.Sub(expiry).Truncate(time.Second)
	if d == 0 {
		return "lapsed now"
	}
	return "lapsed " + duration.HumanDuration(d) + " ago"
}

var seatsTable = usageTable[seatRow]{
	what:     "seat leases",
	resource: "seatleases",
	columns:  []string{"LICENSE", "HOLDER", "LEASE", "EXPIRES", "SLOT"},
	list: func(ctx context.Context, c client.Client, now time.Time, opts ...client.ListOption) ([]seatRow, error) {
		var list licensingv1alpha1.SeatLeaseList
		if err := c.List(ctx, &list, opts...); err != nil {
			return nil, err
		}
		rows := make([]seatRow, 0, len(list.Items))
		for i := range list.Items {
			rows = append(rows, seatRowOf(&list.Items[i], now))
		}
		return rows, nil
	},
	cells: func(r seatRow, now time.Time) []string {
		return []string{r.License, printableCell(r.Holder), printableCell(r.Lease),
			leaseExpiresCell(r.ExpiresAt, r.Held, now), strconv.Itoa(int(r.Slot))}
	},
}

func (p *plugin) newSeatsCommand() *cobra.Command {
	var flags usageFlags
	cmd := &cobra.Command{
		Use:   "seats [LICENSEE]",
		Short: "List the floating seats leased through the license API",
		Long: `List the SeatLeases the license API holds: one per floating seat taken, with
its holder, the lease id the holder heartbeats with, when it lapses, and its slot.
A lapsed lease ("lapsed 20s ago") is free for the next holder at once; it stays
listed until the operator deletes it. Without a LICENSEE, every licensee's seat
leases in the namespace (or in every namespace with -A).`,
		Example: `  kubectl license seats globex -n licensing
  kubectl license seats globex -n licensing --license main -o json
  kubectl license seats -A`,
		RunE: seatsTable.runE(p, &flags),
	}
	flags.addFlags(cmd, "seat leases")
	return cmd
}

func (p *plugin) newReleaseCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "release LICENSEE LEASE",
		Short: "Free a floating seat, as DELETE /v1/seats/{id} does",
		Long: `Delete the SeatLease of LEASE, which frees its seat for the next holder.
LEASE is the lease id <license>.<slot>.<id> (the LEASE column of kubectl license
seats), or the SeatLease's name <licensee>.<license>.<slot>. The lease is deleted
only while it is still the one named (or, by object name, the one read): if
another holder took the seat meanwhile, nothing is released.`,
		Example: `  kubectl license release globex main.0.3f9a0c1b2d4e5f60718293a4 -n licensing
  kubectl license release globex globex.main.0 -n licensing`,
		Args: exactlyTwo("licensee and the lease", "kubectl license release globex main.0.3f9a0c1b2d4e5f60718293a4 -n licensing"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := parseLeaseArg(args[0], args[1])
			if err != nil {
				return err
			}
			c, err := p.connect()
			if err != nil {
				return err
			}
			r, err := c.release(cmd.Context(), args[0], ref)
			if err != nil {
				return err
			}
			s, out := r.lease, cmd.OutOrStdout()
			id := usage.LeaseID(s)
			held := fmt.Sprintf("holder %q, seat %d of license %s", s.Spec.Holder, s.Spec.Slot, s.Spec.License)
			if r.goneMeanwhile {
				fmt.Fprintf(out, "licensee %s/%s: seat lease %s (%s) was released meanwhile, by its holder or the operator\n", s.Namespace, args[0], id, held)
				return nil
			}
			now := p.opts.Now()
			lapsed := ""
			if !usage.LeaseHeld(s, now) {
				lapsed = "; it had " + seatExpiresCell(s, now)
			}
			fmt.Fprintf(out, "licensee %s/%s: seat lease %s released (%s)%s\n", s.Namespace, args[0], id, held, lapsed)
			return nil
		},
	}
	return cmd
}

// leaseRef is a release argument taken apart.
type leaseRef struct {
	license string
	slot    int32
	// id is the lease id to release; "" when the object was named, and the
	// lease in it when read is the one to release.
	id string
}

// leaseIDPartRE is the last part of a lease id. The license API issues 24 hex
// digits; anything that fits a path segment and the CRD's 64 is accepted, and
// compared whole with the object's.
var leaseIDPartRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// parseLeaseArg reads LEASE: the API's lease id <license>.<slot>.<id>, or the
// object name <licensee>.<license>.<slot>. The lease id is tried first; a
// license API id never reads as an object name, since its last part is no slot.
func parseLeaseArg(licensee, arg string) (leaseRef, error) {
	if parts := strings.Split(arg, "."); len(parts) == 3 && leaseIDPartRE.MatchString(parts[2]) {
		if slot, ok := parseSlot(parts[1]); ok && isLicenseName(parts[0]) {
			return leaseRef{license: parts[0], slot: slot, id: arg}, nil
		}
	}
	if rest, ok := strings.CutPrefix(arg, licensee+"."); ok {
		if lic, slotText, ok := strings.Cut(rest, "."); ok && isLicenseName(lic) {
			if slot, ok := parseSlot(slotText); ok {
				return leaseRef{license: lic, slot: slot}, nil
			}
		}
	}
	return leaseRef{}, usagef("%.140q is not a seat lease: give its lease id <license>.<slot>.<id> (the LEASE column of kubectl license seats) or the SeatLease's name <licensee>.<license>.<slot>", arg)
}

func isLicenseName(s string) bool { return len(validation.IsDNS1123Label(s)) == 0 }

// parseSlot accepts a slot number in canonical form only, so one slot has one
// spelling.
func parseSlot(s string) (int32, bool) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != s {
		return 0, false
	}
	return int32(n), true
}

// released is what release did.
type released struct {
	lease *licensingv1alpha1.SeatLease
	// goneMeanwhile: the lease was deleted by someone else between the read and
	// the delete.
	goneMeanwhile bool
}

// releaseAttempts bounds retries while the holder's heartbeats keep moving the
// resourceVersion.
const releaseAttempts = 5

// release deletes the seat lease ref of licensee, at the uid and
// resourceVersion read, so a seat that another holder took meanwhile stays
// theirs.
func (c *cluster) release(ctx context.Context, licensee string, ref leaseRef) (*released, error) {
	l, err := c.getLicensee(ctx, licensee)
	if err != nil {
		return nil, err
	}
	key := client.ObjectKey{Namespace: l.Namespace, Name: licensingv1alpha1.SlotName(l.Name, ref.license, ref.slot)}
	want := ref.id
	var last *licensingv1alpha1.SeatLease // as read before a conflict
	for attempt := 0; attempt < releaseAttempts; attempt++ {
		s := &licensingv1alpha1.SeatLease{}
		if err := c.client.Get(ctx, key, s); err != nil {
			if !apierrors.IsNotFound(err) {
				return nil, c.apiError(err, "seatlease", key.Namespace, key.Name, "")
			}
			if last != nil {
				return &released{lease: last, goneMeanwhile: true}, nil
			}
			named := cmp.Or(want, key.Name)
			return nil, fmt.Errorf("no seat lease %s for licensee %s in namespace %s: it was released, or it lapsed and was cleaned up; list the seat leases with: kubectl license seats %s -n %s",
				named, l.Name, l.Namespace, l.Name, l.Namespace)
		}
		if s.Spec.LicenseeRef.Name != l.Name || s.Spec.License != ref.license || s.Spec.Slot != ref.slot {
			return nil, fmt.Errorf("seatlease %s/%s says licensee %q, license %q, slot %d, which its name does not: it was not written by the license API; nothing released (delete it with kubectl delete seatlease %s -n %s if it should go)",
				key.Namespace, key.Name, s.Spec.LicenseeRef.Name, s.Spec.License, s.Spec.Slot, key.Name, key.Namespace)
		}
		current := usage.LeaseID(s)
		if want == "" {
			want = current // by object name: the lease read now is the one to release
		}
		if current != want {
			return nil, fmt.Errorf("seat lease %s is not held any more: seat %d of license %s was taken by holder %q (lease %s); nothing released. To free the seat from that holder: kubectl license release %s %s -n %s",
				want, ref.slot, ref.license, s.Spec.Holder, current, l.Name, current, l.Namespace)
		}
		rv := s.ResourceVersion
		err := c.client.Delete(ctx, s, client.Preconditions{UID: &s.UID, ResourceVersion: &rv})
		switch {
		case err == nil:
			return &released{lease: s}, nil
		case apierrors.IsNotFound(err):
			return &released{lease: s, goneMeanwhile: true}, nil
		case apierrors.IsConflict(err):
			// Renewed or taken over since the read: read again.
			last = s
		default:
			return nil, c.apiError(err, "seatlease", key.Namespace, key.Name, "")
		}
	}
	return nil, fmt.Errorf("seat lease %s kept changing while it was being released (%d attempts); run the command again", want, releaseAttempts)
}
