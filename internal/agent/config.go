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
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

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

	// LicenseAPI, when set, is the operator's license API (https://...): the
	// agent answers from its live verdict and falls back to the token while it
	// is unreachable, for at most OfflineGrace.
	LicenseAPI string
	// LicenseAPICA is a PEM file of the CAs that sign the API's certificate
	// (the kubelicense-license-api-ca ConfigMap mounted); empty: system roots.
	LicenseAPICA string
	// OnlineInterval is the time between two POST /v1/validate.
	OnlineInterval time.Duration
	// OfflineGrace is how long after the last online verdict the agent still
	// answers from the token; past it, it fails closed.
	OfflineGrace time.Duration
	// Seat names the license whose floating seat the agent holds for its life,
	// as Holder (a pod's <name>/<uid>), with leases of SeatTTL (0: the API's default).
	Seat    string
	Holder  string
	SeatTTL time.Duration
	// Activate names the license the agent activates Fingerprint for at start.
	Activate string
	// Fingerprint is sent with every validation, so node-locked licenses are
	// checked; FingerprintFile, when set, is read by New instead.
	Fingerprint     string
	FingerprintFile string

	// Now is the clock (nil: time.Now); tests move it.
	Now func() time.Time
	// Logger receives reloads and problems (nil: discard).
	Logger *slog.Logger
}

// Defaults of the online mode; docs/license-agent.md says why.
const (
	DefaultOnlineInterval = time.Second
	DefaultOfflineGrace   = 15 * time.Minute
)

