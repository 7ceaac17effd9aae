// Command jitaccess is the just-in-time access approval server and its
// command line. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/jitaccess/jitaccess/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
