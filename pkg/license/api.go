package license

import "time"

// The wire format of the operator's license API (see docs/license-api.md). The
// server (internal/licenseapi) and the Client build and read answers from these
// same types, so the two cannot drift.

// Codes only the license API gives.
const (
	// CodeSeatExpired: the lease lapsed and another holder took the seat.
	CodeSeatExpired Code = "SEAT_EXPIRED"
	// CodeRateLimited: too many requests; retry after the Retry-After header.
	CodeRateLimited Code = "RATE_LIMITED"
	// CodeNotFound: no such activation, lease or endpoint.
	CodeNotFound Code = "NOT_FOUND"
	// CodeUnavailable: the API cannot answer now (its state store, the
	// Kubernetes API server, failed, or the Product has no usable signing
	// key); retry after Retry-After. Always with status 503.
	CodeUnavailable Code = "UNAVAILABLE"
)

// Paths of the license API endpoints. {id} and {fingerprint} are path segments.
const (
	PathValidate    = "/v1/validate"
	PathActivations = "/v1/activations"
	PathSeats       = "/v1/seats"
)

// HTTP headers of the license API.
const (
	// HeaderSignature carries the detached compact JWS (RFC 7515 appendix F,
	// "<protected>..<signature>") over the exact bytes of the answer body,
	// signed with the Product's current key.
	HeaderSignature = "License-Signature"
	// HeaderNonce is the caller's nonce for requests without a body (GET, PUT,
	// DELETE); a body's "nonce" member serves the same purpose.
	HeaderNonce = "License-Nonce"
)

// ResponseTokenType is the "typ" header of an answer's signature.
const ResponseTokenType = "license-response+jwt"

// Limits of the license API on request fields; longer values are MALFORMED.
const (
	MaxNonceLength       = 128
	MaxFingerprintLength = 256
	MaxHolderLength      = 256
	MaxNameLength        = 256
	MaxMetadataEntries   = 16
	MaxMetadataKeyLength = 64
	MaxMetadataValLength = 256
	// MaxRequestBody is the largest request body the API reads; larger ones get 413.
	MaxRequestBody = 16 << 10
)

// ValidateRequest is the body of POST /v1/validate.
type ValidateRequest struct {
	// Nonce is echoed in the answer, which binds the signed answer to this request.
	Nonce string `json:"nonce"`
	// Feature, when set, makes the verdict FEATURE_NOT_ENTITLED unless it is granted.
	Feature string `json:"feature,omitempty"`
	// Fingerprint, when set, makes a license with maxActivations valid only for
	// an activated fingerprint (FINGERPRINT_MISMATCH otherwise).
	Fingerprint string `json:"fingerprint,omitempty"`
	// License restricts the verdict to one license of the licensee, by name.
	License string `json:"license,omitempty"`
}

// Verdict is the answer of POST /v1/validate: what the licensee holds now, as
// the operator sees it (not as the caller's token said when it was signed).
type Verdict struct {
	// Valid is true when the licensee is entitled now (VALID or IN_GRACE_PERIOD),
	// and the feature and fingerprint checks, if asked for, passed.
	Valid    bool            `json:"valid"`
	Code     Code            `json:"code"`
	Message  string          `json:"message"`
	Licensee LicenseeInfo    `json:"licensee"`
	Product  ProductInfo     `json:"product"`
	Licenses []LicenseStatus `json:"licenses"`
	// Features and Quotas are the effective entitlements now.
	Features []string         `json:"features"`
	Quotas   map[string]int64 `json:"quotas"`
	Nonce    string           `json:"nonce"`
	Time     time.Time        `json:"time"`
}