// The Downward API variables a pod's seat holder is made of, unless --holder says.
const (
	envPodName = "POD_NAME"
	envPodUID  = "POD_UID"
)

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
	fs.StringVar(&cfg.LicenseAPI, "license-api", "", "URL of the operator's license API (e.g. https://kubelicense-license-api.kubelicense-system.svc:9443): answer from its live verdict, falling back to the token while it is unreachable")
	fs.StringVar(&cfg.LicenseAPICA, "license-api-ca", "", "PEM file of the CA that signs the license API's certificate: ca.crt of the kubelicense-license-api-ca ConfigMap, mounted (default: the system's roots)")
	fs.DurationVar(&cfg.OnlineInterval, "online-interval", DefaultOnlineInterval, "time between two validations by the license API (one call per interval, whatever the requests)")
	fs.DurationVar(&cfg.OfflineGrace, "offline-grace", DefaultOfflineGrace, "how long after the last online verdict the agent still answers from the token while the license API is unreachable; past it, it fails closed")
	fs.StringVar(&cfg.Seat, "seat", "", "hold a floating seat of this license (by name) for the life of the pod; ready only while it is held")
	fs.StringVar(&cfg.Holder, "holder", "", "who holds the seat (default: $"+envPodName+"/$"+envPodUID+", from the Downward API)")
	fs.DurationVar(&cfg.SeatTTL, "seat-ttl", 0, "how long a seat lease lasts after its last heartbeat, whole seconds between 10s and 24h (default: the license API's, 2m)")
	fs.StringVar(&cfg.Activate, "activate", "", "activate the fingerprint for this license (by name) at start; ready only once it is active")
	fs.StringVar(&cfg.Fingerprint, "fingerprint", "", "the machine's fingerprint, sent with every validation (node-locked licenses) and activated with --activate")
	var fingerprintEnv string
	fs.StringVar(&fingerprintEnv, "fingerprint-env", "", "read the fingerprint from this environment variable (e.g. NODE_NAME, set from the Downward API's spec.nodeName)")
	fs.StringVar(&cfg.FingerprintFile, "fingerprint-file", "", "read the fingerprint from this file (e.g. /etc/machine-id through a hostPath volume), surrounding white space removed")
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
	if err := resolveFingerprint(&cfg, set, fingerprintEnv, getenv); err != nil {
		return Config{}, err
	}
	if cfg.Seat != "" && cfg.Holder == "" {
		if err := holderFromPod(&cfg, getenv); err != nil {
			return Config{}, err
		}
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

// resolveFingerprint takes the fingerprint from at most one of --fingerprint,
// --fingerprint-env and --fingerprint-file; an empty one is refused here (the
// file is read by New).
func resolveFingerprint(cfg *Config, set map[string]bool, fromEnv string, getenv func(string) string) error {
	// Flags set from LICENSE_AGENT_* variables count as set too.
	if n := countTrue(set["fingerprint"], set["fingerprint-env"], set["fingerprint-file"]); n > 1 {
		return errors.New("more than one of --fingerprint, --fingerprint-env and --fingerprint-file is set: give the fingerprint one way")
	}
	switch {
	case set["fingerprint"] && strings.TrimSpace(cfg.Fingerprint) == "":
		return errors.New("--fingerprint is empty: set it to a value that names this machine, or use --fingerprint-env or --fingerprint-file")
	case set["fingerprint-env"] && fromEnv == "":
		return errors.New("--fingerprint-env is empty: name the environment variable that holds the fingerprint, e.g. --fingerprint-env=NODE_NAME")
	case set["fingerprint-env"]:
		cfg.Fingerprint = getenv(fromEnv)
		if strings.TrimSpace(cfg.Fingerprint) == "" {
			return fmt.Errorf("the fingerprint is empty: environment variable %s (--fingerprint-env) is not set or empty; set it in the container, e.g. from the Downward API: env: [{name: %s, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]", fromEnv, fromEnv)
		}
	case set["fingerprint-file"] && cfg.FingerprintFile == "":
		return errors.New("--fingerprint-file is empty: name the file that holds the fingerprint, e.g. --fingerprint-file=/host/etc/machine-id")
	}
	cfg.Fingerprint = strings.TrimSpace(cfg.Fingerprint)
	return nil
}

func countTrue(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// holderFromPod is the seat holder <pod name>/<pod uid> from the Downward API.
func holderFromPod(cfg *Config, getenv func(string) string) error {
	name, uid := getenv(envPodName), getenv(envPodUID)
	var missing []string
	if name == "" {
		missing = append(missing, envPodName+" (fieldPath: metadata.name)")
	}
	if uid == "" {
		missing = append(missing, envPodUID+" (fieldPath: metadata.uid)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("--seat=%s needs a holder: set %s from the Downward API in the agent's container env (valueFrom.fieldRef), or set --holder", cfg.Seat, strings.Join(missing, " and "))
	}
	cfg.Holder = name + "/" + uid
	return nil
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
	if err := c.completeOnline(); err != nil {
		return err
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
	for _, p := range []*string{&c.LicenseAPICA, &c.FingerprintFile} {
		if *p != "" {
			if *p, err = filepath.Abs(*p); err != nil {
				return err
			}
		}
	}
	return nil
}

// completeOnline checks the flags of the online mode, which all need --license-api.
func (c *Config) completeOnline() error {
	if c.LicenseAPI == "" {
		for flagName, v := range map[string]string{"license-api-ca": c.LicenseAPICA, "seat": c.Seat, "activate": c.Activate, "fingerprint": c.Fingerprint + c.FingerprintFile} {
			if v != "" {
				return fmt.Errorf("--%s needs --license-api: set it to the operator's license API, e.g. --license-api=https://kubelicense-license-api.kubelicense-system.svc:9443", flagName)
			}
		}
		return nil
	}
	if _, err := license.ParseBaseURL(c.LicenseAPI); err != nil {
		return fmt.Errorf("--license-api: %w", err)
	}
	if c.OnlineInterval <= 0 {
		return fmt.Errorf("--online-interval=%s must be positive, e.g. 1s", c.OnlineInterval)
	}
	if c.OfflineGrace < 0 {
		return fmt.Errorf("--offline-grace=%s is negative: use 0 (fail closed as soon as the license API is unreachable) or a duration such as 15m", c.OfflineGrace)
	}
	for flagName, name := range map[string]string{"seat": c.Seat, "activate": c.Activate} {
		if name != "" && !licenseNameRE.MatchString(name) {
			return fmt.Errorf("--%s=%q is not a license name: give the name of a license in the Licensee's spec.licenses (lower case letters, digits and '-')", flagName, name)
		}
	}
	if c.Seat != "" {
		if err := checkWireText("--holder", c.Holder, license.MaxHolderLength); err != nil {
			return err
		}
	}
	if c.SeatTTL != 0 && (c.SeatTTL < 10*time.Second || c.SeatTTL > 24*time.Hour || c.SeatTTL%time.Second != 0) {
		return fmt.Errorf("--seat-ttl=%s must be whole seconds between 10s and 24h, e.g. 2m", c.SeatTTL)
	}
	if c.Fingerprint != "" {
		if err := checkWireText("--fingerprint", c.Fingerprint, license.MaxFingerprintLength); err != nil {
			return err
		}
	}
	if c.Activate != "" && c.Fingerprint == "" && c.FingerprintFile == "" {
		return fmt.Errorf("--activate=%s needs a fingerprint: set --fingerprint, --fingerprint-env (e.g. NODE_NAME from the Downward API) or --fingerprint-file (e.g. /etc/machine-id through a hostPath volume)", c.Activate)
	}
	return nil
}

// licenseNameRE is a license name as the Licensee spec allows it (a DNS label).
var licenseNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)

// checkWireText refuses what the license API would refuse as MALFORMED: empty,
// longer than max bytes, control characters or invalid UTF-8.
func checkWireText(flagName, v string, max int) error {
	switch {
	case v == "":
		return fmt.Errorf("%s is empty: set it", flagName)
	case len(v) > max:
		return fmt.Errorf("%s is %d bytes, more than the %d the license API accepts; use a shorter value (a hash of it, e.g. its SHA-256 in hex)", flagName, len(v), max)
	case !utf8.ValidString(v) || strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%s holds control characters or invalid UTF-8; use printable text (a hash of it, e.g. its SHA-256 in hex)", flagName)
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
