package license

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// operatorNotice is license.json exactly as the operator writes it when it
// removes a token (internal/issuance.RevokedContent: indented, newline at the end).
const operatorNotice = `{
  "revoked": true,
  "reason": "License main expired on 2026-02-28 and onExpiry is Revoke",
  "licensee": "globex",
  "product": "acme-db",
  "revokedAt": "2026-03-01T11:00:00Z"
}
`

func TestParseRevocation(t *testing.T) {
	r, err := ParseRevocation([]byte(operatorNotice))
	if err != nil {
		t.Fatal(err)
	}
	want := Revocation{
		Reason:    "License main expired on 2026-02-28 and onExpiry is Revoke",
		Licensee:  "globex",
		Product:   "acme-db",
		RevokedAt: time.Date(2026, 3, 1, 11, 0, 0, 0, time.UTC),
	}
	if *r != want {
		t.Errorf("ParseRevocation() =\n %+v\nwant\n %+v", *r, want)
	}

	e := r.Err()
	if e.Code != CodeRevoked {
		t.Errorf("Err().Code = %s, want REVOKED", e.Code)
	}
	for _, part := range []string{"globex", "acme-db", "2026-03-01T11:00:00Z", want.Reason} {
		if !strings.Contains(e.Message, part) {
			t.Errorf("Err().Message %q does not mention %q", e.Message, part)
		}
	}
	if CodeOf(error(e)) != CodeRevoked {
		t.Errorf("CodeOf(Err()) = %q", CodeOf(error(e)))
	}

	// Fractional seconds and offsets are read as the same instant in UTC.
	r, err = ParseRevocation([]byte(`{"revoked":true,"reason":"r","revokedAt":"2026-03-01T12:00:00.5+01:00"}`))
	if err != nil {
		t.Fatal(err)
	}
	if !r.RevokedAt.Equal(time.Date(2026, 3, 1, 11, 0, 0, 5e8, time.UTC)) || r.RevokedAt.Location() != time.UTC {
		t.Errorf("RevokedAt = %s", r.RevokedAt)
	}
	// Without licensee and product (they are for people), the message still reads.
	if msg := r.Err().Message; !strings.HasPrefix(msg, "the license was revoked at 2026-03-01T11:00:00Z: r;") {
		t.Errorf("message %q", msg)
	}

	// The message repeats a bounded part of what the file says; the fields keep all.
	long := strings.Repeat("y", 4000)
	r, err = ParseRevocation([]byte(`{"revoked":true,"reason":"` + long + `","licensee":"` + long + `","revokedAt":"2026-03-01T11:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if msg := r.Err().Message; len(msg) > 2000 || !strings.Contains(msg, "(4000 bytes)") {
		t.Errorf("message of %d bytes repeats the notice unbounded: %.200q", len(msg), msg)
	}
	if r.Reason != long || r.Licensee != long {
		t.Error("Reason and Licensee were cut")
	}
	// The edges of the date range.
	for _, at := range []string{"1970-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59.999Z"} {
		if _, err := ParseRevocation([]byte(`{"revoked":true,"reason":"r","revokedAt":"` + at + `"}`)); err != nil {
			t.Errorf("revokedAt %s: %v", at, err)
		}
	}
}

func TestParseRevocationRejects(t *testing.T) {
	long := `"` + strings.Repeat("x", maxRevocationSize) + `"`
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "not valid JSON"},
		{"not JSON", `revoked`, "not valid JSON"},
		{"array", `[]`, "not valid JSON"},
		{"claims of a live token", `{"iss":"licensing.kubelicense.io/licensing/acme-db","sub":"globex"}`, `unknown`},
		{"not revoked", `{"revoked":false,"reason":"r","revokedAt":"2026-03-01T11:00:00Z"}`, `"revoked" is not true`},
		{"revoked missing", `{"reason":"r","revokedAt":"2026-03-01T11:00:00Z"}`, `"revoked" is not true`},
		{"revoked null", `{"revoked":null,"reason":"r","revokedAt":"2026-03-01T11:00:00Z"}`, `"revoked" is not true`},
		{"revoked as a string", `{"revoked":"true","reason":"r","revokedAt":"2026-03-01T11:00:00Z"}`, "not valid JSON"},
		{"revokedAt missing", `{"revoked":true,"reason":"r"}`, `no "revokedAt"`},
		{"revokedAt not RFC 3339", `{"revoked":true,"reason":"r","revokedAt":"yesterday"}`, `"revokedAt"`},
		{"revokedAt as a number", `{"revoked":true,"reason":"r","revokedAt":1772362800}`, "not valid JSON"},
		{"revokedAt before 1970", `{"revoked":true,"reason":"r","revokedAt":"1969-12-31T23:59:59Z"}`, "the years 1970 to 9999"},
		{"revokedAt just before 1970", `{"revoked":true,"reason":"r","revokedAt":"1969-12-31T23:59:59.999Z"}`, "the years 1970 to 9999"},
		{"revokedAt year 0", `{"revoked":true,"reason":"r","revokedAt":"0000-01-01T00:00:00Z"}`, "the years 1970 to 9999"},
		{"revokedAt past 9999 by its offset", `{"revoked":true,"reason":"r","revokedAt":"9999-12-31T23:00:00-02:00"}`, "the years 1970 to 9999"},
		{"duplicate member", `{"revoked":true,"revoked":true,"reason":"r","revokedAt":"2026-03-01T11:00:00Z"}`, "not valid JSON"},
		{"member in another case", `{"Revoked":true,"reason":"r","revokedAt":"2026-03-01T11:00:00Z"}`, "unknown"},
		{"unknown member", `{"revoked":true,"reason":"r","revokedAt":"2026-03-01T11:00:00Z","until":"never"}`, "unknown"},
		{"trailing data", `{"revoked":true,"reason":"r","revokedAt":"2026-03-01T11:00:00Z"} {}`, "not valid JSON"},
		{"invalid UTF-8", "{\"revoked\":true,\"reason\":\"\xff\",\"revokedAt\":\"2026-03-01T11:00:00Z\"}", "not valid JSON"},
		{"control character in reason", `{"revoked":true,"reason":"\u001b[2Jrenewed","revokedAt":"2026-03-01T11:00:00Z"}`, "control character"},
		{"control character in licensee", `{"revoked":true,"reason":"r","licensee":"a\nb","revokedAt":"2026-03-01T11:00:00Z"}`, "control character"},
		{"too large", `{"revoked":true,"reason":` + long + `,"revokedAt":"2026-03-01T11:00:00Z"}`, "bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRevocation([]byte(tt.data))
			if err == nil {
				t.Fatalf("ParseRevocation() = %+v, want an error", r)
			}
			if CodeOf(err) != CodeMalformed || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRevocation() error = %v, want MALFORMED mentioning %q", err, tt.want)
			}
			if !strings.Contains(err.Error(), "license.json") {
				t.Errorf("error %q does not name license.json", err)
			}
		})
	}
}

func FuzzParseRevocation(f *testing.F) {
	f.Add([]byte(operatorNotice))
	f.Add([]byte(`{"revoked":true,"reason":"","revokedAt":"9999-12-31T23:59:59Z"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRevocation(data)
		if err != nil {
			if CodeOf(err) != CodeMalformed {
				t.Fatalf("error without MALFORMED: %v", err)
			}
			return
		}
		if y := r.RevokedAt.Year(); y < 1970 || y > 9999 || r.RevokedAt.Location() != time.UTC {
			t.Fatalf("RevokedAt %s accepted", r.RevokedAt)
		}
		if r.Err().Code != CodeRevoked {
			t.Fatal("Err() is not REVOKED")
		}
	})
}

// A Secret without license.jwt may hold the operator's revocation notice in
// license.json; it says why the license is gone.
func ExampleParseRevocation() {
	r, err := ParseRevocation([]byte(operatorNotice))
	if err != nil {
		fmt.Println(CodeOf(err)) // MALFORMED: not a notice
		return
	}
	fmt.Println(r.Err())
	// Output: REVOKED: the license of licensee "globex" for product "acme-db" was revoked at 2026-03-01T11:00:00Z: License main expired on 2026-02-28 and onExpiry is Revoke; the operator removed the token, renew the license to have a new one issued
}
