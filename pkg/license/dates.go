package license

import (
	"fmt"
	"time"
)

// The dates kubelicense reads, in Unix seconds: the years 1970 to 9999.
// time.Unix wraps around far beyond them, so a date from outside that is not
// checked can read as its opposite (an nbf of MaxInt64 as long past).
const (
	MinUnixTime int64 = 0            // 1970-01-01T00:00:00Z
	MaxUnixTime int64 = 253402300799 // 9999-12-31T23:59:59Z
)

// dateRange describes the bounds in messages.
const dateRange = "Unix seconds from 0 to 253402300799, the years 1970 to 9999"

// UnixTime is sec Unix seconds as a UTC time, or a MALFORMED *Error when sec
// lies outside MinUnixTime..MaxUnixTime. Every Unix time read from outside
// (tokens, requests, files) goes through it, or CheckUnixTime, once where it
// is parsed, before it becomes a time.Time.
func UnixTime(sec int64) (time.Time, error) {
	if err := CheckUnixTime(sec); err != nil {
		return time.Time{}, err
	}
	return time.Unix(sec, 0).UTC(), nil
}

// CheckUnixTime is nil when sec is a date UnixTime accepts, else a MALFORMED
// *Error saying why.
func CheckUnixTime(sec int64) error {
	if inDateRange(sec) {
		return nil
	}
	return newError(CodeMalformed, nil, fmt.Sprintf("date %d is outside the %s; send a Unix time in seconds", sec, dateRange))
}

func inDateRange(sec int64) bool { return sec >= MinUnixTime && sec <= MaxUnixTime }

// CheckDates is nil when every date in c (iat, nbf, exp and each license's
// startsAt, validUntil and graceUntil) lies within MinUnixTime..MaxUnixTime,
// else a MALFORMED *Error naming the first that does not. Verify applies it
// to every token; an issuer applies it before signing.
func (c *Claims) CheckDates() error {
	for _, d := range [...]struct {
		name string
		sec  int64
	}{{"iat", c.IssuedAt}, {"nbf", c.NotBefore}, {"exp", c.Expiry}} {
		if !inDateRange(d.sec) {
			return newError(CodeMalformed, nil, fmt.Sprintf("token claim %q is %d, outside the %s; re-issue the token", d.name, d.sec, dateRange))
		}
	}
	for i := range c.Licenses {
		g := &c.Licenses[i]
		for _, d := range [...]struct {
			name string
			sec  int64
		}{{"startsAt", g.StartsAt}, {"validUntil", g.ValidUntil}, {"graceUntil", g.GraceUntil}} {
			if !inDateRange(d.sec) {
				return newError(CodeMalformed, nil, fmt.Sprintf("token license %s (licenses[%d]): %q is %d, outside the %s; re-issue the token", QuoteUntrusted(g.Name), i, d.name, d.sec, dateRange))
			}
		}
	}
	return nil
}
