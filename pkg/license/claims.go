package license

// TokenType is the JOSE "typ" header of every license token.
const TokenType = "license+jwt"

// IssuerPrefix starts the "iss" claim: licensing.kubelicense.io/<namespace>/<product>.
const IssuerPrefix = "licensing.kubelicense.io/"

// Claims is the payload of a license token. Times are Unix seconds (JWT NumericDate);
// zero means "not set". The top-level Features and Quotas are the effective
// entitlements at IssuedAt; Licenses carry each license's own window so a verifier
// can decide what is entitled at any other moment without the operator.
type Claims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  []string `json:"aud"`
	ID        string   `json:"jti"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf,omitempty"`
	// Expiry is omitted when the token never lapses (perpetual licenses without a token TTL).
	Expiry int64 `json:"exp,omitempty"`

	Licensee LicenseeInfo     `json:"licensee"`
	Product  ProductInfo      `json:"product"`
	Licenses []Grant          `json:"licenses"`
	Features []string         `json:"features"`
	Quotas   map[string]int64 `json:"quotas"`
}

// LicenseeInfo identifies who holds the license.
type LicenseeInfo struct {
	Name string `json:"name"`
	// UID is the Licensee object's uid: a token of a Licensee deleted and
	// created again under the same name is told apart by it (the license API
	// answers REVOKED).
	UID         string `json:"uid,omitempty"`
	DisplayName string `json:"displayName,omitempty"`
	ExternalID  string `json:"externalID,omitempty"`
	Suspended   bool   `json:"suspended"`
}

// ProductInfo identifies what the license is for.
type ProductInfo struct {
	Name        string `json:"name"`
	DisplayName string `json:"displayName,omitempty"`
}

// Grant is one license of the licensee, with its own window.
type Grant struct {
	Name     string `json:"name"`
	Template string `json:"template"`
	// Type is Perpetual, Subscription, Trial, Floating or NodeLocked.
	Type     string `json:"type"`
	StartsAt int64  `json:"startsAt"`
	// ValidUntil is the end of the current period; zero means it never ends.
	ValidUntil int64 `json:"validUntil,omitempty"`
	// GraceUntil is the end of the grace period after ValidUntil; zero means no grace.
	GraceUntil     int64            `json:"graceUntil,omitempty"`
	Features       []string         `json:"features"`
	Quotas         map[string]int64 `json:"quotas"`
	Seats          int32            `json:"seats,omitempty"`
	MaxActivations int32            `json:"maxActivations,omitempty"`
	Suspended      bool             `json:"suspended"`
}
