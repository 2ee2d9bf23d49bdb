package controllers

import (
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// summarizeLicenseeStatus writes what the phases found into status and returns
// when the controller must act again on its own. Ready summarizes references,
// key and Secret; Licensed comes from the pure evaluation; Stalled (kstatus:
// Failed) says a person must act. observedGeneration moves only after a run
// without errors.
func (r *LicenseeReconciler) summarizeLicenseeStatus(s *licenseeScope, err error) *time.Time {
	l := s.licensee
	st := &l.Status
	gen := l.Generation
	st.SecretName = l.LicenseSecretName()

	var next *time.Time
	if s.product != nil {
		res := s.result
		st.Licenses = licenseStatuses(s)
		st.ExpiresAt = timePtr(res.ExpiresAt)
		for _, t := range res.NewTrials {
			if !slices.ContainsFunc(st.Trials, func(x licensingv1alpha1.TrialRecord) bool { return x.Template == t.Template }) {
				st.Trials = append(st.Trials, t)
			}
		}
		setCondition(&st.Conditions, gen, licensingv1alpha1.ConditionLicensed, res.Licensed, res.LicensedReason, res.LicensedMessage)
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
		if s.notReadyReason != ReasonProductKeyUnavailable && s.notReadyReason != ReasonSecretConflict {
			next = res.NextTransition(s.issuedAt)
		}
	}
	st.NextCheckAt = timePtr(next)

	reason, message, stalled := s.notReadyReason, s.notReadyMessage, s.stalled
	switch {
	case reason != "":
	case err != nil:
		reason, message = ReasonReconcileError, err.Error()
	case len(s.problems) > 0:
		reason, message, stalled = ReasonInvalidLicense, strings.Join(s.problems, "; "), true
	case s.result.Revoke:
		reason, message = ReasonRevoked, "nothing entitles any more and onExpiry is Revoke: the token was removed from Secret "+st.SecretName
	default:
		reason, message = ReasonIssued, "token "+st.Serial+" signed by key "+st.KeyID+" is in Secret "+st.SecretName
	}
	ready := reason == ReasonIssued || reason == ReasonRevoked
	setCondition(&st.Conditions, gen, licensingv1alpha1.ConditionReady, ready, reason, message)
	stalledReason, stalledMessage := reason, message
	if !stalled && len(s.problems) > 0 {
		// An invalid license needs a person even while something else (the
		// Product's key) holds up issuing.
		stalled, stalledReason, stalledMessage = true, ReasonInvalidLicense, strings.Join(s.problems, "; ")
	}
	if stalled {
		setCondition(&st.Conditions, gen, conditionStalled, true, stalledReason, stalledMessage)
	} else {
		removeCondition(&st.Conditions, conditionStalled)
	}
	// Waiting on the Product is progress, not failure: kstatus reads Reconciling as InProgress.
	if reason == ReasonProductKeyUnavailable {
		setCondition(&st.Conditions, gen, conditionReconciling, true, reason, message)
	} else {
		removeCondition(&st.Conditions, conditionReconciling)
	}
	if err == nil {
		st.ObservedGeneration = gen
	}
	return next
}

func licenseStatuses(s *licenseeScope) []licensingv1alpha1.LicenseStatus {
	out := make([]licensingv1alpha1.LicenseStatus, 0, len(s.result.Licenses))
	for _, lic := range s.result.Licenses {
		ls := licensingv1alpha1.LicenseStatus{
			Name: lic.Name, State: lic.State, Message: lic.Message, Template: lic.Template, Type: lic.Type,
			StartsAt: timePtr(lic.StartsAt), ValidUntil: timePtr(lic.ValidUntil), GraceUntil: timePtr(lic.GraceUntil),
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

// licenseEventReasons name the event for a license entering a state.
var licenseEventReasons = map[licensingv1alpha1.LicenseState]string{
	licensingv1alpha1.LicenseStateValid:         "Started",
	licensingv1alpha1.LicenseStateInGracePeriod: "EnteredGracePeriod",
	licensingv1alpha1.LicenseStateExpired:       "Expired",
	licensingv1alpha1.LicenseStateSuspended:     "Suspended",
	licensingv1alpha1.LicenseStateInvalid:       "Invalid",
}

// recordStateEvents emits events for issuance, renewal and each license's state change.
func (r *LicenseeReconciler) recordStateEvents(before, after *licensingv1alpha1.Licensee, s *licenseeScope) {
	if s.reissued != "" {
		switch {
		case s.result.Revoke:
			r.Recorder.Eventf(after, nil, corev1.EventTypeWarning, "Revoked", "Revoke", "token removed from Secret %s: %s", after.Status.SecretName, s.result.LicensedMessage)
		case before.Status.Serial == "":
			r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "Issued", "Issue", "issued token %s into Secret %s", after.Status.Serial, after.Status.SecretName)
		default:
			r.Recorder.Eventf(after, nil, corev1.EventTypeNormal, "Renewed", "Issue", "re-issued token %s (%s), replacing %s", after.Status.Serial, s.reissued, before.Status.Serial)
		}
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
		reason := licenseEventReasons[ls.State]
		if old == licensingv1alpha1.LicenseStateSuspended && ls.State != licensingv1alpha1.LicenseStateExpired {
			reason = "Resumed"
		}
		if reason == "" {
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
