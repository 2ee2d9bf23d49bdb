package plugin

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// cluster is a connection to the API server in the user's kubeconfig, with the
// namespace the command works in.
type cluster struct {
	client    client.Client
	namespace string
}

func newScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register core types: %w", err)
	}
	if err := licensingv1alpha1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("register licensing types: %w", err)
	}
	return scheme, nil
}

// connect builds a client from the kubeconfig flags (--kubeconfig, --context,
// -n, ...). Errors are cluster errors: exit status 3.
func (p *plugin) connect() (*cluster, error) {
	namespace, _, err := p.configFlags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w; point --kubeconfig or KUBECONFIG at a valid kubeconfig", err)
	}
	config, err := p.configFlags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w; point --kubeconfig or KUBECONFIG at a valid kubeconfig, or pick a context with --context", err)
	}
	scheme, err := newScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(config, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", config.Host, err)
	}
	return &cluster{client: c, namespace: namespace}, nil
}

// apiError explains a failed read or write of one object in terms a user can act on.
func (c *cluster) apiError(err error, kind, namespace, name, hint string) error {
	if apierrors.IsNotFound(err) {
		msg := fmt.Sprintf("%s %q not found in namespace %q", kind, name, namespace)
		if hint != "" {
			msg += "; " + hint
		}
		return &explainedError{msg: msg, cause: err}
	}
	return requestError(err, fmt.Sprintf("%s %s/%s", kind, namespace, name),
		fmt.Sprintf("ask for RBAC on %ss in namespace %q", kind, namespace))
}

// explainedError replaces the message of its cause, which errors.Is/As still see.
type explainedError struct {
	msg   string
	cause error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.cause }

// listError explains a failed list of resource (plural: "licensees") in
// namespace ("" for all).
func listError(err error, resource, namespace string) error {
	where := "namespace " + namespace
	if namespace == "" {
		where = "all namespaces"
	}
	return requestError(err, "list "+resource+" in "+where,
		"ask for RBAC to list "+resource+" there, or pick a namespace you can read with -n")
}

// requestError prefixes err with what was asked and says what to do about the
// failures common to every request: missing CRDs, RBAC, an unreachable server.
func requestError(err error, what, forbiddenHint string) error {
	switch {
	case meta.IsNoMatchError(err):
		return fmt.Errorf("%s: the licensing.kubelicense.io CRDs are not installed in this cluster, or are older than this plugin; install or upgrade kubelicense (make install, or kubectl apply -f dist/install.yaml): %w", what, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: access denied; %s: %w", what, forbiddenHint, err)
	case !isAPIStatus(err):
		return fmt.Errorf("%s: %s: %w", what, unreachableHint, err)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// unreachableHint explains errors that did not come from the API server.
const unreachableHint = "cannot reach the API server; check the cluster in your kubeconfig (--kubeconfig, --context) and your network"

func isAPIStatus(err error) bool {
	var status apierrors.APIStatus
	return errors.As(err, &status)
}

func (c *cluster) getLicensee(ctx context.Context, name string) (*licensingv1alpha1.Licensee, error) {
	var l licensingv1alpha1.Licensee
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: c.namespace, Name: name}, &l); err != nil {
		return nil, c.apiError(err, "licensee", c.namespace, name,
			fmt.Sprintf("check the name and namespace (-n); list the licensees with: kubectl license status -n %s", c.namespace))
	}
	return &l, nil
}

func (c *cluster) getProduct(ctx context.Context, name string) (*licensingv1alpha1.Product, error) {
	var p licensingv1alpha1.Product
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: c.namespace, Name: name}, &p); err != nil {
		return nil, c.apiError(err, "product", c.namespace, name,
			fmt.Sprintf("check the name and namespace (-n); list the products with: kubectl get products -n %s", c.namespace))
	}
	return &p, nil
}

// productOf reads the Product that licensee l references.
func (c *cluster) productOf(ctx context.Context, l *licensingv1alpha1.Licensee) (*licensingv1alpha1.Product, error) {
	name := l.Spec.ProductRef.Name
	var p licensingv1alpha1.Product
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: name}, &p); err != nil {
		return nil, c.apiError(err, "product", l.Namespace, name,
			fmt.Sprintf("licensee %s references it in spec.productRef; create the product or fix the reference", l.Name))
	}
	return &p, nil
}

// licenseSecretName is where the controller writes the licensee's token.
func licenseSecretName(l *licensingv1alpha1.Licensee) string {
	if l.Status.SecretName != "" {
		return l.Status.SecretName
	}
	return l.LicenseSecretName()
}

// publicKeysConfigMapName is where the controller publishes the product's JWKS.
func publicKeysConfigMapName(p *licensingv1alpha1.Product) string {
	if p.Status.PublicKeysConfigMap != "" {
		return p.Status.PublicKeysConfigMap
	}
	return licensingv1alpha1.PublicKeysConfigMapName(p.Name)
}

// licenseToken reads the token of licensee l from its Secret or, when the
// operator removed it, the revocation notice left in its place.
func (c *cluster) licenseToken(ctx context.Context, l *licensingv1alpha1.Licensee) (token string, revoked *license.Revocation, secretName string, err error) {
	secretName = licenseSecretName(l)
	var s corev1.Secret
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: l.Namespace, Name: secretName}, &s); err != nil {
		return "", nil, secretName, c.apiError(err, "secret", l.Namespace, secretName,
			fmt.Sprintf("licensee %s has no license Secret yet: the controller writes it once a license is issued (see kubectl license status %s -n %s and the manager's logs)", l.Name, l.Name, l.Namespace))
	}
	if data, ok := s.Data[licensingv1alpha1.LicenseTokenKey]; ok {
		return string(data), nil, secretName, nil
	}
	notice, ok := s.Data[licensingv1alpha1.LicenseJSONKey]
	if !ok {
		return "", nil, secretName, fmt.Errorf("secret %s/%s has no key %q: it is not a license Secret written by kubelicense; check spec.secret.name of licensee %s", l.Namespace, secretName, licensingv1alpha1.LicenseTokenKey, l.Name)
	}
	revoked, err = license.ParseRevocation(notice)
	if err != nil {
		return "", nil, secretName, fmt.Errorf("secret %s/%s has no key %q and its %s is not a revocation notice (%w): it is not a license Secret written by kubelicense; check spec.secret.name of licensee %s", l.Namespace, secretName, licensingv1alpha1.LicenseTokenKey, licensingv1alpha1.LicenseJSONKey, err, l.Name)
	}
	return "", revoked, secretName, nil
}

// productJWKS reads the product's published JWKS: the trust anchor.
func (c *cluster) productJWKS(ctx context.Context, p *licensingv1alpha1.Product) (jwks []byte, configMapName string, err error) {
	configMapName = publicKeysConfigMapName(p)
	var cm corev1.ConfigMap
	if err := c.client.Get(ctx, client.ObjectKey{Namespace: p.Namespace, Name: configMapName}, &cm); err != nil {
		return nil, configMapName, c.apiError(err, "configmap", p.Namespace, configMapName,
			fmt.Sprintf("it holds the public keys of product %s and is published once the product has a signing key (see kubectl get product %s -n %s)", p.Name, p.Name, p.Namespace))
	}
	data, ok := cm.Data[licensingv1alpha1.JWKSKey]
	if !ok {
		return nil, configMapName, fmt.Errorf("configmap %s/%s has no key %q: it does not hold the public keys of product %s", p.Namespace, configMapName, licensingv1alpha1.JWKSKey, p.Name)
	}
	return []byte(data), configMapName, nil
}
