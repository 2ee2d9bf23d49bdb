package licenseapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/usage"
	"github.com/kubelicense/kubelicense/internal/webhook"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// The license API's own writes: seats are created, renewed (update), taken
// over (update) and released (delete); activations created and deleted. Reads
// come from the manager's cache and, where it may lag, the API server.
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=seatleases,verbs=get;list;watch;create;update;delete
// +kubebuilder:rbac:groups=licensing.kubelicense.io,resources=activations,verbs=get;list;watch;create;delete

// IndexLicensee indexes Activations and SeatLeases by the name of their Licensee.
const IndexLicensee = "spec.licenseeRef.name"

// store keeps activations and seat leases as objects in the API server, one
// numbered slot each (see api/v1alpha1 usage_types.go). The cache answers
// reads; a write is the arbiter: creating a slot that another replica just
// took fails with AlreadyExists, and taking over a lapsed lease is an update at
// the resourceVersion read, which fails with Conflict if anyone moved first. So
// counting is exact under any concurrency, with any number of replicas.
type store struct {
	cache client.Reader // the manager's informer cache
	live  client.Reader // the API server itself, where the cache may lag
	write client.Client
	// outbox records activations created and removed, for webhooks.
	outbox *webhook.Outbox
	clock  clock.PassiveClock
	// tally counts from the cache's events once synced (nil: not wired, as
	// with New alone): a count then costs no list of the licensee's leases.
	tally       *usage.Tally
	tallySynced func() bool
	// recent overlays the cache with this replica's own lease writes it has
	// not seen yet (nil: not wired, as with New alone).
	recent *recentLeases
	// leaseIndex is the SeatLease informer's indexer, with indexLeaseLicense
	// (nil: not wired, as with New alone; leases are then listed through the
	// cache, which waits for it to sync, as they are until tallySynced).
	leaseIndex toolscache.Indexer
	// claiming steers this replica's concurrent acquires to different slots.
	claiming slotClaims
}

// getLease reads lease key from r; from the cache, as this replica last wrote
// it while the cache has not caught up.
func (st *store) getLease(ctx context.Context, r client.Reader, key client.ObjectKey, out *licensingv1alpha1.SeatLease) error {
	if r == st.cache {
		if e, ok := st.recent.get(key); ok {
			if e.lease == nil {
				return apierrors.NewNotFound(licensingv1alpha1.GroupVersion.WithResource("seatleases").GroupResource(), key.Name)
			}
			e.lease.DeepCopyInto(out)
			return nil
		}
	}
	return r.Get(ctx, key, out)
}

// indexLeaseLicense indexes the cached SeatLeases by namespace, Licensee and
// license. acquire reads one license's leases through it, as pointers to the
// cache's objects: a list through the cache copied every lease of the
// Licensee into the list's items (about 700 bytes each), twice with the
// overlay, on every acquire (a quarter of the process's CPU per acquire and
// release at 150 held seats, docs/performance.md).
const indexLeaseLicense = "kubelicense.io/licensee-license"

// leaseLicenseKey is the index value of the leases of license lic of Licensee
// licensee. Namespaces and object names cannot contain "/", so the key names
// one license of one Licensee whatever lic is.
func leaseLicenseKey(namespace, licensee, lic string) string {
	return namespace + "/" + licensee + "/" + lic
}

func leaseLicenseIndex(obj any) ([]string, error) {
	s, ok := obj.(*licensingv1alpha1.SeatLease)
	if !ok {
		return nil, nil
	}
	return []string{leaseLicenseKey(s.Namespace, s.Spec.LicenseeRef.Name, s.Spec.License)}, nil
}

// cachedLeases are the leases of license lic of l in the cache, overlaid with
// this replica's own writes the cache has not seen yet. They are the cache's
// (or the overlay's) own objects, shared with every reader: read only.
func (st *store) cachedLeases(ctx context.Context, l *licensingv1alpha1.Licensee, lic string) ([]*licensingv1alpha1.SeatLease, error) {
	var list []*licensingv1alpha1.SeatLease
	if st.leaseIndex != nil && st.tallySynced() {
		objs, err := st.leaseIndex.ByIndex(indexLeaseLicense, leaseLicenseKey(l.Namespace, l.Name, lic))
		if err != nil {
			return nil, fmt.Errorf("list SeatLeases of %s license %s from the cache: %w", l.Name, lic, err)
		}
		list = make([]*licensingv1alpha1.SeatLease, 0, len(objs))
		for _, o := range objs {
			if s, ok := o.(*licensingv1alpha1.SeatLease); ok {
				list = append(list, s)
			}
		}
	} else {
		all, err := st.leases(ctx, st.cache, l)
		if err != nil {
			return nil, err
		}
		list = pointers(all)
	}
	if st.recent == nil {
		return list, nil
	}
	return st.recent.overlay(l.Namespace, l.Name, lic, list), nil
}

