package app

// SeedDemoDirectory seeds the demo directory for tests that use the demo
// policy without serving it (its conditions read directory attributes).
var SeedDemoDirectory = seedDemoDirectory
