package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// kubeletDataDir is the symlink kubelet swaps atomically in Secret and ConfigMap
// volumes; the visible files are symlinks through it.
const kubeletDataDir = "..data"

// maxFileSize bounds what the agent reads from a mount; a token is a few KiB
// and pkg/license refuses anything above 1 MiB anyway.
const maxFileSize = 4 << 20

// fileContent is one file as read at a reload. It is comparable, so a reload
// that finds the same bytes (and the same problem) as the last one is skipped.
type fileContent struct {
	path    string
	data    string
	missing bool
	// readErr is the text of any other read error.
	readErr string
}

// inputs is everything a verdict depends on besides the clock.
type inputs struct {
	// license is license.jwt, or the bundle file in bundle mode.
	license fileContent
	// anchor is the --jwks file, or the jwks.json beside the token with
	// --trust-bundled-keys in directory mode; empty when the bundle carries the keys.
	anchor fileContent
	// notice is license.json, read in directory mode only when license.jwt is
	// missing: the operator's revocation notice, if it removed the token.
	notice fileContent
}

// readInputs reads the license and the trust anchor as configured.
func readInputs(cfg *Config) inputs {
	var in inputs
	switch {
	case cfg.BundleFile != "":
		in.license = readFile(cfg.BundleFile)
	case cfg.TrustBundledKeys:
		in.license, in.anchor = readSecretPair(cfg.LicenseDir, licenseTokenFile, bundledJWKSFile)
	default:
		in.license = readFile(filepath.Join(cfg.LicenseDir, licenseTokenFile))
	}
	if cfg.JWKSFile != "" {
		in.anchor = readFile(cfg.JWKSFile)
	}
	if cfg.BundleFile == "" && in.license.missing {
		// Read after the token: a generation swapped in between is caught by
		// its own event, as for any torn read.
		in.notice = readFile(filepath.Join(cfg.LicenseDir, licenseJSONFile))
	}
	return in
}

// readSecretPair reads two files of one kubelet volume from the same generation:
// through the resolved ..data link when there is one, so a swap between the two
// reads cannot pair a new token with old keys. Elsewhere (a plain directory, or
// a generation removed under our feet) it reads the visible paths; the next
// event or recheck corrects a torn read.
func readSecretPair(dir, first, second string) (fileContent, fileContent) {
	if target, err := os.Readlink(filepath.Join(dir, kubeletDataDir)); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(dir, target)
		}
		a, b := readFile(filepath.Join(target, first)), readFile(filepath.Join(target, second))
		if a.readErr == "" && b.readErr == "" && !a.missing && !b.missing {
			// Report the visible paths, which are what the user mounted.
			a.path, b.path = filepath.Join(dir, first), filepath.Join(dir, second)
			return a, b
		}
	}
	return readFile(filepath.Join(dir, first)), readFile(filepath.Join(dir, second))
}

func readFile(path string) fileContent {
	fc := fileContent{path: path}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			fc.missing = true
		} else {
			fc.readErr = err.Error()
		}
		return fc
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	switch {
	case err != nil:
		fc.readErr = err.Error()
	case len(data) > maxFileSize:
		fc.readErr = fmt.Sprintf("%s is larger than %d bytes; it is not a license file", path, maxFileSize)
	default:
		fc.data = string(data)
	}
	return fc
}

// watchDirs are the directories whose events trigger a reload: the parent of
// every file the agent reads. kubelet replaces files by swapping ..data in
// that directory, which watching the file itself would miss.
func watchDirs(cfg *Config) []string {
	var dirs []string
	add := func(d string) {
		for _, have := range dirs {
			if have == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	if cfg.BundleFile != "" {
		add(filepath.Dir(cfg.BundleFile))
	} else {
		add(cfg.LicenseDir)
	}
	if cfg.JWKSFile != "" {
		add(filepath.Dir(cfg.JWKSFile))
	}
	if cfg.LicenseAPICA != "" {
		add(filepath.Dir(cfg.LicenseAPICA))
	}
	return dirs
}

// checkMounts fails start-up when a directory to watch or the pinned trust
// anchor is absent. A missing token or bundle is not an error: it may be
// mounted later.
func checkMounts(cfg *Config) error {
	if cfg.BundleFile != "" {
		if err := checkDir(filepath.Dir(cfg.BundleFile)); err != nil {
			return fmt.Errorf("--bundle=%s: %w", cfg.BundleFile, err)
		}
	} else if err := checkDir(cfg.LicenseDir); err != nil {
		return fmt.Errorf("--license-dir=%s: %w; mount the license Secret there (a volume, without subPath) or point --license-dir at it", cfg.LicenseDir, err)
	}
	if cfg.StateDir != "" {
		if err := checkDir(cfg.StateDir); err != nil {
			return fmt.Errorf("--state-dir=%s: %w; mount a writable emptyDir there, or leave --state-dir unset", cfg.StateDir, err)
		}
	}
	return nil
}

func checkDir(dir string) error {
	info, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !info.IsDir():
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}
