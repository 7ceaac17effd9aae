package audit

// SetParallel makes v's AddBatch spread batches of at least minPar records
// over workers goroutines, so that tests reach the parallel path with a
// handful of records and more workers than the machine has cores.
func SetParallel(v *Verifier, minPar, workers int) {
	v.minPar, v.workers = minPar, workers
}
