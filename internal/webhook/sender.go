package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// Sender posts events. It keeps one HTTP client per CA bundle, so connections
// to a receiver are reused across attempts.
type Sender struct {
	mu      sync.Mutex
	clients map[[32]byte]*http.Client
}

// CheckCABundle reports a caBundle that is not a PEM bundle of CA
// certificates only (the license API client's parser: a key in it is refused).
func CheckCABundle(pem []byte) error {
	_, err := caPool(pem)
	return err
}

// caPool is the pool of caBundle; nil (the system's roots) when it is empty.
func caPool(caBundle []byte) (*x509.CertPool, error) {
	if len(caBundle) == 0 {
		return nil, nil
	}
	pool, err := license.ParseCACerts(caBundle)
	if err != nil {
		return nil, fmt.Errorf("spec.caBundle: %w", err)
	}
	return pool, nil
}

func (s *Sender) client(caBundle []byte) (*http.Client, error) {
	key := sha256.Sum256(caBundle)
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.clients[key]; ok {
		return c, nil
	}
	pool, err := caPool(caBundle)
	if err != nil {
		return nil, err
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}
	transport := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		TLSClientConfig:     tlsConfig,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     90 * time.Second,
	}
	c := &http.Client{
		Transport: transport,
		// A redirect is not a delivery: the receiver's URL is what was configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if s.clients == nil {
		s.clients = map[[32]byte]*http.Client{}
	}
	s.clients[key] = c
	return c, nil
}

// Send posts body with headers to url within timeout and returns the HTTP
// status; err when there was no answer (refused, TLS, timeout).
func (s *Sender) Send(ctx context.Context, target string, caBundle []byte, headers http.Header, body []byte, timeout time.Duration) (int, error) {
	c, err := s.client(caBundle)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("build request: %w", err)
	}
	req.Header = headers.Clone()
	req.Header.Set("User-Agent", "kubelicense-webhook/v1alpha1")
	resp, err := c.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s: raise spec.timeoutSeconds or make the receiver answer first and work later", timeout)
		}
		// Without the URL, which may carry a credential (spec.urlSecretRef).
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("post: %w", err)
	}
	// Drained (a little) so the connection can be reused; the body is not used.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
