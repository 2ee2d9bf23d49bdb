package license

// Code is a validation result shared by the SDK, the license-agent and the license API.
// Valid and Code are reported separately: a license in grace is valid with code
// IN_GRACE_PERIOD.
type Code string

const (
	CodeValid               Code = "VALID"
	CodeInGracePeriod       Code = "IN_GRACE_PERIOD"
	CodeExpired             Code = "EXPIRED"
	CodeNotYetValid         Code = "NOT_YET_VALID"
	CodeSuspended           Code = "SUSPENDED"
	CodeRevoked             Code = "REVOKED"
	CodeSignatureInvalid    Code = "SIGNATURE_INVALID"
	CodeUnknownKey          Code = "UNKNOWN_KEY"
	CodeMalformed           Code = "MALFORMED"
	CodeFeatureNotEntitled  Code = "FEATURE_NOT_ENTITLED"
	CodeTooManyActivations  Code = "TOO_MANY_ACTIVATIONS"
	CodeNoSeatsAvailable    Code = "NO_SEATS_AVAILABLE"
	CodeFingerprintMismatch Code = "FINGERPRINT_MISMATCH"
)

// Entitling reports whether a license in this state entitles its holder.
func (c Code) Entitling() bool { return c == CodeValid || c == CodeInGracePeriod }
