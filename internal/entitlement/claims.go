package entitlement

import (
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kubelicense/kubelicense/api/v1alpha1"
	"github.com/kubelicense/kubelicense/pkg/license"
)

// ClaimsMeta names who and what a token is for.
type ClaimsMeta struct {
	Namespace           string
	Product             string
	ProductDisplayName  string
	Licensee            string
	LicenseeUID         string
	LicenseeDisplayName string
	ExternalID          string
}

// BuildClaims is the token payload for r, issued at issuedAt with serial (jti).
// See the package doc for exp; equal inputs give byte-identical JSON.
func BuildClaims(meta ClaimsMeta, r Result, issuedAt time.Time, serial string) license.Claims {
	iat := second(issuedAt)
	c := license.Claims{
		Issuer:    license.IssuerPrefix + meta.Namespace + "/" + meta.Product,
		Subject:   meta.Licensee,
		Audience:  []string{meta.Product},
		ID:        serial,
		IssuedAt:  iat.Unix(),
		NotBefore: iat.Unix(),
		Licensee: license.LicenseeInfo{
			Name:        meta.Licensee,
			UID:         meta.LicenseeUID,
			DisplayName: meta.LicenseeDisplayName,
			ExternalID:  meta.ExternalID,
			Suspended:   r.LicenseeSuspended,
		},
		Product:  license.ProductInfo{Name: meta.Product, DisplayName: meta.ProductDisplayName},
		Licenses: []license.Grant{},
	}

	var inToken []License
	for _, l := range r.Licenses {
		if l.State != v1alpha1.LicenseStateInvalid {
			inToken = append(inToken, l)
		}
	}
	// Sorted by name, so reordering spec.licenses does not change the token.
	slices.SortFunc(inToken, func(a, b License) int { return strings.Compare(a.Name, b.Name) })
	for _, l := range inToken {
		g := l.grant()
		g.Features, g.Quotas = append([]string{}, l.Features...), nonNilClone(l.Quotas)
		c.Licenses = append(c.Licenses, g)
	}
	c.Features, c.Quotas = effectiveEntitlements(inToken, iat, r.LicenseeSuspended)

	end, forever := r.latestEnd()
	switch {
	case forever:
	case end == nil:
		c.Expiry = iat.Unix() // no grants: entitles nothing
	default:
		c.Expiry = max(tokenEnd(end), iat.Unix())
	}
	if ttl := r.tokenTTL(); ttl > 0 {
		if capped := tokenEnd(ptr(iat.Add(ttl))); c.Expiry == 0 || capped < c.Expiry {
			c.Expiry = capped
		}
	}
	return c
}

func nonNilClone(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	maps.Copy(out, m)
	return out
}