// pointers are pointers to the items of list.
func pointers[T any](list []T) []*T {
	out := make([]*T, len(list))
	for i := range list {
		out[i] = &list[i]
	}
	return out
}

// overlayLeases is list with the entries of overlay (by object name) in place
// of what list has: a newer copy, a lease gone, or one list does not have yet.
// It marks the entries it matched with list with mark, which must differ
// from every mark before: an entry not marked is one list does not have.
func overlayLeases(list []*licensingv1alpha1.SeatLease, overlay map[string]recentLease, mark uint64) []*licensingv1alpha1.SeatLease {
	if len(overlay) == 0 {
		return list
	}
	out := make([]*licensingv1alpha1.SeatLease, 0, len(list)+len(overlay))
	matched := 0
	for _, s := range list {
		e, ok := overlay[s.Name]
		switch {
		case !ok:
			out = append(out, s)
			continue
		case e.lease != nil:
			out = append(out, e.lease)
		}
		e.mark = mark
		overlay[s.Name] = e
		matched++
	}
	if matched == len(overlay) {
		return out
	}
	for _, e := range overlay {
		if e.lease != nil && e.mark != mark { // created here, not in the cache yet
			out = append(out, e.lease)
		}
	}
	return out
}

// counts are the held seat leases and the activations of every license of l.
func (st *store) counts(ctx context.Context, l *licensingv1alpha1.Licensee, now time.Time) (map[string]usage.Counts, error) {
	if st.tally != nil && st.tallySynced() {
		return st.tally.Counts(types.NamespacedName{Namespace: l.Namespace, Name: l.Name}, now), nil
	}
	acts, err := st.activations(ctx, st.cache, l)
	if err != nil {
		return nil, err
	}
	leases, err := st.leases(ctx, st.cache, l)
	if err != nil {
		return nil, err
	}
	return usage.Summarize(acts, leases, now).ByLicense, nil
}

func (st *store) activations(ctx context.Context, r client.Reader, l *licensingv1alpha1.Licensee) ([]licensingv1alpha1.Activation, error) {
	list := &licensingv1alpha1.ActivationList{}
	if err := st.list(ctx, r, l, list); err != nil {
		return nil, fmt.Errorf("list Activations of %s: %w", l.Name, err)
	}
	return list.Items, nil
}

func (st *store) leases(ctx context.Context, r client.Reader, l *licensingv1alpha1.Licensee) ([]licensingv1alpha1.SeatLease, error) {
	list := &licensingv1alpha1.SeatLeaseList{}
	if err := st.list(ctx, r, l, list); err != nil {
		return nil, fmt.Errorf("list SeatLeases of %s: %w", l.Name, err)
	}
	return list.Items, nil
}

// list reads what l holds: from the cache by index, without copies (nothing
// listed from the cache is changed without a DeepCopy), or live by label.
func (st *store) list(ctx context.Context, r client.Reader, l *licensingv1alpha1.Licensee, list client.ObjectList) error {
	opts := []client.ListOption{client.InNamespace(l.Namespace)}
	if r == st.cache {
		opts = append(opts, client.MatchingFields{IndexLicensee: l.Name}, client.UnsafeDisableDeepCopy)
	} else {
		opts = append(opts, client.MatchingLabels{licensingv1alpha1.LabelLicensee: l.Name})
	}
	return r.List(ctx, list, opts...)
}

