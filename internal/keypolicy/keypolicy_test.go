package keypolicy

import (
	"strings"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
)

var epoch = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func dur(s string) *v1alpha1.Duration {
	d := v1alpha1.Duration(s)
	return &d
}

func tp(t time.Time) *time.Time { return &t }

func TestShouldRotate(t *testing.T) {
	const year = 8760 * time.Hour
	// base is a key that needs nothing: same algorithm, no request, not yet due.
	base := RotationInput{
		Now:              epoch.Add(24 * time.Hour),
		Wanted:           v1alpha1.SigningAlgorithmEd25519,
		Current:          v1alpha1.SigningAlgorithmEd25519,
		CurrentCreatedAt: epoch,
		RotateEvery:      year,
	}
	with := func(f func(*RotationInput)) RotationInput {
		in := base
		f(&in)
		return in
	}
	tests := []struct {
		name        string
		in          RotationInput
		wantReason  string
		wantMessage string // substring
	}{
		{name: "nothing to do", in: base},
		{
			name:        "annotation set for the first time",
			in:          with(func(in *RotationInput) { in.RotateAnnotation = "1" }),
			wantReason:  ReasonRotateRequested,
			wantMessage: v1alpha1.AnnotationRotateKey + "=1",
		},
		{
			name: "annotation differs from the last handled value",
			in: with(func(in *RotationInput) {
				in.RotateAnnotation, in.LastHandledRotate = "2", "1"
			}),
			wantReason:  ReasonRotateRequested,
			wantMessage: v1alpha1.AnnotationRotateKey + "=2",
		},
		{
			name: "annotation already handled",
			in: with(func(in *RotationInput) {
				in.RotateAnnotation, in.LastHandledRotate = "1", "1"
			}),
		},
		{
			// Removing the annotation is not a new request.
			name: "annotation removed after being handled",
			in:   with(func(in *RotationInput) { in.LastHandledRotate = "1" }),
		},
		{
			name:        "algorithm changed",
			in:          with(func(in *RotationInput) { in.Wanted = v1alpha1.SigningAlgorithmECDSAP256 }),
			wantReason:  ReasonAlgorithmChanged,
			wantMessage: "from Ed25519 to ECDSA-P256",
		},
		{
			name: "request wins over algorithm change and due rotation",
			in: with(func(in *RotationInput) {
				in.RotateAnnotation = "now"
				in.Wanted = v1alpha1.SigningAlgorithmECDSAP256
				in.Now = epoch.Add(2 * year)
			}),
			wantReason: ReasonRotateRequested,
		},
		{
			name: "algorithm change wins over due rotation",
			in: with(func(in *RotationInput) {
				in.Wanted = v1alpha1.SigningAlgorithmECDSAP256
				in.Now = epoch.Add(2 * year)
			}),
			wantReason: ReasonAlgorithmChanged,
		},
		{
			name:        "due exactly at the instant",
			in:          with(func(in *RotationInput) { in.Now = epoch.Add(year) }),
			wantReason:  ReasonRotationDue,
			wantMessage: "(" + year.String() + ")",
		},
		{
			name: "one nanosecond before due",
			in:   with(func(in *RotationInput) { in.Now = epoch.Add(year - time.Nanosecond) }),
		},
		{
			name:       "long past due",
			in:         with(func(in *RotationInput) { in.Now = epoch.Add(3 * year) }),
			wantReason: ReasonRotationDue,
		},
		{
			// The due instant is rounded up, so createdAt+every itself is not yet due.
			name: "sub-second creation: not due before the rounded-up second",
			in: with(func(in *RotationInput) {
				in.CurrentCreatedAt = epoch.Add(300 * time.Millisecond)
				in.Now = epoch.Add(year + 999*time.Millisecond)
			}),
		},
		{
			name: "sub-second creation: due at the rounded-up second",
			in: with(func(in *RotationInput) {
				in.CurrentCreatedAt = epoch.Add(300 * time.Millisecond)
				in.Now = epoch.Add(year + time.Second)
			}),
			wantReason: ReasonRotationDue,
		},
		{
			name: "rotateEvery zero never rotates by age",
			in: with(func(in *RotationInput) {
				in.RotateEvery = 0
				in.Now = epoch.Add(100 * year)
			}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reason, message, rotate := ShouldRotate(tt.in)
			if rotate != (tt.wantReason != "") || reason != tt.wantReason {
				t.Fatalf("ShouldRotate() = (%q, %q, %v), want reason %q", reason, message, rotate, tt.wantReason)
			}
			if !rotate && message != "" {
				t.Errorf("message %q without rotation", message)
			}
			if rotate && !strings.Contains(message, tt.wantMessage) {
				t.Errorf("message %q does not contain %q", message, tt.wantMessage)
			}
		})
	}
}

