package controllers

import (
	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// summarizeProductStatus sets the conditions from the scope. Ready summarizes
// KeyAvailable and the JWKS; Stalled (kstatus: Failed) says a person must act.
// observedGeneration moves only after a run without errors.
func (r *ProductReconciler) summarizeProductStatus(s *productScope, err error) {
	setProductKeyAvailableCondition(s, err)
	setProductReadyCondition(s, err)
	setProductStalledCondition(s, err)
	if err == nil {
		s.product.Status.ObservedGeneration = s.product.Generation
	}
}

// setProductKeyAvailableCondition: False with the key problem, True after a run
// that found a usable key and published it. A run that failed, or could only not
// publish the key, leaves it as it was: Licensees keep signing with a key whose
// public half is already out, and do not start with one that is not.
func setProductKeyAvailableCondition(s *productScope, err error) {
	p := s.product
	switch {
	case s.keyProblem != nil:
		setProblemCondition(&p.Status.Conditions, p.Generation, licensingv1alpha1.ConditionKeyAvailable, false, s.keyProblem)
	case s.publishProblem != nil, err != nil:
	default:
		setCondition(&p.Status.Conditions, p.Generation, licensingv1alpha1.ConditionKeyAvailable, true,
			licensingv1alpha1.ReasonKeyReady, "signing key "+p.Status.SigningKeyID+" is available")
	}
}

// setProductReadyCondition: True once the key is usable and its JWKS published;
// otherwise False with the problem, or the error of the failed run.
func setProductReadyCondition(s *productScope, err error) {
	p := s.product
	conds := &p.Status.Conditions
	switch {
	case s.keyProblem != nil:
		setProblemCondition(conds, p.Generation, licensingv1alpha1.ConditionReady, false, s.keyProblem)
	case s.publishProblem != nil:
		setProblemCondition(conds, p.Generation, licensingv1alpha1.ConditionReady, false, s.publishProblem)
	case err != nil:
		setCondition(conds, p.Generation, licensingv1alpha1.ConditionReady, false, licensingv1alpha1.ReasonReconcileError, err.Error())
	default:
		setCondition(conds, p.Generation, licensingv1alpha1.ConditionReady, true, licensingv1alpha1.ReasonReconciled,
			"signing key "+p.Status.SigningKeyID+" is available; public keys published in ConfigMap "+p.Status.PublicKeysConfigMap)
	}
}

// setProductStalledCondition: True while a person must act; removed after a
// clean run; a failed run leaves it, since it decided nothing.
func setProductStalledCondition(s *productScope, err error) {
	p := s.product
	conds := &p.Status.Conditions
	switch {
	case s.keyProblem != nil:
		setProblemCondition(conds, p.Generation, licensingv1alpha1.ConditionStalled, true, s.keyProblem)
	case s.publishProblem != nil:
		setProblemCondition(conds, p.Generation, licensingv1alpha1.ConditionStalled, true, s.publishProblem)
	case err != nil:
	default:
		removeCondition(conds, licensingv1alpha1.ConditionStalled)
	}
}
