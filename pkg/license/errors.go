package license

import "errors"

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
		s += ": " + e.Err.Error()
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
