package monitor

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/waybill/waybill/models"
	"github.com/waybill/waybill/pgcluster"
	"github.com/waybill/waybill/testdb"
)

// TestReplicas: the report measures each read replica against the
// primary: healthy and caught up, lagging (a warning) once its replay is
// paused past the maximum lag while the primary writes, and down (critical)
// once stopped.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	_, port := testdb.StartCluster(t)
	primary := openOne(t, pgcluster.URL(port))
	if _, err := primary.Exec("CREATE TABLE t (n int)"); err != nil {
		t.Fatal(err)
	}
	rc, rport := testdb.Replica(t, port)
	opts := DefaultOptions
	opts.ReplicaURLs = []string{pgcluster.URL(rport)}
	opts.ReplicaMaxLag = time.Second
	addr := fmt.Sprintf("127.0.0.1:%d", rport)
	replica := func(r Report) models.ReplicaStatus { return r.Replicas[0] }

	r := collectUntil(t, primary, opts, func(r Report) bool {
		return replica(r).Status == models.ReplicaHealthy && replica(r).LagBytes != nil && *replica(r).LagBytes == 0
	})
	if st := replica(r); st.Addr != addr || *st.LagSeconds != 0 || st.ReplayLSN == "" {
		t.Errorf("caught-up replica %+v: want %s, lag 0 s, a replay LSN", st, addr)
	}
	st0 := replica(r).ReplayLSN

	// A replica that has replayed no transaction since it started has no
	// replay timestamp, and one report has no earlier one to measure from.
	if _, err := primary.Exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	collectUntil(t, primary, opts, func(r Report) bool {
		return replica(r).LagBytes != nil && *replica(r).LagBytes == 0 && replica(r).ReplayLSN != st0
	})
	if err := pgcluster.PauseReplay(ctx, pgcluster.URL(rport)); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.Exec("INSERT INTO t VALUES (2)"); err != nil {
		t.Fatal(err)
	}
	r = collectUntil(t, primary, opts, func(r Report) bool { return replica(r).Status == models.ReplicaLagging })
	if st := replica(r); *st.LagBytes <= 0 || *st.LagSeconds <= 1 {
		t.Errorf("lagging replica %+v: want lag bytes > 0 and over 1 s", st)
	}
	if !hasIssue(r, Warning, "lags") {
		t.Errorf("issues %+v: want a warning that replica 0 lags", r.Issues)
	}
	var text strings.Builder
	if err := RenderText(&text, r, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "Read replicas (maximum lag") || !strings.Contains(text.String(), addr) {
		t.Errorf("the text report has no replica section:\n%s", text.String())
	}

	if err := rc.Stop(); err != nil {
		t.Fatal(err)
	}
	r = collectUntil(t, primary, opts, func(r Report) bool { return replica(r).Status == models.ReplicaDown })
	if !hasIssue(r, Critical, "down") || r.Status != Critical {
		t.Errorf("report %s, issues %+v: want critical, replica 0 down", r.Status, r.Issues)
	}
}

func hasIssue(r Report, severity, word string) bool {
	for _, is := range r.Issues {
		if is.Section == SectionReplicas && is.Severity == severity && strings.Contains(is.Message, word) {
			return true
		}
	}
	return false
}