// slotOrder is the order in which a caller tries the n slots: it starts at a
// slot chosen by key, so two callers with the same key (the same fingerprint or
// holder, asking twice at once) meet on the same slot, and callers with
// different keys mostly do not collide. It is a sequence, not a slice: a
// caller usually stops at the first slot, of a thousand.
func slotOrder(key string, n int32) iter.Seq[int32] {
	sum := sha256.Sum256([]byte(key))
	start := int32(binary.BigEndian.Uint32(sum[:4]) % uint32(n))
	return func(yield func(int32) bool) {
		for i := range n {
			if !yield((start + i) % n) {
				return
			}
		}
	}
}

// slotLease is the lease in slot object name of namespace as this replica
// knows it now: its own latest write the cache has not seen, else the
// cache's (nil: the slot is free). Without the informer's index it is the
// slot's lease in leases, as this acquire read them.
func (st *store) slotLease(namespace, name string, leases []*licensingv1alpha1.SeatLease) *licensingv1alpha1.SeatLease {
	if st.leaseIndex == nil || !st.tallySynced() {
		for _, s := range leases {
			if s.Name == name {
				return s
			}
		}
		return nil
	}
	key := types.NamespacedName{Namespace: namespace, Name: name}
	if e, ok := st.recent.get(key); ok {
		return e.lease
	}
	obj, ok, err := st.leaseIndex.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	s, _ := obj.(*licensingv1alpha1.SeatLease)
	return s
}

// labels and ownership of an object in a slot of license in l.
func slotMeta(l *licensingv1alpha1.Licensee, lic string, slot int32) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Namespace: l.Namespace,
		Name:      licensingv1alpha1.SlotName(l.Name, lic, slot),
		Labels: map[string]string{
			licensingv1alpha1.LabelManaged:  "true",
			licensingv1alpha1.LabelLicensee: l.Name,
			licensingv1alpha1.LabelLicense:  lic,
		},
		// Deleting the Licensee deletes what it holds (garbage collector).
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: licensingv1alpha1.GroupVersion.String(), Kind: "Licensee",
			Name: l.Name, UID: l.UID, Controller: ptr.To(false),
		}},
	}
}

// activate activates fingerprint for license lic (at most max activations) and
// says whether it was new. A fingerprint already active is returned as it is.
func (st *store) activate(ctx context.Context, l *licensingv1alpha1.Licensee, lic string, max int32, req *license.ActivateRequest, now time.Time) (*licensingv1alpha1.Activation, bool, error) {
	taken := map[string]bool{}
	// The cache may lag a deactivation: a full license is confirmed live.
	for _, r := range []client.Reader{st.cache, st.live} {
		list, err := st.activations(ctx, r, l)
		if err != nil {
			return nil, false, err
		}
		clear(taken)
		for i := range list {
			a := &list[i]
			if a.Spec.License != lic {
				continue
			}
			if a.Spec.Fingerprint == req.Fingerprint {
				return a.DeepCopy(), false, nil
			}
			taken[a.Name] = true
		}
		if int32(len(taken)) < max {
			break
		}
	}
	tooMany := newProblem(http.StatusConflict, license.CodeTooManyActivations,
		"every activation of license %s (%d) is in use; deactivate a machine (DELETE /v1/activations/{fingerprint}) first", lic, max)
	if int32(len(taken)) >= max {
		return nil, false, tooMany
	}
	for slot := range slotOrder(req.Fingerprint, max) {
		name := licensingv1alpha1.SlotName(l.Name, lic, slot)
		if taken[name] {
			continue
		}
		a := &licensingv1alpha1.Activation{
			ObjectMeta: slotMeta(l, lic, slot),
			Spec: licensingv1alpha1.ActivationSpec{
				LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: l.Name}, License: lic, Slot: slot,
				Fingerprint: req.Fingerprint, DisplayName: req.Name, Metadata: req.Metadata,
				ActivatedAt: metav1.NewTime(now.Truncate(time.Second)),
			},
		}
		err := st.write.Create(ctx, a)
		if err == nil {
			return a, true, st.outbox.Publish(ctx, webhook.ActivationCreated(l, a, now))
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, false, fmt.Errorf("create Activation %s: %w", name, err)
		}
		// Taken meanwhile, maybe by the same fingerprint asking twice at once.
		live := &licensingv1alpha1.Activation{}
		if err := st.live.Get(ctx, client.ObjectKeyFromObject(a), live); err == nil && live.Spec.Fingerprint == req.Fingerprint {
			return live, false, nil
		} else if err != nil && !apierrors.IsNotFound(err) {
			return nil, false, fmt.Errorf("get Activation %s: %w", name, err)
		}
	}
	return nil, false, tooMany
}

