package agent

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/kubelicense/kubelicense/pkg/license"
)

// maxRememberedTokens bounds the licensees remembered; an agent serves one,
// the rest are tokens mounted by mistake (or to get around supersession).
const maxRememberedTokens = 64

// seenToken is the newest token verified for one licensee (issuer and subject).
type seenToken struct {
	Issuer   string `json:"issuer"`
	Subject  string `json:"subject"`
	Serial   string `json:"serial"`
	IssuedAt int64  `json:"issuedAt"`
}

func (t seenToken) key() string { return t.Issuer + "\x00" + t.Subject }

// tokenMemory is the newest token seen per licensee, so that an older one put
// back in place of a newer one is refused. It is guarded by Agent.mu.
type tokenMemory map[string]seenToken

// admit checks claims whose signature held against the memory: it returns the
// newer token they are older than, or records them when they are the newest.
// changed reports whether the memory was updated. Tokens without iat cannot be
// ordered and are neither refused nor remembered.
func (m tokenMemory) admit(c *license.Claims) (newer *seenToken, changed bool) {
	if c.IssuedAt == 0 {
		return nil, false
	}
	seen := seenToken{Issuer: c.Issuer, Subject: c.Subject, Serial: c.ID, IssuedAt: c.IssuedAt}
	prev, ok := m[seen.key()]
	switch {
	case ok && c.IssuedAt < prev.IssuedAt:
		return &prev, false
	case ok && c.IssuedAt == prev.IssuedAt:
		// Tokens of the same second (a renewal and a refresh) are both
		// current: neither is ever refused.
		return nil, false
	}
	m[seen.key()] = seen
	m.trim()
	return nil, true
}

// trim forgets the licensees with the oldest tokens beyond maxRememberedTokens.
func (m tokenMemory) trim() {
	if len(m) <= maxRememberedTokens {
		return
	}
	byAge := slices.SortedFunc(maps.Values(m), func(a, b seenToken) int {
		return cmp.Or(cmp.Compare(a.IssuedAt, b.IssuedAt), cmp.Compare(a.key(), b.key()))
	})
	for _, t := range byAge[:len(m)-maxRememberedTokens] {
		delete(m, t.key())
	}
}

// list is the memory in a stable order, for the state file.
func (m tokenMemory) list() []seenToken {
	return slices.SortedFunc(maps.Values(m), func(a, b seenToken) int { return cmp.Compare(a.key(), b.key()) })
}

// supersededError is REVOKED for a token older than one already served for the
// same licensee: the operator replaced it (a refresh, a suspension, a renewal),
// so putting it back must not bring back what it granted.
func supersededError(c *license.Claims, newer *seenToken) *license.Error {
	return &license.Error{Code: license.CodeRevoked, Message: fmt.Sprintf(
		"token superseded: serial %q issued at %s is older than serial %q issued at %s, which this agent already saw for licensee %q; "+
			"an older token put back in place of a newer one is refused, mount the current license Secret",
		c.ID, formatTime(time.Unix(c.IssuedAt, 0)), newer.Serial, formatTime(time.Unix(newer.IssuedAt, 0)), c.Subject)}
}
