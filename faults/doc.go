// Package faults holds Waybill's fault suite: tests that start throwaway
// PostgreSQL clusters of their own (package pgcluster), run the real
// `waybill serve` binary against them under load, and break the database
// underneath it — restarted fast, restarted immediately, its postmaster
// killed, frozen with SIGSTOP, its pool exhausted behind a lock — or stop
// the server with SIGTERM while it drains.
//
// Each test asserts Waybill's reliability promises end to end (docs/api.md,
// "Retrying safely"; docs/monitoring.md): no Idempotency-Key ever yields
// two shipments, no acknowledged write is lost, no answer is a 500 or comes
// later than REQUEST_TIMEOUT + 100 ms, a 503 carries Retry-After and a
// problem document, service resumes within 1 s of the database accepting
// connections, and afterwards no goroutine or connection is left behind
// and the logs hold no secret. docs/reliability.md
// describes the scenarios and the figures of a run.
//
// The package has no code outside its tests; `go test ./faults/` runs it.
// It needs the PostgreSQL server programs (initdb, pg_ctl) and Linux (it
// reads /proc and reaps the processes of the clusters it kills).
package faults
