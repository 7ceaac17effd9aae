package access

// Held counts the cache keys held by changes in flight, for tests.
func Held(c *Checker) int {
	c.cache.mu.RLock()
	defer c.cache.mu.RUnlock()
	return len(c.cache.held)
}
