package servingcert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
)

// Names of the objects, in the manager's namespace.
const (
	ServiceName   = "kubelicense-license-api"
	SecretName    = "kubelicense-license-api-tls"
	ConfigMapName = "kubelicense-license-api-ca"
	// FallbackNamespace is the manager's namespace when POD_NAMESPACE is unset
	// (a manager run outside the cluster).
	FallbackNamespace = "kubelicense-system"

	// CACertKey holds the CA certificate (PEM) in the Secret and the ConfigMap;
	// CAKeyKey its private key (PKCS#8 PEM) in the Secret. tls.crt and tls.key
	// are the usual kubernetes.io/tls entries.
	CACertKey = "ca.crt"
	CAKeyKey  = "ca.key"

	// DefaultResyncInterval is how often Start re-reads the Secret, to pick up
	// a certificate another replica re-issued.
	DefaultResyncInterval = time.Minute

	// maxAttempts bounds the re-reads after losing a create or update race.
	maxAttempts = 5
)

// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;create;update
// +kubebuilder:rbac:groups="",resources=configmaps,verbs=get;create;update

// Namespace is the manager's own namespace: POD_NAMESPACE (set through the
// Downward API), else FallbackNamespace.
func Namespace() string {
	if ns := os.Getenv("POD_NAMESPACE"); ns != "" {
		return ns
	}
	return FallbackNamespace
}

// Options configure a Source.
type Options struct {
	// CertDir, when set, serves tls.crt and tls.key from this directory,
	// reloaded when they change; the rest of Options is then unused.
	CertDir string
	// Namespace holds the Secret and the ConfigMap.
	Namespace string
	// Hosts are extra DNS names and IP addresses for the generated certificate.
	Hosts []string
	// Clock decides renewals; real time when nil.
	Clock clock.PassiveClock
	// ResyncInterval is how often Start re-reads the Secret; DefaultResyncInterval when zero.
	ResyncInterval time.Duration
}

// Source provides the license API's serving certificate. It is a
// manager.Runnable that runs on every replica (every replica serves).
type Source struct {
	client client.Client
	reader client.Reader
	opts   Options
	hosts  hostSet

	mu      sync.Mutex // serialises Ensure
	current atomic.Pointer[tls.Certificate]
	caPEM   atomic.Pointer[[]byte]
	loaded  atomic.Pointer[material]                // self-generated mode
	watcher atomic.Pointer[certwatcher.CertWatcher] // CertDir mode
}

// New returns a Source. c writes the Secret and the ConfigMap; r reads them and
// must not be a cache (pass mgr.GetAPIReader()): a cache may lag another
// replica's write, and is not running before the manager starts. With
// opts.CertDir, c and r may be nil.
func New(c client.Client, r client.Reader, opts Options) (*Source, error) {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.ResyncInterval <= 0 {
		opts.ResyncInterval = DefaultResyncInterval
	}
	s := &Source{client: c, reader: r, opts: opts}
	if opts.CertDir != "" {
		if len(opts.Hosts) > 0 {
			return nil, errors.New("--license-api-cert-hosts applies only to the generated certificate, not to one from --license-api-cert-dir: put those names in the certificate you mount, and drop --license-api-cert-hosts")
		}
		return s, nil
	}
	if c == nil || r == nil {
		return nil, errors.New("servingcert.New: pass a client and an uncached reader (mgr.GetAPIReader()) to keep the certificate in a Secret")
	}
	if opts.Namespace == "" {
		return nil, errors.New("servingcert: no namespace for the Secret: set POD_NAMESPACE")
	}
	hosts, err := requiredHosts(opts.Namespace, opts.Hosts)
	if err != nil {
		return nil, err
	}
	s.hosts = hosts
	return s, nil
}

// TLSConfig serves the current certificate, TLS 1.2 or later, HTTP/1.1 only.
// HTTP/2 stays off (HTTP/2 Rapid Reset and Stream Cancellation CVEs), as for
// metrics; this holds only when the server uses the config as given, as
// tls.NewListener(ln, cfg) + http.Server.Serve does: http.Server.ServeTLS adds
// "h2" to its own TLSConfig unless TLSNextProto is set to an empty map.
func (s *Source) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if w := s.watcher.Load(); w != nil {
				return w.GetCertificate(hello)
			}
			if c := s.current.Load(); c != nil {
				return c, nil
			}
			return nil, errors.New("no serving certificate loaded yet")
		},
	}
}