// LicenseStatus is one license of a Verdict, as it stands now.
type LicenseStatus struct {
	Name     string `json:"name"`
	Template string `json:"template,omitempty"`
	Type     string `json:"type,omitempty"`
	// State is VALID, IN_GRACE_PERIOD, NOT_YET_VALID, SUSPENDED, EXPIRED, or
	// MALFORMED for a license the operator cannot evaluate (its template is missing).
	State      Code             `json:"state"`
	Message    string           `json:"message,omitempty"`
	StartsAt   *time.Time       `json:"startsAt,omitempty"`
	ValidUntil *time.Time       `json:"validUntil,omitempty"`
	GraceUntil *time.Time       `json:"graceUntil,omitempty"`
	Features   []string         `json:"features"`
	Quotas     map[string]int64 `json:"quotas"`
	// Seats is the number of concurrent seat leases the license allows (0: none).
	Seats      int32 `json:"seats"`
	SeatsInUse int32 `json:"seatsInUse"`
	// MaxActivations is the number of distinct fingerprints that may activate
	// (0: the license takes no activations).
	MaxActivations int32 `json:"maxActivations"`
	Activations    int32 `json:"activations"`
}

// ActivateRequest is the body of POST /v1/activations.
type ActivateRequest struct {
	Nonce       string `json:"nonce,omitempty"`
	License     string `json:"license"`
	Fingerprint string `json:"fingerprint"`
	// Name is a human-readable name of the machine (e.g. its host name).
	Name     string            `json:"name,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// Activation is one fingerprint activated for a license.
type Activation struct {
	License     string            `json:"license"`
	Fingerprint string            `json:"fingerprint"`
	Name        string            `json:"name,omitempty"`
	Metadata    map[string]string `json:"metadata,omitempty"`
	ActivatedAt time.Time         `json:"activatedAt"`
}

// ActivationAnswer answers POST and DELETE /v1/activations.
type ActivationAnswer struct {
	Code       Code        `json:"code"`
	Message    string      `json:"message"`
	Activation *Activation `json:"activation,omitempty"`
	// Activations and MaxActivations count the license's activations after the call.
	Activations    int32     `json:"activations"`
	MaxActivations int32     `json:"maxActivations"`
	Nonce          string    `json:"nonce,omitempty"`
	Time           time.Time `json:"time"`
}

// ActivationList answers GET /v1/activations.
type ActivationList struct {
	Code        Code         `json:"code"`
	Message     string       `json:"message"`
	Activations []Activation `json:"activations"`
	Nonce       string       `json:"nonce,omitempty"`
	Time        time.Time    `json:"time"`
}

// SeatRequest is the body of POST /v1/seats.
type SeatRequest struct {
	Nonce   string `json:"nonce,omitempty"`
	License string `json:"license"`
	// Holder identifies who holds the seat (a pod's name and uid, a user, a
	// process); the same holder asking again gets its lease back.
	Holder string `json:"holder"`
	// TTL is how long the lease lasts after its last heartbeat, as a Go
	// duration ("2m"); empty means the server's default.
	TTL string `json:"ttl,omitempty"`
}

// Lease is a seat held by one holder until ExpiresAt, unless renewed by a
// heartbeat (PUT /v1/seats/{id}) before then.
type Lease struct {
	ID        string    `json:"id"`
	License   string    `json:"license"`
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expiresAt"`
	// TTL and HeartbeatEvery are Go durations ("2m0s", "40s").
	TTL            string `json:"ttl"`
	HeartbeatEvery string `json:"heartbeatEvery"`
}

// SeatAnswer answers POST, PUT and DELETE /v1/seats.
type SeatAnswer struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	Lease   *Lease `json:"lease,omitempty"`
	// Seats and SeatsInUse count the license's seats after the call.
	Seats      int32     `json:"seats"`
	SeatsInUse int32     `json:"seatsInUse"`
	Nonce      string    `json:"nonce,omitempty"`
	Time       time.Time `json:"time"`
}

// Problem is the answer to a request that failed: a 4xx or 5xx status with a
// code a program can act on and a message a person can.
type Problem struct {
	Code    Code   `json:"code"`
	Message string `json:"message"`
	// Field names the request member at fault, for MALFORMED requests.
	Field string    `json:"field,omitempty"`
	Nonce string    `json:"nonce,omitempty"`
	Time  time.Time `json:"time"`
}
