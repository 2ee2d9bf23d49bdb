package controllers

import (
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// maxStatusWrites bounds the status writes remembered: an entry matters only
// for the few hundred milliseconds the cache takes to catch up with a write.
const maxStatusWrites = 4096

// statusWriteWait is how long a status write is waited for in the cache at
// most; past it the cached copy is taken as it is (a watch that fell behind
// and relisted may never show that very version).
const statusWriteWait = 5 * time.Second

// statusWrites remembers, per object, the resourceVersions around the
// controller's last status patch of it, so that a reconcile started before the
// cache caught up with that patch is told apart. A status computed again from
// such a copy can equal the copy's old status and then not be written, or
// announce again what the patch recorded (a first issuance): a patch without
// optimistic locking never conflicts. Safe for concurrent workers; the zero
// value is ready.
type statusWrites struct {
	once    sync.Once
	entries *lru.Cache // client.ObjectKey -> statusWrite; locks itself
}

type statusWrite struct {
	before, after string // resourceVersions patched from and written
	at            time.Time
}

func (w *statusWrites) cache() *lru.Cache {
	w.once.Do(func() { w.entries = lru.New(maxStatusWrites) })
	return w.entries
}

// patched records that obj's status was patched from the copy at resourceVersion
// before; obj holds what the API server answered.
func (w *statusWrites) patched(obj client.Object, before string) {
	w.cache().Add(client.ObjectKeyFromObject(obj), statusWrite{before: before, after: obj.GetResourceVersion(), at: time.Now()})
}

// stale reports whether obj, as read from the cache, predates the last status
// patch of it; once the cache shows that patch or later, the entry goes.
func (w *statusWrites) stale(obj client.Object) bool {
	key := client.ObjectKeyFromObject(obj)
	v, ok := w.cache().Get(key)
	if !ok {
		return false
	}
	e, rv := v.(statusWrite), obj.GetResourceVersion()
	if rv != e.after && time.Since(e.at) < statusWriteWait && (rv == e.before || olderVersion(rv, e.after)) {
		return true
	}
	w.cache().Remove(key)
	return false
}

// olderVersion: resourceVersion a is older than b. They are opaque to clients
// in general, but etcd revisions (integers) in the API server; a version that
// is not one is never called older, so the check can only delay a reconcile
// (for at most statusWriteWait), never skip one.
func olderVersion(a, b string) bool {
	x, errA := strconv.ParseUint(a, 10, 64)
	y, errB := strconv.ParseUint(b, 10, 64)
	return errA == nil && errB == nil && x < y
}
