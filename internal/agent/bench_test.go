package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kubelicense/kubelicense/internal/cputime"
)

// The feature check is compared with the cheapest possible net/http handler:
// one that writes a constant JSON body of the same size, with the same
// header handling. Both run through the same two harnesses:
//
//   - handler: ServeHTTP called directly with a reused request and a reused
//     ResponseWriter that discards the body (the handler's own cost only);
//   - http: a real loopback HTTP/1.1 server (httptest) and one keep-alive
//     client, one request at a time (what an application sees).
//
// Both report cpu-ns/op (process CPU time, client and server together), which
// stays comparable when other work competes for the CPU. See
// docs/performance.md for the command and the figures.

const benchFeatureBody = `{"feature":"replication","entitled":true,"code":"VALID","source":"offline"}`

func BenchmarkFeatureCheck(b *testing.B) {
	// The real clock, and a license valid around it, as in production.
	f := newFixture(b, claimsAt("bench", time.Now()), func(_ *fixture, c *Config) { c.Now = nil })
	runHandlerBenchmarks(b, f.agent.Handler(), "/v1/features/replication")
}

func BenchmarkBareHandler(b *testing.B) {
	body := []byte(benchFeatureBody)
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = jsonContentType
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	})
	runHandlerBenchmarks(b, bare, "/v1/features/replication")
}

func runHandlerBenchmarks(b *testing.B, h http.Handler, path string) {
	b.Run("handler", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		w := &discardWriter{header: http.Header{}}
		b.ReportAllocs()
		defer cputime.ReportPerOp(b)()
		for b.Loop() {
			clear(w.header)
			h.ServeHTTP(w, req)
		}
		if w.status != http.StatusOK || w.written != len(benchFeatureBody) {
			b.Fatalf("status %d, %d bytes", w.status, w.written)
		}
	})
	b.Run("http", func(b *testing.B) {
		srv := httptest.NewServer(h)
		defer srv.Close()
		client := srv.Client()
		url := srv.URL + path
		b.ReportAllocs()
		defer cputime.ReportPerOp(b)()
		for b.Loop() {
			resp, err := client.Get(url)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || n != int64(len(benchFeatureBody)) {
				b.Fatalf("status %d, %d bytes", resp.StatusCode, n)
			}
		}
	})
}

// discardWriter is a ResponseWriter that keeps the status and drops the body.
type discardWriter struct {
	header  http.Header
	status  int
	written int
}

func (w *discardWriter) Header() http.Header { return w.header }

func (w *discardWriter) WriteHeader(status int) { w.status = status }

func (w *discardWriter) Write(p []byte) (int, error) {
	w.written = len(p)
	return len(p), nil
}

// BenchmarkClockRead is the one clock read every feature check makes (state is
// decided at request time); its cost depends on the machine's clock source.
func BenchmarkClockRead(b *testing.B) {
	var sink int64
	defer cputime.ReportPerOp(b)()
	for b.Loop() {
		sink += time.Now().UnixNano()
	}
	if sink == 0 {
		b.Fatal("clock reads zero")
	}
}
