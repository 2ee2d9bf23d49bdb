package agent

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	json "github.com/go-json-experiment/json"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// The agent's memory in --state-dir: the latest time it saw and the newest
// token per licensee, so that a restart neither forgets a clock that moved
// backwards nor lets an older token back in.
const (
	stateFileName = "license-agent-state.json"
	stateVersion  = 1
	// maxStateSize bounds what is read: 64 remembered tokens take a few KiB.
	maxStateSize = 64 << 10
)

// Bounds of the latest time seen read from the state file: it is kept in
// Unix nanoseconds, which end in 2262. Each iat is a token date, bounded as
// pkg/license bounds them (license.MaxUnixTime).
var (
	earliestSeen = time.Unix(0, 0).UTC()
	latestSeen   = time.Unix(0, math.MaxInt64).UTC()
)

// stateJSON is the state file.
type stateJSON struct {
	Version int `json:"version"`
	// LatestSeen is RFC 3339 with nanoseconds, in UTC.
	LatestSeen string      `json:"latestSeen"`
	Tokens     []seenToken `json:"tokens"`
}

func (c *Config) statePath() string { return filepath.Join(c.StateDir, stateFileName) }

// loadState reads the state file. A missing file is a fresh start; anything
// else that cannot be used is an error saying why.
func loadState(path string) (seen time.Time, tokens tokenMemory, err error) {
	tokens = tokenMemory{}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return time.Time{}, tokens, nil
	}
	if err != nil {
		return time.Time{}, tokens, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateSize+1))
	if err != nil {
		return time.Time{}, tokens, err
	}
	if len(data) > maxStateSize {
		return time.Time{}, tokens, fmt.Errorf("it is larger than %d bytes", maxStateSize)
	}
	var s stateJSON
	if err := json.Unmarshal(data, &s, json.RejectUnknownMembers(true)); err != nil {
		return time.Time{}, tokens, fmt.Errorf("not valid JSON for the agent's state: %w", err)
	}
	if s.Version != stateVersion {
		return time.Time{}, tokens, fmt.Errorf("version %d, this agent reads version %d", s.Version, stateVersion)
	}
	seen, err = time.Parse(time.RFC3339Nano, s.LatestSeen)
	if err != nil {
		return time.Time{}, tokens, fmt.Errorf("latestSeen: %w", err)
	}
	if seen.Before(earliestSeen) || seen.After(latestSeen) {
		return time.Time{}, tokens, fmt.Errorf("latestSeen %s is outside %s to %s", s.LatestSeen, earliestSeen.Format(time.RFC3339), latestSeen.Format(time.RFC3339))
	}
	if len(s.Tokens) > maxRememberedTokens {
		return time.Time{}, tokens, fmt.Errorf("%d tokens, more than the %d remembered", len(s.Tokens), maxRememberedTokens)
	}
	for i, t := range s.Tokens {
		switch {
		case t.Issuer == "" || t.Subject == "":
			return time.Time{}, tokenMemory{}, fmt.Errorf("token #%d has no issuer or subject", i)
		case t.IssuedAt <= license.MinUnixTime || t.IssuedAt > license.MaxUnixTime:
			return time.Time{}, tokenMemory{}, fmt.Errorf("token #%d: issuedAt %d is outside 1970 to 9999", i, t.IssuedAt)
		}
		if _, dup := tokens[t.key()]; dup {
			return time.Time{}, tokenMemory{}, fmt.Errorf("token #%d: licensee %q of %q is listed twice", i, t.Subject, t.Issuer)
		}
		tokens[t.key()] = t
	}
	return seen.UTC(), tokens, nil
}

// writeState replaces the state file atomically: a temporary file in the same
// directory, synced, then renamed over it, so a crash leaves the old state or
// the new one, never half of one.
func writeState(path string, seen time.Time, tokens tokenMemory) error {
	data, err := json.Marshal(stateJSON{Version: stateVersion, LatestSeen: seen.UTC().Format(time.RFC3339Nano), Tokens: tokens.list()})
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// restoreState loads --state-dir into the agent at start. An unusable file is
// logged and replaced: refusing to start would only keep the pod down, and
// whoever could corrupt the file could as well delete it.
func (a *Agent) restoreState() error {
	path := a.cfg.statePath()
	seen, tokens, err := loadState(path)
	if err != nil {
		a.log.Warn("state file is unusable; starting afresh, the times and tokens seen before are forgotten",
			"path", path, "error", err)
	}
	a.tokens = tokens
	if ns := seen.UnixNano(); !seen.IsZero() && ns > a.lastSeen.Load() {
		a.lastSeen.Store(ns)
	}
	if err := a.saveState(true); err != nil {
		return fmt.Errorf("--state-dir=%s: %w; mount a writable emptyDir there, or leave --state-dir unset", a.cfg.StateDir, err)
	}
	return nil
}

// saveState writes the state when it changed: a new token remembered, or the
// latest time seen moved by a second or more (force: always). The caller
// holds mu, or is New.
func (a *Agent) saveState(force bool) error {
	if a.cfg.StateDir == "" {
		return nil
	}
	seen := a.lastSeen.Load()
	if !force && !a.tokensChanged && seen-a.savedSeen < int64(time.Second) {
		return nil
	}
	if err := writeState(a.cfg.statePath(), time.Unix(0, seen), a.tokens); err != nil {
		a.log.Warn("cannot save the agent's state; a restart may forget the latest time and token seen", "stateDir", a.cfg.StateDir, "error", err)
		return err
	}
	a.savedSeen, a.tokensChanged = seen, false
	return nil
}
