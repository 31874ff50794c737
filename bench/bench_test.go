package main

import (
	"testing"
	"testing/fstest"
	"time"
)

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"none", nil, 50, 0},
		{"one value is every percentile", []time.Duration{7}, 99, 7},
		{"median of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 is the maximum", hundred, 100, 100 * time.Millisecond},
		{"tiny q is the minimum", hundred, 0.001, time.Millisecond},
		// Nearest rank: the 2nd of 3 values is the first with ≥ 50 % at or below it.
		{"median of three", []time.Duration{1, 2, 30}, 50, 2},
		{"p99 of three is the maximum", []time.Duration{1, 2, 30}, 99, 30},
	}
	for _, tt := range tests {
		if got := percentile(tt.sorted, tt.q); got != tt.want {
			t.Errorf("%s: percentile(q=%v) = %v, want %v", tt.name, tt.q, got, tt.want)
		}
	}
}

func TestCacheKey(t *testing.T) {
	repo := func() fstest.MapFS {
		return fstest.MapFS{
			"migrations/00001_a.sql":   {Data: []byte("CREATE TABLE a ();")},
			"migrations/00002_b.sql":   {Data: []byte("CREATE TABLE b ();")},
			"migrations/migrations.go": {Data: []byte("package migrations")},
			"seed/seed.go":             {Data: []byte("package seed // v1")},
			"seed/seed_test.go":        {Data: []byte("package seed // test")},
			"models/models.go":         {Data: []byte("package models")},
		}
	}
	key := func(fsys fstest.MapFS) string {
		t.Helper()
		k, err := cacheKey(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	base := key(repo())
	if len(base) != 8 {
		t.Fatalf("key %q, want 8 hex digits", base)
	}
	if again := key(repo()); again != base {
		t.Errorf("same files: key %q, then %q", base, again)
	}

	changes := []struct {
		name   string
		change func(fstest.MapFS)
		same   bool
	}{
		{"a migration changes", func(f fstest.MapFS) { f["migrations/00002_b.sql"].Data = []byte("CREATE TABLE c ();") }, false},
		{"a migration is added", func(f fstest.MapFS) { f["migrations/00003_c.sql"] = &fstest.MapFile{Data: []byte("")} }, false},
		{"the generator changes", func(f fstest.MapFS) { f["seed/seed.go"].Data = []byte("package seed // v2") }, false},
		{"bytes move between files", func(f fstest.MapFS) {
			f["migrations/00001_a.sql"].Data = []byte("CREATE TABLE a ();CREATE")
			f["migrations/00002_b.sql"].Data = []byte(" TABLE b ();")
		}, false},
		{"a seed test changes", func(f fstest.MapFS) { f["seed/seed_test.go"].Data = []byte("package seed // other") }, true},
		{"other code changes", func(f fstest.MapFS) { f["models/models.go"].Data = []byte("package models // v2") }, true},
		{"migrations.go changes", func(f fstest.MapFS) { f["migrations/migrations.go"].Data = []byte("package m") }, true},
	}
	for _, c := range changes {
		f := repo()
		c.change(f)
		if got := key(f); (got == base) != c.same {
			t.Errorf("%s: key %q, base %q; want the same key: %v", c.name, got, base, c.same)
		}
	}

	if _, err := cacheKey(fstest.MapFS{}); err == nil {
		t.Error("no migrations or seed: want an error, got a key")
	}
}

func TestParsePgbench(t *testing.T) {
	const out = `pgbench (15.20 (Debian 15.20-0+deb12u1))
transaction type: get_one.sql
scaling factor: 1
query mode: prepared
number of clients: 16
number of threads: 2
maximum number of tries: 1
duration: 3 s
number of transactions actually processed: 13648
number of failed transactions: 2 (0.015%)
latency average = 3.496 ms
initial connection time = 57.536 ms
tps = 4576.921490 (without initial connection time)
`
	got, err := parsePgbench(out)
	if err != nil {
		t.Fatal(err)
	}
	want := pgbenchResult{tps: 4576.921490, processed: 13648, failed: 2}
	if got != want {
		t.Errorf("parsePgbench = %+v, want %+v", got, want)
	}
	if _, err := parsePgbench("pgbench: error: connection to server failed\n"); err == nil {
		t.Error("output without tps: want an error")
	}
}