// CAPEM is the CA certificate clients pin: the generated CA, or with CertDir
// the ca.crt in that directory (nil when there is none).
func (s *Source) CAPEM() []byte {
	if p := s.caPEM.Load(); p != nil {
		return bytes.Clone(*p)
	}
	return nil
}

// NeedLeaderElection is false: every replica serves.
func (s *Source) NeedLeaderElection() bool { return false }

// Ensure loads the certificate: from CertDir, or from the Secret, which it
// creates when missing and updates when the serving certificate must be
// re-issued. It is idempotent and safe in several processes at once.
func (s *Source) Ensure(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.CertDir != "" {
		return s.ensureCertDir(ctx)
	}
	m, err := s.ensureSecret(ctx)
	if err != nil {
		return err
	}
	if err := s.ensureConfigMap(ctx, m.caPEM); err != nil {
		return err
	}
	if prev := s.loaded.Swap(m); prev == nil || !bytes.Equal(prev.leaf.Raw, m.leaf.Raw) {
		logf.FromContext(ctx).WithName("servingcert").Info("serving the license API certificate",
			"secret", s.secretKey().String(), "serial", m.leaf.SerialNumber.Text(16),
			"notAfter", m.leaf.NotAfter.UTC().Format(time.RFC3339), "hosts", hostsOf(m.leaf).strings())
	}
	s.current.Store(&m.serving)
	s.caPEM.Store(&m.caPEM)
	return nil
}

// Start loads the certificate if Ensure has not, then keeps it current until
// ctx ends: with CertDir it reloads the files when they change; otherwise it
// re-issues the serving certificate at two thirds of its life and re-reads the
// Secret every ResyncInterval, to serve what another replica re-issued. A
// failure after the first load is logged and retried; the current certificate
// stays in use.
func (s *Source) Start(ctx context.Context) error {
	if s.current.Load() == nil && s.watcher.Load() == nil {
		if err := s.Ensure(ctx); err != nil {
			return err
		}
	}
	if w := s.watcher.Load(); w != nil {
		if err := w.Start(ctx); err != nil {
			return fmt.Errorf("watch the license API certificate in %s: %w", s.opts.CertDir, err)
		}
		return nil
	}
	log := logf.FromContext(ctx).WithName("servingcert")
	failed := false
	for {
		wait := s.opts.ResyncInterval
		if at := nextRenewal(s.loaded.Load()); !failed && !at.IsZero() {
			wait = min(wait, max(at.Sub(s.opts.Clock.Now()), 0))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		failed = false
		if err := s.Ensure(ctx); err != nil {
			failed = true
			log.Error(err, "keeping the current license API certificate", "retryIn", s.opts.ResyncInterval.String())
		}
	}
}

func (s *Source) secretKey() types.NamespacedName {
	return types.NamespacedName{Namespace: s.opts.Namespace, Name: SecretName}
}

// CorruptSecretError is a Secret whose content cannot be used. It is never
// replaced automatically: clients pin its CA.
type CorruptSecretError struct {
	Secret  types.NamespacedName
	Problem error
}

func (e *CorruptSecretError) Error() string {
	return fmt.Sprintf("Secret %s cannot be used: %v. It is not replaced automatically, since clients pin its CA: "+
		"restore its data, or delete it to generate a new CA (clients must then pin the new ca.crt of ConfigMap %s/%s)",
		e.Secret, e.Problem, e.Secret.Namespace, ConfigMapName)
}

func (e *CorruptSecretError) Unwrap() error { return e.Problem }

// ensureSecret reads the Secret, creates it when missing and re-issues its
// serving certificate when due. A lost race (AlreadyExists, Conflict) means
// another replica wrote first: read again and use what it wrote, so all
// replicas share one CA.
func (s *Source) ensureSecret(ctx context.Context) (*material, error) {
	log := logf.FromContext(ctx).WithName("servingcert")
	key := s.secretKey()
	for range maxAttempts {
		now := s.opts.Clock.Now()
		var secret corev1.Secret
		err := s.reader.Get(ctx, key, &secret)
		if apierrors.IsNotFound(err) {
			secret, err := s.newSecret(now)
			if err != nil {
				return nil, err
			}
			if err := s.client.Create(ctx, secret); apierrors.IsAlreadyExists(err) {
				continue
			} else if err != nil {
				return nil, fmt.Errorf("create Secret %s: %w", key, err)
			}
			log.Info("created the license API CA and serving certificate", "secret", key.String())
			return parseSecretData(secret.Data)
		}
		if err != nil {
			return nil, fmt.Errorf("read Secret %s: %w", key, err)
		}
		m, err := parseSecretData(secret.Data)
		if err != nil {
			return nil, &CorruptSecretError{Secret: key, Problem: err}
		}
		if !now.Before(m.caCert.NotAfter) {
			return nil, &CorruptSecretError{Secret: key, Problem: fmt.Errorf("its CA expired at %s", m.caCert.NotAfter.UTC().Format(time.RFC3339))}
		}
		reason, message, due := reissueReason(m, s.hosts, now)
		if !due {
			return m, nil
		}
		hosts := s.hosts
		if reason == reasonMissingHosts {
			// Keep the names already there: a replica of the previous
			// configuration in a rolling update still finds its own, and the
			// replicas do not take turns re-issuing. Renewal drops them.
			hosts = hosts.union(hostsOf(m.leaf))
		}
		certPEM, keyPEM, err := issueServing(m.caCert, m.caKey, hosts, now)
		if err != nil {
			return nil, err
		}
		secret.Data[corev1.TLSCertKey], secret.Data[corev1.TLSPrivateKeyKey] = certPEM, keyPEM
		metav1.SetMetaDataLabel(&secret.ObjectMeta, licensingv1alpha1.LabelManaged, "true")
		if err := s.client.Update(ctx, &secret); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("update Secret %s with a re-issued serving certificate: %w", key, err)
		}
		log.Info("re-issued the license API serving certificate", "secret", key.String(), "reason", reason, "why", message)
		return parseSecretData(secret.Data)
	}
	return nil, fmt.Errorf("Secret %s changed under every one of %d attempts to read and write it; will retry", key, maxAttempts)
}

