package usage

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Tally keeps, for every Licensee, what Summarize counts — activations, and
// seat leases with their expiry — fed by the informers' events, so that a
// count costs a walk over a few small values instead of listing and copying
// every lease of the Licensee from the cache on each request. Its counts are
// those of Summarize over the informers' objects (tested), as current as the
// cache. Safe for concurrent use.
type Tally struct {
	mu        sync.RWMutex
	licensees map[types.NamespacedName]*holdings
	// owner is the Licensee each object was counted for, to move or remove it.
	owner map[objectKey]types.NamespacedName
}

// objectKey tells Activations and SeatLeases apart: a slot's two objects can
// share a name.
type objectKey struct {
	lease bool
	name  types.NamespacedName
}

type holdings struct {
	activations map[string]string    // object name → license
	leases      map[string]leaseTerm // object name → license and expiry
}

type leaseTerm struct {
	license string
	expiry  time.Time
}

// Observe counts an Activation or SeatLease that was added or updated; other
// values are ignored.
func (t *Tally) Observe(obj any) {
	var key objectKey
	var licensee types.NamespacedName
	var term leaseTerm
	switch o := obj.(type) {
	case *licensingv1alpha1.Activation:
		key = objectKey{name: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}}
		licensee = types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.LicenseeRef.Name}
		term.license = o.Spec.License
	case *licensingv1alpha1.SeatLease:
		key = objectKey{lease: true, name: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}}
		licensee = types.NamespacedName{Namespace: o.Namespace, Name: o.Spec.LicenseeRef.Name}
		term = leaseTerm{license: o.Spec.License, expiry: LeaseExpiry(o)}
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.licensees == nil {
		t.licensees = map[types.NamespacedName]*holdings{}
		t.owner = map[objectKey]types.NamespacedName{}
	}
	if prev, ok := t.owner[key]; ok && prev != licensee {
		t.removeLocked(key)
	}
	h := t.licensees[licensee]
	if h == nil {
		h = &holdings{activations: map[string]string{}, leases: map[string]leaseTerm{}}
		t.licensees[licensee] = h
	}
	t.owner[key] = licensee
	if key.lease {
		h.leases[key.name.Name] = term
	} else {
		h.activations[key.name.Name] = term.license
	}
}

// Forget uncounts a deleted Activation or SeatLease, also when the informer
// hands over only its last known state.
func (t *Tally) Forget(obj any) {
	if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	var key objectKey
	switch o := obj.(type) {
	case *licensingv1alpha1.Activation:
		key = objectKey{name: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}}
	case *licensingv1alpha1.SeatLease:
		key = objectKey{lease: true, name: types.NamespacedName{Namespace: o.Namespace, Name: o.Name}}
	default:
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removeLocked(key)
}

func (t *Tally) removeLocked(key objectKey) {
	licensee, ok := t.owner[key]
	if !ok {
		return
	}
	delete(t.owner, key)
	h := t.licensees[licensee]
	if key.lease {
		delete(h.leases, key.name.Name)
	} else {
		delete(h.activations, key.name.Name)
	}
	if len(h.leases) == 0 && len(h.activations) == 0 {
		delete(t.licensees, licensee)
	}
}

// Counts are Summarize's ByLicense for the Licensee's objects at now.
func (t *Tally) Counts(licensee types.NamespacedName, now time.Time) map[string]Counts {
	var acc tallyAcc
	t.mu.RLock()
	if h := t.licensees[licensee]; h != nil {
		for _, lic := range h.activations {
			acc.of(lic).Activations++
		}
		for _, term := range h.leases {
			if now.Before(term.expiry) {
				acc.of(term.license).SeatsInUse++
			}
		}
	}
	t.mu.RUnlock()
	out := make(map[string]Counts, len(acc.names))
	for i, name := range acc.names {
		out[name] = acc.counts[i]
	}
	return out
}

// tallyAcc adds up counts by license name. A Licensee has a few licenses and
// up to thousands of leases: a compare with the license of the lease before
// (and a walk of a few names) per lease instead of a map update per lease.
type tallyAcc struct {
	names  []string
	counts []Counts
	last   int
}

func (a *tallyAcc) of(license string) *Counts {
	if a.last < len(a.names) && a.names[a.last] == license {
		return &a.counts[a.last]
	}
	for i, n := range a.names {
		if n == license {
			a.last = i
			return &a.counts[i]
		}
	}
	a.names, a.counts = append(a.names, license), append(a.counts, Counts{})
	a.last = len(a.names) - 1
	return &a.counts[a.last]
}

// Handler feeds t from an informer of Activations or SeatLeases.
func (t *Tally) Handler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    t.Observe,
		UpdateFunc: func(_, obj any) { t.Observe(obj) },
		DeleteFunc: t.Forget,
	}
}
