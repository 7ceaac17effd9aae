package app

import "time"

// SeedDemoDirectory seeds the demo directory for tests that use the demo
// policy without serving it (its conditions read directory attributes).
var SeedDemoDirectory = seedDemoDirectory

// WakeArmedFor returns the due times the sweeper's timer was set for, in
// order (wake.go), so that tests can tell a wake-up from a cron run
// without timing it.
func (a *App) WakeArmedFor() []time.Time {
	if a.waker == nil {
		return nil
	}
	a.waker.mu.Lock()
	defer a.waker.mu.Unlock()
	return append([]time.Time(nil), a.waker.armed...)
}