func TestRotationDueAt(t *testing.T) {
	tests := []struct {
		name      string
		createdAt time.Time
		every     time.Duration
		want      time.Time
	}{
		{"whole seconds stay", epoch, time.Hour, epoch.Add(time.Hour)},
		{"one nanosecond over rounds up", epoch.Add(time.Nanosecond), time.Hour, epoch.Add(time.Hour + time.Second)},
		{"just under a second rounds up", epoch.Add(999 * time.Millisecond), time.Hour, epoch.Add(time.Hour + time.Second)},
		{"sub-second every rounds up", epoch, 1500 * time.Millisecond, epoch.Add(2 * time.Second)},
		{"fractions that add to a whole second stay", epoch.Add(400 * time.Millisecond), 600 * time.Millisecond, epoch.Add(time.Second)},
		{"non-UTC location", epoch.In(time.FixedZone("X", 3600+1800)).Add(10 * time.Millisecond), time.Minute, epoch.Add(time.Minute + time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RotationDueAt(tt.createdAt, tt.every)
			if !got.Equal(tt.want) {
				t.Errorf("RotationDueAt(%v, %v) = %v, want %v", tt.createdAt, tt.every, got, tt.want)
			}
			if got.Before(tt.createdAt.Add(tt.every)) {
				t.Errorf("RotationDueAt fires early: %v before %v", got, tt.createdAt.Add(tt.every))
			}
		})
	}
}

func TestTokenLifetime(t *testing.T) {
	tests := []struct {
		name        string
		spec        v1alpha1.LicenseTemplateSpec
		want        time.Duration
		wantForever bool
	}{
		{
			name: "subscription: one period plus grace",
			spec: v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: dur("720h"), GracePeriod: dur("168h")},
			want: 888 * time.Hour,
		},
		{
			name: "trial without grace: one period",
			spec: v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeTrial, Duration: dur("336h")},
			want: 336 * time.Hour,
		},
		{
			name: "tokenTTL wins over duration and grace",
			spec: v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: dur("8760h"), GracePeriod: dur("168h"), TokenTTL: dur("24h")},
			want: 24 * time.Hour,
		},
		{
			name: "tokenTTL bounds a perpetual template",
			spec: v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual, TokenTTL: dur("1h")},
			want: time.Hour,
		},
		{
			name:        "perpetual without duration: forever",
			spec:        v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual},
			wantForever: true,
		},
		{
			name:        "floating without duration: forever",
			spec:        v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeFloating, Seats: new(int32(5))},
			wantForever: true,
		},
		{
			name:        "node-locked without duration: forever",
			spec:        v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeNodeLocked, GracePeriod: dur("24h")},
			wantForever: true,
		},
		{
			name: "node-locked with duration",
			spec: v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeNodeLocked, Duration: dur("48h")},
			want: 48 * time.Hour,
		},
		{
			// Input that bypassed CRD validation must never shorten how long a key is published.
			name:        "unparsable duration: forever",
			spec:        v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: dur("soon")},
			wantForever: true,
		},
		{
			name: "unparsable tokenTTL falls back to the period",
			spec: v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: dur("720h"), TokenTTL: dur("-1h")},
			want: 720 * time.Hour,
		},
		{
			name:        "unparsable tokenTTL without duration: forever",
			spec:        v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual, TokenTTL: dur("0s")},
			wantForever: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, forever := TokenLifetime(tt.spec)
			if got != tt.want || forever != tt.wantForever {
				t.Errorf("TokenLifetime() = (%v, %v), want (%v, %v)", got, forever, tt.want, tt.wantForever)
			}
		})
	}
}

