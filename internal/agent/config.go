package agent

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// Names inside the mounted license Secret. They are the values of
// v1alpha1.LicenseTokenKey, LicenseJSONKey and JWKSKey, copied so the agent
// does not pull in the Kubernetes API packages.
const (
	licenseTokenFile = "license.jwt"
	licenseJSONFile  = "license.json"
	bundledJWKSFile  = "jwks.json"
)

// DefaultLicenseDir is where the license Secret is mounted unless --license-dir says otherwise.
const DefaultLicenseDir = "/var/run/kubelicense/license"

// DefaultListen keeps the license API on the pod's loopback interface: only
// containers of the same pod can ask it.
const DefaultListen = "127.0.0.1:8089"

// envPrefix prefixes the environment variable of every flag: --license-dir is
// LICENSE_AGENT_LICENSE_DIR. A flag on the command line wins over its variable.
const envPrefix = "LICENSE_AGENT_"

// Config is what the agent is told at start.
type Config struct {
	// LicenseDir is the mounted license Secret (kubelet layout, license.jwt inside).
	// Ignored when BundleFile is set.
	LicenseDir string
	// BundleFile is an offline license bundle used instead of LicenseDir.
	BundleFile string
	// JWKSFile is the pinned trust anchor (the product's jwks.json).
	JWKSFile string
	// TrustBundledKeys trusts the jwks.json beside the token (or in the bundle)
	// instead of a pinned anchor.
	TrustBundledKeys bool
	// Product and Issuer, when set, pin the token's aud and iss claims.
	Product string
	Issuer  string
	// Listen serves the license API, health and metrics; ProbeListen, when set,
	// serves only health and metrics, for kubelet probes and Prometheus.
	Listen      string
	ProbeListen string
	// ReadyAlways reports ready even when the license is not valid.
	ReadyAlways bool
	// Leeway is the clock skew tolerated on the token's lifetime and by the
	// clock-moved-backwards check.
	Leeway time.Duration
	// RecheckInterval is the safety-net re-read of the files, for missed events.
	RecheckInterval time.Duration
	// Debounce collapses the burst of events of one kubelet update into one reload.
	Debounce time.Duration
	// AllowedHosts are names (or addresses) the API answers to in the Host
	// header, besides localhost and loopback addresses.
	AllowedHosts []string
	// StateDir, when set, keeps the latest time and the newest token seen
	// across restarts (an emptyDir of the pod).
	StateDir string

	// Now is the clock (nil: time.Now); tests move it.
	Now func() time.Time
	// Logger receives reloads and problems (nil: discard).
	Logger *slog.Logger
}

// defaultDebounce is long enough to cover the create/rename/remove burst of a
// kubelet volume update and short enough to go unnoticed.
const defaultDebounce = 100 * time.Millisecond

// ErrHelp is returned by ParseConfig when -h or --help was asked for; the usage
// has been written already.
var ErrHelp = flag.ErrHelp

// ParseConfig reads the command line and the LICENSE_AGENT_* environment and
// checks the result. Errors say which flag to change; usage goes to out.
func ParseConfig(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := Config{Debounce: defaultDebounce}
	fs := flag.NewFlagSet("license-agent", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.LicenseDir, "license-dir", DefaultLicenseDir, "directory of the mounted license Secret (holds "+licenseTokenFile+")")
	fs.StringVar(&cfg.BundleFile, "bundle", "", "offline license bundle file, instead of --license-dir")
	fs.StringVar(&cfg.JWKSFile, "jwks", "", "trust anchor: the product's jwks.json, e.g. the <product>-license-keys ConfigMap mounted as a file")
	fs.BoolVar(&cfg.TrustBundledKeys, "trust-bundled-keys", false, "trust the jwks.json beside the token (or in the bundle) instead of --jwks; whoever can write the license can then forge it")
	fs.StringVar(&cfg.Product, "product", "", "require the token to be issued for this product (aud claim)")
	fs.StringVar(&cfg.Issuer, "issuer", "", "require this issuer (iss claim), e.g. "+license.IssuerPrefix+"<namespace>/<product>")
	fs.StringVar(&cfg.Listen, "listen", DefaultListen, "address of the license API, health and metrics")
	fs.StringVar(&cfg.ProbeListen, "probe-listen", "", "optional second address serving only /healthz, /readyz and /metrics (e.g. :8090 for kubelet probes and Prometheus)")
	fs.BoolVar(&cfg.ReadyAlways, "ready-always", false, "report ready even when the license is not valid")
	fs.DurationVar(&cfg.Leeway, "leeway", license.DefaultLeeway, "clock skew tolerated on the token lifetime and before reporting a clock that moved backwards")
	fs.DurationVar(&cfg.RecheckInterval, "recheck-interval", 30*time.Second, "periodic re-read of the mounted files, in case a file event was missed")
	// The names from LICENSE_AGENT_ALLOWED_HOST are replaced, not added to, by
	// --allowed-host on the command line: a flag wins over its variable.
	var hostsFromEnv bool
	fs.Func("allowed-host", "a name (or address) applications use to reach --listen, accepted in the Host header besides localhost and loopback addresses; repeat it, or separate names with commas", func(v string) error {
		if hostsFromEnv {
			cfg.AllowedHosts, hostsFromEnv = nil, false
		}
		cfg.AllowedHosts = append(cfg.AllowedHosts, strings.Split(v, ",")...)
		return nil
	})
	fs.StringVar(&cfg.StateDir, "state-dir", "", "optional writable directory (an emptyDir) where the agent remembers the latest time and the newest token it saw, so a restart detects a clock set back and an older token put back")
	fs.Usage = func() {
		fmt.Fprintf(out, "Usage: license-agent [flags]\n\nServes the mounted kubelicense license on localhost. Every flag can also be set\nas %s<FLAG> (upper case, '-' as '_'), e.g. %sJWKS.\n\n", envPrefix, envPrefix)
		fs.PrintDefaults()
	}

	if err := applyEnv(fs, getenv); err != nil {
		return Config{}, err
	}
	hostsFromEnv = len(cfg.AllowedHosts) > 0
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: license-agent takes flags only (see --help)", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if cfg.BundleFile != "" && set["license-dir"] {
		return Config{}, errors.New("--bundle and --license-dir are both set: read the license either from a bundle file or from a mounted Secret directory, not both")
	}
	if err := cfg.complete(); err != nil {
		return Config{}, err
	}
	return cfg, nil
}

