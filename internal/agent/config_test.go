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
	for _, w := range []string{"-license-dir", "-jwks", "-trust-bundled-keys", "-state-dir", "-allowed-host", "LICENSE_AGENT_",
		"-license-api", "-license-api-ca", "-seat", "-holder", "-activate", "-fingerprint", "-fingerprint-env", "-fingerprint-file", "-offline-grace", "-online-interval"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("usage does not mention %s:\n%s", w, out.String())
		}
	}
}

const testAPI = "https://kubelicense-license-api.kubelicense-system.svc:9443"

func TestParseConfigOnline(t *testing.T) {
	cfg, err := ParseConfig([]string{"--jwks=/k"}, envOf(nil), io.Discard)
	must(t, err)
	if cfg.LicenseAPI != "" || cfg.OnlineInterval != time.Second || cfg.OfflineGrace != 15*time.Minute {
		t.Fatalf("online defaults: %+v", cfg)
	}

	cfg, err = ParseConfig([]string{"--jwks=/k", "--license-api=" + testAPI, "--license-api-ca=/ca/ca.crt",
		"--seat=main", "--activate=node-locked", "--fingerprint-env=NODE_NAME", "--online-interval=5s", "--offline-grace=1h", "--seat-ttl=1m"},
		envOf(map[string]string{"POD_NAME": "web-7d9f", "POD_UID": "0b1c", "NODE_NAME": " node-1 \n"}), io.Discard)
	must(t, err)
	if cfg.LicenseAPI != testAPI || cfg.LicenseAPICA != "/ca/ca.crt" || cfg.Seat != "main" || cfg.Holder != "web-7d9f/0b1c" ||
		cfg.Activate != "node-locked" || cfg.Fingerprint != "node-1" || cfg.OnlineInterval != 5*time.Second ||
		cfg.OfflineGrace != time.Hour || cfg.SeatTTL != time.Minute {
		t.Fatalf("online flags: %+v", cfg)
	}

	// --holder wins over the Downward API; the fingerprint may come from its own variable.
	cfg, err = ParseConfig([]string{"--jwks=/k", "--license-api=" + testAPI, "--seat=main", "--holder=batch-42"},
		envOf(map[string]string{"POD_NAME": "web", "POD_UID": "u", "LICENSE_AGENT_FINGERPRINT": "m-1"}), io.Discard)
	must(t, err)
	if cfg.Holder != "batch-42" || cfg.Fingerprint != "m-1" {
		t.Fatalf("holder %q, fingerprint %q", cfg.Holder, cfg.Fingerprint)
	}
	cfg, err = ParseConfig([]string{"--jwks=/k", "--license-api=" + testAPI, "--activate=main", "--fingerprint-file=/host/etc/machine-id"}, envOf(nil), io.Discard)
	must(t, err)
	if cfg.FingerprintFile != "/host/etc/machine-id" || cfg.Fingerprint != "" {
		t.Fatalf("fingerprint file: %+v", cfg)
	}
}

func TestParseConfigOnlineErrorsSayWhatToSet(t *testing.T) {
	api := "--license-api=" + testAPI
	pod := map[string]string{"POD_NAME": "web", "POD_UID": "u"}
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want []string
	}{
		"seat without api":        {[]string{"--seat=main"}, pod, []string{"--seat needs --license-api"}},
		"activate without api":    {[]string{"--activate=main", "--fingerprint=f"}, nil, []string{"needs --license-api"}},
		"ca without api":          {[]string{"--license-api-ca=/ca.crt"}, nil, []string{"--license-api-ca needs --license-api"}},
		"plain http":              {[]string{"--license-api=http://api:9443"}, nil, []string{"--license-api", "https://"}},
		"no host":                 {[]string{"--license-api=https://"}, nil, []string{"--license-api", "no host"}},
		"user in url":             {[]string{"--license-api=https://me:secret@api:9443"}, nil, []string{"--license-api", "no user"}},
		"zero interval":           {[]string{api, "--online-interval=0s"}, nil, []string{"--online-interval"}},
		"negative grace":          {[]string{api, "--offline-grace=-1m"}, nil, []string{"--offline-grace", "0"}},
		"seat without holder":     {[]string{api, "--seat=main"}, nil, []string{"--seat=main needs a holder", "POD_NAME (fieldPath: metadata.name)", "POD_UID (fieldPath: metadata.uid)", "--holder"}},
		"seat without pod uid":    {[]string{api, "--seat=main"}, map[string]string{"POD_NAME": "web"}, []string{"POD_UID (fieldPath: metadata.uid)"}},
		"seat name":               {[]string{api, "--seat=Main License"}, pod, []string{"--seat=\"Main License\"", "license name"}},
		"seat ttl":                {[]string{api, "--seat=main", "--seat-ttl=1s"}, pod, []string{"--seat-ttl", "10s"}},
		"activate without print":  {[]string{api, "--activate=main"}, nil, []string{"--activate=main needs a fingerprint", "--fingerprint-env", "--fingerprint-file"}},
		"empty fingerprint":       {[]string{api, "--activate=main", "--fingerprint="}, nil, []string{"--fingerprint is empty"}},
		"blank fingerprint":       {[]string{api, "--activate=main", "--fingerprint=  "}, nil, []string{"--fingerprint is empty"}},
		"empty fingerprint var":   {[]string{api, "--activate=main", "--fingerprint-env=NODE_NAME"}, nil, []string{"fingerprint is empty", "NODE_NAME", "spec.nodeName"}},
		"empty fingerprint-env":   {[]string{api, "--activate=main", "--fingerprint-env="}, nil, []string{"--fingerprint-env is empty"}},
		"two fingerprints":        {[]string{api, "--fingerprint=a", "--fingerprint-file=/f"}, nil, []string{"more than one of --fingerprint"}},
		"fingerprint too long":    {[]string{api, "--fingerprint=" + strings.Repeat("f", 257)}, nil, []string{"--fingerprint is 257 bytes", "SHA-256"}},
		"fingerprint control":     {[]string{api, "--fingerprint=a\x01b"}, nil, []string{"--fingerprint", "control characters"}},
		"holder too long":         {[]string{api, "--seat=main", "--holder=" + strings.Repeat("h", 257)}, nil, []string{"--holder is 257 bytes"}},
		"fingerprint without api": {[]string{"--fingerprint=f"}, nil, []string{"--fingerprint needs --license-api"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseConfig(append([]string{"--jwks=/k"}, tc.args...), envOf(tc.env), io.Discard)
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
