package controllers

// Reasons of the Events the controllers emit. Events narrate what happened;
// conditions (api/v1alpha1/conditions.go) say where an object stands.
const (
	// Products.
	eventKeyGenerated      = "KeyGenerated"
	eventKeyRotated        = "KeyRotated"
	eventRetiredKeyRemoved = "RetiredKeyRemoved"
	eventSigningKeyMissing = "SigningKeyMissing"
	eventSigningKeyCorrupt = "SigningKeyCorrupt"

	// Licensees: the token.
	eventIssued  = "Issued"
	eventRenewed = "Renewed"
	eventRevoked = "Revoked"

	// Licensees: a license entering a state.
	eventStarted            = "Started"
	eventEnteredGracePeriod = "EnteredGracePeriod"
	eventExpired            = "Expired"
	eventSuspended          = "Suspended"
	eventResumed            = "Resumed"
	eventInvalid            = "Invalid"

	// Licensees: a license's end is within a notifyBefore threshold of its template.
	eventExpiringSoon = "ExpiringSoon"
)
