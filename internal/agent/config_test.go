package agent

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"
)

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestParseConfigDefaultsAndEnvironment(t *testing.T) {
	cfg, err := ParseConfig([]string{"--jwks=/keys/jwks.json"}, envOf(nil), io.Discard)
	must(t, err)
	if cfg.LicenseDir != DefaultLicenseDir || cfg.Listen != DefaultListen || cfg.Leeway != time.Minute ||
		cfg.RecheckInterval != 30*time.Second || cfg.ReadyAlways || cfg.TrustBundledKeys {
		t.Fatalf("defaults: %+v", cfg)
	}

	cfg, err = ParseConfig([]string{"--listen=127.0.0.1:9000"}, envOf(map[string]string{
		"LICENSE_AGENT_LICENSE_DIR":  "/mnt/license",
		"LICENSE_AGENT_JWKS":         "/mnt/keys/jwks.json",
		"LICENSE_AGENT_LISTEN":       "127.0.0.1:7000", // the flag wins
		"LICENSE_AGENT_READY_ALWAYS": "true",
		"LICENSE_AGENT_PRODUCT":      "acme-db",
		"LICENSE_AGENT_STATE_DIR":    "/var/run/license-agent",
	}), io.Discard)
	must(t, err)
	if cfg.LicenseDir != "/mnt/license" || cfg.JWKSFile != "/mnt/keys/jwks.json" || cfg.Listen != "127.0.0.1:9000" ||
		!cfg.ReadyAlways || cfg.Product != "acme-db" || cfg.StateDir != "/var/run/license-agent" {
		t.Fatalf("from the environment: %+v", cfg)
	}
}

func TestParseConfigAllowedHosts(t *testing.T) {
	cfg, err := ParseConfig([]string{"--jwks=/k", "--allowed-host=Agent.Shop.svc.,10.0.0.5", "--allowed-host", "[FD00::5]"}, envOf(nil), io.Discard)
	must(t, err)
	if want := []string{"agent.shop.svc", "10.0.0.5", "fd00::5"}; !slices.Equal(cfg.AllowedHosts, want) {
		t.Errorf("AllowedHosts %q, want %q", cfg.AllowedHosts, want)
	}
	env := envOf(map[string]string{"LICENSE_AGENT_ALLOWED_HOST": "a.example,b.example"})
	cfg, err = ParseConfig([]string{"--jwks=/k"}, env, io.Discard)
	must(t, err)
	if want := []string{"a.example", "b.example"}; !slices.Equal(cfg.AllowedHosts, want) {
		t.Errorf("from the environment: %q, want %q", cfg.AllowedHosts, want)
	}
	cfg, err = ParseConfig([]string{"--jwks=/k", "--allowed-host=c.example"}, env, io.Discard)
	must(t, err)
	if want := []string{"c.example"}; !slices.Equal(cfg.AllowedHosts, want) {
		t.Errorf("flag over environment: %q, want %q", cfg.AllowedHosts, want)
	}
	for _, bad := range []string{"http://agent", "agent:8089", "*.shop.svc", "", "a,,b", "user@agent"} {
		if _, err := ParseConfig([]string{"--jwks=/k", "--allowed-host=" + bad}, envOf(nil), io.Discard); err == nil || !strings.Contains(err.Error(), "--allowed-host") {
			t.Errorf("--allowed-host=%q: error %v, want one naming --allowed-host", bad, err)
		}
	}
}

func TestParseConfigErrorsSayWhatToFix(t *testing.T) {
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want []string
	}{
		"no trust anchor":        {nil, nil, []string{"no trust anchor", "--jwks", "LICENSE_AGENT_JWKS", "license-keys", "--trust-bundled-keys"}},
		"two trust anchors":      {[]string{"--jwks=/k", "--trust-bundled-keys"}, nil, []string{"--jwks", "--trust-bundled-keys", "choose one"}},
		"bundle and dir":         {[]string{"--jwks=/k", "--bundle=/b.json", "--license-dir=/l"}, nil, []string{"--bundle", "--license-dir"}},
		"bundle and dir via env": {[]string{"--jwks=/k", "--bundle=/b.json"}, map[string]string{"LICENSE_AGENT_LICENSE_DIR": "/l"}, []string{"--bundle", "--license-dir"}},
		"bad listen":             {[]string{"--jwks=/k", "--listen=8089"}, nil, []string{"--listen", "host:port"}},
		"bad probe listen":       {[]string{"--jwks=/k", "--probe-listen=probe"}, nil, []string{"--probe-listen"}},
		"negative leeway":        {[]string{"--jwks=/k", "--leeway=-1s"}, nil, []string{"--leeway"}},
		"zero recheck":           {[]string{"--jwks=/k", "--recheck-interval=0s"}, nil, []string{"--recheck-interval"}},
		"issuer format":          {[]string{"--jwks=/k", "--issuer=acme-db"}, nil, []string{"--issuer", "licensing.kubelicense.io/<namespace>/<product>"}},
		"bad env value":          {[]string{"--jwks=/k"}, map[string]string{"LICENSE_AGENT_LEEWAY": "soon"}, []string{"LICENSE_AGENT_LEEWAY"}},
		"unknown flag":           {[]string{"--jwks=/k", "--lisen=x"}, nil, []string{"lisen"}},
		"stray argument":         {[]string{"--jwks=/k", "serve"}, nil, []string{`"serve"`}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig(tc.args, envOf(tc.env), io.Discard)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseConfigHelp(t *testing.T) {
	var out strings.Builder
	_, err := ParseConfig([]string{"--help"}, envOf(nil), &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err %v, want ErrHelp", err)
	}
	for _, w := range []string{"-license-dir", "-jwks", "-trust-bundled-keys", "-state-dir", "-allowed-host", "LICENSE_AGENT_"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("usage does not mention %s:\n%s", w, out.String())
		}
	}
}
