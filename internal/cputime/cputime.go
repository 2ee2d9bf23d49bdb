// Package cputime lets benchmarks report process CPU time per op beside wall
// time: on a shared, loaded machine wall time swings, CPU time much less (see
// docs/performance.md).
package cputime

import "testing"

// ReportPerOp starts measuring; the returned func reports "cpu-ns/op" on b.
//
//	defer cputime.ReportPerOp(b)()
func ReportPerOp(b *testing.B) func() {
	start, ok := process()
	return func() {
		if end, ok2 := process(); ok && ok2 && b.N > 0 {
			b.ReportMetric(float64(end-start)/float64(b.N), "cpu-ns/op")
		}
	}
}
