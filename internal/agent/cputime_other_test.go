//go:build !unix

package agent

import "time"

func processCPUTime() (time.Duration, bool) { return 0, false }
