package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// CacheOptions limits the manager's cache of Secrets and ConfigMaps to the ones
// the operator manages, so it neither holds every Secret of the cluster in memory
// nor needs to list them all.
func CacheOptions() cache.Options {
	managed := labels.SelectorFromSet(labels.Set{licensingv1alpha1.LabelManaged: "true"})
	return cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}:    {Label: managed},
		&corev1.ConfigMap{}: {Label: managed},
	}}
}

// Options are what the controllers share.
type Options struct {
	// Clock is injected so tests can move time; nil means the real clock.
	Clock clock.PassiveClock
}

// SetupAll registers the cache indexes and the three controllers with mgr.
func SetupAll(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if err := IndexFields(ctx, mgr); err != nil {
		return err
	}
	if err := (&ProductReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Scheme: mgr.GetScheme(),
		Recorder: mgr.GetEventRecorder("product-controller"), Clock: opts.Clock,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up Product controller: %w", err)
	}
	if err := (&LicenseTemplateReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up LicenseTemplate controller: %w", err)
	}
	if err := (&LicenseeReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("licensee-controller"), Clock: opts.Clock,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up Licensee controller: %w", err)
	}
	return nil
}