func TestMaxTokenLifetime(t *testing.T) {
	monthly := v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: dur("720h"), GracePeriod: dur("168h")}
	yearly := v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypeSubscription, Duration: dur("8760h")}
	shortLived := v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual, TokenTTL: dur("24h")}
	perpetual := v1alpha1.LicenseTemplateSpec{Type: v1alpha1.LicenseTypePerpetual}
	tests := []struct {
		name        string
		templates   []v1alpha1.LicenseTemplateSpec
		want        time.Duration
		wantForever bool
	}{
		{name: "no templates", templates: nil},
		{name: "empty list", templates: []v1alpha1.LicenseTemplateSpec{}},
		{name: "one template", templates: []v1alpha1.LicenseTemplateSpec{monthly}, want: 888 * time.Hour},
		{name: "the longest wins", templates: []v1alpha1.LicenseTemplateSpec{shortLived, yearly, monthly}, want: 8760 * time.Hour},
		{name: "order does not matter", templates: []v1alpha1.LicenseTemplateSpec{monthly, yearly, shortLived}, want: 8760 * time.Hour},
		{name: "forever first", templates: []v1alpha1.LicenseTemplateSpec{perpetual, yearly}, wantForever: true},
		{name: "forever last", templates: []v1alpha1.LicenseTemplateSpec{yearly, monthly, perpetual}, wantForever: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, forever := MaxTokenLifetime(tt.templates)
			if got != tt.want || forever != tt.wantForever {
				t.Errorf("MaxTokenLifetime() = (%v, %v), want (%v, %v)", got, forever, tt.want, tt.wantForever)
			}
		})
	}
}

func TestRemoveAt(t *testing.T) {
	tests := []struct {
		name      string
		retiredAt time.Time
		lifetime  time.Duration
		forever   bool
		want      time.Time
		wantOK    bool
	}{
		{name: "forever keeps the key", retiredAt: epoch, lifetime: time.Hour, forever: true},
		{name: "retired plus lifetime", retiredAt: epoch, lifetime: 24 * time.Hour, want: epoch.Add(24 * time.Hour), wantOK: true},
		{name: "rounded up to whole seconds", retiredAt: epoch.Add(time.Nanosecond), lifetime: time.Hour, want: epoch.Add(time.Hour + time.Second), wantOK: true},
		{name: "lifetime with a fraction rounds up", retiredAt: epoch, lifetime: time.Hour + time.Nanosecond, want: epoch.Add(time.Hour + time.Second), wantOK: true},
		{name: "forever wins over zero lifetime", retiredAt: epoch, forever: true},
		{name: "zero lifetime (no templates): at retirement", retiredAt: epoch, want: epoch, wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := RemoveAt(tt.retiredAt, tt.lifetime, tt.forever)
			if ok != tt.wantOK || !got.Equal(tt.want) {
				t.Errorf("RemoveAt() = (%v, %v), want (%v, %v)", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestNextCheck(t *testing.T) {
	now := epoch
	tests := []struct {
		name     string
		instants []*time.Time
		want     *time.Time
	}{
		{name: "no instants", want: nil},
		{name: "only nils", instants: []*time.Time{nil, nil}, want: nil},
		{name: "now itself is not after now", instants: []*time.Time{tp(now)}, want: nil},
		{name: "past instants are skipped", instants: []*time.Time{tp(now.Add(-time.Hour)), tp(now.Add(-time.Nanosecond))}, want: nil},
		{name: "one nanosecond after now", instants: []*time.Time{tp(now.Add(time.Nanosecond))}, want: tp(now.Add(time.Nanosecond))},
		{
			name:     "earliest future instant wins",
			instants: []*time.Time{tp(now.Add(3 * time.Hour)), nil, tp(now.Add(-time.Hour)), tp(now.Add(time.Hour)), tp(now), tp(now.Add(2 * time.Hour))},
			want:     tp(now.Add(time.Hour)),
		},
		{
			name:     "equal instants in other locations",
			instants: []*time.Time{tp(now.Add(time.Hour).In(time.FixedZone("X", 7200))), tp(now.Add(time.Hour))},
			want:     tp(now.Add(time.Hour)),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextCheck(now, tt.instants...)
			switch {
			case got == nil && tt.want == nil:
			case got == nil || tt.want == nil:
				t.Errorf("NextCheck() = %v, want %v", got, tt.want)
			case !got.Equal(*tt.want):
				t.Errorf("NextCheck() = %v, want %v", *got, *tt.want)
			}
		})
	}
}
