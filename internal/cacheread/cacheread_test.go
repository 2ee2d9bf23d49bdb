package cacheread

import (
	"context"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// readerOf answers Gets from a store by copying, as the cache's reader does
// with UnsafeDisableDeepCopy, and counts them.
type readerOf struct {
	client.Reader
	store toolscache.Store
	gets  int
}

func (r *readerOf) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	r.gets++
	o, ok, err := r.store.GetByKey(key.Namespace + "/" + key.Name)
	if err != nil {
		return err
	}
	if !ok {
		return apierrors.NewNotFound(licensingv1alpha1.GroupVersion.WithResource("licensees").GroupResource(), key.Name)
	}
	*obj.(*licensingv1alpha1.Licensee) = *o.(*licensingv1alpha1.Licensee)
	return nil
}

// Once its informer has synced, a request's read is the store's own object;
// before that it goes through the cache's reader (which waits for the sync).
// A missing object is NotFound either way.
func TestObjectsReadTheStoreOnceSynced(t *testing.T) {
	store := toolscache.NewStore(toolscache.MetaNamespaceKeyFunc)
	shop := &licensingv1alpha1.Licensee{ObjectMeta: metav1.ObjectMeta{Namespace: "vendor", Name: "shop", ResourceVersion: "7"}}
	if err := store.Add(shop); err != nil {
		t.Fatal(err)
	}
	reader := &readerOf{store: store}
	synced := false
	licensees := New[licensingv1alpha1.Licensee](reader, licensingv1alpha1.GroupVersion.WithResource("licensees").GroupResource())
	licensees.store, licensees.synced = store, func() bool { return synced }
	key := client.ObjectKey{Namespace: "vendor", Name: "shop"}
	missing := client.ObjectKey{Namespace: "vendor", Name: "gone"}

	got, err := licensees.Get(t.Context(), key)
	if err != nil || got.ResourceVersion != "7" || reader.gets != 1 {
		t.Fatalf("before the sync: %v, %v, %d reads through the reader; want the Licensee through the reader", got, err, reader.gets)
	}
	if _, err := licensees.Get(t.Context(), missing); !apierrors.IsNotFound(err) {
		t.Fatalf("before the sync, a missing Licensee: %v, want NotFound", err)
	}

	synced, reader.gets = true, 0
	got, err = licensees.Get(t.Context(), key)
	if err != nil || got != shop || reader.gets != 0 {
		t.Fatalf("synced: %p, %v, %d reads through the reader; want the store's object %p and none", got, err, reader.gets, shop)
	}
	_, err = licensees.Get(t.Context(), missing)
	if !apierrors.IsNotFound(err) || reader.gets != 0 {
		t.Fatalf("synced, a missing Licensee: %v, want NotFound from the store", err)
	}
	if want := "licensees.licensing.kubelicense.io \"gone\" not found"; err.Error() != want {
		t.Errorf("NotFound says %q, want %q", err, want)
	}
}
