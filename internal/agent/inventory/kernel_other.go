//go:build !linux

package inventory

// kernel is not read outside Linux.
func kernel() string { return "" }
