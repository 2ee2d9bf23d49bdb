package plugin

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	licensingv1alpha1 "github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// tokenFlags are the inputs shared by inspect and verify.
type tokenFlags struct {
	file             string
	jwksFile         string
	trustBundledKeys bool
	at               string
	feature          string
	product          string
}

func (f *tokenFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.file, "filename", "f", "", "read the token from this file instead of the cluster: a license.jwt or a bundle written by export (- for stdin)")
	cmd.Flags().StringVar(&f.jwksFile, "jwks", "", "trust anchor: the product's jwks.json (from ConfigMap <product>-license-keys); required with -f, and replaces that ConfigMap with a licensee")
	cmd.Flags().BoolVar(&f.trustBundledKeys, "trust-bundled-keys", false, "with a bundle and no --jwks, trust the keys in the bundle itself (they come with the token, so they prove nothing about who signed it)")
	cmd.Flags().StringVar(&f.at, "at", "", "check the license at this moment (RFC 3339, e.g. 2027-01-01T00:00:00Z) instead of now")
	cmd.Flags().StringVar(&f.feature, "feature", "", "also require this feature to be granted by a license in force")
	cmd.Flags().StringVar(&f.product, "product", "", "with -f, refuse tokens not issued for this product (aud claim); with a licensee the product is pinned already")
}

// checkedAt is the moment to verify at: --at, or now.
func (f *tokenFlags) checkedAt(now func() time.Time) (time.Time, error) {
	if f.at == "" {
		return now(), nil
	}
	t, err := time.Parse(time.RFC3339, f.at)
	if err != nil {
		return time.Time{}, usagef("--at %q is not an RFC 3339 time such as 2027-01-01T00:00:00Z", f.at)
	}
	return t, nil
}

// licenseInput is a token with the trust anchor to check it against, and where
// both came from.
type licenseInput struct {
	// Token is the compact JWS; empty when parseErr is set.
	Token string
	Keys  *license.KeySet
	// JWKS is the anchor as published, for export.
	JWKS      []byte
	TokenFrom string
	KeysFrom  string
	// Options pin issuer and audience when the product is known.
	Options []license.Option
	// Licensee is set when the token was read from the cluster.
	Licensee *licensingv1alpha1.Licensee
	// Revocation is set, and Token empty, when the Secret holds the operator's
	// revocation notice instead of a token.
	Revocation *license.Revocation
	// parseErr is set when the file is not a token or bundle at all (MALFORMED).
	parseErr error
}

// verify checks the input at the moment at.
func (in *licenseInput) verify(at time.Time, feature string) verification {
	if in.parseErr != nil {
		return verification{At: at, Feature: feature}.failed(in.parseErr)
	}
	if in.Revocation != nil {
		return verification{At: at, Feature: feature, Revocation: in.Revocation}.failed(in.Revocation.Err())
	}
	return verifyToken(in.Token, in.Keys, at, feature, in.Options...)
}

// check loads the token named by args and flags and verifies it.
func (p *plugin) check(ctx context.Context, args []string, f *tokenFlags) (*licenseInput, verification, error) {
	at, err := f.checkedAt(p.opts.Now)
	if err != nil {
		return nil, verification{}, err
	}
	in, err := p.loadInput(ctx, args, f)
	if err != nil {
		return nil, verification{}, err
	}
	return in, in.verify(at, f.feature), nil
}

// loadInput resolves the positional licensee or -f into a licenseInput.
func (p *plugin) loadInput(ctx context.Context, args []string, f *tokenFlags) (*licenseInput, error) {
	switch {
	case len(args) > 1:
		return nil, usagef("expected one licensee, got %d arguments (%q)", len(args), args)
	case len(args) == 1 && f.file != "":
		return nil, usagef("give either a licensee name or -f FILE, not both")
	case len(args) == 0 && f.file == "":
		return nil, usagef("name a licensee (e.g. globex -n licensing) or pass -f FILE with a license.jwt or bundle")
	case len(args) == 1:
		if f.trustBundledKeys {
			return nil, usagef("--trust-bundled-keys applies to bundle files (-f); with a licensee the trust anchor is the product's ConfigMap, or --jwks")
		}
		if f.product != "" {
			return nil, usagef("--product applies to files (-f); with a licensee the token must be for the product in its spec.productRef")
		}
		return p.loadFromCluster(ctx, args[0], f.jwksFile)
	default:
		in, err := loadFromFiles(f.file, f.jwksFile, f.trustBundledKeys, p.opts.Streams.In)
		if err == nil && f.product != "" {
			in.Options = append(in.Options, license.WithAudience(f.product))
		}
		return in, err
	}
}

