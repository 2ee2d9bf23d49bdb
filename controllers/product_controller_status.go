package controllers

import (
	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// summarizeProductStatus sets the conditions from the scope. Ready summarizes
// KeyAvailable and the JWKS; Stalled (kstatus: Failed) says a person must act.
// observedGeneration moves only after a run without errors.
func (r *ProductReconciler) summarizeProductStatus(s *productScope, err error) {
	p := s.product
	gen := p.Generation
	conds := &p.Status.Conditions
	switch {
	case s.stalledReason != "":
		keyProblem := s.stalledReason != ReasonConfigMapConflict
		if keyProblem {
			setCondition(conds, gen, licensingv1alpha1.ConditionKeyAvailable, false, s.stalledReason, s.stalledMessage)
		}
		setCondition(conds, gen, licensingv1alpha1.ConditionReady, false, s.stalledReason, s.stalledMessage)
		setCondition(conds, gen, conditionStalled, true, s.stalledReason, s.stalledMessage)
	case err != nil:
		setCondition(conds, gen, licensingv1alpha1.ConditionReady, false, ReasonReconcileError, err.Error())
		return
	default:
		msg := "signing key " + p.Status.SigningKeyID + " is available"
		setCondition(conds, gen, licensingv1alpha1.ConditionKeyAvailable, true, ReasonKeyReady, msg)
		setCondition(conds, gen, licensingv1alpha1.ConditionReady, true, ReasonReconciled, msg+"; public keys published in ConfigMap "+p.Status.PublicKeysConfigMap)
		removeCondition(conds, conditionStalled)
	}
	p.Status.ObservedGeneration = gen
}
