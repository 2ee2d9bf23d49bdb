package agent

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func stateFile(dir string) string { return filepath.Join(dir, stateFileName) }

func readState(t testing.TB, dir string) stateJSON {
	t.Helper()
	data, err := os.ReadFile(stateFile(dir))
	must(t, err)
	var s stateJSON
	must(t, json.Unmarshal(data, &s))
	return s
}

func TestStateDirRemembersTheClockAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, testClaims("s"), withStateDir(dir))
	stop := f.watch()
	f.clock.Add(2 * time.Hour)
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
	stop() // the watch loop writes the state on its way out
	if got := readState(t, dir).LatestSeen; got != "2026-12-01T14:00:00Z" {
		t.Fatalf("latestSeen %q, want the time seen last", got)
	}

	// The container restarts with the clock two hours behind.
	f.clock.Set(t0)
	f.restart()
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, string(license.CodeNotYetValid))
	for _, part := range []string{"system clock moved backwards", "2026-12-01T14:00:00Z"} {
		if !strings.Contains(r.message(), part) {
			t.Errorf("message %q does not mention %q", r.message(), part)
		}
	}
	// It recovers once the clock has caught up.
	f.clock.Set(t0.Add(2 * time.Hour))
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")

	// Without --state-dir a restart forgets: that is what the flag is for.
	plain := newFixture(t, testClaims("s"))
	plain.clock.Add(2 * time.Hour)
	plain.get("/v1/features/backup")
	plain.clock.Set(t0)
	plain.restart()
	plain.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
}

func TestStateDirRemembersTheNewestTokenAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, testClaims("newer"), withStateDir(dir))
	f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
	// Written as soon as it is seen, not only on the way out.
	s := readState(t, dir)
	if s.Version != stateVersion || len(s.Tokens) != 1 || s.Tokens[0].Serial != "newer" || s.Tokens[0].Subject != "globex" {
		t.Fatalf("state %+v", s)
	}

	f.setToken(f.issuer.sign(t, claimsAt("older", t0.Add(-time.Hour))))
	f.restart()
	r := f.get("/v1/features/backup").expect(t, http.StatusForbidden, string(license.CodeRevoked))
	if !strings.Contains(r.message(), "superseded") {
		t.Errorf("message %q", r.message())
	}
}

func TestStateFileIsWrittenAtomically(t *testing.T) {
	dir := t.TempDir()
	f := newFixture(t, testClaims("a"), withStateDir(dir))
	for _, serial := range []string{"b", "c"} {
		f.clock.Add(time.Minute)
		f.setToken(f.issuer.sign(t, claimsAt(serial, f.clock.Now())))
		f.agent.Reload()
	}
	entries, err := os.ReadDir(dir)
	must(t, err)
	if len(entries) != 1 || entries[0].Name() != stateFileName {
		t.Fatalf("state dir holds %v, want only %s (no temporary files)", entries, stateFileName)
	}
	info, err := os.Stat(stateFile(dir))
	must(t, err)
	if info.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", info.Mode().Perm())
	}
	if s := readState(t, dir); s.Tokens[0].Serial != "c" {
		t.Errorf("state %+v, want the newest token c", s)
	}
}

// An unusable state file is logged and replaced: the agent starts afresh, as
// a new pod would, rather than refusing to start.
func TestUnusableStateFileStartsAfresh(t *testing.T) {
	valid := `{"version":1,"latestSeen":"2026-12-01T14:00:00Z","tokens":[]}`
	for name, tc := range map[string]struct {
		data string
		want string
	}{
		"not JSON":           {"{", "not valid JSON"},
		"truncated":          {valid[:20], "not valid JSON"},
		"too large":          {strings.Repeat(" ", maxStateSize+1), "bytes"},
		"unknown member":     {`{"version":1,"latestSeen":"2026-12-01T14:00:00Z","tokens":[],"extra":1}`, "not valid JSON"},
		"duplicate member":   {`{"version":1,"version":1,"latestSeen":"2026-12-01T14:00:00Z","tokens":[]}`, "not valid JSON"},
		"other version":      {`{"version":2,"latestSeen":"2026-12-01T14:00:00Z","tokens":[]}`, "version 2"},
		"time not RFC 3339":  {`{"version":1,"latestSeen":"yesterday","tokens":[]}`, "latestSeen"},
		"time before 1970":   {`{"version":1,"latestSeen":"1969-12-31T23:59:59Z","tokens":[]}`, "outside"},
		"time after 2262":    {`{"version":1,"latestSeen":"2263-01-01T00:00:00Z","tokens":[]}`, "outside"},
		"iat negative":       {`{"version":1,"latestSeen":"2026-12-01T14:00:00Z","tokens":[{"issuer":"i","subject":"s","serial":"x","issuedAt":-1}]}`, "issuedAt"},
		"iat after 9999":     {`{"version":1,"latestSeen":"2026-12-01T14:00:00Z","tokens":[{"issuer":"i","subject":"s","serial":"x","issuedAt":253402300800}]}`, "issuedAt"},
		"token without name": {`{"version":1,"latestSeen":"2026-12-01T14:00:00Z","tokens":[{"issuer":"i","subject":"","serial":"x","issuedAt":1}]}`, "subject"},
		"licensee twice": {`{"version":1,"latestSeen":"2026-12-01T14:00:00Z","tokens":[` +
			`{"issuer":"i","subject":"s","serial":"x","issuedAt":1},{"issuer":"i","subject":"s","serial":"y","issuedAt":2}]}`, "twice"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			must(t, os.WriteFile(stateFile(dir), []byte(tc.data), 0o600))
			f := newFixture(t, testClaims("s"), withStateDir(dir))
			f.get("/v1/features/backup").expect(t, http.StatusOK, "VALID")
			logs := f.logs.text()
			for _, part := range []string{"WARN", stateFile(dir), "starting afresh", tc.want} {
				if !strings.Contains(logs, part) {
					t.Errorf("log does not mention %q:\n%s", part, logs)
				}
			}
			if s := readState(t, dir); s.Version != stateVersion || len(s.Tokens) != 1 {
				t.Errorf("state file not replaced: %+v", s)
			}
		})
	}
}

func TestStateDirMustBeAWritableDirectory(t *testing.T) {
	is := newIssuer(t)
	anchor := newVolume(t, map[string][]byte{"jwks.json": is.jwks(t)})
	blocked := t.TempDir()
	// A directory where the state file goes: nothing can be renamed over it.
	must(t, os.Mkdir(stateFile(blocked), 0o755))
	must(t, os.WriteFile(filepath.Join(stateFile(blocked), "x"), nil, 0o600))
	notDir := filepath.Join(t.TempDir(), "file")
	must(t, os.WriteFile(notDir, nil, 0o600))
	for name, tc := range map[string]struct {
		dir  string
		want []string
	}{
		"missing":      {filepath.Join(t.TempDir(), "nope"), []string{"--state-dir", "does not exist", "emptyDir"}},
		"not a dir":    {notDir, []string{"--state-dir", "not a directory"}},
		"not writable": {blocked, []string{"--state-dir", "write", "emptyDir"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := New(Config{LicenseDir: newVolume(t, nil).dir, JWKSFile: anchor.path("jwks.json"), StateDir: tc.dir,
				Listen: DefaultListen, Leeway: time.Minute, RecheckInterval: time.Hour})
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
