package testenv

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// RequestCounter counts a client's API requests by verb and resource, e.g.
// "PATCH licensees/status", so tests can assert "nothing written" and benchmarks
// can show what each controller costs the API server. Install it with
// rest.Config.Wrap(counter.Wrap).
type RequestCounter struct {
	mu     sync.Mutex
	counts map[string]int
}

// Wrap is a rest.Config transport wrapper.
func (c *RequestCounter) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		verb := req.Method
		if req.URL.Query().Get("watch") == "true" {
			verb = "WATCH"
		}
		c.mu.Lock()
		if c.counts == nil {
			c.counts = map[string]int{}
		}
		c.counts[verb+" "+resourceOf(req.URL.Path)]++
		c.mu.Unlock()
		return rt.RoundTrip(req)
	})
}

// Writes is the number of create, update, patch and delete requests on resource
// (e.g. "secrets" or "licensees/status").
func (c *RequestCounter) Writes(resource string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, verb := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		n += c.counts[verb+" "+resource]
	}
	return n
}

// Reads is the number of GET requests that are not watches, over all resources
// (lists included).
func (c *RequestCounter) Reads() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.counts {
		if strings.HasPrefix(k, "GET ") {
			n += v
		}
	}
	return n
}

// Gets is the number of GET requests that are not watches on resource (reads
// of one object and lists).
func (c *RequestCounter) Gets(resource string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[http.MethodGet+" "+resource]
}

// String lists the write requests, sorted: "PATCH licensees/status=1000 POST secrets=1000".
func (c *RequestCounter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var parts []string
	for k, v := range c.counts {
		if !strings.HasPrefix(k, "WATCH ") && !strings.HasPrefix(k, "GET ") {
			parts = append(parts, fmt.Sprintf("%s=%d", k, v))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// resourceOf turns /apis/g/v/namespaces/ns/licensees/name/status into
// "licensees/status" and /api/v1/namespaces/ns/secrets into "secrets".
func resourceOf(path string) string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if p == "namespaces" && i+2 < len(parts) {
			rest := parts[i+2:]
			if len(rest) >= 3 {
				return rest[0] + "/" + rest[2]
			}
			return rest[0]
		}
	}
	if len(parts) > 0 {
		return parts[len(parts)-1]
	}
	return path
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
