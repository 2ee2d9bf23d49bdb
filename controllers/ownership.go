package controllers

import (
	"context"
	"errors"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// errNotYetCached: an object we created is not in the cache yet; retry shortly
// instead of mistaking our own object for somebody else's.
var errNotYetCached = errors.New("object created by the operator is not in the cache yet")

// createdByUs tells, with a live read, whether the object that made Create fail
// with AlreadyExists carries our label: then it is ours and only the cache lags.
func createdByUs(ctx context.Context, reader client.Reader, obj client.Object, labelKey, labelValue string) (bool, error) {
	live := obj.DeepCopyObject().(client.Object)
	if err := reader.Get(ctx, client.ObjectKeyFromObject(obj), live); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return live.GetLabels()[licensingv1alpha1.LabelManaged] == "true" && live.GetLabels()[labelKey] == labelValue, nil
}

// notYetCachedRetry is how soon to look again when the cache lags our own write.
const notYetCachedRetry = 200 * time.Millisecond
