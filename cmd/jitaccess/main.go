// Command jitaccess is the just-in-time access approval server and its
// command line. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	// The zone database in the binary: the web UI shows times in each
	// viewer's zone, and a slim image (distroless) may have none.
	_ "time/tzdata"

	"github.com/jitaccess/jitaccess/app"
	"github.com/jitaccess/jitaccess/cmd/jitaccess/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var code int
	// The load tools are dispatched here rather than in app, so that the
	// wiring package does not carry them.
	if len(os.Args) > 1 && os.Args[1] == "bench" {
		code = bench.Main(ctx, os.Args[2:], os.Stdout, os.Stderr)
	} else {
		code = app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	}
	stop()
	os.Exit(code)
}
