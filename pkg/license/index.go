package license

import "time"

// Index answers FeatureState and QuotaState for one token with a map lookup
// instead of a scan of every license, for callers that ask on every request
// (the license-agent). Build it once per verified token with Claims.Index; it
// reads the Claims, which must not change afterwards. It is immutable and safe
// for concurrent use.
type Index struct {
	claims *Claims
	// features and quotas list, per name, the licenses (indices into
	// claims.Licenses) that grant or declare it.
	features map[string][]int
	quotas   map[string][]int
}

// Index indexes the features and quotas of c's licenses.
func (c *Claims) Index() *Index {
	x := &Index{claims: c, features: map[string][]int{}, quotas: map[string][]int{}}
	for i, g := range c.Licenses {
		for _, f := range g.Features {
			if list := x.features[f]; len(list) == 0 || list[len(list)-1] != i {
				x.features[f] = append(list, i)
			}
		}
		for q := range g.Quotas {
			x.quotas[q] = append(x.quotas[q], i)
		}
	}
	return x
}

// Claims are the claims x indexes.
func (x *Index) Claims() *Claims { return x.claims }

// FeatureState is Claims.FeatureState, by lookup.
func (x *Index) FeatureState(feature string, at time.Time) Code {
	return x.stateOver(x.features[feature], at)
}

// QuotaState is Claims.QuotaState, by lookup.
func (x *Index) QuotaState(name string, at time.Time) Code {
	return x.stateOver(x.quotas[name], at)
}

// stateOver decides as Claims.FeatureState over the licenses at indices.
func (x *Index) stateOver(indices []int, at time.Time) Code {
	c := x.claims
	best := CodeFeatureNotEntitled
	for _, i := range indices {
		if best = c.better(best, c.Licenses[i], at); best == CodeValid {
			return best
		}
	}
	return c.denied(best, at)
}
