// Package cacheread reads objects of one kind from the manager's informer
// cache without a copy, for hot read-only paths (each license API request,
// each answer's signing key).
package cacheread

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Objects reads objects of one kind from the cache without a copy: an object
// it returns is the cache's own, shared with every reader, and must only be
// read. Once wired to the kind's informer and synced, it reads the
// informer's store by key: a Get through the cache's reader looks the kind up
// by reflection and copies the object's struct into a new one (with four such
// reads, 1.6 KB and a tenth of the license API's handler per validate,
// docs/performance.md). Before that, and for an informer that gives no store
// (a multi-namespace cache), it reads through the reader, which waits for
// the sync.
type Objects[T any, PT interface {
	*T
	client.Object
}] struct {
	reader   client.Reader
	resource schema.GroupResource // of the NotFound errors
	store    toolscache.Store
	synced   func() bool
}

// New reads through reader until Wire; resource names the kind in errors.
func New[T any, PT interface {
	*T
	client.Object
}](reader client.Reader, resource schema.GroupResource) *Objects[T, PT] {
	return &Objects[T, PT]{reader: reader, resource: resource}
}

// Get reads the object at key; a missing one is a NotFound error, as from the reader.
func (o *Objects[T, PT]) Get(ctx context.Context, key client.ObjectKey) (PT, error) {
	if o.store != nil && o.synced() {
		obj, ok, err := o.store.GetByKey(key.Namespace + "/" + key.Name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, apierrors.NewNotFound(o.resource, key.Name)
		}
		if v, ok := obj.(PT); ok {
			return v, nil
		}
		// Not of this kind (never, from a typed informer): read it as before.
	}
	v := PT(new(T))
	if err := o.reader.Get(ctx, key, v, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return v, nil
}

// Wire reads through the store of the kind's informer in informers, which
// must be the cache the reader reads.
func (o *Objects[T, PT]) Wire(ctx context.Context, informers cache.Informers) error {
	inf, err := informers.GetInformer(ctx, PT(new(T)))
	if err != nil {
		return fmt.Errorf("informer of %s: %w", o.resource, err)
	}
	o.WireStore(inf)
	return nil
}

// WireStore reads through the store of inf, if it gives one.
func (o *Objects[T, PT]) WireStore(inf cache.Informer) {
	if store, ok := Store(inf); ok {
		o.store, o.synced = store, inf.HasSynced
	}
}

// Store is the store of inf, if it gives one: client-go's shared informers,
// which controller-runtime's cache holds, do; a multi-namespace cache's
// informer does not.
func Store(inf cache.Informer) (toolscache.Store, bool) {
	sr, ok := inf.(interface{ GetStore() toolscache.Store })
	if !ok {
		return nil, false
	}
	return sr.GetStore(), true
}

// Indexer is the indexer of inf, if it gives one (as Store).
func Indexer(inf cache.Informer) (toolscache.Indexer, bool) {
	ir, ok := inf.(interface{ GetIndexer() toolscache.Indexer })
	if !ok {
		return nil, false
	}
	return ir.GetIndexer(), true
}

// Wired says whether o reads through an informer's store.
func (o *Objects[T, PT]) Wired() bool { return o.store != nil }
