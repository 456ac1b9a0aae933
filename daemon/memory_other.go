//go:build !linux

package daemon

// releaseStartupCode does nothing off Linux.
func releaseStartupCode() {}
