package license

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	json "github.com/go-json-experiment/json"
)

// Revocation is the notice the operator leaves in license.json of a license
// Secret when it removes the token (a template with onExpiry: Revoke, once
// nothing entitles):
//
//	{"revoked": true, "reason": "...", "licensee": "...", "product": "...", "revokedAt": "<RFC 3339>"}
//
// The notice is not signed. That is safe because it can only take a license
// away: a Secret without a token entitles nothing whatever license.json says.
type Revocation struct {
	// Reason is the operator's explanation, for people.
	Reason string
	// Licensee and Product name whose license it was; either may be empty.
	Licensee string
	Product  string
	// RevokedAt is when the token was removed, in UTC.
	RevokedAt time.Time
}

const (
	// maxRevocationSize bounds the work done on the notice; the operator
	// writes a few hundred bytes.
	maxRevocationSize = 64 << 10
	// maxReasonEcho bounds how much of the reason a message repeats; Reason
	// itself keeps all of it.
	maxReasonEcho = 1024
)

// revocationJSON is the wire form: pointers tell a member that is absent (or
// null) from a zero value.
type revocationJSON struct {
	Revoked   *bool   `json:"revoked"`
	Reason    string  `json:"reason"`
	Licensee  string  `json:"licensee"`
	Product   string  `json:"product"`
	RevokedAt *string `json:"revokedAt"`
}

// ParseRevocation parses license.json of a license Secret that holds no
// license.jwt. It is strict, as for anything read from outside: one JSON
// object with exactly the operator's members (names match case-sensitively, no
// duplicates, no unknown members, valid UTF-8, nothing after it), "revoked"
// true, "revokedAt" an RFC 3339 time between 1970 and 9999, and no control
// characters in the texts (they end up in terminals and logs). Errors are
// *Error with code MALFORMED.
func ParseRevocation(data []byte) (*Revocation, error) {
	const fix = "the operator writes it when it removes the token; delete the Secret to have the operator write it again"
	if len(data) > maxRevocationSize {
		return nil, newError(CodeMalformed, nil, fmt.Sprintf("license.json is %d bytes, more than the %d a revocation notice may have; %s", len(data), maxRevocationSize, fix))
	}
	var w revocationJSON
	if err := json.Unmarshal(data, &w, json.RejectUnknownMembers(true)); err != nil {
		return nil, newError(CodeMalformed, err, `license.json is not valid JSON for a revocation notice {"revoked": true, "reason", "licensee", "product", "revokedAt"}; `+fix)
	}
	if w.Revoked == nil || !*w.Revoked {
		return nil, newError(CodeMalformed, nil, `license.json is not a revocation notice: "revoked" is not true; `+fix)
	}
	if w.RevokedAt == nil {
		return nil, newError(CodeMalformed, nil, `license.json has no "revokedAt"; `+fix)
	}
	at, err := time.Parse(time.RFC3339, *w.RevokedAt)
	if err != nil {
		return nil, newError(CodeMalformed, err, fmt.Sprintf(`license.json "revokedAt" %s is not an RFC 3339 time; %s`, QuoteUntrusted(*w.RevokedAt), fix))
	}
	if !inDateRange(at.Unix()) {
		return nil, newError(CodeMalformed, nil, fmt.Sprintf(`license.json "revokedAt" %s is outside the %s; %s`, QuoteUntrusted(*w.RevokedAt), dateRange, fix))
	}
	for name, text := range map[string]string{"reason": w.Reason, "licensee": w.Licensee, "product": w.Product} {
		if i := strings.IndexFunc(text, unicode.IsControl); i >= 0 {
			return nil, newError(CodeMalformed, nil, fmt.Sprintf(`license.json %q holds a control character (%U at byte %d); %s`, name, []rune(text[i:])[0], i, fix))
		}
	}
	return &Revocation{Reason: w.Reason, Licensee: w.Licensee, Product: w.Product, RevokedAt: at.UTC()}, nil
}

// Err is the revocation as a REVOKED *Error: whose license, since when, why,
// and what to do.
func (r *Revocation) Err() *Error {
	var whose string
	if r.Licensee != "" {
		whose += " of licensee " + QuoteUntrusted(r.Licensee)
	}
	if r.Product != "" {
		whose += " for product " + QuoteUntrusted(r.Product)
	}
	reason := truncate(r.Reason, maxReasonEcho)
	if reason == "" {
		reason = "no reason given"
	}
	return newError(CodeRevoked, nil, fmt.Sprintf("the license%s was revoked at %s: %s; the operator removed the token, renew the license to have a new one issued",
		whose, r.RevokedAt.UTC().Format(time.RFC3339), reason))
}
