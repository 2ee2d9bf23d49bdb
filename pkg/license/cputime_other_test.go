//go:build !unix

package license

import "time"

func processCPUTime() (time.Duration, bool) { return 0, false }
