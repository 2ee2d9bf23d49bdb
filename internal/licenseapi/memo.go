package licenseapi

import "sync"

// memo is a map safe for concurrent use that holds at most max entries: past
// that it starts again empty. Its users keep what is cheap to compute again
// (a verified token, a parsed key set, an evaluation), so forgetting it all
// at once costs a little work and never a wrong answer.
type memo[K comparable, V any] struct {
	max int
	mu  sync.Mutex
	m   map[K]V
}

func newMemo[K comparable, V any](max int) *memo[K, V] { return &memo[K, V]{max: max} }

func (c *memo[K, V]) get(k K) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok
}

func (c *memo[K, V]) put(k K, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = make(map[K]V)
	}
	c.m[k] = v
}
