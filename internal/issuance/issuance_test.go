package issuance

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

var (
	now  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	jwks = []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"k-1","x":"AAAA"}]}`)
)

func sampleClaims() license.Claims {
	return license.Claims{
		Issuer:   license.IssuerPrefix + "licensing/acme-db",
		Subject:  "globex",
		Audience: []string{"acme-db"},
		Licensee: license.LicenseeInfo{Name: "globex", DisplayName: "Globex Corp.", ExternalID: "crm-00042"},
		Product:  license.ProductInfo{Name: "acme-db", DisplayName: "Acme DB"},
		Licenses: []license.Grant{{
			Name: "main", Template: "enterprise-annual", Type: "Subscription",
			StartsAt: now.Add(-24 * time.Hour).Unix(), ValidUntil: now.Add(30 * 24 * time.Hour).Unix(),
			Features: []string{"backup", "replication"}, Quotas: map[string]int64{"nodes": 20, "users": 50},
		}},
		Features: []string{"backup", "replication"},
		Quotas:   map[string]int64{"nodes": 20, "users": 50},
	}
}

func sampleDesired() Desired {
	return Desired{
		Claims: sampleClaims(),
		States: map[string]v1alpha1.LicenseState{"main": v1alpha1.LicenseStateValid, "addon": v1alpha1.LicenseStatePending},
		KeyID:  "k-1",
		Now:    now,
	}
}

// signed is what a re-issue at issuedAt would sign for d.
func signed(d Desired, serial string, issuedAt time.Time, exp int64) license.Claims {
	c := d.Claims
	c.ID, c.IssuedAt, c.NotBefore, c.Expiry = serial, issuedAt.Unix(), issuedAt.Unix(), exp
	return c
}

// written is the Secret as the controller writes it for d at issuedAt.
func written(t *testing.T, d Desired, issuedAt time.Time) Existing {
	t.Helper()
	var content SecretContent
	var err error
	if d.Revoke {
		content, err = RevokedContent(d, jwks)
	} else {
		content, err = TokenContent(d, signed(d, "serial-1", issuedAt, issuedAt.Add(24*time.Hour).Unix()), "header.payload.sig", jwks)
	}
	if err != nil {
		t.Fatal(err)
	}
	return Existing{Found: true, Data: content.Data, Annotations: content.Annotations}
}

func TestFingerprint(t *testing.T) {
	base := sampleDesired()
	fp := base.Fingerprint()
	if fp == "" {
		t.Fatal("empty fingerprint")
	}
	if again := sampleDesired().Fingerprint(); again != fp {
		t.Fatalf("same inputs, different fingerprints: %s vs %s", fp, again)
	}

	same := []struct {
		name   string
		change func(*Desired)
	}{
		{"serial", func(d *Desired) { d.Claims.ID = "another-serial" }},
		{"issued at", func(d *Desired) { d.Claims.IssuedAt = now.Unix() }},
		{"not before", func(d *Desired) { d.Claims.NotBefore = now.Unix() }},
		{"expiry", func(d *Desired) { d.Claims.Expiry = now.Add(time.Hour).Unix() }},
		{"now", func(d *Desired) { d.Now = now.Add(time.Hour) }},
		{"refresh func", func(d *Desired) { d.RefreshAt = func(time.Time) *time.Time { return &now } }},
		{"renew request", func(d *Desired) { d.RenewRequested = true }},
		{"revoke reason", func(d *Desired) { d.RevokeReason = "contract ended" }},
		{"quotas built in another order", func(d *Desired) {
			q := map[string]int64{}
			q["users"], q["nodes"] = 50, 20
			d.Claims.Quotas = q
		}},
		{"states built in another order", func(d *Desired) {
			s := map[string]v1alpha1.LicenseState{}
			s["addon"], s["main"] = v1alpha1.LicenseStatePending, v1alpha1.LicenseStateValid
			d.States = s
		}},
	}
	for _, tt := range same {
		t.Run("ignores "+tt.name, func(t *testing.T) {
			d := sampleDesired()
			tt.change(&d)
			if got := d.Fingerprint(); got != fp {
				t.Errorf("fingerprint changed to %s, want %s", got, fp)
			}
		})
	}

	differs := []struct {
		name   string
		change func(*Desired)
	}{
		{"a feature added", func(d *Desired) { d.Claims.Features = append(d.Claims.Features, "audit") }},
		{"a feature removed from a grant", func(d *Desired) { d.Claims.Licenses[0].Features = []string{"backup"} }},
		{"a quota value", func(d *Desired) { d.Claims.Quotas = map[string]int64{"nodes": 21, "users": 50} }},
		{"a grant quota", func(d *Desired) { d.Claims.Licenses[0].Quotas = map[string]int64{"nodes": 20} }},
		{"a grant window", func(d *Desired) { d.Claims.Licenses[0].ValidUntil++ }},
		{"suspension", func(d *Desired) { d.Claims.Licensee.Suspended = true }},
		{"a license state", func(d *Desired) {
			d.States = map[string]v1alpha1.LicenseState{"main": v1alpha1.LicenseStateInGracePeriod, "addon": v1alpha1.LicenseStatePending}
		}},
		{"a license added", func(d *Desired) {
			d.States = map[string]v1alpha1.LicenseState{"main": v1alpha1.LicenseStateValid, "addon": v1alpha1.LicenseStatePending, "extra": v1alpha1.LicenseStateValid}
		}},
		{"a license renamed", func(d *Desired) {
			d.States = map[string]v1alpha1.LicenseState{"main": v1alpha1.LicenseStateValid, "addon2": v1alpha1.LicenseStatePending}
		}},
		{"the key id", func(d *Desired) { d.KeyID = "k-2" }},
		{"the revoke flag", func(d *Desired) { d.Revoke = true }},
	}
	for _, tt := range differs {
		t.Run("changes with "+tt.name, func(t *testing.T) {
			d := sampleDesired()
			tt.change(&d)
			if got := d.Fingerprint(); got == fp {
				t.Errorf("fingerprint unchanged (%s)", got)
			}
		})
	}

	t.Run("does not modify the claims", func(t *testing.T) {
		d := sampleDesired()
		d.Claims = signed(d, "s", now, now.Add(time.Hour).Unix())
		before := d.Claims
		_ = d.Fingerprint()
		if d.Claims.ID != before.ID || d.Claims.IssuedAt != before.IssuedAt || d.Claims.Expiry != before.Expiry {
			t.Errorf("Fingerprint modified the claims: %+v", d.Claims)
		}
	})
}

func TestNeedsReissue(t *testing.T) {
	issuedAt := now.Add(-time.Hour)
	// refreshAfter is a RefreshAt that asks for a new token period after issue.
	refreshAfter := func(period time.Duration) func(time.Time) *time.Time {
		return func(at time.Time) *time.Time {
			r := at.Add(period)
			return &r
		}
	}
	never := func(time.Time) *time.Time { return nil }

	tests := []struct {
		name string
		// issued is what was written (nil: the sample); desired what is wanted now.
		issued   func(*Desired)
		existing func(e *Existing)
		desired  func(*Desired)
		want     string
	}{
		{name: "adopt: nothing changed"},
		{
			// Crash safety: the Secret was written, status was not; a later run with
			// a new serial and time in its claims still adopts the Secret.
			name: "adopt after a crash: claims built at another time",
			desired: func(d *Desired) {
				d.Claims = signed(*d, "", now.Add(time.Minute), now.Add(25*time.Hour).Unix())
				d.Now = now.Add(time.Minute)
			},
		},
		{
			name:    "adopt: refresh not yet due",
			desired: func(d *Desired) { d.RefreshAt = refreshAfter(time.Hour + time.Second) },
		},
		{
			name:    "adopt: no refresh instant",
			desired: func(d *Desired) { d.RefreshAt = never },
		},
		{
			name:     "adopt: operator-owned annotations only, foreign ones ignored",
			existing: func(e *Existing) { e.Annotations["example.com/owner"] = "team-a" },
		},
		{
			name:     "secret missing",
			existing: func(e *Existing) { *e = Existing{} },
			want:     ReasonSecretMissing,
		},
		{
			name:     "secret missing wins over everything",
			existing: func(e *Existing) { *e = Existing{} },
			desired: func(d *Desired) {
				d.KeyID, d.Revoke, d.RenewRequested = "k-2", true, true
			},
			want: ReasonSecretMissing,
		},
		{
			name:     "tampered: a data byte changed",
			existing: func(e *Existing) { e.Data[v1alpha1.LicenseTokenKey][0] ^= 1 },
			want:     ReasonDataTampered,
		},
		{
			name:     "tampered: license.json edited",
			existing: func(e *Existing) { e.Data[v1alpha1.LicenseJSONKey] = []byte(`{"features":["everything"]}`) },
			want:     ReasonDataTampered,
		},
		{
			name:     "tampered: a key added",
			existing: func(e *Existing) { e.Data["extra"] = []byte("x") },
			want:     ReasonDataTampered,
		},
		{
			name:     "tampered: an empty key added",
			existing: func(e *Existing) { e.Data["extra"] = nil },
			want:     ReasonDataTampered,
		},
		{
			name:     "tampered: a key removed",
			existing: func(e *Existing) { delete(e.Data, v1alpha1.JWKSKey) },
			want:     ReasonDataTampered,
		},
		{
			name: "tampered: a key renamed",
			existing: func(e *Existing) {
				e.Data["jwks.jsn"] = e.Data[v1alpha1.JWKSKey]
				delete(e.Data, v1alpha1.JWKSKey)
			},
			want: ReasonDataTampered,
		},
		{
			name:     "tampered: hash annotation removed",
			existing: func(e *Existing) { delete(e.Annotations, v1alpha1.AnnotationDataHash) },
			want:     ReasonDataTampered,
		},
		{
			name:     "tampered wins over changed claims",
			existing: func(e *Existing) { e.Data[v1alpha1.LicenseTokenKey] = []byte("forged") },
			desired:  func(d *Desired) { d.KeyID = "k-2"; d.RenewRequested = true },
			want:     ReasonDataTampered,
		},
		{
			name:    "claims changed: a feature",
			desired: func(d *Desired) { d.Claims.Features = []string{"backup"} },
			want:    ReasonClaimsChanged,
		},
		{
			name: "claims changed: a license went into grace",
			desired: func(d *Desired) {
				d.States = map[string]v1alpha1.LicenseState{"main": v1alpha1.LicenseStateInGracePeriod, "addon": v1alpha1.LicenseStatePending}
			},
			want: ReasonClaimsChanged,
		},
		{
			// The key id is part of the fingerprint, so a rotation reads as a claims change.
			name:    "claims changed: the key rotated",
			desired: func(d *Desired) { d.KeyID = "k-2" },
			want:    ReasonClaimsChanged,
		},
		{
			name:     "claims changed: fingerprint annotation missing",
			existing: func(e *Existing) { delete(e.Annotations, AnnotationFingerprint) },
			want:     ReasonClaimsChanged,
		},
		{
			name:    "claims changed: now revoked",
			desired: func(d *Desired) { d.Revoke = true },
			want:    ReasonClaimsChanged,
		},
		{
			name:   "claims changed: reinstated after revocation",
			issued: func(d *Desired) { d.Revoke = true },
			want:   ReasonClaimsChanged,
		},
		{
			name:     "claims changed wins over refresh and renew",
			existing: func(e *Existing) { delete(e.Annotations, AnnotationFingerprint) },
			desired: func(d *Desired) {
				d.RefreshAt, d.RenewRequested = refreshAfter(0), true
			},
			want: ReasonClaimsChanged,
		},
		{
			name:     "no token",
			existing: func(e *Existing) { rehash(e, func(data map[string][]byte) { delete(data, v1alpha1.LicenseTokenKey) }) },
			want:     ReasonNoToken,
		},
		{
			name: "no token: empty value",
			existing: func(e *Existing) {
				rehash(e, func(data map[string][]byte) { data[v1alpha1.LicenseTokenKey] = []byte{} })
			},
			want: ReasonNoToken,
		},
		{
			name:     "signing key changed",
			existing: func(e *Existing) { e.Annotations[v1alpha1.AnnotationKeyID] = "k-0" },
			want:     ReasonSigningKeyChanged,
		},
		{
			name:     "signing key changed wins over refresh",
			existing: func(e *Existing) { e.Annotations[v1alpha1.AnnotationKeyID] = "k-0" },
			desired:  func(d *Desired) { d.RefreshAt = refreshAfter(0) },
			want:     ReasonSigningKeyChanged,
		},
		{
			name:    "refresh due exactly at the instant",
			desired: func(d *Desired) { d.RefreshAt = refreshAfter(time.Hour) },
			want:    ReasonRefreshDue,
		},
		{
			name:    "refresh not due one second before",
			desired: func(d *Desired) { d.RefreshAt = refreshAfter(time.Hour); d.Now = now.Add(-time.Second) },
		},
		{
			name:    "refresh long overdue",
			desired: func(d *Desired) { d.RefreshAt = refreshAfter(time.Minute) },
			want:    ReasonRefreshDue,
		},
		{
			name:     "refresh due: issue time missing",
			existing: func(e *Existing) { delete(e.Annotations, v1alpha1.AnnotationIssuedAt) },
			desired:  func(d *Desired) { d.RefreshAt = never },
			want:     ReasonRefreshDue,
		},
		{
			name:     "refresh due: issue time unparsable",
			existing: func(e *Existing) { e.Annotations[v1alpha1.AnnotationIssuedAt] = "yesterday" },
			desired:  func(d *Desired) { d.RefreshAt = never },
			want:     ReasonRefreshDue,
		},
		{
			name:     "issue time ignored without short-lived tokens",
			existing: func(e *Existing) { delete(e.Annotations, v1alpha1.AnnotationIssuedAt) },
		},
		{
			name:    "refresh due wins over renew",
			desired: func(d *Desired) { d.RefreshAt = refreshAfter(0); d.RenewRequested = true },
			want:    ReasonRefreshDue,
		},
		{
			name:    "renew requested",
			desired: func(d *Desired) { d.RenewRequested = true },
			want:    ReasonRenewRequested,
		},
		{
			name:   "revoked: adopted while still revoked",
			issued: func(d *Desired) { d.Revoke = true; d.RevokeReason = "expired" },
			desired: func(d *Desired) {
				d.Revoke, d.RefreshAt = true, refreshAfter(0)
				d.Now = now.Add(24 * time.Hour)
			},
		},
		{
			name:    "revoked: renew still rewrites the notice",
			issued:  func(d *Desired) { d.Revoke = true },
			desired: func(d *Desired) { d.Revoke, d.RenewRequested = true, true },
			want:    ReasonRenewRequested,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			issued := sampleDesired()
			if tt.issued != nil {
				tt.issued(&issued)
			}
			e := written(t, issued, issuedAt)
			if tt.existing != nil {
				tt.existing(&e)
			}
			d := sampleDesired()
			if tt.desired != nil {
				tt.desired(&d)
			}
			reason, message, reissue := NeedsReissue(d, e)
			if reason != tt.want || reissue != (tt.want != "") {
				t.Fatalf("NeedsReissue() = (%q, %q, %v), want reason %q", reason, message, reissue, tt.want)
			}
			if reissue && message == "" {
				t.Errorf("reason %s without a message", reason)
			}
			if !reissue && (reason != "" || message != "") {
				t.Errorf("adopted with reason %q, message %q", reason, message)
			}
			// The controller's cache keeps a Digest instead of the data: the
			// verdict must be the same from it.
			if e.Found {
				digest := DigestOf(e.Data)
				slim := Existing{Found: true, Digest: &digest, Annotations: e.Annotations}
				if r, _, again := NeedsReissue(d, slim); r != reason || again != reissue {
					t.Errorf("from the digest: NeedsReissue() = (%q, %v), from the data (%q, %v)", r, again, reason, reissue)
				}
			}
		})
	}
}

func TestDigestOf(t *testing.T) {
	d := sampleDesired()
	content, err := TokenContent(d, signed(d, "s-1", now, 0), "header.payload.sig", jwks)
	if err != nil {
		t.Fatal(err)
	}
	got := DigestOf(content.Data)
	want := Digest{
		Hash: DataHash(content.Data), Token: true, JWKS: JWKSHash(jwks),
		Starts: map[string]int64{"main": now.Add(-24 * time.Hour).Unix()},
	}
	if got.Hash != want.Hash || got.Token != want.Token || got.JWKS != want.JWKS || !maps.Equal(got.Starts, want.Starts) {
		t.Fatalf("DigestOf(token content) = %+v, want %+v", got, want)
	}
	if JWKSHash(jwks) == JWKSHash(append([]byte(" "), jwks...)) {
		t.Error("JWKSHash does not tell two key sets apart")
	}

	revoked, err := RevokedContent(Desired{Revoke: true, Now: now}, jwks)
	if err != nil {
		t.Fatal(err)
	}
	if got := DigestOf(revoked.Data); got.Token || got.Starts != nil || got.JWKS != JWKSHash(jwks) {
		t.Errorf("DigestOf(revoked) = %+v: no token, no starts, the key set's hash", got)
	}
	// Starts are only read next to a token, and a broken license.json gives none.
	broken := maps.Clone(content.Data)
	broken[v1alpha1.LicenseJSONKey] = []byte("{")
	if got := DigestOf(broken); got.Starts != nil || !got.Token {
		t.Errorf("DigestOf(broken license.json) = %+v", got)
	}
	if got := DigestOf(nil); got.Token || got.JWKS != "" || got.Hash != DataHash(nil) {
		t.Errorf("DigestOf(nil) = %+v", got)
	}
}

// rehash edits the data and then updates the hash annotation, as a writer that
// knows the scheme would: the check after DataTampered must still catch it.
func rehash(e *Existing, edit func(map[string][]byte)) {
	edit(e.Data)
	e.Annotations[v1alpha1.AnnotationDataHash] = DataHash(e.Data)
}

func TestExisting(t *testing.T) {
	tests := []struct {
		name   string
		e      Existing
		exists bool
	}{
		{"nothing", Existing{}, false},
		{"empty data", Existing{Found: true, Data: map[string][]byte{}}, true},
		{"annotations only", Existing{Found: true, Annotations: map[string]string{}}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Exists(); got != tt.exists {
				t.Errorf("Exists() = %v, want %v", got, tt.exists)
			}
		})
	}

	e := written(t, sampleDesired(), now.Add(1500*time.Millisecond))
	if got, want := e.IssuedAt(), now.Add(time.Second); !got.Equal(want) {
		t.Errorf("IssuedAt() = %v, want %v", got, want)
	}
	if got := e.Serial(); got != "serial-1" {
		t.Errorf("Serial() = %q, want serial-1", got)
	}
	if got := (Existing{}).IssuedAt(); !got.IsZero() {
		t.Errorf("IssuedAt() of no Secret = %v, want zero", got)
	}
}

func TestDataHash(t *testing.T) {
	base := map[string][]byte{"a": []byte("12"), "b": []byte("3"), "c": nil}
	h := DataHash(base)
	if len(h) != 32 {
		t.Errorf("DataHash length %d, want 32 hex digits", len(h))
	}
	// Built in the other order: Go map iteration differs, the hash must not.
	reordered := map[string][]byte{}
	reordered["c"], reordered["b"], reordered["a"] = nil, []byte("3"), []byte("12")
	for range 20 {
		if got := DataHash(reordered); got != h {
			t.Fatalf("DataHash depends on map order: %s vs %s", got, h)
		}
	}
	if got := DataHash(maps.Clone(base)); got != h {
		t.Errorf("DataHash of a copy = %s, want %s", got, h)
	}

	differs := []struct {
		name string
		data map[string][]byte
	}{
		{"a byte moved to the next key", map[string][]byte{"a": []byte("1"), "b": []byte("23"), "c": nil}},
		{"values swapped between keys", map[string][]byte{"a": []byte("3"), "b": []byte("12"), "c": nil}},
		{"key name moved into the value", map[string][]byte{"a": []byte("12"), "b3": nil, "c": nil}},
		{"a key renamed", map[string][]byte{"a": []byte("12"), "B": []byte("3"), "c": nil}},
		{"an empty key removed", map[string][]byte{"a": []byte("12"), "b": []byte("3")}},
		{"an empty key added", map[string][]byte{"a": []byte("12"), "b": []byte("3"), "c": nil, "d": nil}},
		{"a value changed", map[string][]byte{"a": []byte("13"), "b": []byte("3"), "c": nil}},
		{"a byte appended", map[string][]byte{"a": []byte("12"), "b": []byte("3"), "c": []byte{0}}},
	}
	for _, tt := range differs {
		t.Run(tt.name, func(t *testing.T) {
			if got := DataHash(tt.data); got == h {
				t.Errorf("DataHash unchanged (%s)", got)
			}
		})
	}

	if DataHash(nil) != DataHash(map[string][]byte{}) {
		t.Error("nil and empty data hash differently")
	}
	// An empty value and a missing key are different Secrets.
	if DataHash(map[string][]byte{"a": {}}) == DataHash(map[string][]byte{}) {
		t.Error("an empty key does not change the hash")
	}
}

func TestTokenContent(t *testing.T) {
	d := sampleDesired()
	issuedAt := time.Date(2026, 3, 1, 12, 30, 15, 0, time.UTC)
	tests := []struct {
		name        string
		exp         int64
		wantExpires string
	}{
		{"expiring token", issuedAt.Add(24 * time.Hour).Unix(), "2026-03-02T12:30:15Z"},
		{"never-expiring token", 0, "never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims := signed(d, "serial-42", issuedAt, tt.exp)
			content, err := TokenContent(d, claims, "h.p.s", jwks)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(content.Data[v1alpha1.LicenseTokenKey]); got != "h.p.s" {
				t.Errorf("license.jwt = %q", got)
			}
			if got := string(content.Data[v1alpha1.JWKSKey]); got != string(jwks) {
				t.Errorf("jwks.json = %q", got)
			}
			if len(content.Data) != 3 {
				t.Errorf("data keys %v, want exactly license.jwt, license.json, jwks.json", slices.Sorted(maps.Keys(content.Data)))
			}
			js := content.Data[v1alpha1.LicenseJSONKey]
			if !strings.HasSuffix(string(js), "}\n") {
				t.Errorf("license.json does not end in a newline: %q", js)
			}
			var decoded license.Claims
			if err := json.Unmarshal(js, &decoded); err != nil {
				t.Fatalf("license.json: %v", err)
			}
			if decoded.ID != "serial-42" || decoded.IssuedAt != issuedAt.Unix() || decoded.Expiry != tt.exp || decoded.Subject != "globex" {
				t.Errorf("license.json claims = %+v", decoded)
			}

			want := map[string]string{
				v1alpha1.AnnotationLicensee:  "globex",
				v1alpha1.AnnotationProduct:   "acme-db",
				v1alpha1.AnnotationSerial:    "serial-42",
				v1alpha1.AnnotationKeyID:     "k-1",
				v1alpha1.AnnotationIssuedAt:  "2026-03-01T12:30:15Z",
				v1alpha1.AnnotationExpiresAt: tt.wantExpires,
				v1alpha1.AnnotationDataHash:  DataHash(content.Data),
				AnnotationFingerprint:        d.Fingerprint(),
			}
			if !maps.Equal(content.Annotations, want) {
				t.Errorf("annotations\n got %v\nwant %v", content.Annotations, want)
			}
			// What was written is adopted as it is.
			if reason, _, reissue := NeedsReissue(d, Existing{Found: true, Data: content.Data, Annotations: content.Annotations}); reissue {
				t.Errorf("freshly written Secret not adopted: %s", reason)
			}
		})
	}

	t.Run("issued-at in UTC whatever the location", func(t *testing.T) {
		content, err := TokenContent(d, signed(d, "s", issuedAt.In(time.FixedZone("X", -5*3600)), 0), "t", jwks)
		if err != nil {
			t.Fatal(err)
		}
		if got := content.Annotations[v1alpha1.AnnotationIssuedAt]; got != "2026-03-01T12:30:15Z" {
			t.Errorf("issued-at = %q", got)
		}
	})
}

func TestRevokedContent(t *testing.T) {
	d := sampleDesired()
	d.Revoke = true
	d.RevokeReason = "License main expired on 2026-02-28 and onExpiry is Revoke"
	d.Now = time.Date(2026, 3, 1, 12, 0, 0, 700_000_000, time.FixedZone("X", 3600))
	content, err := RevokedContent(d, jwks)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := content.Data[v1alpha1.LicenseTokenKey]; ok {
		t.Error("revoked Secret still has license.jwt")
	}
	if got := string(content.Data[v1alpha1.JWKSKey]); got != string(jwks) {
		t.Errorf("jwks.json = %q", got)
	}
	js := content.Data[v1alpha1.LicenseJSONKey]
	if !strings.HasSuffix(string(js), "\n") {
		t.Errorf("license.json does not end in a newline: %q", js)
	}
	var notice Revocation
	if err := json.Unmarshal(js, &notice); err != nil {
		t.Fatalf("license.json: %v", err)
	}
	want := Revocation{Revoked: true, Reason: d.RevokeReason, Licensee: "globex", Product: "acme-db", RevokedAt: "2026-03-01T11:00:00Z"}
	if notice != want {
		t.Errorf("license.json\n got %+v\nwant %+v", notice, want)
	}
	wantAnnotations := map[string]string{
		v1alpha1.AnnotationLicensee:  "globex",
		v1alpha1.AnnotationProduct:   "acme-db",
		v1alpha1.AnnotationSerial:    "",
		v1alpha1.AnnotationKeyID:     "",
		v1alpha1.AnnotationIssuedAt:  "2026-03-01T11:00:00Z",
		v1alpha1.AnnotationExpiresAt: "revoked",
		v1alpha1.AnnotationDataHash:  DataHash(content.Data),
		AnnotationFingerprint:        d.Fingerprint(),
	}
	if !maps.Equal(content.Annotations, wantAnnotations) {
		t.Errorf("annotations\n got %v\nwant %v", content.Annotations, wantAnnotations)
	}
	if reason, _, reissue := NeedsReissue(d, Existing{Found: true, Data: content.Data, Annotations: content.Annotations}); reissue {
		t.Errorf("freshly written revocation not adopted: %s", reason)
	}
}

func TestRevokedFingerprintIgnoresKeyRotation(t *testing.T) {
	a := Desired{Revoke: true, KeyID: "k-20261123-aaaaaaaaaaaa"}
	b := Desired{Revoke: true, KeyID: "k-20261124-bbbbbbbbbbbb"}
	if a.Fingerprint() != b.Fingerprint() {
		t.Error("a revoked Secret holds no signature: a key rotation must not rewrite it")
	}
	a.Revoke, b.Revoke = false, false
	if a.Fingerprint() == b.Fingerprint() {
		t.Error("a signed token must be re-issued when the key changes")
	}
}
