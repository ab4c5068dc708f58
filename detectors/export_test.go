package detectors

// SetPartialGroups sets partialGroups for a test and returns what puts it
// back.
func SetPartialGroups(n int) (restore func()) {
	old := partialGroups
	partialGroups = n
	return func() { partialGroups = old }
}

// SetMaxUsers sets maxUsers for a test and returns what puts it back.
func SetMaxUsers(n int) (restore func()) {
	old := maxUsers
	maxUsers = n
	return func() { maxUsers = old }
}
