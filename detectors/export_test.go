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

// SetIPLimits sets ipHandoff and maxIPs for a test and returns what puts
// them back.
func SetIPLimits(handoff, max int) (restore func()) {
	oldH, oldM := ipHandoff, maxIPs
	ipHandoff, maxIPs = handoff, max
	return func() { ipHandoff, maxIPs = oldH, oldM }
}
