// Package agent is the license-agent sidecar: it reads the license Secret that
// kubelet mounts into the pod (or an offline bundle), verifies it through
// pkg/license against a pinned trust anchor, and answers the application on
// localhost: is the license valid, is a feature entitled, what is a quota.
//
// Verification (the signature) happens on reload only: when the mounted files
// change (fsnotify on the volume directory, debounced, with a periodic recheck
// as a safety net) the result is published as an immutable snapshot. Requests
// read the snapshot through an atomic pointer and decide with the clock at
// request time, because licenses lapse without any file changing.
//
// The agent has no Kubernetes client: everything it knows comes from files.
package agent
