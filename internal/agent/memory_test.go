package agent

import (
	"fmt"
	"testing"

	"github.com/kubelicense/kubelicense/pkg/license"
)

func TestTokenMemoryForgetsTheOldestBeyondItsBound(t *testing.T) {
	m := tokenMemory{}
	claims := func(sub string, iat int64) *license.Claims {
		return &license.Claims{Issuer: "iss", Subject: sub, ID: sub, IssuedAt: iat}
	}
	for i := range maxRememberedTokens + 1 {
		if newer, changed := m.admit(claims(fmt.Sprintf("l%03d", i), int64(1000+i))); newer != nil || !changed {
			t.Fatalf("licensee %d: admit() = %v, %t", i, newer, changed)
		}
	}
	if len(m) != maxRememberedTokens {
		t.Fatalf("%d licensees remembered, want %d", len(m), maxRememberedTokens)
	}
	if _, ok := m[seenToken{Issuer: "iss", Subject: "l000"}.key()]; ok {
		t.Error("the licensee with the oldest token is still remembered")
	}
	// The newest are still guarded.
	if newer, _ := m.admit(claims("l064", 999)); newer == nil || newer.IssuedAt != 1064 {
		t.Errorf("older token of l064 admitted: newer = %v", newer)
	}
	// Without iat a token cannot be ordered: neither refused nor remembered.
	if newer, changed := m.admit(claims("l064", 0)); newer != nil || changed {
		t.Errorf("token without iat: admit() = %v, %t", newer, changed)
	}
}
