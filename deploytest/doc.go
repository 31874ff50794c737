// Package deploytest checks the deployment files at the repository's root
// (compose.yaml) by loading them the way Docker Compose does. It has tests
// only.
package deploytest