// deactivate removes the activation of fingerprint for license lic.
func (st *store) deactivate(ctx context.Context, l *licensingv1alpha1.Licensee, lic, fingerprint string) (*licensingv1alpha1.Activation, error) {
	for _, r := range []client.Reader{st.cache, st.live} {
		acts, err := st.activations(ctx, r, l)
		if err != nil {
			return nil, err
		}
		for i := range acts {
			a := &acts[i]
			if a.Spec.License != lic || a.Spec.Fingerprint != fingerprint {
				continue
			}
			err := st.write.Delete(ctx, a.DeepCopy(), client.Preconditions{UID: &a.UID})
			if err == nil {
				return a, st.outbox.Publish(ctx, webhook.ActivationRemoved(l, a, st.clock.Now()))
			}
			if !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return nil, fmt.Errorf("delete Activation %s: %w", a.Name, err)
			}
		}
	}
	return nil, newProblem(http.StatusNotFound, license.CodeNotFound, "fingerprint %q is not activated for license %s", clip(fingerprint), lic)
}

// newLeaseID is a fresh holding id: 96 random bits in hex.
func newLeaseID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// seatClaim is the outcome of acquire.
type seatClaim struct {
	lease   *licensingv1alpha1.SeatLease
	created bool
}

// acquire gives holder a seat of license lic (seats in all): its own live lease
// back, a free slot, or a lapsed one taken over. With every seat held it fails
// with NO_SEATS_AVAILABLE and the time until the first lease lapses.
func (st *store) acquire(ctx context.Context, l *licensingv1alpha1.Licensee, lic string, seats int32, holder string, ttl time.Duration, now time.Time) (*seatClaim, error) {
	var leases []*licensingv1alpha1.SeatLease // of license lic, as last read
	alive := int32(0)
	// The cache may lag a release: a full license is confirmed live.
	for _, r := range []client.Reader{st.cache, st.live} {
		var list []*licensingv1alpha1.SeatLease
		if r == st.cache {
			cached, err := st.cachedLeases(ctx, l, lic)
			if err != nil {
				return nil, err
			}
			list = cached
		} else {
			live, err := st.leases(ctx, r, l)
			if err != nil {
				return nil, err
			}
			list = pointers(live)
		}
		leases = make([]*licensingv1alpha1.SeatLease, 0, len(list))
		alive = 0
		for _, s := range list {
			if s.Spec.License != lic {
				continue
			}
			if usage.LeaseHeld(s, now) {
				if s.Spec.Holder == holder {
					claim, err := st.renewHolding(ctx, s, holder, ttl, now)
					if p, ok := errors.AsType[*problem](err); !ok || p.code != license.CodeSeatExpired {
						return claim, err
					}
					// Released (or taken) a moment ago and the cache lags:
					// the holder asks for a seat like anybody else.
					continue
				}
				alive++
			}
			leases = append(leases, s)
		}
		if alive < seats {
			break
		}
	}
	firstLapse := time.Time{}
	noteLapse := func(s *licensingv1alpha1.SeatLease) {
		if e := usage.LeaseExpiry(s); firstLapse.IsZero() || e.Before(firstLapse) {
			firstLapse = e
		}
	}
	if alive < seats {
		var skipped []int32
		for slot := range slotOrder(holder, seats) {
			name := licensingv1alpha1.SlotName(l.Name, lic, slot)
			if !st.claiming.claim(name, holder) {
				skipped = append(skipped, slot)
				continue
			}
			// Read after the claim: a slot another caller of this replica
			// wrote a moment ago is seen as written, not as first read.
			claim, err := st.trySlot(ctx, l, lic, slot, st.slotLease(l.Namespace, name, leases), holder, ttl, now, noteLapse)
			st.claiming.done(name)
			if claim != nil || err != nil {
				return claim, err
			}
		}
		// The slots another caller of this replica was taking: its write
		// may have failed, and the API server decides.
		for _, slot := range skipped {
			name := licensingv1alpha1.SlotName(l.Name, lic, slot)
			claim, err := st.trySlot(ctx, l, lic, slot, st.slotLease(l.Namespace, name, leases), holder, ttl, now, noteLapse)
			if claim != nil || err != nil {
				return claim, err
			}
		}
	} else {
		for _, s := range leases {
			noteLapse(s)
		}
	}
	p := newProblem(http.StatusConflict, license.CodeNoSeatsAvailable, "every seat of license %s (%d) is held; retry when one is released or lapses", lic, seats)
	// Retry when the first lease lapses, but no later than the heartbeat
	// interval the caller would have had: a seat released meanwhile is free at
	// once, and the waiter should not sleep through it.
	p.retryAfter = max(min(ttl/3, firstLapse.Sub(now)), time.Second)
	return nil, p
}

