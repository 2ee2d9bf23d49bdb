package licenseapi

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/cacheread"
	"github.com/kubelicense/kubelicense/internal/usage"
	"github.com/kubelicense/kubelicense/internal/webhook"
)

// IndexFields registers the cache index the API lists activations and seat
// leases by. Call it once per manager, before the manager starts.
func IndexFields(ctx context.Context, indexer client.FieldIndexer) error {
	if err := indexer.IndexField(ctx, &licensingv1alpha1.Activation{}, IndexLicensee, func(o client.Object) []string {
		return []string{o.(*licensingv1alpha1.Activation).Spec.LicenseeRef.Name}
	}); err != nil {
		return fmt.Errorf("index Activations by Licensee: %w", err)
	}
	if err := indexer.IndexField(ctx, &licensingv1alpha1.SeatLease{}, IndexLicensee, func(o client.Object) []string {
		return []string{o.(*licensingv1alpha1.SeatLease).Spec.LicenseeRef.Name}
	}); err != nil {
		return fmt.Errorf("index SeatLeases by Licensee: %w", err)
	}
	return nil
}

// Setup adds the license API to mgr: its cache index, and the server as a
// runnable that every replica runs (no leader election). Cache, Live and Writer
// default to the manager's cache, API reader and client, Outbox to one writing
// with Writer for the webhooks in Cache.
func Setup(ctx context.Context, mgr ctrl.Manager, o Options) (*Server, error) {
	ownCache := o.Cache == nil
	if ownCache {
		o.Cache = mgr.GetCache()
	}
	if o.Live == nil {
		o.Live = mgr.GetAPIReader()
	}
	if o.Writer == nil {
		o.Writer = mgr.GetClient()
	}
	if o.Outbox == nil {
		o.Outbox = &webhook.Outbox{Client: o.Writer, Webhooks: o.Cache}
	}
	if o.Log.GetSink() == nil {
		o.Log = mgr.GetLogger()
	}
	if err := IndexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	s, err := New(o)
	if err != nil {
		return nil, err
	}
	if ownCache {
		if err := s.countFrom(ctx, mgr.GetCache()); err != nil {
			return nil, err
		}
	}
	if err := mgr.Add(s); err != nil {
		return nil, fmt.Errorf("add the license API to the manager: %w", err)
	}
	return s, nil
}

// cachedVersion reads the resourceVersion of a SeatLease in store.
func cachedVersion(store toolscache.Store) func(types.NamespacedName) (string, bool) {
	return func(key types.NamespacedName) (string, bool) {
		obj, ok, err := store.GetByKey(key.Namespace + "/" + key.Name)
		if err != nil || !ok {
			return "", false
		}
		s, ok := obj.(*licensingv1alpha1.SeatLease)
		if !ok {
			return "", false
		}
		return s.ResourceVersion, true
	}
}

// countFrom feeds the server's counts of seats and activations, and its record
// of its own lease writes the cache has not seen, from the informers of
// informers, which must be the cache the server reads; and reads what
// requests read from the same informers' stores.
func (s *Server) countFrom(ctx context.Context, informers cache.Informers) error {
	tally, recent := &usage.Tally{}, &recentLeases{}
	var synced []toolscache.ResourceEventHandlerRegistration
	for _, obj := range []client.Object{&licensingv1alpha1.Activation{}, &licensingv1alpha1.SeatLease{}} {
		inf, err := informers.GetInformer(ctx, obj)
		if err != nil {
			return fmt.Errorf("informer of %T: %w", obj, err)
		}
		reg, err := inf.AddEventHandler(tally.Handler())
		if err != nil {
			return fmt.Errorf("count %T: %w", obj, err)
		}
		synced = append(synced, reg)
		if _, ok := obj.(*licensingv1alpha1.SeatLease); ok {
			if _, err := inf.AddEventHandler(recent.handler()); err != nil {
				return fmt.Errorf("follow %T: %w", obj, err)
			}
			if indexer, ok := cacheread.Indexer(inf); ok {
				if err := inf.AddIndexers(toolscache.Indexers{indexLeaseLicense: leaseLicenseIndex}); err != nil {
					return fmt.Errorf("index %T by license: %w", obj, err)
				}
				s.store.leaseIndex = indexer
				recent.cached = cachedVersion(indexer)
			}
		}
	}
	if err := s.cached.wire(ctx, informers); err != nil {
		return err
	}
	s.store.recent = recent
	s.store.tally = tally
	s.store.tallySynced = func() bool {
		for _, reg := range synced {
			if !reg.HasSynced() {
				return false
			}
		}
		return true
	}
	return nil
}
