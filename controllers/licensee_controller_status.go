package controllers

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/licensemetrics"
)

// summarizeLicenseeStatus writes what the phases found into status and returns
// when the controller must act again on its own. Ready summarizes references,
// key and Secret; Licensed comes from the pure evaluation; Stalled (kstatus:
// Failed) says a person must act, Reconciling (kstatus: InProgress) that the
// Licensee waits for its Product. observedGeneration moves only after a run
// without errors, copies included.
func (r *LicenseeReconciler) summarizeLicenseeStatus(s *licenseeScope, err error) *time.Time {
	l := s.licensee
	st := &l.Status
	st.SecretName = l.LicenseSecretName()

	var next *time.Time
	if s.product != nil {
		res := s.result
		var notices map[string]*licensingv1alpha1.ExpiryNotice
		notices, s.notices = expiryNotices(s)
		st.Licenses = licenseStatuses(s, notices)
		st.ExpiresAt = timePtr(res.ExpiresAt)
		for _, t := range res.NewTrials {
			if !slices.ContainsFunc(st.Trials, func(x licensingv1alpha1.TrialRecord) bool { return x.Template == t.Template }) {
				st.Trials = append(st.Trials, t)
			}
		}
		// Only what reached the Secret: a revocation held up by the Product's key
		// or a Secret conflict leaves the token status reported as it was.
		if s.written {
			st.Serial, st.KeyID = s.serial, s.keyID
			if s.issuedAt.IsZero() {
				st.IssuedAt = nil
			} else {
				st.IssuedAt = &metav1.Time{Time: s.issuedAt}
			}
			st.LastHandledRenewAt = l.Annotations[licensingv1alpha1.AnnotationRenew]
		}
		// Nothing to schedule while issuing is held up: what unblocks it wakes the Licensee.
		if s.stalled == nil && s.waiting == nil {
			next = res.NextTransition(s.issuedAt)
		}
		if u := s.usage.Next; u != nil && (next == nil || u.Before(*next)) {
			next = u // a seat lease lapses, or a lapsed one is due for cleanup
		}
	}
	st.NextCheckAt = timePtr(next)

	setLicensedCondition(s)
	setLicenseeReadyCondition(s, err)
	setDistributedCondition(s, err)
	setLicenseeStalledCondition(s)
	setLicenseeReconcilingCondition(s)
	if err == nil && s.distribution.settled() {
		st.ObservedGeneration = l.Generation
	}
	return next
}

// setLicensedCondition reports the evaluation of the licenses; without the
// Product there is none, and the condition keeps what it said.
func setLicensedCondition(s *licenseeScope) {
	if s.product == nil {
		return
	}
	l, res := s.licensee, s.result
	setCondition(&l.Status.Conditions, l.Generation, licensingv1alpha1.ConditionLicensed, res.Licensed, res.LicensedReason, res.LicensedMessage)
}

// setLicenseeReadyCondition: True when the Secret holds what the licenses call
// for (a token, or the notice of its revocation); otherwise False with what
// holds issuing up, the error of the failed run, or the invalid licenses.
// Call it after status names the token in the Secret.
func setLicenseeReadyCondition(s *licenseeScope, err error) {
	l := s.licensee
	st := &l.Status
	conds := &st.Conditions
	switch {
	case s.stalled != nil:
		setProblemCondition(conds, l.Generation, licensingv1alpha1.ConditionReady, false, s.stalled)
	case s.waiting != nil:
		setProblemCondition(conds, l.Generation, licensingv1alpha1.ConditionReady, false, s.waiting)
	case err != nil:
		setCondition(conds, l.Generation, licensingv1alpha1.ConditionReady, false, licensingv1alpha1.ReasonReconcileError, err.Error())
	case len(s.problems) > 0:
		setCondition(conds, l.Generation, licensingv1alpha1.ConditionReady, false, licensingv1alpha1.ReasonInvalidLicense, strings.Join(s.problems, "; "))
	case s.result.Revoke:
		setCondition(conds, l.Generation, licensingv1alpha1.ConditionReady, true, licensingv1alpha1.ReasonRevoked,
			"nothing entitles any more and onExpiry is Revoke: the token was removed from Secret "+st.SecretName)
	default:
		setCondition(conds, l.Generation, licensingv1alpha1.ConditionReady, true, licensingv1alpha1.ReasonIssued,
			"token "+st.Serial+" signed by key "+st.KeyID+" is in Secret "+st.SecretName)
	}
}

// setLicenseeStalledCondition: True while a person must act, on what holds
// issuing up or else on the invalid licenses (which need a person even while
// the Product's key holds issuing up, or a run fails), or else on copies that
// cannot be delivered (a namespace not opted in, a foreign object in the way).
func setLicenseeStalledCondition(s *licenseeScope) {
	l := s.licensee
	if p := licenseeStalledProblem(s); p != nil {
		setProblemCondition(&l.Status.Conditions, l.Generation, licensingv1alpha1.ConditionStalled, true, p)
		return
	}
	removeCondition(&l.Status.Conditions, licensingv1alpha1.ConditionStalled)
}