// newSecret makes a CA and a serving certificate.
func (s *Source) newSecret(now time.Time) (*corev1.Secret, error) {
	caPEM, caKeyPEM, err := newCA(now)
	if err != nil {
		return nil, err
	}
	ca, err := decodeCertificate(CACertKey, caPEM)
	if err != nil {
		return nil, err
	}
	caKey, err := decodeKey(CAKeyKey, caKeyPEM)
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := issueServing(ca, caKey, s.hosts, now)
	if err != nil {
		return nil, err
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.opts.Namespace, Name: SecretName,
			Labels: map[string]string{licensingv1alpha1.LabelManaged: "true"},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{
			CACertKey: caPEM, CAKeyKey: caKeyPEM,
			corev1.TLSCertKey: certPEM, corev1.TLSPrivateKeyKey: keyPEM,
		},
	}, nil
}

// ensureConfigMap publishes caPEM as ca.crt, creating or correcting the
// ConfigMap; its other entries are left alone.
func (s *Source) ensureConfigMap(ctx context.Context, caPEM []byte) error {
	key := types.NamespacedName{Namespace: s.opts.Namespace, Name: ConfigMapName}
	for range maxAttempts {
		var cm corev1.ConfigMap
		err := s.reader.Get(ctx, key, &cm)
		if apierrors.IsNotFound(err) {
			cm = corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: key.Namespace, Name: key.Name,
					Labels: map[string]string{licensingv1alpha1.LabelManaged: "true"},
				},
				Data: map[string]string{CACertKey: string(caPEM)},
			}
			if err := s.client.Create(ctx, &cm); apierrors.IsAlreadyExists(err) {
				continue
			} else if err != nil {
				return fmt.Errorf("create ConfigMap %s: %w", key, err)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("read ConfigMap %s: %w", key, err)
		}
		if cm.Data[CACertKey] == string(caPEM) && cm.Labels[licensingv1alpha1.LabelManaged] == "true" {
			return nil
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		if cm.Labels == nil {
			cm.Labels = map[string]string{}
		}
		cm.Data[CACertKey] = string(caPEM)
		cm.Labels[licensingv1alpha1.LabelManaged] = "true"
		if err := s.client.Update(ctx, &cm); apierrors.IsConflict(err) {
			continue
		} else if err != nil {
			return fmt.Errorf("update ConfigMap %s with the CA of Secret %s: %w", key, s.secretKey(), err)
		}
		logf.FromContext(ctx).WithName("servingcert").Info("published the license API CA", "configMap", key.String())
		return nil
	}
	return fmt.Errorf("ConfigMap %s changed under every one of %d attempts to read and write it; will retry", key, maxAttempts)
}