// applyEnv sets every flag whose LICENSE_AGENT_* variable is set, before the
// command line is parsed so that flags win.
func applyEnv(fs *flag.FlagSet, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		name := envName(f.Name)
		v := getenv(name)
		if v == "" || err != nil {
			return
		}
		if setErr := fs.Set(f.Name, v); setErr != nil {
			err = fmt.Errorf("environment variable %s=%q: %w", name, v, setErr)
		}
	})
	return err
}

func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// complete checks cfg, fills defaults and makes paths absolute. It does not
// touch the file system; New does.
func (c *Config) complete() error {
	switch {
	case c.JWKSFile == "" && !c.TrustBundledKeys:
		return fmt.Errorf("no trust anchor: set --jwks (or %s) to the product's jwks.json, "+
			"usually the <product>-license-keys ConfigMap mounted as a volume (e.g. --jwks=/etc/kubelicense/keys/jwks.json); "+
			"only if you trust whoever writes the license Secret, set --trust-bundled-keys instead", envName("jwks"))
	case c.JWKSFile != "" && c.TrustBundledKeys:
		return errors.New("--jwks and --trust-bundled-keys are both set: choose one trust anchor, the pinned --jwks file (recommended) or the keys shipped with the license")
	}
	if c.Leeway < 0 {
		return fmt.Errorf("--leeway=%s is negative: use 0 or a positive duration such as 1m", c.Leeway)
	}
	if c.RecheckInterval <= 0 {
		return fmt.Errorf("--recheck-interval=%s must be positive, e.g. 30s", c.RecheckInterval)
	}
	if c.Debounce <= 0 {
		c.Debounce = defaultDebounce
	}
	if c.Issuer != "" && !strings.HasPrefix(c.Issuer, license.IssuerPrefix) {
		return fmt.Errorf("--issuer=%q does not look like a kubelicense issuer: use %s<namespace>/<product>", c.Issuer, license.IssuerPrefix)
	}
	for i, h := range c.AllowedHosts {
		name, err := normalizeAllowedHost(h)
		if err != nil {
			return err
		}
		c.AllowedHosts[i] = name
	}
	if err := checkListen("--listen", c.Listen); err != nil {
		return err
	}
	if c.ProbeListen != "" {
		if err := checkListen("--probe-listen", c.ProbeListen); err != nil {
			return err
		}
	}
	var err error
	if c.BundleFile != "" {
		if c.BundleFile, err = filepath.Abs(c.BundleFile); err != nil {
			return fmt.Errorf("--bundle: %w", err)
		}
		c.LicenseDir = ""
	} else {
		if c.LicenseDir == "" {
			return errors.New("--license-dir is empty: set it to the directory where the license Secret is mounted, or use --bundle")
		}
		if c.LicenseDir, err = filepath.Abs(c.LicenseDir); err != nil {
			return fmt.Errorf("--license-dir: %w", err)
		}
	}
	if c.JWKSFile != "" {
		if c.JWKSFile, err = filepath.Abs(c.JWKSFile); err != nil {
			return fmt.Errorf("--jwks: %w", err)
		}
	}
	if c.StateDir != "" {
		if c.StateDir, err = filepath.Abs(c.StateDir); err != nil {
			return fmt.Errorf("--state-dir: %w", err)
		}
	}
	return nil
}

// normalizeAllowedHost is an --allowed-host value as the Host check compares
// it: a name in lower case without a trailing dot, or an IP address.
func normalizeAllowedHost(h string) (string, error) {
	name := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(h)), ".")
	if addr, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return addr.Unmap().String(), nil
	}
	if name == "" || strings.ContainsAny(name, ":/@*[] ") {
		return "", fmt.Errorf("--allowed-host=%q is not a host name or IP address: give the name alone, without scheme, port or wildcard, e.g. --allowed-host=acme-db-agent.shop.svc", h)
	}
	return name, nil
}

func checkListen(flagName, addr string) error {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s=%q is not a host:port address (e.g. 127.0.0.1:8089): %w", flagName, addr, err)
	}
	return nil
}

// verifyOptions are the pkg/license options implied by the configuration.
func (c *Config) verifyOptions() []license.Option {
	opts := []license.Option{license.WithLeeway(c.Leeway)}
	if c.Product != "" {
		opts = append(opts, license.WithAudience(c.Product))
	}
	if c.Issuer != "" {
		opts = append(opts, license.WithIssuer(c.Issuer))
	}
	return opts
}
