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
//  2. The [Claims] helpers ([Claims.State], [Claims.Entitled], [Claims.Quota], ...)
//     decide from each license's own window what the holder is entitled to at a
//     given moment, without contacting the operator.
//
// Failures are [*Error] values carrying a [Code] shared with the agent and the
// license API; use [CodeOf] to read it.
package license