// licenseeStalledProblem is what a person must fix first; nil when nothing.
func licenseeStalledProblem(s *licenseeScope) *problem {
	switch {
	case s.stalled != nil:
		return s.stalled
	case len(s.problems) > 0:
		return newProblem(licensingv1alpha1.ReasonInvalidLicense, "%s", strings.Join(s.problems, "; "))
	}
	return s.distribution.blockedProblem()
}

// setLicenseeReconcilingCondition: waiting for the Product's key, or for a
// target namespace or a source of the copies, is progress, not failure;
// kstatus reads Reconciling=True as InProgress. Copies that wait do not hide
// a problem a person must fix (Stalled): kstatus would read InProgress then.
func setLicenseeReconcilingCondition(s *licenseeScope) {
	l := s.licensee
	switch {
	case s.waiting != nil:
		setProblemCondition(&l.Status.Conditions, l.Generation, licensingv1alpha1.ConditionReconciling, true, s.waiting)
	case s.distribution.waitingProblem() != nil && licenseeStalledProblem(s) == nil:
		setProblemCondition(&l.Status.Conditions, l.Generation, licensingv1alpha1.ConditionReconciling, true, s.distribution.waitingProblem())
	default:
		removeCondition(&l.Status.Conditions, licensingv1alpha1.ConditionReconciling)
	}
}

// licenseStatuses reports each license, with the expiry notice status keeps for it.
func licenseStatuses(s *licenseeScope, notices map[string]*licensingv1alpha1.ExpiryNotice) []licensingv1alpha1.LicenseStatus {
	out := make([]licensingv1alpha1.LicenseStatus, 0, len(s.result.Licenses))
	for _, lic := range s.result.Licenses {
		ls := licensingv1alpha1.LicenseStatus{
			Name: lic.Name, State: lic.State, Message: lic.Message, Template: lic.Template, Type: lic.Type,
			StartsAt: timePtr(lic.StartsAt), ValidUntil: timePtr(lic.ValidUntil), GraceUntil: timePtr(lic.GraceUntil),
			Seats: lic.Seats, MaxActivations: lic.MaxActivations,
			SeatsInUse: s.usage.ByLicense[lic.Name].SeatsInUse, Activations: s.usage.ByLicense[lic.Name].Activations,
			ExpiryNotice: notices[lic.Name],
		}
		if len(lic.Features) > 0 {
			ls.Features = lic.Features
		}
		if len(lic.Quotas) > 0 {
			ls.Quotas = lic.Quotas
		}
		out = append(out, ls)
	}
	return out
}

// licenseEvents name the event for a license entering a state.
var licenseEvents = map[licensingv1alpha1.LicenseState]string{
	licensingv1alpha1.LicenseStateValid:         eventStarted,
	licensingv1alpha1.LicenseStateInGracePeriod: eventEnteredGracePeriod,
	licensingv1alpha1.LicenseStateExpired:       eventExpired,
	licensingv1alpha1.LicenseStateSuspended:     eventSuspended,
	licensingv1alpha1.LicenseStateInvalid:       eventInvalid,
}

// recordStateEvents emits events for issuance, renewal and each license's state
// change, and counts the issuance (kubelicense_licensee_issuance_total).
func (r *LicenseeReconciler) recordStateEvents(before, after *licensingv1alpha1.Licensee, s *licenseeScope) {
	if s.reissued != "" {
		result := licensemetrics.ResultRenewed
		switch {
		case s.result.Revoke:
			result = licensemetrics.ResultRevoked
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, eventRevoked, "Revoke", "token removed from Secret %s: %s", after.Status.SecretName, s.result.LicensedMessage)
		case before.Status.Serial == "":
			result = licensemetrics.ResultIssued
			r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, eventIssued, "Issue", "issued token %s into Secret %s", after.Status.Serial, after.Status.SecretName)
		default:
			r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, eventRenewed, "Issue", "re-issued token %s (%s), replacing %s", after.Status.Serial, s.reissued, before.Status.Serial)
		}
		licensemetrics.RecordIssuance(after.Namespace, after.Spec.ProductRef.Name, result, r.Clock.Since(s.now))
	}
	previous := map[string]licensingv1alpha1.LicenseState{}
	for _, ls := range before.Status.Licenses {
		previous[ls.Name] = ls.State
	}
	for _, ls := range after.Status.Licenses {
		old, known := previous[ls.Name]
		if old == ls.State || (!known && ls.State == licensingv1alpha1.LicenseStateValid) {
			continue
		}
		reason, ok := licenseEvents[ls.State]
		if old == licensingv1alpha1.LicenseStateSuspended && ls.State != licensingv1alpha1.LicenseStateExpired {
			reason, ok = eventResumed, true
		}
		if !ok {
			continue
		}
		eventType := corev1.EventTypeNormal
		if ls.State == licensingv1alpha1.LicenseStateExpired || ls.State == licensingv1alpha1.LicenseStateInvalid {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(after, nil, eventType, reason, "Evaluate", "license %s: %s -> %s", ls.Name, orNone(string(old)), ls.State)
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
