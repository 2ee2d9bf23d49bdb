// Package license verifies kubelicense license tokens offline.
//
// It is the one verifier shared by applications, the license-agent sidecar, the
// kubectl-license plugin and the operator's license API, so all of them agree on
// what a token means. It has no Kubernetes dependencies.
//
// A license token is a compact JWS (typ "license+jwt", alg EdDSA or ES256) whose
// payload is [Claims]. Verification is two steps:
//
//  1. [Verify] checks the token itself against a pinned trust anchor ([KeySet],
//     loaded from the product's JWKS): signature, key, header and token lifetime.
//  2. The [Claims] helpers ([Claims.State], [Claims.Entitled],
//     [Claims.FeatureState], [Claims.Quota], ...) decide from each license's own
//     window ([Grant.StateAt]) what the holder is entitled to at a given
//     moment, without contacting the operator. [Claims.Index] answers the same
//     questions by lookup, for callers that ask on every request.
//
// These are the rules of time and entitlement for all of kubelicense: the
// operator computes each license's window from its spec and asks this package
// for the state, so status and verifiers cannot disagree. Every date a token
// carries lies in the years 1970 to 9999 ([UnixTime]).
//
// Failures are [*Error] values carrying a [Code] shared with the agent and the
// license API; use [CodeOf] to read it.
package license
