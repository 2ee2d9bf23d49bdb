package licenseapi

import (
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

func seatLease(name, rv, holder string) *licensingv1alpha1.SeatLease {
	return &licensingv1alpha1.SeatLease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "vendor", Name: name, ResourceVersion: rv},
		Spec:       licensingv1alpha1.SeatLeaseSpec{LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: "shop"}, Holder: holder},
	}
}

// An entry lasts until the cache has the lease at the version written (or
// later), or saw it deleted; a version that is not a number ends it at once.
func TestRecentLeasesLastUntilTheCacheCatchesUp(t *testing.T) {
	key := types.NamespacedName{Namespace: "vendor", Name: "shop-main-0"}
	var r recentLeases
	r.wrote(seatLease(key.Name, "20", "pod-a"))
	for _, cached := range []string{"10", "19"} {
		r.seen(seatLease(key.Name, cached, "pod-a"))
		if e, ok := r.get(key); !ok || e.lease.Spec.Holder != "pod-a" {
			t.Fatalf("written at 20, cache at %s: entry %+v, %t; want kept", cached, e, ok)
		}
	}
	r.seen(seatLease(key.Name, "20", "pod-a"))
	if _, ok := r.get(key); ok {
		t.Fatal("cache at the version written: entry kept")
	}

	// The slot is reused: the deletion of an earlier lease in it (at 15)
	// reaching the cache does not end the entry of the lease written at 25.
	r.wrote(seatLease(key.Name, "25", "pod-z"))
	r.gone(seatLease(key.Name, "15", "pod-y"))
	if e, ok := r.get(key); !ok || e.rv != "25" {
		t.Fatalf("written at 25, the cache saw an earlier lease of the slot deleted at 15: entry %+v, %t; want kept", e, ok)
	}

	r.deleted(seatLease(key.Name, "30", "pod-a"))
	r.seen(seatLease(key.Name, "30", "pod-a")) // the cache still has it as deleted
	if e, ok := r.get(key); !ok || e.lease != nil {
		t.Fatalf("deleted at 30, cache at 30: entry %+v, %t; want a deletion kept", e, ok)
	}
	r.gone(toolscache.DeletedFinalStateUnknown{Obj: seatLease(key.Name, "30", "pod-a")})
	if _, ok := r.get(key); ok {
		t.Fatal("cache saw the delete: entry kept")
	}

	r.deleted(seatLease(key.Name, "40", "pod-a"))
	r.seen(seatLease(key.Name, "41", "pod-b")) // created again by another replica
	if _, ok := r.get(key); ok {
		t.Fatal("re-created elsewhere after our delete: entry kept")
	}

	r.wrote(seatLease(key.Name, "50", "pod-a"))
	r.seen(seatLease(key.Name, "not-a-number", "pod-a"))
	if _, ok := r.get(key); ok {
		t.Fatal("a version that is not a number: entry kept")
	}

	for i := range maxRecentLeases + 1 {
		r.wrote(seatLease(string(rune('a'+i%26))+key.Name+string(rune(i)), "1", "x"))
	}
	if n := len(r.m); n > maxRecentLeases {
		t.Fatalf("%d entries, bound %d", n, maxRecentLeases)
	}
}

func TestOverlayLeases(t *testing.T) {
	list := []*licensingv1alpha1.SeatLease{seatLease("s0", "10", "pod-a"), seatLease("s1", "11", "pod-b"), seatLease("s2", "12", "pod-c")}
	overlay := map[string]recentLease{
		"s0": {lease: seatLease("s0", "20", "pod-a2"), rv: "20"}, // renewed or taken over here
		"s1": {rv: "21"},                                         // released here
		"s3": {lease: seatLease("s3", "22", "pod-d"), rv: "22"},  // acquired here
		"s4": {rv: "23"},                                         // acquired and released here, never cached
	}
	got := overlayLeases(list, overlay, 1)
	var holders []string
	for _, s := range got {
		holders = append(holders, s.Name+"="+s.Spec.Holder)
	}
	slices.Sort(holders)
	if want := []string{"s0=pod-a2", "s2=pod-c", "s3=pod-d"}; !slices.Equal(holders, want) {
		t.Fatalf("overlaid %v, want %v", holders, want)
	}
	if len(overlay) != 4 {
		t.Fatal("the overlay lost entries")
	}
	// A second merge (the next mark) over the same entries gives the same.
	if again := overlayLeases(list, overlay, 2); len(again) != len(got) {
		t.Fatalf("the second merge gave %d leases, the first %d", len(again), len(got))
	}
	if len(overlayLeases(list, nil, 3)) != 3 {
		t.Fatal("no overlay changed the list")
	}
	// Every entry on a cached lease: nothing to add.
	got = overlayLeases(list, map[string]recentLease{"s1": {rv: "21"}}, 4)
	if len(got) != 2 {
		t.Fatalf("overlaid %d leases, want 2", len(got))
	}
}

