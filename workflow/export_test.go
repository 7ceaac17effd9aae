package workflow

// SetFreeTextScan turns the free-text scan on or off, for the benchmark
// that measures its cost against a same-run baseline.
func SetFreeTextScan(on bool) { scanFreeText = on }
