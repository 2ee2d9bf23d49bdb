package agent

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// caTransport sends the license API calls through an http.Transport that
// trusts the --license-api-ca file, and swaps in a new one when the file
// changes (the CA ConfigMap updated by kubelet), so a rotated CA needs no
// restart. Verification stays the standard library's.
type caTransport struct {
	path string // empty: the system's roots, never reloaded

	mu      sync.Mutex // serialises reloads; guards loaded
	loaded  string     // the PEM the current transport trusts
	current atomic.Pointer[http.Transport]
}

// newCATransport reads path (if set); a missing or unusable file is an error
// the pod should not start with.
func newCATransport(path string) (*caTransport, error) {
	t := &caTransport{path: path}
	if path == "" {
		t.current.Store(newTransport(nil))
		return t, nil
	}
	fc := readFile(path)
	if err := t.swap(fc); err != nil {
		return nil, fmt.Errorf("--license-api-ca=%s: %w; mount ca.crt of the ConfigMap kubelicense-license-api-ca (or the CA of your own certificate) and point --license-api-ca at it", path, err)
	}
	return t, nil
}

// reload reads the file again and uses it if it changed and is usable; the
// error says why it was not (the previous CA stays in use).
func (t *caTransport) reload() error {
	if t.path == "" {
		return nil
	}
	return t.swap(readFile(t.path))
}

func (t *caTransport) swap(fc fileContent) error {
	switch {
	case fc.missing:
		return fmt.Errorf("%s does not exist", fc.path)
	case fc.readErr != "":
		return errors.New(fc.readErr)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if fc.data == t.loaded {
		return nil
	}
	pool, err := license.ParseCACerts([]byte(fc.data))
	if err != nil {
		return err
	}
	old := t.current.Swap(newTransport(pool))
	t.loaded = fc.data
	if old != nil {
		old.CloseIdleConnections() // new connections verify with the new CA
	}
	return nil
}

func (t *caTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	return t.current.Load().RoundTrip(r)
}

// newTransport is the default transport (proxies from the environment, its
// timeouts and pool sizes) trusting roots (nil: the system's).
func newTransport(roots *x509.CertPool) *http.Transport {
	tr := &http.Transport{Proxy: http.ProxyFromEnvironment}
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		tr = dt.Clone()
	}
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	return tr
}
