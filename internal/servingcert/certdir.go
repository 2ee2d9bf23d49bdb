package servingcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// ensureCertDir loads tls.crt and tls.key from CertDir once; Start then
// watches them.
func (s *Source) ensureCertDir(ctx context.Context) error {
	if s.watcher.Load() != nil {
		return nil
	}
	dir := s.opts.CertDir
	certPath, keyPath := filepath.Join(dir, corev1.TLSCertKey), filepath.Join(dir, corev1.TLSPrivateKeyKey)
	for _, p := range []string{certPath, keyPath} {
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("license API certificate: %w: mount a kubernetes.io/tls Secret (such as a cert-manager Certificate's) with tls.crt and tls.key at --license-api-cert-dir %s, or leave that flag empty to let the manager generate a CA", err, dir)
		}
	}
	w, err := certwatcher.New(certPath, keyPath)
	if err != nil {
		return fmt.Errorf("load the license API certificate from %s: %w (tls.crt must hold the PEM certificate, tls.key its unencrypted PEM private key)", dir, err)
	}
	if err := s.loadDirCA(); err != nil {
		return err
	}
	log := logf.FromContext(ctx).WithName("servingcert")
	w.RegisterCallback(func(tls.Certificate) {
		log.Info("reloaded the license API certificate", "dir", dir)
		if err := s.loadDirCA(); err != nil {
			log.Error(err, "keeping the previous CA certificate")
		}
	})
	s.watcher.Store(w)
	return nil
}

// loadDirCA reads the optional ca.crt of CertDir: one or more PEM certificates.
func (s *Source) loadDirCA() error {
	path := filepath.Join(s.opts.CertDir, CACertKey)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		s.caPEM.Store(nil)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the license API CA: %w", err)
	}
	if err := checkCertificates(data); err != nil {
		return fmt.Errorf("%s: %w: it must hold the PEM certificate of the CA that signed tls.crt, or be absent", path, err)
	}
	s.caPEM.Store(&data)
	return nil
}

// checkCertificates accepts one or more PEM certificates and nothing else.
func checkCertificates(data []byte) error {
	n := 0
	for rest := data; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			if len(bytes.TrimSpace(rest)) > 0 {
				return errors.New("data that is not PEM")
			}
			break
		}
		if block.Type != "CERTIFICATE" {
			return fmt.Errorf("a PEM block of type %q, want CERTIFICATE", block.Type)
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return err
		}
	}
	if n == 0 {
		return errors.New("no PEM certificate")
	}
	return nil
}
