package licenseapi

import (
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// recentLeases remembers the SeatLeases this replica wrote (created, renewed,
// taken over, deleted) until its cache has seen them. A seat released a moment
// after it was acquired, or renewed twice within the cache's lag, is then read
// as this replica last wrote it instead of as the cache still has it, which
// cost a conflict, a live read and a second write. Reads through it are
// hints like the cache's: every write still carries the resourceVersion (or
// uid and resourceVersion) it read, so a lease another replica changed
// meanwhile conflicts and is read live as before.
type recentLeases struct {
	mu sync.Mutex
	m  map[types.NamespacedName]recentLease
	// byLicense holds the entries of m again, by leaseLicenseKey and object
	// name: an acquire overlays one license's entries on its cached leases
	// without going through every entry of the replica under the lock.
	byLicense map[string]map[string]recentLease
	marks     uint64 // the last mark overlay gave its merge
	// cached, when set, reads the version of a lease in the informer's store
	// (ok false: not there). The store is updated before the informer's
	// handlers hear of a change, so an entry checked against it after it is
	// put cannot miss the event that ends it: a write whose event came before
	// the entry was put would otherwise linger until the lease next changed,
	// and every acquire would go through it (300 such entries at 64 workers).
	cached func(types.NamespacedName) (rv string, ok bool)
}

type recentLease struct {
	lease   *licensingv1alpha1.SeatLease // nil: deleted by this replica
	rv      string                       // written, or deleted at
	license string                       // leaseLicenseKey of the lease
	mark    uint64                       // of the last merge that found it cached (overlayLeases)
}

func newRecentLease(s *licensingv1alpha1.SeatLease, deleted bool) recentLease {
	e := recentLease{rv: s.ResourceVersion, license: leaseLicenseKey(s.Namespace, s.Spec.LicenseeRef.Name, s.Spec.License)}
	if !deleted {
		e.lease = s.DeepCopy()
	}
	return e
}

// maxRecentLeases bounds the map; entries leave it as the cache catches up,
// so only a cache that stopped would fill it (it then starts again empty).
const maxRecentLeases = 4096

func leaseKey(s *licensingv1alpha1.SeatLease) types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.Name}
}

func (r *recentLeases) put(key types.NamespacedName, e recentLease) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil || len(r.m) >= maxRecentLeases {
		r.m, r.byLicense = map[types.NamespacedName]recentLease{}, map[string]map[string]recentLease{}
	}
	r.removeLocked(key)
	r.m[key] = e
	sub := r.byLicense[e.license]
	if sub == nil {
		sub = map[string]recentLease{}
		r.byLicense[e.license] = sub
	}
	sub[key.Name] = e
}

// removeLocked removes the entry of key, with r.mu held.
func (r *recentLeases) removeLocked(key types.NamespacedName) {
	e, ok := r.m[key]
	if !ok {
		return
	}
	delete(r.m, key)
	if sub := r.byLicense[e.license]; sub != nil {
		delete(sub, key.Name)
		if len(sub) == 0 {
			delete(r.byLicense, e.license)
		}
	}
}

// wrote records s as created or updated by this replica.
func (r *recentLeases) wrote(s *licensingv1alpha1.SeatLease) { r.record(s, false) }

// deleted records s, at its resourceVersion, as deleted by this replica.
func (r *recentLeases) deleted(s *licensingv1alpha1.SeatLease) { r.record(s, true) }

// record puts the entry of s, unless the cache has already seen it (seenBy):
// a write it has at that version or later, or a deletion of a lease it no
// longer has (it saw the deletion, or, both events still on their way, it
// will see the creation and the deletion one after the other).
func (r *recentLeases) record(s *licensingv1alpha1.SeatLease, deleted bool) {
	if r == nil {
		return
	}
	key, e := leaseKey(s), newRecentLease(s, deleted)
	r.put(key, e)
	if r.cached == nil {
		return
	}
	if rv, ok := r.cached(key); e.seenBy(rv, ok) {
		r.drop(key, e.rv)
	}
}

// seenBy says whether a cache holding the lease at version rv (present
// false: not holding it) has seen this entry: a write at its version or
// later; a deletion once the lease left the cache, or came back newer.
func (e recentLease) seenBy(rv string, present bool) bool {
	if !present {
		return e.lease == nil
	}
	return caughtUp(rv, e.rv, e.lease != nil)
}

// drop removes the entry of key if it is still the one at version rv.
func (r *recentLeases) drop(key types.NamespacedName, rv string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e, ok := r.m[key]; ok && e.rv == rv {
		r.removeLocked(key)
	}
}

// get is what this replica last wrote of key, if the cache has not seen it yet.
func (r *recentLeases) get(key types.NamespacedName) (recentLease, bool) {
	if r == nil {
		return recentLease{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[key]
	return e, ok
}

// overlay is list, the cached leases of license lic of Licensee licensee in
// namespace, with this replica's writes of that license that the cache has not
// seen in place of what list has (overlayLeases). The merge runs under the
// lock, over the license's entries as they are: a copy of them cost more
// than the merge (their map keeps the size it once grew to).
func (r *recentLeases) overlay(namespace, licensee, lic string, list []*licensingv1alpha1.SeatLease) []*licensingv1alpha1.SeatLease {
	if r == nil {
		return list
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	sub := r.byLicense[leaseLicenseKey(namespace, licensee, lic)]
	if len(sub) == 0 {
		return list
	}
	r.marks++
	return overlayLeases(list, sub, r.marks)
}

// seen drops the entry of a lease the cache now has at our version or later.
// Versions that are not decimal integers (the API server's are, and are
// comparable) are treated as newer: the cache is then believed, as before.
func (r *recentLeases) seen(obj any) {
	s, ok := obj.(*licensingv1alpha1.SeatLease)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.m[leaseKey(s)]
	if !ok {
		return
	}
	if e.seenBy(s.ResourceVersion, true) {
		r.removeLocked(leaseKey(s))
	}
}

// caughtUp says whether a cache holding a lease at version theirs has seen
// what this replica wrote at version ours: a later version, or the same one
// for a write (a deletion is seen only when the lease leaves the cache).
// Versions that are not decimal integers (the API server's are, and are
// comparable) count as caught up: the cache is then believed, as before.
func caughtUp(theirs, ours string, wrote bool) bool {
	o, err1 := strconv.ParseUint(ours, 10, 64)
	t, err2 := strconv.ParseUint(theirs, 10, 64)
	return err1 != nil || err2 != nil || t > o || (t == o && wrote)
}

// gone drops the entry of a lease the cache saw deleted at the version of the
// entry or later. Slots are reused: the deletion of an earlier lease in the
// same slot, reaching the cache after this replica wrote the next one, says
// nothing of the next one (dropping its entry then cost a live read when the
// next one was released before the cache had it).
func (r *recentLeases) gone(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if s, ok := obj.(*licensingv1alpha1.SeatLease); ok {
		r.mu.Lock()
		defer r.mu.Unlock()
		if e, ok := r.m[leaseKey(s)]; ok && caughtUp(s.ResourceVersion, e.rv, true) {
			r.removeLocked(leaseKey(s))
		}
	}
}

// handler feeds r from the cache's SeatLease informer.
func (r *recentLeases) handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    r.seen,
		UpdateFunc: func(_, obj any) { r.seen(obj) },
		DeleteFunc: r.gone,
	}
}
