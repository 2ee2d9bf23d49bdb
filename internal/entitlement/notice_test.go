package entitlement

import (
	"strings"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Templates with notices: a 90-day subscription with grace, and a monthly
// auto-renewing one, both announcing 30 days, a week and a day ahead.
var (
	notifyBefore = []v1alpha1.Duration{"720h", "168h", "24h"}
	quarterly    = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription,
		Duration: durp("2160h"), GracePeriod: durp("168h"), NotifyBefore: notifyBefore}
	renewingNotify = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription,
		Duration: durp("720h"), AutoRenew: ptr(true), NotifyBefore: notifyBefore}
	perpetualNotify = &v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual,
		NotifyBefore: []v1alpha1.Duration{"24h"}}
)

func notice(end time.Duration, before string, at time.Duration) *v1alpha1.ExpiryNotice {
	return &v1alpha1.ExpiryNotice{ExpiresAt: *mt(end), Before: before, NoticedAt: *mt(at)}
}

func endsAt(d time.Duration) func(*LicenseInput) {
	return func(li *LicenseInput) { li.Spec.EndsAt = mt(d) }
}

func TestExpiryNotice(t *testing.T) {
	q := lic("main", "quarterly", quarterly)
	tests := []struct {
		name    string
		license LicenseInput
		suspend bool
		now     time.Time
		last    *v1alpha1.ExpiryNotice
		// want is the threshold announced now ("" for none); wantRecord what status keeps.
		want       string
		wantRecord *v1alpha1.ExpiryNotice
		wantIn     string // the remaining time in the message
	}{
		{name: "long before the first threshold", license: q, now: ts(10 * day)},
		{name: "a second before the first threshold", license: q, now: ts(60*day - time.Second)},
		{name: "exactly at the first threshold", license: q, now: ts(60 * day),
			want: "720h", wantRecord: notice(90*day, "720h", 60*day), wantIn: "in 30d"},
		{name: "already announced", license: q, now: ts(70 * day), last: notice(90*day, "720h", 60*day),
			wantRecord: notice(90*day, "720h", 60*day)},
		{name: "the next threshold", license: q, now: ts(83 * day), last: notice(90*day, "720h", 60*day),
			want: "168h", wantRecord: notice(90*day, "168h", 83*day), wantIn: "in 7d"},
		{name: "several passed at once: only the shortest", license: q, now: ts(88 * day),
			want: "168h", wantRecord: notice(90*day, "168h", 88*day), wantIn: "in 2d"},
		{name: "the last threshold", license: q, now: ts(89*day + 12*time.Hour + 30*time.Minute), last: notice(90*day, "168h", 83*day),
			want: "24h", wantRecord: notice(90*day, "24h", 89*day+12*time.Hour+30*time.Minute), wantIn: "in 11h30m"},
		{name: "a threshold written another way is the same", license: q, now: ts(89 * day), last: notice(90*day, "1440m", 89*day),
			wantRecord: notice(90*day, "1440m", 89*day)},
		{name: "a record that does not parse is no record", license: q, now: ts(89 * day), last: notice(90*day, "soon", 89*day),
			want: "24h", wantRecord: notice(90*day, "24h", 89*day), wantIn: "in 1d"},
		{name: "none once the period ended (grace)", license: q, now: ts(90 * day), last: notice(90*day, "24h", 89*day),
			wantRecord: notice(90*day, "24h", 89*day)},
		{name: "none after expiry", license: q, now: ts(200 * day)},
		{name: "a new end notifies again", license: with(q, func(li *LicenseInput) { li.Spec.StartsAt = mt(10 * day) }), now: ts(89 * day), last: notice(90*day, "24h", 89*day),
			want: "720h", wantRecord: notice(100*day, "720h", 89*day), wantIn: "in 11d"},
		{name: "a new end with nothing due drops the old record", license: with(q, func(li *LicenseInput) { li.Spec.StartsAt = mt(30 * day) }), now: ts(89 * day), last: notice(90*day, "24h", 89*day)},
		{name: "endsAt before the period end: counts back from endsAt", license: with(q, endsAt(50*day)), now: ts(44 * day),
			want: "168h", wantRecord: notice(50*day, "168h", 44*day), wantIn: "in 6d"},
		{name: "auto-renewing without endsAt never notifies", license: lic("r", "renewing", renewingNotify), now: ts(30*day - time.Hour)},
		{name: "auto-renewing: counts back from endsAt, not the period end", license: with(lic("r", "renewing", renewingNotify), endsAt(200*day)), now: ts(170 * day),
			want: "720h", wantRecord: notice(200*day, "720h", 170*day), wantIn: "in 30d"},
		{name: "auto-renewing: nothing before endsAt is near", license: with(lic("r", "renewing", renewingNotify), endsAt(200*day)), now: ts(150 * day),
			wantRecord: nil},
		{name: "perpetual with endsAt", license: with(lic("p", "perpetual", perpetualNotify), endsAt(30*day)), now: ts(29*day + time.Second),
			want: "24h", wantRecord: notice(30*day, "24h", 29*day+time.Second), wantIn: "in 1d"},
		{name: "perpetual without endsAt never notifies", license: lic("p", "perpetual", perpetualNotify), now: ts(1000 * day)},
		{name: "a suspended license does not notify", license: with(q, func(li *LicenseInput) { li.Spec.Suspended = true }), now: ts(88 * day)},
		{name: "a suspended licensee does not notify, and keeps its record", license: q, suspend: true, now: ts(88 * day), last: notice(90*day, "720h", 60*day),
			wantRecord: notice(90*day, "720h", 60*day)},
		{name: "a pending license does not notify", license: with(q, func(li *LicenseInput) { li.Spec.StartsAt = mt(10 * day) }), now: ts(5 * day)},
		{name: "an invalid license keeps its record", license: with(q, func(li *LicenseInput) { li.Template = nil }), now: ts(88 * day), last: notice(90*day, "720h", 60*day),
			wantRecord: notice(90*day, "720h", 60*day)},
		{name: "a template without notifyBefore", license: lic("m", "m", monthly), now: ts(29 * day)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Evaluate(Input{Now: tt.now, Licenses: []LicenseInput{tt.license}, LicenseeSuspended: tt.suspend})
			record, due := r.Licenses[0].ExpiryNotice(r.Now, tt.last)
			if got := noticeBefore(due); got != tt.want {
				t.Fatalf("notice = %q, want %q", got, tt.want)
			}
			if !equalRecord(record, tt.wantRecord) {
				t.Errorf("record = %+v, want %+v", record, tt.wantRecord)
			}
			if due == nil {
				return
			}
			if !due.ExpiresAt.Equal(tt.wantRecord.ExpiresAt.Time) {
				t.Errorf("notice expires at %s, want %s", stamp(due.ExpiresAt), stamp(tt.wantRecord.ExpiresAt.Time))
			}
			msg := due.Message()
			for _, part := range []string{"license " + tt.license.Spec.Name, stamp(due.ExpiresAt), tt.wantIn, "notifyBefore " + tt.want} {
				if !strings.Contains(msg, part) {
					t.Errorf("message %q does not say %q", msg, part)
				}
			}
		})
	}
}

