// Package lazylog defers a logr sink's WithValues until a line is written.
//
// controller-runtime gives every reconcile a logger with its own values
// (controller, object, reconcileID). With zap behind logr, each WithValues
// clones the JSON encoder and encodes the values at once: about 4 KiB of
// buffers per reconcile, though a reconcile that changes nothing writes no
// line. At 10,000 Licensees a restart's re-check made about 50 MB of such
// garbage. The sink here keeps the values and hands them to the real sink
// only when a line is enabled and written, so a silent reconcile costs one
// small slice.
//
// The values are encoded when the line is written, not when they were
// added, as logr allows: pass values, not pointers to state that changes.
package lazylog

import (
	"sync/atomic"

	"github.com/go-logr/logr"
)

// New wraps base so that its WithValues happen when a line is written.
func New(base logr.Logger) logr.Logger {
	sink := base.GetSink()
	if sink == nil {
		return base
	}
	// base's sink was initialised for the frames of logr.Logger; this
	// wrapper's methods are one frame more between the caller and it.
	if cd, ok := sink.(logr.CallDepthLogSink); ok {
		sink = cd.WithCallDepth(1)
	}
	return logr.New(&lazySink{base: sink})
}

// lazySink holds the real sink and the values added since it was derived.
// It is immutable once made; bound caches the real sink with the values,
// built by the first line written through it.
type lazySink struct {
	base  logr.LogSink
	kv    []any
	bound atomic.Pointer[logr.LogSink]
}

var (
	_ logr.LogSink          = (*lazySink)(nil)
	_ logr.CallDepthLogSink = (*lazySink)(nil)
)

// Init does nothing: the real sink was initialised by its own logr.New, and
// New has told it about this wrapper's frame.
func (s *lazySink) Init(logr.RuntimeInfo) {}

func (s *lazySink) Enabled(level int) bool { return s.base.Enabled(level) }

func (s *lazySink) Info(level int, msg string, keysAndValues ...any) {
	s.sink().Info(level, msg, keysAndValues...)
}

func (s *lazySink) Error(err error, msg string, keysAndValues ...any) {
	s.sink().Error(err, msg, keysAndValues...)
}

// WithValues keeps the values; the real sink sees them with the first line.
func (s *lazySink) WithValues(keysAndValues ...any) logr.LogSink {
	if len(keysAndValues) == 0 {
		return s
	}
	kv := make([]any, 0, len(s.kv)+len(keysAndValues))
	kv = append(append(kv, s.kv...), keysAndValues...)
	return &lazySink{base: s.base, kv: kv}
}

// WithName names the real sink at once: a name is kept apart from the
// values, so the order of the two does not change a line.
func (s *lazySink) WithName(name string) logr.LogSink {
	return &lazySink{base: s.base.WithName(name), kv: s.kv}
}

func (s *lazySink) WithCallDepth(depth int) logr.LogSink {
	cd, ok := s.base.(logr.CallDepthLogSink)
	if !ok {
		return s
	}
	return &lazySink{base: cd.WithCallDepth(depth), kv: s.kv}
}

// sink is the real sink with the values, made once per lazySink.
func (s *lazySink) sink() logr.LogSink {
	if len(s.kv) == 0 {
		return s.base
	}
	if b := s.bound.Load(); b != nil {
		return *b
	}
	b := s.base.WithValues(s.kv...)
	s.bound.CompareAndSwap(nil, &b)
	return *s.bound.Load()
}
