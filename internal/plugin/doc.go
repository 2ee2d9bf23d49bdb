// Package plugin is the kubectl-license plugin: a status table of Licensees,
// offline and in-cluster token inspection and verification (through pkg/license,
// the one verifier), renewal and key-rotation requests, offline bundle export,
// and the license API's state: listing activations and seat leases,
// deactivating a fingerprint and releasing a seat.
//
// Exit status, shared by every command:
//
//	0  success; for inspect and verify: the license entitles (VALID or IN_GRACE_PERIOD)
//	1  the token verifies but does not entitle: EXPIRED, NOT_YET_VALID, SUSPENDED,
//	   FEATURE_NOT_ENTITLED
//	2  the token does not verify: SIGNATURE_INVALID, UNKNOWN_KEY, MALFORMED
//	3  usage or cluster error: bad flags or arguments, unreadable file, unusable
//	   trust anchor, object not found, API error, timeout waiting for the
//	   controller; for deactivate and release also: nothing to deactivate or
//	   release, a fingerprint activated for several licenses without --license,
//	   a seat that another holder took
//	4  REVOKED: the license Secret holds the operator's revocation notice instead
//	   of a token
package plugin
