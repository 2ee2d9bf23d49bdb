package main

import (
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryLimitEnv carries the container's memory limit in bytes (the Downward
// API's resourceFieldRef limits.memory, as the chart and config/manager set it).
const memoryLimitEnv = "KUBELICENSE_MEMORY_LIMIT"

// memoryLimitShare of the container's limit becomes the Go runtime's soft
// memory limit: the garbage collector works harder as the heap nears it
// instead of doubling past the live set, and the rest is left for what the
// runtime does not count (stacks, the binary, page cache of mapped files).
const memoryLimitShare = 0.9

// softMemoryLimit returns the soft limit to set from env, or 0 when none is
// to be set: GOMEMLIMIT set by the user wins (the runtime read it already),
// and without a container limit there is nothing to derive one from.
func softMemoryLimit(getenv func(string) string) (int64, error) {
	if getenv("GOMEMLIMIT") != "" {
		return 0, nil
	}
	raw := strings.TrimSpace(getenv(memoryLimitEnv))
	if raw == "" {
		return 0, nil
	}
	limit, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || limit <= 0 {
		return 0, fmt.Errorf("%s=%q: want the container's memory limit in bytes (resourceFieldRef limits.memory), or unset", memoryLimitEnv, raw)
	}
	// A container without a limit reports the node's memory: still a bound.
	return int64(math.Floor(float64(limit) * memoryLimitShare)), nil
}

// defaultGCPercent is the manager's GOGC when the environment sets none.
// Its heap is mostly the informer cache, which lives as long as the process;
// the garbage (reconciles, scrapes) is short-lived. Go's default of 100 lets
// the heap grow by the whole cache before it collects, and keeps about that
// much resident afterwards; 50 lets it grow by half. At 10,000 Licensees that
// is about 20 MiB less resident for a few percent more CPU in the collector
// (docs/performance.md, issue 15).
const defaultGCPercent = 50

// gcPercent returns the GC percent to set from env, or 0 when the user's
// GOGC (read by the runtime already) is to stay.
func gcPercent(getenv func(string) string) int {
	if getenv("GOGC") != "" {
		return 0
	}
	return defaultGCPercent
}

// applyGCPercent sets the manager's GC percent unless GOGC is set.
func applyGCPercent() int {
	p := gcPercent(os.Getenv)
	if p > 0 {
		debug.SetGCPercent(p)
	}
	return p
}

// applyMemoryLimit sets the soft memory limit derived from the environment.
func applyMemoryLimit() (int64, error) {
	limit, err := softMemoryLimit(os.Getenv)
	if err != nil || limit == 0 {
		return 0, err
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}
