package audit

// SetParallel makes v's AddBatch spread batches of at least minPar records
// over workers goroutines, so that tests reach the parallel path with a
// handful of records and more workers than the machine has cores.
func SetParallel(v *Verifier, minPar, workers int) {
	v.minPar, v.workers = minPar, workers
}

// SetReadBatch makes Verify read n records per query until restore is
// called, so that tests reach batch boundaries with few records. Not for
// parallel tests.
func SetReadBatch(n int) (restore func()) {
	old := readBatch
	readBatch = n
	return func() { readBatch = old }
}
