package controllers

import (
	"sync"

	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// maxStatusWrites bounds the status writes remembered: an entry matters only
// for the few hundred milliseconds the cache takes to catch up with a write.
const maxStatusWrites = 4096

// statusWrites remembers, per object, the resourceVersion it had when the
// controller last patched its status, so that a reconcile started before the
// cache caught up with that patch is told apart. A status computed again from
// such a copy can equal the copy's old status and would then not be written,
// leaving the newer, now wrong, status in place (a patch without optimistic
// locking never conflicts). Safe for concurrent workers; the zero value is ready.
type statusWrites struct {
	once   sync.Once
	before *lru.Cache // client.ObjectKey -> resourceVersion before the patch; locks itself
}

func (w *statusWrites) cache() *lru.Cache {
	w.once.Do(func() { w.before = lru.New(maxStatusWrites) })
	return w.before
}

// patched records that obj's status was patched from the copy at resourceVersion before.
func (w *statusWrites) patched(obj client.Object, before string) {
	w.cache().Add(client.ObjectKeyFromObject(obj), before)
}

// stale reports whether obj, as read from the cache, predates the last status
// patch of it; once the cache shows another version the entry goes.
func (w *statusWrites) stale(obj client.Object) bool {
	key := client.ObjectKeyFromObject(obj)
	v, ok := w.cache().Get(key)
	if !ok {
		return false
	}
	if v.(string) == obj.GetResourceVersion() {
		return true
	}
	w.cache().Remove(key)
	return false
}