func TestExpiryNoticeMessage(t *testing.T) {
	r := Evaluate(Input{Now: ts(88 * day), Licenses: []LicenseInput{lic("main", "quarterly", quarterly)}})
	_, due := r.Licenses[0].ExpiryNotice(r.Now, nil)
	want := "license main (template quarterly) expires at 2026-05-30T00:00:00Z, in 2d (notifyBefore 168h); grace period until 2026-06-06T00:00:00Z"
	if got := due.Message(); got != want {
		t.Errorf("message\n%s\nwant\n%s", got, want)
	}
	r = Evaluate(Input{Now: ts(170 * day), Licenses: []LicenseInput{with(lic("r", "renewing", renewingNotify), endsAt(200*day))}})
	_, due = r.Licenses[0].ExpiryNotice(r.Now, nil)
	if got := due.Message(); !strings.HasSuffix(got, "; it does not renew past its endsAt") {
		t.Errorf("message of an auto-renewing license %q does not say it stops renewing", got)
	}
}

func TestApproxDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		48 * time.Hour:                  "2d",
		47*time.Hour + 59*time.Minute:   "2d",
		47 * time.Hour:                  "1d23h",
		30*day + 5*time.Minute:          "30d",
		23*time.Hour + 59*time.Minute:   "1d",
		23*time.Hour + 29*time.Minute:   "23h29m",
		90 * time.Minute:                "1h30m",
		time.Hour:                       "1h",
		59*time.Minute + 59*time.Second: "1h",
		30*time.Minute + 10*time.Second: "30m10s",
		45 * time.Second:                "45s",
		0:                               "0s",
	} {
		if got := approxDuration(d); got != want {
			t.Errorf("approxDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func noticeBefore(n *Notice) string {
	if n == nil {
		return ""
	}
	return n.Before
}

func equalRecord(a, b *v1alpha1.ExpiryNotice) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ExpiresAt.Equal(&b.ExpiresAt) && a.Before == b.Before && a.NoticedAt.Equal(&b.NoticedAt)
}
