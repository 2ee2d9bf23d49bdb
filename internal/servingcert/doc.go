// Package servingcert provides the license API's TLS certificate, the same on
// every manager replica.
//
// # A mounted certificate
//
// With --license-api-cert-dir (Options.CertDir) the manager serves tls.crt and
// tls.key from that directory (the Secret of a cert-manager Certificate, or any
// kubernetes.io/tls Secret, mounted there) and reloads them when they change
// (controller-runtime's certwatcher: file events, and a re-read every 10
// seconds). A missing or unreadable pair stops the manager with an error that
// says what to mount. An optional ca.crt there is what CAPEM returns; it is
// re-read when the certificate reloads. --license-api-cert-hosts is refused in
// this mode: the names come from whoever issued the certificate.
//
// # A generated certificate
//
// Otherwise the manager keeps a CA and a serving certificate in Secret
// kubelicense-license-api-tls (type kubernetes.io/tls: tls.crt, tls.key,
// ca.crt, and the CA's private key as ca.key) and publishes the CA as ca.crt in
// ConfigMap kubelicense-license-api-ca, for clients to pin. Both live in the
// manager's namespace (POD_NAMESPACE, else kubelicense-system) and carry the
// label licensing.kubelicense.io/managed=true. They are read from the API
// server, not from the manager's cache.
//
//   - The CA (ECDSA P-256, which curl, openssl, Java and every TLS stack verify;
//     10 years) is made once: the replica whose create of the Secret succeeds
//     wins, and every other replica, starting at the same moment or later, gets
//     AlreadyExists, reads the Secret and uses that CA. It is never replaced
//     automatically. To rotate it, delete the Secret: the next replica to look
//     makes a new CA, and clients must pin the new ca.crt. A CA past its end is
//     an error that says so; nothing is served from it.
//   - The serving certificate (ECDSA P-256, one year, never beyond the CA,
//     backdated an hour for clock skew) names the Service
//     (kubelicense-license-api, .<namespace>, .<namespace>.svc,
//     .<namespace>.svc.cluster.local), localhost, 127.0.0.1, ::1 and each
//     --license-api-cert-hosts entry (a DNS name, "*." allowed, or an IP
//     address; a cluster domain other than cluster.local goes there too).
//   - It is re-issued from the same CA when it lacks one of those names (it then
//     keeps the names it had, so that during a rolling update replicas with the
//     old and the new flags do not take turns re-issuing), and at two thirds of
//     its life (then it names exactly the current set, which is when a name
//     removed from the flags leaves). The update carries the Secret's
//     resourceVersion; on a conflict the replica reads the Secret again and
//     serves what the other one wrote.
//   - Every replica checks at its certificate's renewal time and re-reads the
//     Secret every minute (two GETs), so it serves a certificate re-issued by
//     another replica within a minute, and re-creates or corrects the
//     ConfigMap if it was deleted or edited. A failure then (API server away)
//     is logged and retried; the current certificate stays in use.
//   - A Secret that cannot be used (an entry missing, not PEM, several PEM
//     blocks, an encrypted key, a key that does not match its certificate, a
//     ca.crt that is not a CA, a tls.crt not signed by ca.crt) is never
//     replaced, since clients pin its CA: the error names the problem and says
//     to restore the data or delete the Secret. Private keys never appear in
//     logs or errors.
//
// # TLS
//
// TLSConfig serves TLS 1.2 and later and HTTP/1.1 only: HTTP/2 is off, as for
// the metrics endpoint (HTTP/2 Rapid Reset and Stream Cancellation CVEs). Serve
// it as given, tls.NewListener(ln, src.TLSConfig()) with http.Server.Serve:
// http.Server.ServeTLS would add "h2" to the protocols.
package servingcert
