package controllers

import (
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NewLicenseeReconcilerForTest is a Licensee reconciler outside any manager,
// for tests that call Reconcile themselves, reading through c.
func NewLicenseeReconcilerForTest(c client.Client, recorder events.EventRecorder, clk clock.PassiveClock) *LicenseeReconciler {
	return &LicenseeReconciler{Client: c, APIReader: c, Recorder: recorder, Clock: clk, keys: newSigningKeys(c, c, nil)}
}

// SecretMetadataCache is the cache of every Secret's metadata, for tests.
func (k *SigningKeys) SecretMetadataCache() cache.Cache { return k.metadataCache }

// ReadsManagedKeysFromStore says whether k reads the operator's own key
// Secrets from the store of the manager's Secret informer.
func (k *SigningKeys) ReadsManagedKeysFromStore() bool { return k.keys.managed.Wired() }
