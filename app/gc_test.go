package app

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC applies the defaults only where the variable is unset.
func TestTuneGC(t *testing.T) {
	gogc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gogc)
	t.Cleanup(func() { debug.SetGCPercent(gogc); debug.SetMemoryLimit(limit) })

	got := tuneGC(func(string) string { return "" })
	if got.GOGC != defaultGOGC || got.GOMEMLIMIT != defaultGOMEMLIMIT {
		t.Errorf("unset: %+v, want GOGC %d, GOMEMLIMIT %d", got, defaultGOGC, defaultGOMEMLIMIT)
	}
	debug.SetGCPercent(150)
	debug.SetMemoryLimit(1 << 30)
	got = tuneGC(func(name string) string { return map[string]string{"GOGC": "150", "GOMEMLIMIT": "1GiB"}[name] })
	if got.GOGC != 150 || got.GOMEMLIMIT != 1<<30 {
		t.Errorf("set: %+v, want what the runtime read (150, 1 GiB)", got)
	}
}
