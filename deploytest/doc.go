// Package deploytest checks the deployment files: compose.yaml, loaded the
// way Docker Compose loads it, and deploy/ (Prometheus configuration and
// alert rules with promtool, the Grafana dashboard against the metrics
// Waybill really exports). It has tests only.
package deploytest
