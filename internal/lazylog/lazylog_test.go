package lazylog

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr"
	uberzap "go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// zapLogger is the manager's logger (controller-runtime's zap, JSON) with
// the caller recorded, writing into buf.
func zapLogger(buf *bytes.Buffer) logr.Logger {
	return zap.New(zap.WriteTo(buf), zap.JSONEncoder(), zap.RawZapOpts(uberzap.AddCaller()))
}

func lines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if l == "" {
			continue
		}
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

// here is the file:line of its caller, as zap reports a caller.
func here() string {
	_, file, line, _ := runtime.Caller(1)
	return file[strings.LastIndex(file, "/")+1:] + ":" + strconv.Itoa(line)
}

func TestLinesCarryTheValuesNameAndCaller(t *testing.T) {
	var buf bytes.Buffer
	log := New(zapLogger(&buf)).WithName("licensee").WithValues("Licensee", klog.KRef("acme", "globex"), "reconcileID", "r-1")
	log = log.WithValues("attempt", 2)

	log.Info("issued", "serial", "s-9")
	infoAt := here()
	log.Error(errors.New("conflict"), "write failed")
	errorAt := here()
	log.V(1).Info("not enabled at the default level")

	got := lines(t, &buf)
	if len(got) != 2 {
		t.Fatalf("want 2 lines (the V(1) line is not enabled), got %d: %s", len(got), buf.String())
	}
	for i, at := range []string{infoAt, errorAt} {
		l := got[i]
		if l["logger"] != "licensee" || l["reconcileID"] != "r-1" || l["attempt"] != float64(2) {
			t.Errorf("line %d: name or values missing: %v", i, l)
		}
		if ref, _ := l["Licensee"].(map[string]any); ref["name"] != "globex" || ref["namespace"] != "acme" {
			t.Errorf("line %d: object reference %v, want acme/globex", i, l["Licensee"])
		}
		// here() is on the line after the call.
		file, line, _ := strings.Cut(at, ":")
		n, _ := strconv.Atoi(line)
		if want := file + ":" + strconv.Itoa(n-1); !strings.HasSuffix(l["caller"].(string), want) {
			t.Errorf("line %d: caller %v, want the test's call at %s", i, l["caller"], want)
		}
	}
	if got[0]["msg"] != "issued" || got[0]["serial"] != "s-9" {
		t.Errorf("info line: %v", got[0])
	}
	if got[1]["msg"] != "write failed" || got[1]["error"] != "conflict" {
		t.Errorf("error line: %v", got[1])
	}
}

func TestCallDepthIsPassedOn(t *testing.T) {
	var buf bytes.Buffer
	helper := func(log logr.Logger) { log.WithCallDepth(1).Info("from a helper") }
	helper(New(zapLogger(&buf)).WithValues("k", "v"))
	at := here()
	file, line, _ := strings.Cut(at, ":")
	n, _ := strconv.Atoi(line)
	got := lines(t, &buf)
	if want := file + ":" + strconv.Itoa(n-1); len(got) != 1 || !strings.HasSuffix(got[0]["caller"].(string), want) || got[0]["k"] != "v" {
		t.Fatalf("want one line with k=v reported at the helper's caller %s, got %v", want, got)
	}
}

// countingSink counts the WithValues calls the real sink gets.
type countingSink struct {
	mu         sync.Mutex
	withValues int
	lines      [][]any
	kv         []any
}

func (c *countingSink) Init(logr.RuntimeInfo) {}
func (c *countingSink) Enabled(int) bool      { return true }
func (c *countingSink) Info(_ int, msg string, kv ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lines = append(c.lines, append(append([]any{msg}, c.kv...), kv...))
}
func (c *countingSink) Error(_ error, msg string, kv ...any) { c.Info(0, msg, kv...) }
func (c *countingSink) WithName(string) logr.LogSink         { return c }
func (c *countingSink) WithValues(kv ...any) logr.LogSink {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.withValues++
	return &boundSink{counting: c, kv: kv}
}

