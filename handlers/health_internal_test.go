package handlers

import (
	"sync"
	"testing"
	"time"

	"github.com/waybill/waybill/capacity"
	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/testdb"
)

// TestHealthCallersShareOneCheck: concurrent callers share one database
// check, and callers within a second reuse it.
func TestHealthCallersShareOneCheck(t *testing.T) {
	store, err := models.Open(testdb.New(t), models.PoolOptions{MaxOpenConns: 2, MaxIdleConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	plans := 0
	h := &healthChecker{store: store, instances: 1, started: time.Now(), onPlan: func(capacity.Plan) { plans++ }}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		ats = map[time.Time]bool{}
	)
	for range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.check()
			mu.Lock()
			ats[c.at] = true
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ats) != 1 || plans != 1 {
		t.Errorf("50 concurrent callers ran %d checks (%d plans), want 1", len(ats), plans)
	}
	first := h.check().at
	if again := h.check().at; !again.Equal(first) {
		t.Error("a second caller within a second ran a new check")
	}
	time.Sleep(healthCacheFor + 50*time.Millisecond)
	if later := h.check().at; later.Equal(first) {
		t.Error("a caller after the cache period got the old check")
	}
}