// slotClaims are the slots this replica is writing a lease into right now (a
// create, or the takeover of a lapsed lease), with the holder asking. Two of
// its acquires for different holders would otherwise often pick the same
// free slot: the second one's create failed with AlreadyExists and read the
// slot live (4% of acquires at 64 concurrent callers, docs/performance.md).
// It only steers this replica's callers apart: the API server still decides
// between replicas, and between the callers of one.
type slotClaims struct {
	mu sync.Mutex
	m  map[string]slotClaim // by object name
}

type slotClaim struct {
	holder string
	n      int // callers of the same holder (asking twice at once meet in one slot)
}

// claim marks slot name as being written for holder; false if it is being
// written for another holder.
func (c *slotClaims) claim(name, holder string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if ok && e.holder != holder {
		return false
	}
	if c.m == nil {
		c.m = map[string]slotClaim{}
	}
	c.m[name] = slotClaim{holder: holder, n: e.n + 1}
	return true
}

// done ends a claim of slot name.
func (c *slotClaims) done(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.m[name]; e.n > 1 {
		e.n--
		c.m[name] = e
	} else {
		delete(c.m, name)
	}
}

// trySlot takes slot for holder if it is free or lapsed; nil, nil means it is
// held by another. cached is the slot as the cache sees it (nil: empty).
func (st *store) trySlot(ctx context.Context, l *licensingv1alpha1.Licensee, lic string, slot int32, cached *licensingv1alpha1.SeatLease, holder string, ttl time.Duration, now time.Time, noteLapse func(*licensingv1alpha1.SeatLease)) (*seatClaim, error) {
	current := cached
	for attempt := 0; attempt < 4; attempt++ {
		if current == nil {
			s := newLease(l, lic, slot, holder, ttl, now)
			err := st.write.Create(ctx, s)
			if err == nil {
				st.recent.wrote(s)
				return &seatClaim{lease: s, created: true}, nil
			}
			if !apierrors.IsAlreadyExists(err) {
				return nil, fmt.Errorf("create SeatLease %s: %w", s.Name, err)
			}
		} else {
			switch {
			case usage.LeaseHeld(current, now) && current.Spec.Holder == holder:
				return st.renewHolding(ctx, current, holder, ttl, now)
			case usage.LeaseHeld(current, now):
				noteLapse(current)
				return nil, nil
			}
			// Lapsed: take it over, at the version read, so only one caller can.
			taken := current.DeepCopy()
			fresh := newLease(l, lic, slot, holder, ttl, now)
			taken.Spec = fresh.Spec
			err := st.write.Update(ctx, taken)
			if err == nil {
				st.recent.wrote(taken)
				return &seatClaim{lease: taken, created: true}, nil
			}
			if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
				return nil, fmt.Errorf("take over SeatLease %s: %w", current.Name, err)
			}
		}
		live := &licensingv1alpha1.SeatLease{}
		err := st.live.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: licensingv1alpha1.SlotName(l.Name, lic, slot)}, live)
		switch {
		case apierrors.IsNotFound(err):
			current = nil
		case err != nil:
			return nil, fmt.Errorf("get SeatLease: %w", err)
		default:
			current = live
		}
	}
	return nil, nil // contended: leave it to the next slot
}

func newLease(l *licensingv1alpha1.Licensee, lic string, slot int32, holder string, ttl time.Duration, now time.Time) *licensingv1alpha1.SeatLease {
	return &licensingv1alpha1.SeatLease{
		ObjectMeta: slotMeta(l, lic, slot),
		Spec: licensingv1alpha1.SeatLeaseSpec{
			LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: l.Name}, License: lic, Slot: slot,
			Holder: holder, LeaseID: newLeaseID(), TTLSeconds: int32(ttl / time.Second),
			AcquiredAt: metav1.NewMicroTime(now), RenewedAt: metav1.NewMicroTime(now),
		},
	}
}

