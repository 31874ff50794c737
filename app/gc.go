package app

import "runtime/debug"

// The garbage collector's settings when GOGC and GOMEMLIMIT are not set,
// chosen by measurement (docs/benchmarks.md, "Allocation and garbage
// collection"): Go's default GOGC of 100 collects a live heap this small
// about 14 times a second under a get-one load; 200 halves that, and 400
// gains little more, as the memory limit, which keeps the heap from
// taking the process past its 64 MiB budget, then sets the pace.
const (
	defaultGOGC       = 200
	defaultGOMEMLIMIT = 40 << 20
)

// gcSettings are the collector's settings in effect.
type gcSettings struct {
	GOGC       int
	GOMEMLIMIT int64 // bytes; math.MaxInt64 for none
}

// tuneGC applies the defaults for the variables getenv does not set; the
// runtime has read those that are set. It returns what is in effect.
func tuneGC(getenv func(string) string) gcSettings {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGOGC)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultGOMEMLIMIT)
	}
	// SetGCPercent reads only by setting: put back what it returns.
	gogc := debug.SetGCPercent(-1)
	debug.SetGCPercent(gogc)
	// A negative limit reads without changing.
	return gcSettings{GOGC: gogc, GOMEMLIMIT: debug.SetMemoryLimit(-1)}
}
