package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// requestFunc returns the next request of a load. Each worker calls it
// with its own random source.
type requestFunc func(ctx context.Context, rng *rand.Rand) *http.Request

// newClient returns an HTTP client keeping a connection per worker alive
// between requests, as a client of the API with a connection pool does.
func newClient(conns int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute,
			DisableCompression: true,
		},
	}
}

// measured is what a load measured over its window.
type measured struct {
	latencies []time.Duration // sorted; of every request answered in the window
	errors    int             // transport errors and answers other than 2xx
	firstErr  string
	window    time.Duration
	sent      int // every request sent, warm-up included
}

// rate is the requests answered per second of the window.
func (m measured) rate() float64 {
	if m.window <= 0 {
		return 0
	}
	return float64(len(m.latencies)) / m.window.Seconds()
}

func (m measured) p(q float64) time.Duration { return percentile(m.latencies, q) }

// percentile returns the q-th percentile (0 < q ≤ 100) of sorted by the
// nearest-rank method: the smallest value that at least q % of the values
// do not exceed. It returns 0 for no values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// drive runs load with the given number of workers, each sending its next
// request as soon as its last one is answered (a closed loop, like
// pgbench's clients), for warmup and then for measure. What is measured
// is the requests answered within the measured window, as wrk and pgbench
// count them: their number over the window's length is the rate, and
// their latencies give the percentiles. A request still running at the
// end of the window is waited for and not counted. With a probe, one more
// goroutine on its own connection sends probe requests, probePause apart,
// during the same time, measured separately. With an edge, one more
// goroutine calls edge(false) when the measured window starts and
// edge(true) when it ends (not if ctx ends first); drive returns after
// both calls have.
func drive(ctx context.Context, client *http.Client, workers int, warmup, measure time.Duration, load, probe requestFunc, edge func(end bool)) (main, probed measured) {
	from := time.Now().Add(warmup)
	until := from.Add(measure)
	parts := make([]measured, workers)
	var wg sync.WaitGroup
	if edge != nil {
		wg.Go(func() {
			for i, at := range []time.Time{from, until} {
				t := time.NewTimer(time.Until(at))
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				edge(i == 1)
			}
		})
	}
	for w := range workers {
		wg.Go(func() { parts[w] = loop(ctx, client, load, uint64(w), from, until, 0) })
	}
	if probe != nil {
		probeClient := newClient(1)
		defer probeClient.CloseIdleConnections()
		wg.Go(func() { probed = loop(ctx, probeClient, probe, uint64(workers), from, until, probePause) })
	}
	wg.Wait()
	for _, p := range parts {
		main.latencies = append(main.latencies, p.latencies...)
		main.errors += p.errors
		main.sent += p.sent
		if main.firstErr == "" {
			main.firstErr = p.firstErr
		}
	}
	slices.Sort(main.latencies)
	slices.Sort(probed.latencies)
	main.window, probed.window = measure, measure
	return main, probed
}

// loop sends requests until until, recording those answered between from
// and until.
func loop(ctx context.Context, client *http.Client, next requestFunc, seed uint64, from, until time.Time, pause time.Duration) measured {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	var m measured
	for {
		start := time.Now()
		if !start.Before(until) || ctx.Err() != nil {
			return m
		}
		_, err := exchange(client, next(ctx, rng))
		end := time.Now()
		m.sent++
		if ctx.Err() != nil {
			return m
		}
		if !end.Before(from) && end.Before(until) {
			m.latencies = append(m.latencies, end.Sub(start))
			if err != nil {
				m.errors++
				if m.firstErr == "" {
					m.firstErr = err.Error()
				}
			}
		}
		if pause > 0 {
			time.Sleep(pause)
		}
	}
}

// exchange sends req, reads the whole answer and returns its body. Any
// status but 2xx is an error naming the request, the status and the start
// of the body.
func exchange(client *http.Client, req *http.Request) ([]byte, error) {
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", req.Method, req.URL.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		snippet := strings.TrimSpace(string(body[:min(len(body), 300)]))
		return nil, fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.RequestURI(), resp.Status, snippet)
	}
	return body, nil
}