// acquire reads one license's leases through the informer's index: only that
// license of that Licensee, as the cache's own objects, with this replica's
// unseen writes laid over them.
func TestCachedLeasesByLicenseIndex(t *testing.T) {
	lease := func(namespace, licensee, lic, name, holder string) *licensingv1alpha1.SeatLease {
		return &licensingv1alpha1.SeatLease{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, ResourceVersion: "10"},
			Spec:       licensingv1alpha1.SeatLeaseSpec{LicenseeRef: licensingv1alpha1.LocalObjectReference{Name: licensee}, License: lic, Holder: holder},
		}
	}
	indexer := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{indexLeaseLicense: leaseLicenseIndex})
	mine := lease("vendor", "shop", "main", "shop-main-0", "pod-a")
	for _, s := range []*licensingv1alpha1.SeatLease{
		mine,
		lease("vendor", "shop", "main", "shop-main-1", "pod-b"),
		lease("vendor", "shop", "extra", "shop-extra-0", "pod-c"),   // another license
		lease("vendor", "shop-main", "0", "shop-main-0-0", "pod-d"), // another Licensee
		lease("other", "shop", "main", "shop-main-0", "pod-e"),      // another namespace
	} {
		if err := indexer.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	recent := &recentLeases{}
	recent.deleted(lease("vendor", "shop", "main", "shop-main-1", "pod-b"))
	recent.wrote(lease("vendor", "shop", "main", "shop-main-2", "pod-f"))
	st := &store{leaseIndex: indexer, tallySynced: func() bool { return true }, recent: recent}

	got, err := st.cachedLeases(t.Context(), &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "vendor", Name: "shop"}}, "main")
	if err != nil {
		t.Fatal(err)
	}
	var holders []string
	for _, s := range got {
		holders = append(holders, s.Name+"="+s.Spec.Holder)
		if s.Name == mine.Name && s != mine {
			t.Error("the cached lease was copied; acquire reads the cache's own object")
		}
	}
	slices.Sort(holders)
	if want := []string{"shop-main-0=pod-a", "shop-main-2=pod-f"}; !slices.Equal(holders, want) {
		t.Fatalf("leases of vendor/shop license main: %v, want %v", holders, want)
	}
}

// With the informer's store to check against, an entry whose event the cache
// had already applied when the entry was put does not linger: not for a write
// the cache has at its version, nor for a deletion of a lease the cache no
// longer has. Entries the cache has not caught up with stay until it does.
func TestRecentLeasesCheckTheStoreWhenPut(t *testing.T) {
	store := map[types.NamespacedName]string{}
	r := &recentLeases{cached: func(k types.NamespacedName) (string, bool) { rv, ok := store[k]; return rv, ok }}
	a := types.NamespacedName{Namespace: "vendor", Name: "a"}
	b := types.NamespacedName{Namespace: "vendor", Name: "b"}

	store[a] = "20" // the event of the create came first
	r.wrote(seatLease("a", "20", "pod-a"))
	if _, ok := r.get(a); ok {
		t.Error("a write the cache already has was kept")
	}
	store[b] = "10" // the cache still has the version before ours
	r.wrote(seatLease("b", "21", "pod-b"))
	if e, ok := r.get(b); !ok || e.lease.Spec.Holder != "pod-b" {
		t.Fatal("a write the cache has not seen was not kept")
	}

	r.deleted(seatLease("b", "21", "pod-b")) // the cache still has b
	if e, ok := r.get(b); !ok || e.lease != nil {
		t.Fatal("a deletion the cache has not seen was not kept")
	}
	delete(store, a) // the cache saw a deleted before the deletion was put
	r.deleted(seatLease("a", "20", "pod-a"))
	if _, ok := r.get(a); ok {
		t.Error("a deletion of a lease the cache no longer has was kept")
	}

	// drop removes an entry only at the version checked: a newer write stays.
	r.wrote(seatLease("b", "30", "pod-c"))
	r.drop(b, "21")
	if e, ok := r.get(b); !ok || e.rv != "30" {
		t.Error("drop removed a newer entry")
	}
}