type boundSink struct {
	counting *countingSink
	kv       []any
}

func (b *boundSink) Init(logr.RuntimeInfo) {}
func (b *boundSink) Enabled(int) bool      { return true }
func (b *boundSink) Info(level int, msg string, kv ...any) {
	b.counting.Info(level, msg, append(append([]any{}, b.kv...), kv...)...)
}
func (b *boundSink) Error(err error, msg string, kv ...any) { b.Info(0, msg, kv...) }
func (b *boundSink) WithName(string) logr.LogSink           { return b }
func (b *boundSink) WithValues(...any) logr.LogSink         { panic("not used") }

func TestValuesReachTheRealSinkOnlyWithALine(t *testing.T) {
	real := &countingSink{}
	log := New(logr.New(real))
	for i := range 100 {
		log.WithValues("controller", "licensee").WithValues("reconcileID", i)
	}
	if real.withValues != 0 {
		t.Fatalf("100 silent loggers made %d WithValues calls on the real sink, want 0", real.withValues)
	}

	l := log.WithValues("a", 1).WithValues("b", 2)
	l.Info("one")
	l.Info("two", "c", 3)
	if real.withValues != 1 {
		t.Errorf("two lines through one logger: %d WithValues calls, want 1 (bound once)", real.withValues)
	}
	want := [][]any{{"one", "a", 1, "b", 2}, {"two", "a", 1, "b", 2, "c", 3}}
	if len(real.lines) != 2 {
		t.Fatalf("lines %v, want %v", real.lines, want)
	}
	for i := range want {
		for j := range want[i] {
			if real.lines[i][j] != want[i][j] {
				t.Fatalf("lines %v, want %v", real.lines, want)
			}
		}
	}
}

func TestSiblingsDoNotShareValues(t *testing.T) {
	real := &countingSink{}
	parent := New(logr.New(real)).WithValues("a", 1)
	x := parent.WithValues("x", 1)
	y := parent.WithValues("y", 2)
	x.Info("x")
	y.Info("y")
	parent.Info("p")
	got := []int{len(real.lines[0]), len(real.lines[1]), len(real.lines[2])}
	if real.lines[0][3] != "x" || real.lines[1][3] != "y" || got[2] != 3 {
		t.Fatalf("a child's values leaked into a sibling or the parent: %v", real.lines)
	}
}

// Lines from one logger on several goroutines at once, as a reconcile's
// logger may be used: run with -race.
func TestConcurrentFirstLines(t *testing.T) {
	var buf bytes.Buffer
	log := New(zap.New(zap.WriteTo(zapcore.Lock(zapcore.AddSync(&buf))), zap.JSONEncoder())).WithValues("k", "v")
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { log.Info("line") })
	}
	wg.Wait()
	if n := strings.Count(buf.String(), `"k":"v"`); n != 8 {
		t.Fatalf("%d of 8 lines carry k=v:\n%s", n, buf.String())
	}
}

// A reconcile's logger as controller-runtime makes it (controller values,
// then the object, then the reconcile id), used for no line: the cost a
// silent reconcile pays. go test -bench Silent -benchmem ./internal/lazylog/
func BenchmarkSilentReconcileLogger(b *testing.B) {
	for _, tc := range []struct {
		name string
		log  logr.Logger
	}{
		{"zap", zap.New(zap.WriteTo(&bytes.Buffer{}), zap.JSONEncoder())},
		{"lazy", New(zap.New(zap.WriteTo(&bytes.Buffer{}), zap.JSONEncoder()))},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				l := tc.log.WithValues("controller", "licensee", "controllerGroup", "licensing.kubelicense.io", "controllerKind", "Licensee")
				l = l.WithValues("Licensee", klog.KRef("acme", "globex"), "namespace", "acme", "name", "globex")
				l = l.WithValues("reconcileID", "0b7a9c1e-5a43-4bd6-9a8e-0f3f1c2d4e5f")
				l.V(1).Info("not written")
			}
		})
	}
}
