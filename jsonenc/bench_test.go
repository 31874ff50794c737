package jsonenc

import (
	"encoding/json"
	"io"
	"syscall"
	"testing"
	"time"

	gojson "github.com/goccy/go-json"
)

// The benchmarks encode the corpus as the handlers do: a shipment through
// Marshal (representation, for its ETag), a list page through an Encoder
// onto the response (Echo's c.JSON). Besides ns/op (wall time) each
// reports cpu-ns/op, the process's CPU time per operation, garbage
// collection included: on a machine shared with other work, wall time
// counts the waits for a CPU, CPU time does not. Run with -cpu 1.

// cpuTime is the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU runs the benchmark loop, recording CPU time per operation.
func reportCPU(b *testing.B, op func()) {
	b.ReportAllocs()
	start := cpuTime()
	for b.Loop() {
		op()
	}
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkShipment(b *testing.B) {
	sh := fullShipment(1)
	for _, enc := range []struct {
		name    string
		marshal func(any) ([]byte, error)
	}{
		{"encoding_json", json.Marshal},
		{"goccy_go_json", gojson.Marshal},
		{"jsonenc", Marshal},
	} {
		b.Run(enc.name, func(b *testing.B) {
			reportCPU(b, func() {
				if _, err := enc.marshal(&sh); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func BenchmarkPage(b *testing.B) {
	page := listPage()
	for _, enc := range []struct {
		name   string
		encode func(io.Writer, any) error
	}{
		{"encoding_json", func(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }},
		{"goccy_go_json", func(w io.Writer, v any) error { return gojson.NewEncoder(w).Encode(v) }},
		{"jsonenc", Encode},
	} {
		b.Run(enc.name, func(b *testing.B) {
			reportCPU(b, func() {
				if err := enc.encode(io.Discard, page); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}
