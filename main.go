// Command waybill is the shipment and shipping-analytics service: the HTTP
// API and the operator's subcommands. See `waybill help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/waybill/waybill/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
