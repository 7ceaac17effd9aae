package app

import (
	"fmt"
	"os"

	"github.com/google/uuid"
)

// replicaName names this process among the replicas sharing a database,
// for leases: the host, the process id, and a random part so that a
// restarted process with the same pid is not mistaken for its predecessor.
func replicaName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), uuid.NewString()[:8])
}
