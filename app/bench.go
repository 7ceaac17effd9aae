package app

import (
	"context"
	"fmt"
	"io"
)

// bench is `jitaccess bench` (see loadtest.go).
func bench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "jitaccess bench: not built yet")
	return 1
}
