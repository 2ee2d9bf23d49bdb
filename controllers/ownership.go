package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// errNotYetCached: the object in the way is the operator's own (the cache lags
// its write) or is gone; look again shortly instead of reporting a conflict.
var errNotYetCached = errors.New("object created by the operator is not in the cache yet")

// notYetCachedRetry is how soon to look again when the cache lags our own write.
const notYetCachedRetry = 200 * time.Millisecond

// checkForeign runs after Create failed with AlreadyExists for obj, which the
// cache (managed objects only) did not show. A live read tells whether the
// object in the way carries our labels: then it is ours and only the cache
// lags, or it has gone meanwhile; both return errNotYetCached. It returns
// (true, nil) only for an object the operator does not manage, which the
// caller reports as a conflict. A failed read is returned as an error, so
// controller-runtime logs it and retries with backoff, and status shows it.
func checkForeign(ctx context.Context, reader client.Reader, obj client.Object, labelKey, labelValue string) (bool, error) {
	live := obj.DeepCopyObject().(client.Object)
	err := reader.Get(ctx, client.ObjectKeyFromObject(obj), live)
	switch {
	case apierrors.IsNotFound(err):
		return false, errNotYetCached
	case apierrors.IsForbidden(err):
		return false, fmt.Errorf("read %s %s to tell whether the operator created it (the manager's role must allow get on it): %w", kindOf(obj), obj.GetName(), err)
	case err != nil:
		return false, fmt.Errorf("read %s %s to tell whether the operator created it: %w", kindOf(obj), obj.GetName(), err)
	}
	labels := live.GetLabels()
	if labels[licensingv1alpha1.LabelManaged] == "true" && labels[labelKey] == labelValue {
		return false, errNotYetCached
	}
	return true, nil
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *corev1.Secret:
		return "Secret"
	case *corev1.ConfigMap:
		return "ConfigMap"
	}
	return fmt.Sprintf("%T", obj)
}
