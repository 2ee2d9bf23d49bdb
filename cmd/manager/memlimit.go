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

// applyMemoryLimit sets the soft memory limit derived from the environment.
func applyMemoryLimit() (int64, error) {
	limit, err := softMemoryLimit(os.Getenv)
	if err != nil || limit == 0 {
		return 0, err
	}
	debug.SetMemoryLimit(limit)
	return limit, nil
}