// loadFromCluster reads the licensee's Secret and, as the trust anchor, the
// product's published JWKS (or the --jwks file). The Secret's own jwks.json is a
// convenience copy and never trusted.
func (p *plugin) loadFromCluster(ctx context.Context, name, jwksFile string) (*licenseInput, error) {
	c, err := p.connect()
	if err != nil {
		return nil, err
	}
	l, err := c.getLicensee(ctx, name)
	if err != nil {
		return nil, err
	}
	token, revocation, secretName, err := c.licenseToken(ctx, l)
	if err != nil {
		return nil, err
	}
	product := l.Spec.ProductRef.Name
	tokenFrom := fmt.Sprintf("secret %s/%s, key %s", l.Namespace, secretName, licensingv1alpha1.LicenseTokenKey)
	if revocation != nil {
		tokenFrom = fmt.Sprintf("secret %s/%s, key %s (revocation notice, no %s)", l.Namespace, secretName, licensingv1alpha1.LicenseJSONKey, licensingv1alpha1.LicenseTokenKey)
	}
	in := &licenseInput{
		Token:      token,
		Revocation: revocation,
		TokenFrom:  tokenFrom,
		Licensee:   l,
		Options: []license.Option{
			license.WithIssuer(license.IssuerPrefix + l.Namespace + "/" + product),
			license.WithAudience(product),
		},
	}
	if jwksFile != "" {
		if in.JWKS, in.Keys, err = readJWKSFile(jwksFile); err != nil {
			return nil, err
		}
		in.KeysFrom = "file " + jwksFile
		return in, nil
	}
	prod, err := c.productOf(ctx, l)
	if err != nil {
		return nil, err
	}
	jwks, configMapName, err := c.productJWKS(ctx, prod)
	if err != nil {
		return nil, err
	}
	keys, err := license.ParseJWKS(jwks)
	if err != nil {
		return nil, fmt.Errorf("configmap %s/%s, key %s, is not a usable trust anchor: %w; the controller republishes it from the product's keys", prod.Namespace, configMapName, licensingv1alpha1.JWKSKey, err)
	}
	in.JWKS, in.Keys = jwks, keys
	in.KeysFrom = fmt.Sprintf("configmap %s/%s, key %s", prod.Namespace, configMapName, licensingv1alpha1.JWKSKey)
	return in, nil
}

// loadFromFiles reads a token or bundle file and the trust anchor. A bundle
// carries its own keys, which anyone can replace together with the token, so
// they are used only with --trust-bundled-keys.
func loadFromFiles(path, jwksFile string, trustBundled bool, stdin io.Reader) (*licenseInput, error) {
	data, err := readInputFile(path, stdin)
	if err != nil {
		return nil, err
	}
	in := &licenseInput{TokenFrom: "file " + path}
	if path == "-" {
		in.TokenFrom = "stdin"
	}
	isBundle := bytes.HasPrefix(bytes.TrimSpace(data), []byte("{"))

	if isBundle && jwksFile == "" && !trustBundled {
		return nil, usagef("%s is a license bundle: its keys travel with the token, so they prove nothing; pass the product's published keys with --jwks FILE (jwks.json of ConfigMap <product>-license-keys), or accept the bundled keys with --trust-bundled-keys", path)
	}
	if !isBundle && trustBundled {
		return nil, usagef("--trust-bundled-keys applies to bundle files, and %s holds a bare token; pass the product's jwks.json with --jwks FILE", path)
	}
	if !isBundle && jwksFile == "" {
		return nil, usagef("--jwks FILE is required with a token file: it is the trust anchor, the jwks.json of the product's ConfigMap <product>-license-keys")
	}
	if jwksFile != "" {
		if in.JWKS, in.Keys, err = readJWKSFile(jwksFile); err != nil {
			return nil, err
		}
		in.KeysFrom = "file " + jwksFile
	}
	if !isBundle {
		in.Token = string(data)
		return in, nil
	}

	bundle, err := license.ParseBundle(data)
	if err != nil {
		in.parseErr = err
		return in, nil
	}
	in.Token = bundle.Token
	in.TokenFrom = "bundle " + path
	if jwksFile == "" {
		// trustBundled: ParseBundle has already checked the bundled keys parse.
		if in.Keys, err = bundle.BundledKeys(); err != nil {
			in.parseErr = err
			return in, nil
		}
		in.JWKS = bundle.JWKS
		in.KeysFrom = "bundle " + path + " (bundled keys, --trust-bundled-keys)"
	}
	return in, nil
}

// maxInputSize bounds what is read from a file or stdin; tokens are a few KiB.
const maxInputSize = 4 << 20

func readInputFile(path string, stdin io.Reader) ([]byte, error) {
	var r io.Reader
	if path == "-" {
		if stdin == nil {
			return nil, usagef("-f - reads stdin, but there is no stdin")
		}
		r = stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read license file: %w; pass the path of a license.jwt or of a bundle written by kubectl license export", err)
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInputSize+1))
	if err != nil {
		return nil, fmt.Errorf("read license file %s: %w", path, err)
	}
	if len(data) > maxInputSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: it is not a license token or bundle", path, maxInputSize)
	}
	return data, nil
}

func readJWKSFile(path string) ([]byte, *license.KeySet, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("read --jwks: %w; pass the product's jwks.json (kubectl get configmap <product>-license-keys -o jsonpath='{.data.jwks\\.json}')", err)
	}
	keys, err := license.ParseJWKS(data)
	if err != nil {
		return nil, nil, fmt.Errorf("--jwks %s is not a usable trust anchor: %w", path, err)
	}
	return data, keys, nil
}
