package config

import (
	"maps"
	"os"
	"os/exec"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/kubelicense/kubelicense/internal/testenv"
)

const krewManifest = "plugins/license.yaml"

// krewPlugin is krew's index/v1alpha2 Plugin, as much of it as the manifest uses.
type krewPlugin struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

// archiveRecipe is what `make plugin-archives` builds: per archive, the GOOS
// and GOARCH of the binary and its name in the archive.
type archiveRecipe struct{ goos, goarch, bin string }

// pluginArchives reads the recipe of `make plugin-archives` (make -n: nothing
// is built) into the archives it writes, by file name.
func pluginArchives(t *testing.T) map[string]archiveRecipe {
	t.Helper()
	cmd := exec.Command("make", "-n", "-s", "--no-print-directory", "-C", testenv.RepoRoot(), "plugin-archives", "PLUGIN_DIST=/out")
	cmd.Env = slices.DeleteFunc(os.Environ(), func(e string) bool {
		return strings.HasPrefix(e, "VERSION=") || strings.HasPrefix(e, "PLUGIN_PLATFORMS=") || strings.HasPrefix(e, "MAKEFLAGS=")
	})
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n plugin-archives: %v", err)
	}
	build := regexp.MustCompile(`GOOS=(\w+) GOARCH=(\w+) go build .* -o /out/tmp/(\S+) \./cmd/kubectl-license$`)
	tar := regexp.MustCompile(`^tar -C /out/tmp -czf /out/(\S+) (\S+)$`)
	archives := map[string]archiveRecipe{}
	var last []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := build.FindStringSubmatch(line); m != nil {
			last = m
		} else if m := tar.FindStringSubmatch(line); m != nil {
			if last == nil || last[3] != m[2] {
				t.Fatalf("make plugin-archives packs %s into %s, which it did not just build", m[2], m[1])
			}
			archives[m[1]] = archiveRecipe{goos: last[1], goarch: last[2], bin: m[2]}
			last = nil
		}
	}
	if len(archives) == 0 {
		t.Fatalf("make -n plugin-archives builds no archive:\n%s", out)
	}
	return archives
}

// TestKrewManifest: plugins/license.yaml is a krew Plugin for kubectl-license
// whose every platform downloads its own release archive, the one `make
// plugin-archives` builds for that platform, and runs the binary in it.
func TestKrewManifest(t *testing.T) {
	var p krewPlugin
	if err := yaml.UnmarshalStrict(readFile(t, krewManifest), &p); err != nil {
		t.Fatalf("%s: %v", krewManifest, err)
	}
	if p.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || p.Kind != "Plugin" {
		t.Errorf("%s is %s %s, want a krew.googlecontainertools.github.com/v1alpha2 Plugin", krewManifest, p.APIVersion, p.Kind)
	}
	// krew runs kubectl-<name>: the plugin must be named after cmd/kubectl-license.
	if p.Metadata.Name != "license" {
		t.Errorf("metadata.name %q, want license (kubectl license)", p.Metadata.Name)
	}
	version := "v" + makeVar(t, "VERSION")
	if p.Spec.Version != version {
		t.Errorf("spec.version %q, the Makefile's release is %s", p.Spec.Version, version)
	}
	if p.Spec.ShortDescription == "" || len(p.Spec.ShortDescription) > 50 || p.Spec.Description == "" || !strings.HasPrefix(p.Spec.Homepage, "https://") {
		t.Errorf("krew needs a homepage, a description and a short description of at most 50 characters; got %q / %q", p.Spec.Homepage, p.Spec.ShortDescription)
	}

	archives := pluginArchives(t)
	platforms := strings.Fields(makeVar(t, "PLUGIN_PLATFORMS"))
	sha256 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	prefix := "https://github.com/kubelicense/kubelicense/releases/download/" + version + "/"
	seen := map[string]bool{}
	uris := map[string]bool{}
	for _, pl := range p.Spec.Platforms {
		labels := pl.Selector.MatchLabels
		platform := labels["os"] + "/" + labels["arch"]
		if len(labels) != 2 || !slices.Contains(platforms, platform) {
			t.Errorf("platform %v is not one of the Makefile's PLUGIN_PLATFORMS %v", labels, platforms)
			continue
		}
		if seen[platform] {
			t.Errorf("platform %s is listed twice", platform)
		}
		seen[platform] = true
		if uris[pl.URI] {
			t.Errorf("%s: uri %s is another platform's archive", platform, pl.URI)
		}
		uris[pl.URI] = true
		name := path.Base(pl.URI)
		if !strings.HasPrefix(pl.URI, prefix) {
			t.Errorf("%s: uri %s is not an asset of release %s", platform, pl.URI, version)
		}
		recipe, ok := archives[name]
		if !ok {
			t.Errorf("%s: make plugin-archives builds no %s (it builds %v)", platform, name, slices.Sorted(maps.Keys(archives)))
			continue
		}
		if recipe.goos+"/"+recipe.goarch != platform {
			t.Errorf("%s: %s holds a %s/%s binary", platform, name, recipe.goos, recipe.goarch)
		}
		wantBin := "kubectl-license"
		if labels["os"] == "windows" {
			wantBin += ".exe"
		}
		if pl.Bin != wantBin || recipe.bin != wantBin {
			t.Errorf("%s: bin %q, archive holds %q; want %q", platform, pl.Bin, recipe.bin, wantBin)
		}
		if !sha256.MatchString(pl.Sha256) {
			t.Errorf("%s: sha256 %q is not 64 lowercase hex digits; krew refuses the manifest", platform, pl.Sha256)
		}
	}
	for _, platform := range platforms {
		if !seen[platform] {
			t.Errorf("%s has no platform %s (PLUGIN_PLATFORMS)", krewManifest, platform)
		}
	}
}