// A slot being written for one holder is refused to another until the write
// ends; the same holder asking twice at once gets it both times.
func TestSlotClaims(t *testing.T) {
	var c slotClaims
	if !c.claim("shop-main-3", "pod-a") {
		t.Fatal("a free slot was refused")
	}
	if c.claim("shop-main-3", "pod-b") {
		t.Fatal("a slot being written for pod-a was given to pod-b")
	}
	if !c.claim("shop-main-3", "pod-a") {
		t.Fatal("pod-a asking twice at once was refused its own slot")
	}
	c.done("shop-main-3")
	if c.claim("shop-main-3", "pod-b") {
		t.Fatal("pod-b got the slot while pod-a's second write was still on")
	}
	c.done("shop-main-3")
	if !c.claim("shop-main-3", "pod-b") {
		t.Fatal("the slot stayed claimed after both writes ended")
	}
	c.done("shop-main-3")
	if len(c.m) != 0 {
		t.Fatalf("claims left: %v", c.m)
	}
}

// overlay lays one license's entries over its cached leases, and entries
// leave the per-license index with the entry itself.
func TestRecentLeasesOverlayOneLicense(t *testing.T) {
	lease := func(name, lic, rv string) *licensingv1alpha1.SeatLease {
		s := seatLease(name, rv, "pod-"+name)
		s.Spec.License = lic
		return s
	}
	var r recentLeases
	r.wrote(lease("shop-main-0", "main", "10"))
	r.deleted(lease("shop-main-1", "main", "11"))
	r.wrote(lease("shop-extra-0", "extra", "12"))
	cached := []*licensingv1alpha1.SeatLease{lease("shop-main-1", "main", "11"), lease("shop-main-2", "main", "9")}
	var names []string
	for _, s := range r.overlay("vendor", "shop", "main", cached) {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"shop-main-0", "shop-main-2"}; !slices.Equal(names, want) {
		t.Fatalf("license main overlaid: %v, want %v", names, want)
	}
	if got := r.overlay("vendor", "other", "main", cached); len(got) != 2 {
		t.Fatalf("another Licensee's leases were overlaid: %d", len(got))
	}
	r.seen(lease("shop-main-0", "main", "10"))
	r.gone(lease("shop-main-1", "main", "13"))
	r.seen(lease("shop-extra-0", "extra", "12"))
	if len(r.m) != 0 || len(r.byLicense) != 0 {
		t.Fatalf("left after the cache caught up: %v, %v", r.m, r.byLicense)
	}
}

// An acquire reads a slot it claimed as this replica knows it now: its own
// latest write (or deletion) first, then the cache; without the informer's
// index, the leases the acquire read.
func TestSlotLease(t *testing.T) {
	indexer := toolscache.NewIndexer(toolscache.MetaNamespaceKeyFunc, toolscache.Indexers{indexLeaseLicense: leaseLicenseIndex})
	cachedA, cachedB := seatLease("a", "10", "pod-a"), seatLease("b", "11", "pod-b")
	for _, s := range []*licensingv1alpha1.SeatLease{cachedA, cachedB} {
		if err := indexer.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	recent := &recentLeases{}
	recent.deleted(seatLease("a", "10", "pod-a")) // released here, the cache still has it
	recent.wrote(seatLease("c", "12", "pod-c"))   // acquired here, not cached yet
	st := &store{leaseIndex: indexer, tallySynced: func() bool { return true }, recent: recent}
	if got := st.slotLease("vendor", "a", nil); got != nil {
		t.Errorf("released here: %v, want free", got)
	}
	if got := st.slotLease("vendor", "b", nil); got != cachedB {
		t.Errorf("only in the cache: %v, want the cache's", got)
	}
	if got := st.slotLease("vendor", "c", nil); got == nil || got.Spec.Holder != "pod-c" {
		t.Errorf("acquired here: %v, want this replica's write", got)
	}
	if got := st.slotLease("vendor", "d", nil); got != nil {
		t.Errorf("nowhere: %v, want free", got)
	}
	unwired := &store{}
	if got := unwired.slotLease("vendor", "b", []*licensingv1alpha1.SeatLease{cachedA, cachedB}); got != cachedB {
		t.Errorf("without the index: %v, want the lease read", got)
	}
}
