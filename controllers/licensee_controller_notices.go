package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/log"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/internal/entitlement"
)

// expiryNotices decides, from the notices status recorded so far, the record
// status keeps for each license and the notices due now (pure rules:
// entitlement.License.ExpiryNotice).
func expiryNotices(s *licenseeScope) (map[string]*licensingv1alpha1.ExpiryNotice, []entitlement.Notice) {
	last := map[string]*licensingv1alpha1.ExpiryNotice{}
	for _, ls := range s.licensee.Status.Licenses {
		last[ls.Name] = ls.ExpiryNotice
	}
	records := make(map[string]*licensingv1alpha1.ExpiryNotice, len(s.result.Licenses))
	var due []entitlement.Notice
	for _, lic := range s.result.Licenses {
		record, n := lic.ExpiryNotice(s.result.Now, last[lic.Name])
		records[lic.Name] = record
		if n != nil {
			due = append(due, *n)
		}
	}
	return records, due
}

// noticeExpiringSoon announces that a license of licensee ends within one of
// its template's notifyBefore thresholds. It is the one place a notice goes
// out, called once per threshold and end, after status recorded the notice.
func (r *LicenseeReconciler) noticeExpiringSoon(ctx context.Context, licensee *licensingv1alpha1.Licensee, n entitlement.Notice) {
	log.FromContext(ctx).V(1).Info("license expiring soon", "license", n.License, "expiresAt", n.ExpiresAt, "notifyBefore", n.Before)
	r.Recorder.Eventf(licensee, nil, corev1.EventTypeNormal, eventExpiringSoon, "Notify", "%s", n.Message())
}
