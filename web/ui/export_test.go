package ui

// SetPageSizes makes the in-memory listings (a report's grants, the flags)
// page after fewer items, for tests; the returned function restores them.
func SetPageSizes(grants, flags int) (restore func()) {
	g, f := grantsPerPage, flagsPerPage
	grantsPerPage, flagsPerPage = grants, flags
	return func() { grantsPerPage, flagsPerPage = g, f }
}
