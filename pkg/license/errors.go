package license

import (
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error is a failed verification. Code is stable and meant for programs; Message
// says what is wrong and what to change, and is meant for people.
type Error struct {
	Code    Code
	Message string
	// Err is the underlying cause, if any (for example a JSON or go-jose error).
	Err error
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Message
	if e.Err != nil {
		s += ": " + truncate(e.Err.Error(), maxCauseEcho)
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the Code of the first *Error in err's chain, or "" when err is
// nil or carries no code (an I/O error, for example).
func CodeOf(err error) Code {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	return ""
}

func newError(code Code, err error, message string) *Error {
	return &Error{Code: code, Message: message, Err: err}
}

// Error messages repeat what a token, JWKS or bundle says (a kid, a typ, an
// issuer) so that a person sees what is wrong. Whoever wrote the input chooses
// its length, so messages repeat only this much of it: a 100 KiB kid must not
// reach logs, metrics and HTTP answers whole.
const (
	// maxEcho bounds one quoted value; real kids, issuers and names are shorter.
	maxEcho = 96
	// maxCauseEcho bounds the message of an underlying cause (a JSON or go-jose
	// error), which can itself quote the input.
	maxCauseEcho = 512
	// maxListEcho bounds how many values of a list are quoted.
	maxListEcho = 4
)

// QuoteUntrusted quotes s for an error message as %q does, keeping at most its
// first 96 bytes and saying how long it was. Use it for every string an error
// repeats from a token, a request or a file (kid, typ, alg, issuer, names), so
// no input is echoed whole.
func QuoteUntrusted(s string) string {
	if len(s) <= maxEcho {
		return strconv.Quote(s)
	}
	return strconv.Quote(cutUTF8(s, maxEcho)) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}

// quoteList is QuoteUntrusted over the first few values of list, in the style
// of %q for a []string.
func quoteList(list []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range list {
		if i == maxListEcho {
			b.WriteString(" and " + strconv.Itoa(len(list)-i) + " more")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(QuoteUntrusted(s))
	}
	b.WriteByte(']')
	return b.String()
}

// truncate cuts s to about n bytes, saying how much was cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := cutUTF8(s, n)
	return cut + "... (" + strconv.Itoa(len(s)-len(cut)) + " more bytes)"
}

// cutUTF8 is s cut to at most n bytes, at a character boundary when s is UTF-8.
func cutUTF8(s string, n int) string {
	for i := n; i > n-utf8.UTFMax && i > 0; i-- {
		if utf8.RuneStart(s[i]) {
			return s[:i]
		}
	}
	return s[:n]
}

// cappedError is err with its message cut to maxCauseEcho bytes, for causes
// returned as plain errors (ParseJWKS); errors.Is and As still see err.
type cappedError struct{ err error }

func (e cappedError) Error() string { return truncate(e.err.Error(), maxCauseEcho) }
func (e cappedError) Unwrap() error { return e.err }
