package controllers

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// setCondition records one condition; meta.SetStatusCondition keeps the last
// transition time when only the message changes, so status stays stable.
func setCondition(conditions *[]metav1.Condition, generation int64, conditionType string, status bool, reason, message string) {
	s := metav1.ConditionFalse
	if status {
		s = metav1.ConditionTrue
	}
	meta.SetStatusCondition(conditions, metav1.Condition{
		Type:               conditionType,
		Status:             s,
		Reason:             reason,
		Message:            message,
		ObservedGeneration: generation,
	})
}

// timePtr converts to the API's time, nil-safe.
func timePtr(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	v := metav1.NewTime(*t)
	return &v
}

func removeCondition(conditions *[]metav1.Condition, conditionType string) {
	meta.RemoveStatusCondition(conditions, conditionType)
}

func conditionTrue(conditions []metav1.Condition, conditionType string) bool {
	return meta.IsStatusConditionTrue(conditions, conditionType)
}

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
