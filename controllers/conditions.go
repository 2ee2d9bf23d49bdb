package controllers

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A problem stops a reconcile short of Ready: something a person must fix, or
// something to wait for. Phases record it in a typed field of their scope; the
// set*Condition functions report its reason and message. Control flow looks at
// which field holds a problem, never at its reason.
type problem struct {
	reason  string // a licensingv1alpha1.Reason* constant
	message string
}

func newProblem(reason, format string, args ...any) *problem {
	return &problem{reason: reason, message: fmt.Sprintf(format, args...)}
}

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

// setProblemCondition records conditionType with status, explained by p.
func setProblemCondition(conditions *[]metav1.Condition, generation int64, conditionType string, status bool, p *problem) {
	setCondition(conditions, generation, conditionType, status, p.reason, p.message)
}

func removeCondition(conditions *[]metav1.Condition, conditionType string) {
	meta.RemoveStatusCondition(conditions, conditionType)
}

func conditionTrue(conditions []metav1.Condition, conditionType string) bool {
	return meta.IsStatusConditionTrue(conditions, conditionType)
}

// timePtr converts to the API's time, nil-safe.
func timePtr(t *time.Time) *metav1.Time {
	if t == nil {
		return nil
	}
	v := metav1.NewTime(*t)
	return &v
}
