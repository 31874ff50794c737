// Package app wires Waybill together and implements its subcommands:
// serve, migrate, apikey, seed, dev, monitor, rollup and webhooks. Run is
// the whole program; main only supplies the process's arguments,
// environment and streams, so tests run the real thing.
package app

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Exit codes. Usage errors are 2, as for flag.ExitOnError.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// env is the process environment as the subcommands see it.
type env struct {
	getenv func(string) string
	stdout io.Writer
	stderr io.Writer
}

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() []command {
	return []command{
		{"serve", "run the HTTP API (the default command)", runServe},
		{"migrate", "apply or inspect schema migrations: up|down|status|version|redo|to N", runMigrate},
		{"apikey", "manage API keys: create --name N [--scope read|write|admin], list, revoke ID", runAPIKey},
		{"seed", "load realistic demo shipments with COPY: --shipments N [--seed S]", runSeed},
		{"dev", "zero-config local run: find or start a PostgreSQL, migrate, seed, serve", runDev},
		{"monitor", "the database monitoring report (exit 0 ok, 1 warning, 2 critical, 3 cannot connect)", runMonitor},
		{"rollup", "recompute analytics rollups: --from DATE --to DATE", runRollup},
		{"webhooks", "carrier webhook deliveries: list [--outcome O], replay ID", runWebhooks},
	}
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Run runs the waybill command line args (without the program name) and
// returns the process exit status. Errors are printed to stderr as one line.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	e := env{getenv: getenv, stdout: stdout, stderr: stderr}
	name := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if name == "help" || name == "-h" || name == "--help" {
		printHelp(stdout, args)
		return exitOK
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, e, args)
		var xe exitError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.As(err, &xe):
			if xe.msg != "" {
				fmt.Fprintf(stderr, "waybill %s: %s\n", name, xe.msg)
			}
			return xe.code
		case errors.As(err, new(usageError)):
			fmt.Fprintf(stderr, "waybill %s: %v\n", name, err)
			return exitUsage
		default:
			fmt.Fprintf(stderr, "waybill %s: %v\n", name, err)
			return exitFail
		}
	}
	fmt.Fprintf(stderr, "waybill: unknown command %q (see 'waybill help')\n", name)
	return exitUsage
}

func printHelp(w io.Writer, args []string) {
	if len(args) > 0 {
		for _, c := range commands() {
			if c.name == args[0] {
				_ = c.run(context.Background(), env{getenv: func(string) string { return "" }, stdout: w, stderr: w}, []string{"-h"})
				return
			}
		}
	}
	fmt.Fprintln(w, "Usage: waybill <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help     this text; 'waybill help CMD' or 'waybill CMD -h' for a command's flags")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Configuration is read from the environment; see docs/configuration.md.")
}

// newFlagSet returns a FlagSet that reports errors instead of exiting.
func newFlagSet(name string) *flag.FlagSet {
	return flag.NewFlagSet("waybill "+name, flag.ContinueOnError)
}

// parseNoArgs parses the command line of a command that takes no flags or
// arguments but -h, which prints usage.
func parseNoArgs(name, usage string, args []string, e env) error {
	fs := newFlagSet(name)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), usage) }
	if err := parseFlags(fs, args, e.stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// parseFlags parses args into fs. -h prints the flags to help and returns
// flag.ErrHelp; any other mistake becomes a one-line usageError.
func parseFlags(fs *flag.FlagSet, args []string, help io.Writer) error {
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(help)
		fs.Usage()
		return err
	}
	if err != nil {
		return usageError{err.Error()}
	}
	return nil
}
