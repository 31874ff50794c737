package metrics

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Replica is one read replica's last measurement as /metrics publishes
// it. Its labels are its index in DATABASE_REPLICA_URLS and its host:port,
// never its URL (which may hold a password).
type Replica struct {
	Index      int
	Addr       string
	Healthy    bool     // it serves reads
	LagBytes   *float64 // nil: not measured
	LagSeconds *float64
	Reads      int64 // reads routed to it since start
}

var (
	replicaLabels      = []string{"replica", "addr"}
	replicaHealthyDesc = prometheus.NewDesc("waybill_db_replica_healthy",
		"1 when the read replica serves reads (reachable, a standby, within REPLICA_MAX_LAG), 0 when its reads go to the primary.", replicaLabels, nil)
	replicaLagBytesDesc = prometheus.NewDesc("waybill_db_replica_lag_bytes",
		"WAL bytes the read replica has not replayed: the primary's position less its replay position.", replicaLabels, nil)
	replicaLagSecondsDesc = prometheus.NewDesc("waybill_db_replica_lag_seconds",
		"Seconds since the read replica replayed its last transaction, 0 when it has replayed all the primary wrote.", replicaLabels, nil)
	replicaReadsDesc = prometheus.NewDesc("waybill_db_replica_reads_total",
		"Requests whose reads went to the read replica.", replicaLabels, nil)
)

// replicaCollector publishes the replicas' measurements at every scrape.
type replicaCollector struct{ replicas func() []Replica }

func (c replicaCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{replicaHealthyDesc, replicaLagBytesDesc, replicaLagSecondsDesc, replicaReadsDesc} {
		ch <- d
	}
}

func (c replicaCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.replicas() {
		labels := []string{strconv.Itoa(r.Index), r.Addr}
		healthy := 0.0
		if r.Healthy {
			healthy = 1
		}
		ch <- prometheus.MustNewConstMetric(replicaHealthyDesc, prometheus.GaugeValue, healthy, labels...)
		if r.LagBytes != nil {
			ch <- prometheus.MustNewConstMetric(replicaLagBytesDesc, prometheus.GaugeValue, *r.LagBytes, labels...)
		}
		if r.LagSeconds != nil {
			ch <- prometheus.MustNewConstMetric(replicaLagSecondsDesc, prometheus.GaugeValue, *r.LagSeconds, labels...)
		}
		ch <- prometheus.MustNewConstMetric(replicaReadsDesc, prometheus.CounterValue, float64(r.Reads), labels...)
	}
}

// WatchReplicas publishes the read replicas that replicas returns, called
// at every scrape (it must be cheap: the last measurements, not new
// ones). Call it once.
func (m *Metrics) WatchReplicas(replicas func() []Replica) {
	m.registry.MustRegister(replicaCollector{replicas: replicas})
}