// renewHolding renews the live lease s that holder already holds (the same
// holder asking again gets its lease back).
func (st *store) renewHolding(ctx context.Context, s *licensingv1alpha1.SeatLease, holder string, ttl time.Duration, now time.Time) (*seatClaim, error) {
	renewed, err := st.renew(ctx, s.Namespace, s.Name, s.Spec.LeaseID, ttl, now, int32(1<<30))
	if err != nil {
		return nil, err
	}
	return &seatClaim{lease: renewed}, nil
}

// renew is a heartbeat of lease leaseID in object name: it moves renewedAt to
// now (and the TTL, when ttl > 0). A lease whose slot another holder took, or
// that is gone, is SEAT_EXPIRED; so is a slot beyond the seats the license has now.
func (st *store) renew(ctx context.Context, namespace, name, leaseID string, ttl time.Duration, now time.Time, seats int32) (*licensingv1alpha1.SeatLease, error) {
	expired := func(why string) error {
		return newProblem(http.StatusGone, license.CodeSeatExpired, "the seat lease %s %s; acquire a seat again (POST /v1/seats)", clip(leaseID), why)
	}
	for _, r := range []client.Reader{st.cache, st.live, st.live, st.live} {
		current := &licensingv1alpha1.SeatLease{}
		if err := st.getLease(ctx, r, client.ObjectKey{Namespace: namespace, Name: name}, current); err != nil {
			if apierrors.IsNotFound(err) {
				if r == st.cache {
					continue // maybe created on another replica a moment ago
				}
				return nil, expired("was released or has lapsed and was cleaned up")
			}
			return nil, fmt.Errorf("get SeatLease %s: %w", name, err)
		}
		if current.Spec.LeaseID != leaseID {
			if r == st.cache {
				continue
			}
			return nil, expired("lapsed and another holder took the seat")
		}
		if current.Spec.Slot >= seats {
			return nil, expired(fmt.Sprintf("is in seat %d, but the license has %d seats now", current.Spec.Slot, seats))
		}
		renewed := current.DeepCopy()
		renewed.Spec.RenewedAt = metav1.NewMicroTime(now)
		if ttl > 0 {
			renewed.Spec.TTLSeconds = int32(ttl / time.Second)
		}
		err := st.write.Update(ctx, renewed)
		if err == nil {
			st.recent.wrote(renewed)
			return renewed, nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("renew SeatLease %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("renew SeatLease %s: kept conflicting with other writers", name)
}

// release deletes lease leaseID in object name, if it still holds it.
func (st *store) release(ctx context.Context, namespace, name, leaseID string) (*licensingv1alpha1.SeatLease, error) {
	for _, r := range []client.Reader{st.cache, st.live, st.live} {
		current := &licensingv1alpha1.SeatLease{}
		if err := st.getLease(ctx, r, client.ObjectKey{Namespace: namespace, Name: name}, current); err != nil {
			if apierrors.IsNotFound(err) {
				if r == st.cache {
					continue
				}
				return nil, newProblem(http.StatusNotFound, license.CodeNotFound, "no seat lease %s; it was released or has lapsed and was cleaned up", clip(leaseID))
			}
			return nil, fmt.Errorf("get SeatLease %s: %w", name, err)
		}
		if current.Spec.LeaseID != leaseID {
			if r == st.cache {
				continue
			}
			return nil, newProblem(http.StatusGone, license.CodeSeatExpired, "the seat lease %s lapsed and another holder took the seat; there is nothing to release", clip(leaseID))
		}
		rv := current.ResourceVersion
		err := st.write.Delete(ctx, current, client.Preconditions{UID: &current.UID, ResourceVersion: &rv})
		if err == nil || apierrors.IsNotFound(err) {
			st.recent.deleted(current)
			return current, nil
		}
		if !apierrors.IsConflict(err) {
			return nil, fmt.Errorf("release SeatLease %s: %w", name, err)
		}
	}
	return nil, fmt.Errorf("release SeatLease %s: kept conflicting with other writers", name)
}
