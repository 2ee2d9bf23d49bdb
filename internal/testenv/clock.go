package testenv

import (
	"sync/atomic"
	"time"
)

// ShiftedClock is real time plus an offset a test moves forward, so the
// controllers' requeues and expiries happen without waiting. It is a
// k8s.io/utils/clock.PassiveClock, safe for concurrent use; the zero value
// is the real time.
type ShiftedClock struct{ offset atomic.Int64 }

// Now is the real time plus the offset.
func (c *ShiftedClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Since is the time elapsed since t on this clock.
func (c *ShiftedClock) Since(t time.Time) time.Duration { return c.Now().Sub(t) }

// Advance moves the clock forward by d.
func (c *ShiftedClock) Advance(d time.Duration) { c.offset.Add(int64(d)) }
